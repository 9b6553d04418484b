#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <getopt.h>
#include <unistd.h>

#include "outfile.h"

const char *tgs_prog = "tgs";

static void on_fatal_signal(int sig) {
    tgs_outfile_abort_all();
    signal(sig, SIG_DFL);
    raise(sig);
}

void tgs_cli_init(const char *argv0) {
    const char *slash = argv0 ? strrchr(argv0, '/') : NULL;
    tgs_prog = slash ? slash + 1 : argv0 ? argv0 : "tgs";
    opterr = 0; /* tgs_bad_option says it in our one-line form */
    signal(SIGINT, on_fatal_signal);
    signal(SIGTERM, on_fatal_signal);
    signal(SIGPIPE, on_fatal_signal);
    signal(SIGHUP, on_fatal_signal);
}

__attribute__((format(printf, 1, 0))) static void vwarn(const char *fmt, va_list ap) {
    int saved = errno;
    fflush(stdout);
    fprintf(stderr, "%s: ", tgs_prog);
    vfprintf(stderr, fmt, ap);
    size_t n = strlen(fmt);
    if (n > 0 && fmt[n - 1] == ':') fprintf(stderr, " %s", strerror(saved));
    fputc('\n', stderr);
}

/* A tool that dies leaves its memory to the kernel on purpose: flush what
 * stdio holds (as exit would) and skip the exit handlers, among them the
 * sanitizer's leak check, which would otherwise report whatever a tool had
 * allocated when the bad record came (a false alarm, and a flaky one: it
 * depends on which pointers the compiler kept in registers). */
_Noreturn static void die_exit(int code) {
    fflush(NULL);
    _exit(code);
}

void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vwarn(fmt, ap);
    va_end(ap);
    tgs_outfile_abort_all();
    die_exit(1);
}

void die_usage(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vwarn(fmt, ap);
    va_end(ap);
    fprintf(stderr, "Try '%s --help' for more information.\n", tgs_prog);
    tgs_outfile_abort_all();
    die_exit(2);
}

void tgs_bad_option(int c, char **argv) {
    const char *arg = argv[optind - 1];
    if (c == ':') die_usage("option '%s' needs a value", arg);
    if (optopt && optopt != '?' && strncmp(arg, "--", 2) != 0) die_usage("unknown option '-%c'", optopt);
    die_usage("unknown option '%s'", arg);
}

void tgs_print_version(void) { printf("%s (tgs) %s\n", tgs_prog, TGS_VERSION); }

long tgs_parse_long(const char *s, const char *opt, long lo, long hi) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end) die_usage("%s: '%s' is not an integer", opt, s);
    if (v < lo || v > hi) die_usage("%s: %ld is out of range [%ld, %ld]", opt, v, lo, hi);
    return v;
}

double tgs_parse_double(const char *s, const char *opt, double lo, double hi) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v)) die_usage("%s: '%s' is not a number", opt, s);
    if (v < lo || v > hi) die_usage("%s: %g is out of range [%g, %g]", opt, v, lo, hi);
    return v;
}

uint64_t tgs_parse_seed(const char *s) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || *end || *s == '-') die_usage("--seed: '%s' is not a non-negative integer", s);
    return (uint64_t)v;
}

void tgs_parse_size(const char *s, const char *opt, int *w, int *h) {
    int n = 0;
    if (sscanf(s, "%dx%d%n", w, h, &n) != 2 || s[n] || *w < 1 || *h < 1 || *w > 16384 || *h > 16384)
        die_usage("%s: '%s' is not WxH (each side 1..16384)", opt, s);
}

void tgs_refuse_tty(FILE *fp, const char *what) {
    if (isatty(fileno(fp))) die("refusing to write %s to a terminal; redirect it or use -o FILE", what);
}
