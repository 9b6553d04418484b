#include "rle.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

/* __builtin_ctzll: GCC and clang, the compilers this project builds with. */

size_t tgs_rle_max_len(int h, int w) {
    /* at most n/2+1 runs, each two numbers of at most 10 digits and 2 spaces */
    size_t n = (size_t)h * (size_t)w;
    return (n / 2 + 1) * 22 + 1;
}

/* Write v in decimal, two digits a step from a table; returns its length. */
static size_t put_uint(char *out, uint32_t v) {
    static const char pairs[201] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                   "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                   "8081828384858687888990919293949596979899";
    /* small first: a tile's starts have 4-5 digits, its lengths 1-3 */
    size_t n = v < 10u ? 1 : v < 100u ? 2 : v < 1000u ? 3 : v < 10000u ? 4 : v < 100000u ? 5
             : v < 1000000u ? 6 : v < 10000000u ? 7 : v < 100000000u ? 8 : v < 1000000000u ? 9 : 10;
    char *p = out + n;
    while (v >= 100) {
        uint32_t r = v % 100;
        v /= 100;
        p -= 2;
        memcpy(p, pairs + 2 * r, 2);
    }
    if (v >= 10) memcpy(p - 2, pairs + 2 * v, 2);
    else p[-1] = (char)('0' + v);
    return n;
}

/* Append the run [start, end) (1-based pixel numbers) to out at len. */
static size_t put_run(char *out, size_t len, uint32_t start, uint32_t end) {
    if (len) out[len++] = ' ';
    len += put_uint(out + len, start);
    out[len++] = ' ';
    return len + put_uint(out + len, end - start);
}

/* The plain walk down each column, pixel by pixel: the reference, and the
 * path for masks taller than the fast path's per-column buffers. */
static size_t encode_simple(const uint8_t *mask, int h, int w, char *out) {
    size_t len = 0;
    uint32_t idx = 1, start = 0;
    int in_run = 0;
    for (int x = 0; x < w; x++)
        for (int y = 0; y < h; y++, idx++) {
            int on = mask[(size_t)y * (size_t)w + (size_t)x] != 0;
            if (on == in_run) continue;
            if (on) start = idx;
            else len = put_run(out, len, start, idx);
            in_run = on;
        }
    if (in_run) len = put_run(out, len, start, idx);
    out[len] = 0;
    return len;
}

/* 0x80 in each byte of v that is non-zero, 0 elsewhere (no carries cross
 * bytes: each byte's low 7 bits plus 0x7F stays below 0x100). */
static inline uint64_t nonzero_bytes(uint64_t v) {
    const uint64_t lo7 = 0x7F7F7F7F7F7F7F7Full;
    return (((v & lo7) + lo7) | v) & ~lo7;
}

/* Columns x0..x0+nc-1 (nc <= 8) of one row as the low bytes of a word. */
static inline __attribute__((always_inline)) uint64_t load_strip(const uint8_t *row, int x0, int nc, int w) {
    uint64_t v = 0;
    if (nc == 8) {
        memcpy(&v, row + x0, 8);
    } else if (w >= 8) { /* the row's last 8 bytes, shifted: stays inside the row */
        memcpy(&v, row + w - 8, 8);
        v >>= 8 * (8 - nc);
    } else {
        for (int i = 0; i < nc; i++) v |= (uint64_t)row[x0 + i] << (8 * i);
    }
    return v;
}

enum { FAST_MAX_H = 1024, STRIP = 16 };

/* Masks are mostly long vertical runs: most rows equal the row above.
 * So walk strips of 16 columns as two 64-bit words per row, skip rows
 * whose words are unchanged, and note per column the rows where salt turns
 * on or off; then write each column's runs from those change rows. Several
 * times the pixel walk on the TGS masks (bench/run.sh measures it). */
size_t tgs_rle_encode(const uint8_t *mask, int h, int w, char *out) {
    if (h > FAST_MAX_H) return encode_simple(mask, h, w, out);
    uint16_t change[STRIP][FAST_MAX_H]; /* per column of the strip: rows where it flips */
    size_t len = 0;
    uint32_t start = 0;
    int in_run = 0;
    for (int x0 = 0; x0 < w; x0 += STRIP) {
        int nc = w - x0 < STRIP ? w - x0 : STRIP, na = nc < 8 ? nc : 8, nb = nc - na, count[STRIP] = {0};
        uint64_t pa = load_strip(mask, x0, na, w), pb = nb ? load_strip(mask, x0 + 8, nb, w) : 0;
        uint64_t first_a = nonzero_bytes(pa), first_b = nonzero_bytes(pb);
        const uint8_t *row = mask;
        for (int y = 1; y < h; y++) {
            row += w;
            uint64_t a, b;
            if (nc == STRIP) { /* the common case, kept branch-light */
                memcpy(&a, row + x0, 8);
                memcpy(&b, row + x0 + 8, 8);
            } else {
                a = load_strip(row, x0, na, w);
                b = nb ? load_strip(row, x0 + 8, nb, w) : 0;
            }
            if (a == pa && b == pb) continue;
            uint64_t fa = nonzero_bytes(a) ^ nonzero_bytes(pa), fb = nonzero_bytes(b) ^ nonzero_bytes(pb);
            pa = a, pb = b;
            for (; fa; fa &= fa - 1) {
                int j = __builtin_ctzll(fa) >> 3;
                change[j][count[j]++] = (uint16_t)y;
            }
            for (; fb; fb &= fb - 1) {
                int j = 8 + (__builtin_ctzll(fb) >> 3);
                change[j][count[j]++] = (uint16_t)y;
            }
        }
        for (int j = 0; j < nc; j++) {
            uint32_t base = (uint32_t)(x0 + j) * (uint32_t)h + 1; /* pixel number of (0, x0+j) */
            int on = (int)((j < 8 ? first_a >> (8 * j) : first_b >> (8 * (j - 8))) >> 7) & 1;
            if (on != in_run) { /* the column's top pixel continues or breaks the run */
                if (on) start = base;
                else len = put_run(out, len, start, base);
                in_run = on;
            }
            for (int k = 0; k < count[j]; k++) {
                uint32_t idx = base + change[j][k];
                if (!in_run) start = idx;
                else len = put_run(out, len, start, idx);
                in_run = !in_run;
            }
        }
    }
    if (in_run) len = put_run(out, len, start, (uint32_t)w * (uint32_t)h + 1);
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
