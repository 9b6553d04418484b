/* err: how library code reports failure.
 *
 * Library functions never print and never exit. On failure they record one
 * line of text here and return a negative value (or NULL); the tool that
 * called them decides what to do, usually die() (see cli.h). The message is
 * per thread, so a later engine worker cannot clobber the main thread's. */
#ifndef TGS_ERR_H
#define TGS_ERR_H

/* Record a printf-style message; always returns -1 so callers can write
 * `return tgs_err("bad thing %d", x);`. A message ending in ':' gets
 * ": strerror(errno)" appended, as in farbfeld's die(). */
int tgs_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prefix the current message with "prefix: ", for adding context
 * (a file name, a record number) on the way up. Returns -1. */
int tgs_err_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The last message recorded on this thread ("" if none). */
const char *tgs_errmsg(void);

#endif
