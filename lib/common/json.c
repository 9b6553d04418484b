/* json: the little JSON that checkpoints need (see json.h): strings
 * written with their escapes, and a small strict reader, for the
 * safetensors header (an object of objects; strings, unsigned integers
 * and arrays of them) and for flat objects of metadata. */
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "grow.h"

/* ---- writing ---- */

int64_t tgs_json_put_str(char *dst, size_t len, size_t cap, const char *s) {
    size_t k = len;
#define PUT(ch)                                                                                                        \
    do {                                                                                                               \
        if (k + 1 >= cap) goto full;                                                                                   \
        dst[k++] = (char)(ch);                                                                                         \
    } while (0)
    PUT('"');
    for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
        unsigned char ch = *q;
        char esc = ch == '"' || ch == '\\' ? (char)ch : ch == '\n' ? 'n' : ch == '\t' ? 't' : ch == '\r' ? 'r' : 0;
        if (esc) {
            PUT('\\');
            PUT(esc);
        } else if (ch < 0x20 || ch == 0x7f) {
            if (k + 7 >= cap) goto full;
            k += (size_t)snprintf(dst + k, cap - k, "\\u%04x", ch);
        } else PUT(ch);
    }
    PUT('"');
#undef PUT
    dst[k] = 0;
    return (int64_t)k;
full:
    if (cap) dst[len < cap ? len : cap - 1] = 0;
    return -1;
}

/* ---- reading ---- */

int tgs_json_err(const tgs_json_cur *j, const char *what) {
    return tgs_err("header byte %zu: %s", j->base + (size_t)(j->p - j->start), what);
}

void tgs_json_ws(tgs_json_cur *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

int tgs_json_expect(tgs_json_cur *j, char ch) {
    tgs_json_ws(j);
    if (j->p >= j->end) return tgs_json_err(j, "the JSON ends too soon");
    if (*j->p != ch) {
        char m[48];
        snprintf(m, sizeof m, "expected '%c'", ch);
        return tgs_json_err(j, m);
    }
    j->p++;
    return 0;
}

static int hexval(int ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

static int read_hex4(tgs_json_cur *j, unsigned *v) {
    if (j->end - j->p < 4) return tgs_json_err(j, "a \\u escape needs 4 hex digits");
    unsigned x = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval((unsigned char)j->p[i]);
        if (h < 0) return tgs_json_err(j, "a \\u escape needs 4 hex digits");
        x = x * 16 + (unsigned)h;
    }
    j->p += 4;
    *v = x;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp) {
    if (cp < 0x80) return o[0] = (char)cp, 1;
    if (cp < 0x800) return o[0] = (char)(0xc0 | cp >> 6), o[1] = (char)(0x80 | (cp & 0x3f)), 2;
    if (cp < 0x10000)
        return o[0] = (char)(0xe0 | cp >> 12), o[1] = (char)(0x80 | ((cp >> 6) & 0x3f)), o[2] = (char)(0x80 | (cp & 0x3f)), 3;
    o[0] = (char)(0xf0 | cp >> 18), o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Length of the valid UTF-8 sequence at p (p < end, *p >= 0x80), 0 if invalid
 * (overlong forms, surrogates and code points past U+10FFFF are invalid). */
static int utf8_len(const unsigned char *p, const unsigned char *end) {
    unsigned c = p[0], cp, n;
    if (c >= 0xc2 && c <= 0xdf) n = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef) n = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4) n = 4, cp = c & 0x07;
    else return 0;
    if ((size_t)(end - p) < n) return 0;
    for (unsigned i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return (int)n;
}

/* A JSON string at the cursor into a malloc'd C string (*out). NUL
 * characters (\u0000) are refused: names and values are C strings here. */
int tgs_json_string(tgs_json_cur *j, char **out) {
    tgs_json_ws(j);
    if (j->p >= j->end || *j->p != '"') return tgs_json_err(j, j->p >= j->end ? "the JSON ends too soon" : "expected a string");
    j->p++;
    /* the unescaped string is never longer than the escaped one */
    const char *q = j->p;
    while (q < j->end && *q != '"') q += *q == '\\' && q + 1 < j->end ? 2 : 1;
    if (q >= j->end) return tgs_json_err(j, "a string does not end");
    char *s = malloc((size_t)(q - j->p) + 1), *o = s;
    if (!s) return tgs_err("out of memory");
    while (*j->p != '"') {
        unsigned char ch = (unsigned char)*j->p;
        if (ch < 0x20) {
            free(s);
            return tgs_json_err(j, "a control character in a string");
        }
        if (ch >= 0x80) {
            int n = utf8_len((const unsigned char *)j->p, (const unsigned char *)j->end);
            if (!n) {
                free(s);
                return tgs_json_err(j, "a string is not valid UTF-8");
            }
            memcpy(o, j->p, (size_t)n);
            o += n, j->p += n;
            continue;
        }
        j->p++;
        if (ch != '\\') {
            *o++ = (char)ch;
            continue;
        }
        ch = (unsigned char)*j->p++;
        unsigned cp;
        switch (ch) {
        case '"': case '\\': case '/': *o++ = (char)ch; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u':
            if (read_hex4(j, &cp) < 0) {
                free(s);
                return -1;
            }
            if (cp >= 0xd800 && cp <= 0xdbff) { /* a surrogate pair */
                unsigned lo;
                if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u') {
                    free(s);
                    return tgs_json_err(j, "a lone UTF-16 surrogate in a \\u escape");
                }
                j->p += 2;
                if (read_hex4(j, &lo) < 0) {
                    free(s);
                    return -1;
                }
                if (lo < 0xdc00 || lo > 0xdfff) {
                    free(s);
                    return tgs_json_err(j, "a lone UTF-16 surrogate in a \\u escape");
                }
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                free(s);
                return tgs_json_err(j, "a lone UTF-16 surrogate in a \\u escape");
            }
            if (cp == 0) {
                free(s);
                return tgs_json_err(j, "a NUL character (\\u0000) in a string");
            }
            o += put_utf8(o, cp); /* 6 escaped bytes give at most 3, 12 at most 4 */
            break;
        default: free(s); j->p--; return tgs_json_err(j, "a bad escape in a string");
        }
    }
    j->p++;
    *o = 0;
    *out = s;
    return 0;
}

/* A non-negative integer without sign, fraction or exponent. */
int tgs_json_uint(tgs_json_cur *j, uint64_t *v) {
    tgs_json_ws(j);
    const char *s = j->p;
    uint64_t x = 0;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        unsigned d = (unsigned)(*j->p - '0');
        if (x > (UINT64_MAX - d) / 10) return tgs_json_err(j, "a number too large");
        x = x * 10 + d;
        j->p++;
    }
    if (j->p == s || (j->p - s > 1 && *s == '0') ||
        (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E' || *j->p == '-'))) {
        j->p = s;
        return tgs_json_err(j, "expected a non-negative integer");
    }
    *v = x;
    return 0;
}

/* [n, n, ...] into v (at most max); *count gets how many */
int tgs_json_uint_array(tgs_json_cur *j, uint64_t *v, int max, int *count, const char *what) {
    if (tgs_json_expect(j, '[') < 0) return -1;
    int n = 0;
    tgs_json_ws(j);
    if (j->p < j->end && *j->p == ']') {
        j->p++;
        *count = 0;
        return 0;
    }
    for (;;) {
        if (n == max) {
            char m[96];
            snprintf(m, sizeof m, "%s has more than %d entries", what, max);
            return tgs_json_err(j, m);
        }
        if (tgs_json_uint(j, &v[n++]) < 0) return -1;
        tgs_json_ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (tgs_json_expect(j, ']') < 0) return -1;
        break;
    }
    *count = n;
    return 0;
}

/* A JSON number (the grammar of RFC 8259), returned as its text. */
int tgs_json_number_text(tgs_json_cur *j, char **out) {
    const char *s = j->p, *q = s;
    if (q < j->end && *q == '-') q++;
    if (q < j->end && *q == '0') q++;
    else if (q < j->end && *q >= '1' && *q <= '9')
        while (q < j->end && *q >= '0' && *q <= '9') q++;
    else return tgs_json_err(j, "expected a value");
    if (q < j->end && *q == '.') {
        q++;
        if (q >= j->end || *q < '0' || *q > '9') return tgs_json_err(j, "a bad number");
        while (q < j->end && *q >= '0' && *q <= '9') q++;
    }
    if (q < j->end && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < j->end && (*q == '+' || *q == '-')) q++;
        if (q >= j->end || *q < '0' || *q > '9') return tgs_json_err(j, "a bad number");
        while (q < j->end && *q >= '0' && *q <= '9') q++;
    }
    char *t = malloc((size_t)(q - s) + 1);
    if (!t) return tgs_err("out of memory");
    memcpy(t, s, (size_t)(q - s));
    t[q - s] = 0;
    j->p = q;
    *out = t;
    return 0;
}

int tgs_json_literal(tgs_json_cur *j, const char *lit) {
    size_t n = strlen(lit);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0) return 0;
    j->p += n;
    return 1;
}

/* ---- flat objects (the options metadata) ---- */

void tgs_json_kv_free(tgs_json_kv *kv, int n) {
    for (int i = 0; i < n; i++) free(kv[i].key), free(kv[i].value);
    free(kv);
}

int tgs_json_flat_parse(const char *text, size_t len, tgs_json_kv **out, int *nout) {
    tgs_json_cur j = {text, text, text + len, 0};
    tgs_json_kv *kv = NULL;
    int n = 0, cap = 0;
    *out = NULL, *nout = 0;
    if (tgs_json_expect(&j, '{') < 0) goto fail;
    tgs_json_ws(&j);
    if (j.p < j.end && *j.p == '}') j.p++;
    else
        for (;;) {
            char *k = NULL, *v = NULL;
            if (tgs_json_string(&j, &k) < 0) goto fail;
            if (tgs_json_expect(&j, ':') < 0) {
                free(k);
                goto fail;
            }
            tgs_json_ws(&j);
            int rc;
            if (j.p < j.end && *j.p == '"') rc = tgs_json_string(&j, &v);
            else if (tgs_json_literal(&j, "true")) rc = (v = strdup("true")) ? 0 : tgs_err("out of memory");
            else if (tgs_json_literal(&j, "false")) rc = (v = strdup("false")) ? 0 : tgs_err("out of memory");
            else if (tgs_json_literal(&j, "null")) rc = (v = strdup("null")) ? 0 : tgs_err("out of memory");
            else if (j.p < j.end && (*j.p == '{' || *j.p == '[')) rc = tgs_json_err(&j, "a nested value");
            else rc = tgs_json_number_text(&j, &v);
            if (rc < 0 || tgs_grow((void **)&kv, &cap, n, sizeof *kv) < 0) {
                free(k), free(v);
                goto fail;
            }
            for (int i = 0; i < n; i++)
                if (strcmp(kv[i].key, k) == 0) {
                    tgs_err("key '%.100s' appears twice", k);
                    free(k), free(v);
                    goto fail;
                }
            kv[n].key = k, kv[n].value = v;
            n++;
            tgs_json_ws(&j);
            if (j.p < j.end && *j.p == ',') {
                j.p++;
                continue;
            }
            if (tgs_json_expect(&j, '}') < 0) goto fail;
            break;
        }
    tgs_json_ws(&j);
    if (j.p != j.end) {
        tgs_json_err(&j, "text after the JSON object");
        goto fail;
    }
    *out = kv, *nout = n;
    return 0;
fail:
    tgs_json_kv_free(kv, n);
    return -1;
}

/* ---- numbers as text ---- */

const char *tgs_fmt_float(char *buf, size_t size, float v) {
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, size, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v) break;
    }
    return buf;
}

const char *tgs_fmt_double(char *buf, size_t size, double v) {
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    return buf;
}
