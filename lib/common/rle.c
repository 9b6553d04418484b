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
 * path for masks taller than the fast path's per-column buffers or
 * narrower than its 16-byte loads. */
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

/* The fast path reads each row of a strip as 16-byte chunks: SSE2 where
 * the compiler has it (every x86-64), two 64-bit words elsewhere (and with
 * -DTGS_RLE_PORTABLE, to test them). Both give the same operations: load
 * 16 bytes, xor and or two chunks, test one for all zero, and the 16-bit
 * mask of its zero bytes (bit i: byte i). */
#if defined(__SSE2__) && !defined(TGS_RLE_PORTABLE)
#include <emmintrin.h>
typedef __m128i chunk;
static inline chunk chunk_load(const uint8_t *p) { return _mm_loadu_si128((const __m128i *)p); }
static inline chunk chunk_xor(chunk a, chunk b) { return _mm_xor_si128(a, b); }
static inline chunk chunk_or(chunk a, chunk b) { return _mm_or_si128(a, b); }
static inline int chunk_is_zero(chunk v) { return _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_setzero_si128())) == 0xFFFF; }
static inline uint64_t chunk_zeros(chunk v) { return (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_setzero_si128())); }
#else
typedef struct { uint64_t lo, hi; } chunk;
static inline chunk chunk_load(const uint8_t *p) {
    chunk c;
    memcpy(&c.lo, p, 8); /* little-endian hosts only; see stream.c */
    memcpy(&c.hi, p + 8, 8);
    return c;
}
static inline chunk chunk_xor(chunk a, chunk b) { return (chunk){a.lo ^ b.lo, a.hi ^ b.hi}; }
static inline chunk chunk_or(chunk a, chunk b) { return (chunk){a.lo | b.lo, a.hi | b.hi}; }
static inline int chunk_is_zero(chunk v) { return (v.lo | v.hi) == 0; }
/* bit i set where byte i of v is zero: 0x80 in each zero byte (no carries
 * cross bytes: a byte's low 7 bits plus 0x7F stays below 0x100), then the
 * multiply gathers byte i's top bit into bit 56+i, without carries. */
static inline uint64_t zero_bytes8(uint64_t v) {
    const uint64_t lo7 = 0x7F7F7F7F7F7F7F7Full;
    uint64_t z = ~(((v & lo7) + lo7) | v) & ~lo7;
    return ((z >> 7) * 0x0102040810204080ull) >> 56;
}
static inline uint64_t chunk_zeros(chunk v) { return zero_bytes8(v.lo) | zero_bytes8(v.hi) << 8; }
#endif

/* Strips are at most 128 columns (a row of one is two 64-bit words of
 * bits) and at most CHG_CAP / h, so the per-column change lists, h rows
 * each, fit in CHG_CAP entries: whole 101-wide TGS tiles are one strip. */
enum { FAST_MAX_H = 1024, STRIP_MAX = 128, CHG_CAP = 16384, PREFETCH_ROWS = 16 };

/* What walking a strip gives the writer: top and bottom, the non-zero
 * pixels of its first and last rows; changed, the columns with a change
 * anywhere below the first row (each a 128-bit set, lo = columns 0..63). */
typedef struct {
    uint64_t top[2], bottom[2], changed[2];
} strip_edges;

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* Chunk c of a strip row (nch chunks, the last one ending at the strip's
 * end: it starts rem columns early, overlapping the one before). */
ALWAYS_INLINE chunk strip_chunk(const uint8_t *row, int c, int nch, int rem) {
    return chunk_load(row + 16 * c - (c == nch - 1 ? rem : 0));
}

/* The zero pixels of a strip row as bits (bit j of z[j >> 6]: column j,
 * 16 per chunk); bits past the strip's last column are 0. */
ALWAYS_INLINE void strip_zeros(const chunk *v, int nch, int rem, uint64_t *z) {
    z[0] = z[1] = 0;
#pragma GCC unroll 8
    for (int c = 0; c < nch; c++) {
        uint64_t m = chunk_zeros(v[c]);
        if (c == nch - 1) m >>= rem;
        z[c >> 2] |= m << (16 * (c & 3));
    }
}

/* Walk one strip (columns x0.., nch chunks, the last overlapping by rem)
 * down its rows, noting in chg[j * h + k] the k-th row where column j
 * turns on or off (cnt[j] of them). Masks are mostly long vertical runs,
 * so most rows equal the row above: a row is first compared whole with
 * the previous one, and only a changed row is turned into bits. nch is a
 * constant in each instance (see walk_strip), so the loops over chunks
 * unroll and a row's chunks stay in registers. */
ALWAYS_INLINE void walk_strip_n(const uint8_t *mask, int h, int w, int x0, const int nch, int rem, uint16_t *chg,
                                int *cnt, strip_edges *e) {
    const uint8_t *row = mask + x0;
    chunk prev[8], v[8];
    uint64_t z[2], changed[2] = {0, 0};
#pragma GCC unroll 8
    for (int c = 0; c < nch; c++) prev[c] = strip_chunk(row, c, nch, rem);
    strip_zeros(prev, nch, rem, z);
    e->top[0] = ~z[0], e->top[1] = ~z[1];
    for (int y = 1; y < h; y++) {
        row += w;
        /* rows ahead, so the next lines are on their way while this one
         * is walked (integer arithmetic: past the mask is not an error) */
        __builtin_prefetch((const void *)((uintptr_t)row + (uintptr_t)PREFETCH_ROWS * (uintptr_t)w));
#pragma GCC unroll 8
        for (int c = 0; c < nch; c++) v[c] = strip_chunk(row, c, nch, rem);
        chunk diff = chunk_xor(v[0], prev[0]);
#pragma GCC unroll 8
        for (int c = 1; c < nch; c++) diff = chunk_or(diff, chunk_xor(v[c], prev[c]));
        if (chunk_is_zero(diff)) continue;
        uint64_t nz[2];
        strip_zeros(v, nch, rem, nz);
#pragma GCC unroll 8
        for (int c = 0; c < nch; c++) prev[c] = v[c];
        for (int i = 0; i < 2; i++) {
            uint64_t f = nz[i] ^ z[i]; /* the columns that flip at row y */
            changed[i] |= f;
            z[i] = nz[i];
            for (; f; f &= f - 1) {
                int j = 64 * i + __builtin_ctzll(f);
                chg[j * h + cnt[j]++] = (uint16_t)y;
            }
        }
    }
    e->bottom[0] = ~z[0], e->bottom[1] = ~z[1];
    e->changed[0] = changed[0], e->changed[1] = changed[1];
}

static void walk_strip(const uint8_t *mask, int h, int w, int x0, int nch, int rem, uint16_t *chg, int *cnt,
                       strip_edges *e) {
    switch (nch) {
    case 1: walk_strip_n(mask, h, w, x0, 1, rem, chg, cnt, e); break;
    case 2: walk_strip_n(mask, h, w, x0, 2, rem, chg, cnt, e); break;
    case 3: walk_strip_n(mask, h, w, x0, 3, rem, chg, cnt, e); break;
    case 4: walk_strip_n(mask, h, w, x0, 4, rem, chg, cnt, e); break;
    case 5: walk_strip_n(mask, h, w, x0, 5, rem, chg, cnt, e); break;
    case 6: walk_strip_n(mask, h, w, x0, 6, rem, chg, cnt, e); break;
    case 7: walk_strip_n(mask, h, w, x0, 7, rem, chg, cnt, e); break;
    default: walk_strip_n(mask, h, w, x0, 8, rem, chg, cnt, e); break;
    }
}

/* The run text is the list of boundaries, the pixel numbers where the
 * column-major pixel sequence (with an off pixel before and after it)
 * changes: alternately a run's start and the pixel after its end. Inside a
 * column they are its change rows; at a column's top pixel, a boundary is
 * where it differs from the previous column's bottom pixel. So walk each
 * strip once (walk_strip), then write its columns' boundaries in order,
 * visiting only the columns that have any (most of a tile has none). */
size_t tgs_rle_encode(const uint8_t *mask, int h, int w, char *out) {
    if (h > FAST_MAX_H || w < 16) return encode_simple(mask, h, w, out);
    int strip = (CHG_CAP / h) & ~15; /* >= 16, since h <= 1024 */
    if (strip > STRIP_MAX) strip = STRIP_MAX;
    uint16_t chg[CHG_CAP];
    int cnt[STRIP_MAX];
    size_t len = 0;
    uint32_t start = 0;
    int in_run = 0;
    uint64_t carry = 0; /* the previous column's bottom pixel: 1 if on */
    for (int x0 = 0; x0 < w; x0 += strip) {
        int nc = w - x0 < strip ? w - x0 : strip, nch = (nc + 15) / 16;
        strip_edges e;
        memset(cnt, 0, sizeof *cnt * (size_t)nc);
        walk_strip(mask, h, w, x0, nch, 16 * nch - nc, chg, cnt, &e);
        /* seam: columns whose top pixel differs from the bottom pixel of
         * the column before (bits 0..nc-1; those above are garbage) */
        uint64_t seam[2] = {e.top[0] ^ (e.bottom[0] << 1 | carry), e.top[1] ^ (e.bottom[1] << 1 | e.bottom[0] >> 63)};
        carry = (e.bottom[(nc - 1) >> 6] >> ((nc - 1) & 63)) & 1;
        for (int i = 0; i < 2; i++) {
            int valid = nc - 64 * i; /* columns of this word in the strip */
            uint64_t any = valid <= 0 ? 0 : (seam[i] | e.changed[i]) & (valid >= 64 ? ~0ull : (1ull << valid) - 1);
            for (; any; any &= any - 1) {
                int j = 64 * i + __builtin_ctzll(any);
                uint32_t base = (uint32_t)(x0 + j) * (uint32_t)h + 1; /* pixel number of (0, x0+j) */
                if ((seam[i] >> (j & 63)) & 1) {
                    if (in_run) len = put_run(out, len, start, base);
                    else start = base;
                    in_run = !in_run;
                }
                for (int k = 0; k < cnt[j]; k++) {
                    uint32_t idx = base + chg[j * h + k];
                    if (in_run) len = put_run(out, len, start, idx);
                    else start = idx;
                    in_run = !in_run;
                }
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
