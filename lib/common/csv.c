#include "csv.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

int tgs_csv_open(tgs_csv *c, const char *path) {
    memset(c, 0, sizeof *c);
    if (path == NULL || strcmp(path, "-") == 0) {
        c->fp = stdin;
        snprintf(c->path, sizeof c->path, "<stdin>");
        return 0;
    }
    c->fp = fopen(path, "rb");
    if (!c->fp) return tgs_err("%s:", path);
    c->owns_fp = 1;
    snprintf(c->path, sizeof c->path, "%s", path);
    return 0;
}

void tgs_csv_close(tgs_csv *c) {
    if (c->owns_fp && c->fp) fclose(c->fp);
    free(c->buf);
    free(c->field);
    memset(c, 0, sizeof *c);
}

static int add_field(tgs_csv *c, char *f) {
    if (c->nfield == c->fcap) {
        int cap = c->fcap ? 2 * c->fcap : 8;
        char **p = realloc(c->field, sizeof *p * (size_t)cap);
        if (!p) return tgs_err("out of memory");
        c->field = p, c->fcap = cap;
    }
    c->field[c->nfield++] = f;
    return 0;
}

int tgs_csv_next(tgs_csv *c) {
    for (;;) {
        ssize_t n = getline(&c->buf, &c->cap, c->fp);
        if (n < 0) {
            if (ferror(c->fp)) return tgs_err("%s: read error:", c->path);
            return 0;
        }
        c->line++;
        if ((size_t)n != strlen(c->buf)) return tgs_err("%s: line %ld: NUL byte in text", c->path, c->line);
        /* A UTF-8 byte-order mark opens the file when Excel saved it; it is
         * no part of the first field ("\xEF\xBB\xBFid" is not "id"). */
        if (c->line == 1 && n >= 3 && memcmp(c->buf, "\xEF\xBB\xBF", 3) == 0) {
            memmove(c->buf, c->buf + 3, (size_t)n - 2); /* with the NUL */
            n -= 3;
        }
        while (n > 0 && (c->buf[n - 1] == '\n' || c->buf[n - 1] == '\r')) c->buf[--n] = 0;
        if (n == 0) continue;
        /* Split in place: a quoted field is unescaped into its own bytes,
         * which is safe because unescaping only shortens. */
        c->nfield = 0;
        char *p = c->buf;
        for (;;) {
            char *start = p;
            if (*p == '"') {
                char *w = p;
                start = w;
                p++;
                for (;;) {
                    if (*p == 0) return tgs_err("%s: line %ld: unterminated quoted field", c->path, c->line);
                    if (*p == '"') {
                        if (p[1] == '"') {
                            *w++ = '"';
                            p += 2;
                            continue;
                        }
                        p++;
                        break;
                    }
                    *w++ = *p++;
                }
                if (*p != ',' && *p != 0) return tgs_err("%s: line %ld: text after a closing quote", c->path, c->line);
                char end = *p;
                *w = 0;
                if (add_field(c, start) < 0) return -1;
                if (end == 0) break;
                p++;
                continue;
            }
            while (*p && *p != ',') {
                if (*p == '"') return tgs_err("%s: line %ld: stray quote in field %d", c->path, c->line, c->nfield + 1);
                p++;
            }
            char end = *p;
            *p = 0;
            if (add_field(c, start) < 0) return -1;
            if (end == 0) break;
            p++;
        }
        return 1;
    }
}

int tgs_csv_expect_header(tgs_csv *c, const char *const *names, int n) {
    int rc = tgs_csv_next(c);
    if (rc < 0) return -1;
    if (rc == 0) return tgs_err("%s: empty file, expected a header line", c->path);
    int ok = c->nfield == n;
    for (int i = 0; ok && i < n; i++) ok = strcmp(c->field[i], names[i]) == 0;
    if (!ok) {
        char want[256] = "";
        for (int i = 0; i < n; i++) {
            strncat(want, i ? "," : "", sizeof want - strlen(want) - 1);
            strncat(want, names[i], sizeof want - strlen(want) - 1);
        }
        return tgs_err("%s: line %ld: expected the header '%s'", c->path, c->line, want);
    }
    return 0;
}
