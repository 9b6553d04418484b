#include "cli.h"

#include <errno.h>
#include <float.h>
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

volatile sig_atomic_t tgs_stop_signal;

static void on_stop(int sig) {
    if (tgs_stop_signal) { /* a second one: give up at once, as any tool */
        tgs_outfile_abort_all();
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    tgs_stop_signal = sig;
}

void tgs_catch_stop_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
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

void tgs_common_option(int c, char **argv, const char *usage, const char **output, int *quiet) {
    if (c == 'o' && output) {
        *output = optarg;
    } else if (c == 'q' && quiet) {
        *quiet = 1;
    } else if (c == 'h') {
        fputs(usage, stdout);
        exit(0);
    } else if (c == 'V') {
        tgs_print_version();
        exit(0);
    } else {
        tgs_bad_option(c, argv);
    }
}

/* strtol, strtoull and strtod skip leading blanks and take a sign; an
 * option's number is the whole string, and an unsigned one has no '-'
 * (strtoull would wrap " -1" to 2^64 - 1). */
static int starts_number(const char *s, int sign_ok) {
    if (sign_ok && (*s == '-' || *s == '+')) s++;
    return (*s >= '0' && *s <= '9') || (sign_ok && *s == '.');
}

/* s whole as a finite double: 0, else -1 */
static int whole_double(const char *s, double *v) {
    char *end;
    errno = 0;
    if (!starts_number(s, 1)) return -1;
    *v = strtod(s, &end);
    return errno || *end || !isfinite(*v) ? -1 : 0;
}

long tgs_parse_long(const char *s, const char *opt, long lo, long hi) {
    char *end;
    errno = 0;
    long v = starts_number(s, 1) ? strtol(s, &end, 10) : 0;
    if (!starts_number(s, 1) || errno || *end) die_usage("%s: '%s' is not an integer", opt, s);
    if (v < lo || v > hi) die_usage("%s: %ld is out of range [%ld, %ld]", opt, v, lo, hi);
    return v;
}

double tgs_parse_double(const char *s, const char *opt, double lo, double hi) {
    double v;
    if (whole_double(s, &v) < 0) die_usage("%s: '%s' is not a number", opt, s);
    if (v < lo || v > hi) die_usage("%s: %g is out of range [%g, %g]", opt, v, lo, hi);
    return v;
}

uint64_t tgs_parse_seed(const char *s) {
    char *end;
    errno = 0;
    unsigned long long v = starts_number(s, 0) ? strtoull(s, &end, 0) : 0;
    if (!starts_number(s, 0) || errno || *end) die_usage("--seed: '%s' is not a non-negative integer", s);
    return (uint64_t)v;
}

/* One side of "WxH": digits only, no sign, no wrap past 16384. */
static int size_side(const char *s, const char **end) {
    long v = 0;
    const char *p = s;
    while (*p >= '0' && *p <= '9' && v <= 16384) v = v * 10 + (*p++ - '0');
    *end = p;
    return p == s || (*p >= '0' && *p <= '9') || v < 1 || v > 16384 ? -1 : (int)v;
}

void tgs_parse_size(const char *s, const char *opt, int *w, int *h) {
    const char *p;
    int a = size_side(s, &p), b = -1;
    if (a > 0 && *p == 'x') b = size_side(p + 1, &p);
    else if (a > 0 && !*p) b = a; /* S: a square, as every tool's --size */
    if (a < 0 || b < 0 || *p) die_usage("%s: '%s' is not S or WxH (each side 1..16384)", opt, s);
    *w = a, *h = b;
}

void tgs_parse_norm(const char *s, const char *opt, float *mean, float *std) {
    const char *comma = strchr(s, ',');
    char m[64];
    size_t n = comma ? (size_t)(comma - s) : 0;
    double a, b;
    if (!comma || n >= sizeof m) die_usage("%s: '%s' is not MEAN,STD", opt, s);
    memcpy(m, s, n);
    m[n] = 0;
    if (whole_double(m, &a) < 0 || whole_double(comma + 1, &b) < 0 || fabs(a) > FLT_MAX || b > FLT_MAX)
        die_usage("%s: '%s' is not MEAN,STD", opt, s);
    if (!(b > 0)) die_usage("%s: STD must be above 0, not %g", opt, b);
    *mean = (float)a, *std = (float)b;
}

void tgs_refuse_tty(FILE *fp, const char *what) {
    if (isatty(fileno(fp))) die("refusing to write %s to a terminal; redirect it or use -o FILE", what);
}
