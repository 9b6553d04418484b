/* cli: what every tool shares at its edges.
 *
 * Conventions (man/tgs.7): --help and --version exit 0; -o FILE writes
 * there (atomically), default stdout; input from the named file or stdin;
 * -q silences progress; binary streams are never written to a terminal.
 * Errors are one line "tgs-x: file: record N: what is wrong", exit 1;
 * usage errors exit 2. */
#ifndef TGS_CLI_H
#define TGS_CLI_H

#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#ifndef TGS_VERSION
#define TGS_VERSION "0.0.0"
#endif

extern const char *tgs_prog; /* the tool's name, for messages */

/* Set the program name and make SIGINT/SIGTERM/SIGPIPE remove temporary
 * outputs before the process dies. */
void tgs_cli_init(const char *argv0);

/* For a tool that trains: SIGINT and SIGTERM set tgs_stop_signal (to the
 * signal) instead of ending the process, so the loop finishes its step and
 * saves a checkpoint; a second one ends it at once, as in any tool. Reads
 * from a pipe go on (SA_RESTART); the loop looks at the flag. */
extern volatile sig_atomic_t tgs_stop_signal;
void tgs_catch_stop_signals(void);

/* Print "prog: message" (with strerror if it ends in ':'), remove open
 * temporary outputs, exit 1. */
_Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "prog: message" and a pointer to --help, exit 2. */
_Noreturn void die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void tgs_print_version(void);

/* For getopt_long's '?' and ':' returns (optstring must begin with ':'):
 * names the unknown option or the one missing its value, exits 2. */
_Noreturn void tgs_bad_option(int c, char **argv);

/* The options every tool shares end its longopts array, terminator
 * included: -o/--output, -q/--quiet, -h/--help, -V/--version, or only the
 * last two for a tool that writes no file and has no progress bar. Their
 * letters go in the optstring as usual (":o:qhV", ":hV"). */
#define TGS_HELP_LONGOPTS {"help", no_argument, 0, 'h'}, {"version", no_argument, 0, 'V'}, {0, 0, 0, 0}
#define TGS_COMMON_LONGOPTS \
    {"output", required_argument, 0, 'o'}, {"quiet", no_argument, 0, 'q'}, TGS_HELP_LONGOPTS

/* The default of a tool's getopt_long switch: -o sets *output, -q sets
 * *quiet, -h prints usage and -V the version (each exits 0); anything else
 * (getopt's '?' and ':', or -o/-q where output/quiet is NULL) is a usage
 * error (tgs_bad_option). A tool whose --version says more (its engine)
 * keeps its own case 'V' ahead of the default. */
void tgs_common_option(int c, char **argv, const char *usage, const char **output, int *quiet);

/* Parse a whole string as a number in [lo, hi] or die naming the option
 * (exit 2). No leading blanks; a number too large for the type is out of
 * range, never wrapped. */
long tgs_parse_long(const char *s, const char *opt, long lo, long hi);
double tgs_parse_double(const char *s, const char *opt, double lo, double hi);
uint64_t tgs_parse_seed(const char *s);
/* "S" (S x S, the one spelling every tool's --size takes) or "WxH" for
 * the tools that allow other shapes; each side 1..16384. */
void tgs_parse_size(const char *s, const char *opt, int *w, int *h);
/* "MEAN,STD", both finite, STD > 0 (--norm). */
void tgs_parse_norm(const char *s, const char *opt, float *mean, float *std);

/* Die if fp is a terminal: binary streams belong in files and pipes. */
void tgs_refuse_tty(FILE *fp, const char *what);

#endif
