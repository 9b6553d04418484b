/* json: the little JSON that checkpoints need: strings written with their
 * escapes, a strict reader working on a cursor (the safetensors header,
 * checkpoint.c), and flat objects of metadata values (tgs-train's options).
 *
 * The reader's functions take a cursor over len bytes and return 0, or -1
 * with a tgs_err message naming the byte ("header byte 17: expected ':'",
 * counted from base). Strings must be valid UTF-8 without NUL characters;
 * numbers follow RFC 8259. */
#ifndef TGS_JSON_H
#define TGS_JSON_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *key, *value;
} tgs_json_kv;

/* ---- writing ---- */

/* Append s as a JSON string (quotes and escapes) to dst, which holds len
 * bytes of cap; returns the new length, or -1 when it would not fit
 * (dst is then left terminated at len). */
int64_t tgs_json_put_str(char *dst, size_t len, size_t cap, const char *s);

/* ---- reading ---- */

typedef struct {
    const char *p, *start, *end;
    size_t base; /* file offset of start, for messages */
} tgs_json_cur;

/* -1, with the message what at the cursor's byte */
int tgs_json_err(const tgs_json_cur *j, const char *what);
/* Skip white space. */
void tgs_json_ws(tgs_json_cur *j);
/* The character ch, after white space. */
int tgs_json_expect(tgs_json_cur *j, char ch);
/* A string, after white space, into a malloc'd C string (*out). */
int tgs_json_string(tgs_json_cur *j, char **out);
/* A non-negative integer without sign, fraction or exponent, after white space. */
int tgs_json_uint(tgs_json_cur *j, uint64_t *v);
/* [n, n, ...] into v (at most max, else an error naming what); *count gets how many. */
int tgs_json_uint_array(tgs_json_cur *j, uint64_t *v, int max, int *count, const char *what);
/* A number at the cursor, returned as its text (malloc'd). */
int tgs_json_number_text(tgs_json_cur *j, char **out);
/* 1 and past it when the cursor is at the text lit, else 0 (no message). */
int tgs_json_literal(tgs_json_cur *j, const char *lit);

/* ---- flat objects ---- */

/* Parse a JSON object whose values are strings, numbers, true, false or
 * null into *kv (n pairs, malloc'd; free with tgs_json_kv_free): a string
 * value unescaped, any other as written. Repeated keys, nested values and
 * trailing text are refused. */
int tgs_json_flat_parse(const char *text, size_t len, tgs_json_kv **kv, int *n);
void tgs_json_kv_free(tgs_json_kv *kv, int n);

/* Numbers as text that reads back the same (checkpoint options, the
 * decisions file): the shortest of %.6g..%.9g for a float, of
 * %.15g..%.17g for a double, into buf. */
const char *tgs_fmt_float(char *buf, size_t size, float v);
const char *tgs_fmt_double(char *buf, size_t size, double v);

#endif
