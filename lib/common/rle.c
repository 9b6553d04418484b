#include "rle.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

size_t tgs_rle_max_len(int h, int w) {
    /* at most n/2+1 runs, each two numbers of at most 10 digits and 2 spaces */
    size_t n = (size_t)h * (size_t)w;
    return (n / 2 + 1) * 22 + 1;
}

/* Write v in decimal; returns the digits written. */
static size_t put_uint(char *out, uint32_t v) {
    char tmp[10];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
    return n;
}

size_t tgs_rle_encode(const uint8_t *mask, int h, int w, char *out) {
    /* Walk column-major straight off the row-major mask: for a 101x101 tile
     * the whole mask sits in L1, so the stride costs little, and skipping a
     * transposed copy keeps this one pass. */
    size_t len = 0;
    uint32_t idx = 1, start = 0;
    int in_run = 0;
    for (int x = 0; x < w; x++) {
        const uint8_t *col = mask + x;
        for (int y = 0; y < h; y++, idx++) {
            int on = col[(size_t)y * (size_t)w] != 0;
            if (on != in_run) {
                if (on) {
                    start = idx;
                } else {
                    if (len) out[len++] = ' ';
                    len += put_uint(out + len, start);
                    out[len++] = ' ';
                    len += put_uint(out + len, idx - start);
                }
                in_run = on;
            }
        }
    }
    if (in_run) {
        if (len) out[len++] = ' ';
        len += put_uint(out + len, start);
        out[len++] = ' ';
        len += put_uint(out + len, idx - start);
    }
    out[len] = 0;
    return len;
}

/* Read a positive decimal integer token; *p is left after it. */
static int read_token(const char **p, uint64_t *v) {
    const char *s = *p;
    if (*s < '0' || *s > '9') return -1;
    uint64_t x = 0;
    while (*s >= '0' && *s <= '9') {
        x = x * 10 + (uint64_t)(*s - '0');
        if (x > 0xFFFFFFFFull) return -1;
        s++;
    }
    if (*s && *s != ' ') return -1;
    *p = s;
    *v = x;
    return 0;
}

/* Length of the token at s, capped for messages. */
static int token_len(const char *s) {
    int n = 0;
    while (s[n] && s[n] != ' ' && n < 24) n++;
    return n;
}

int tgs_rle_decode(const char *text, int h, int w, uint8_t *mask) {
    uint64_t n = (uint64_t)h * (uint64_t)w, end = 0; /* end: last pixel covered so far */
    memset(mask, 0, n);
    const char *p = text;
    for (long run = 1;; run++) {
        while (*p == ' ') p++;
        if (!*p) return 0;
        uint64_t start, len;
        const char *tok = p;
        if (read_token(&p, &start) < 0) return tgs_err("run %ld: '%.*s' is not a positive integer", run, token_len(tok), tok);
        while (*p == ' ') p++;
        if (!*p) return tgs_err("run %ld: start %llu has no length (odd number of values)", run, (unsigned long long)start);
        tok = p;
        if (read_token(&p, &len) < 0) return tgs_err("run %ld: '%.*s' is not a positive integer", run, token_len(tok), tok);
        if (start < 1 || start > n)
            return tgs_err("run %ld: start %llu is outside pixels 1..%llu", run, (unsigned long long)start, (unsigned long long)n);
        if (len < 1) return tgs_err("run %ld: length 0", run);
        if (start + len - 1 > n)
            return tgs_err("run %ld: %llu %llu runs past the last pixel %llu", run, (unsigned long long)start,
                           (unsigned long long)len, (unsigned long long)n);
        if (start <= end)
            return tgs_err("run %ld: starts at %llu, inside or before the previous run (ending at %llu)", run,
                           (unsigned long long)start, (unsigned long long)end);
        for (uint64_t i = start - 1; i < start - 1 + len; i++) {
            uint64_t x = i / (uint64_t)h, y = i % (uint64_t)h;
            mask[y * (uint64_t)w + x] = 1;
        }
        end = start + len - 1;
    }
}
