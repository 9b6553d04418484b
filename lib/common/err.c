#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char msg[1024];

int tgs_err(const char *fmt, ...) {
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t n = strlen(msg);
    if (n > 0 && msg[n - 1] == ':')
        snprintf(msg + n, sizeof msg - n, " %s", strerror(saved));
    return -1;
}

int tgs_err_prefix(const char *fmt, ...) {
    char old[sizeof msg];
    memcpy(old, msg, sizeof msg);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof msg) {
        msg[sizeof msg - 1] = 0;
        strncat(msg, ": ", sizeof msg - strlen(msg) - 1);
        strncat(msg, old, sizeof msg - strlen(msg) - 1);
    }
    return -1;
}

const char *tgs_errmsg(void) { return msg; }
