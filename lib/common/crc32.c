#include "crc32.h"

#include <pthread.h>
#include <string.h>

/* Two implementations of one CRC: slicing-by-8 tables, portable, about 2
 * GB/s; and on x86-64 with PCLMULQDQ, carry-less multiply folding, about
 * 12 GB/s on a Zen 3 core (bench/rle_bench -C), chosen at run time
 * (__builtin_cpu_supports) so the build stays generic. Reading a stream
 * checks every byte of it, so the CRC is a large part of what e.g.
 * tgs-rle encode costs. */

/* Slicing-by-8: eight 256-entry tables let the loop consume 8 bytes per
 * step. Tables are built once on first use. */
static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

/* crc here is the register: the CRC's running value, not inverted. */
static uint32_t crc32_bytes(uint32_t crc, const unsigned char *p, size_t len) {
    while (len >= 8) {
        uint32_t lo, hi;
        memcpy(&lo, p, 4); /* little-endian hosts only; see stream.c */
        memcpy(&hi, p + 4, 4);
        lo ^= crc;
        crc = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^ table[5][(lo >> 16) & 0xff] ^ table[4][lo >> 24] ^
              table[3][hi & 0xff] ^ table[2][(hi >> 8) & 0xff] ^ table[1][(hi >> 16) & 0xff] ^ table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len--) crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_CLMUL 1
#include <immintrin.h>

/* Folding, after Gopal et al., "Fast CRC Computation for Generic
 * Polynomials Using PCLMULQDQ Instruction" (Intel, 2009), in the reflected
 * (bit-reversed) domain of this CRC: four 128-bit lanes take 64 bytes a
 * step, each lane multiplied forward by x^(512+-32) mod P (a 33-bit
 * constant per 64-bit half) and the next 64 bytes xored in; then the lanes
 * fold into one (x^(128+-32)), 16 bytes a step for what is left, and
 * 128 bits reduce to 96, 64, then 32 by Barrett reduction. Each constant is
 * reflect32(x^n mod P) << 1, P = 0x104C11DB7; n is in the comment.
 * len >= 64 and a multiple of 16; crc is the register, as above. */
__attribute__((target("pclmul,sse4.1"))) static uint32_t crc32_clmul(uint32_t crc, const unsigned char *p,
                                                                     size_t len) {
    const __m128i k1k2 = _mm_set_epi64x(0x1c6e41596, 0x154442bd4); /* n = 480 (high), 544 (low) */
    const __m128i k3k4 = _mm_set_epi64x(0x0ccaa009e, 0x1751997d0); /* n = 96, 160 */
    const __m128i k5 = _mm_set_epi64x(0, 0x163cd6124);              /* n = 64 */
    /* P' = P reflected (33 bits), and mu = floor(x^64 / P) reflected */
    const __m128i poly = _mm_set_epi64x(0x1f7011641, 0x1db710641);
    const __m128i mask32 = _mm_setr_epi32(~0, 0, ~0, 0);
    __m128i x1 = _mm_loadu_si128((const __m128i *)p), x2 = _mm_loadu_si128((const __m128i *)(p + 16)),
            x3 = _mm_loadu_si128((const __m128i *)(p + 32)), x4 = _mm_loadu_si128((const __m128i *)(p + 48));
    x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128((int)crc));
    p += 64, len -= 64;
    /* lane <- lane.lo * k1 ^ lane.hi * k2 ^ next 16 bytes, four lanes at once */
    for (; len >= 64; p += 64, len -= 64) {
        __m128i a1 = _mm_clmulepi64_si128(x1, k1k2, 0x00), a2 = _mm_clmulepi64_si128(x2, k1k2, 0x00),
                a3 = _mm_clmulepi64_si128(x3, k1k2, 0x00), a4 = _mm_clmulepi64_si128(x4, k1k2, 0x00);
        x1 = _mm_clmulepi64_si128(x1, k1k2, 0x11), x2 = _mm_clmulepi64_si128(x2, k1k2, 0x11);
        x3 = _mm_clmulepi64_si128(x3, k1k2, 0x11), x4 = _mm_clmulepi64_si128(x4, k1k2, 0x11);
        x1 = _mm_xor_si128(_mm_xor_si128(x1, a1), _mm_loadu_si128((const __m128i *)p));
        x2 = _mm_xor_si128(_mm_xor_si128(x2, a2), _mm_loadu_si128((const __m128i *)(p + 16)));
        x3 = _mm_xor_si128(_mm_xor_si128(x3, a3), _mm_loadu_si128((const __m128i *)(p + 32)));
        x4 = _mm_xor_si128(_mm_xor_si128(x4, a4), _mm_loadu_si128((const __m128i *)(p + 48)));
    }
    /* four lanes into one, then 16 bytes a step, both by 128 bits */
#define FOLD128(x, next)                                                                                     \
    _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x, k3k4, 0x00), _mm_clmulepi64_si128(x, k3k4, 0x11)), \
                  next)
    x1 = FOLD128(x1, x2);
    x1 = FOLD128(x1, x3);
    x1 = FOLD128(x1, x4);
    for (; len >= 16; p += 16, len -= 16) x1 = FOLD128(x1, _mm_loadu_si128((const __m128i *)p));
#undef FOLD128
    /* 128 bits to 96 (the low half times x^96), then to 64 (x^64) */
    x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), _mm_clmulepi64_si128(x1, k3k4, 0x10));
    x1 = _mm_xor_si128(_mm_srli_si128(x1, 4), _mm_clmulepi64_si128(_mm_and_si128(x1, mask32), k5, 0x00));
    /* Barrett: q = (low 32 bits * mu) mod x^32, then the remainder is x ^ q * P */
    __m128i q = _mm_and_si128(_mm_clmulepi64_si128(_mm_and_si128(x1, mask32), poly, 0x10), mask32);
    x1 = _mm_xor_si128(x1, _mm_clmulepi64_si128(q, poly, 0x00));
    return (uint32_t)_mm_extract_epi32(x1, 1);
}
#endif

static int use_clmul;

static void crc32_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++) table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
#ifdef HAVE_CLMUL
    __builtin_cpu_init();
    use_clmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
#endif
}

uint32_t tgs_crc32_portable(uint32_t crc, const void *buf, size_t len) {
    pthread_once(&table_once, crc32_init);
    return ~crc32_bytes(~crc, buf, len);
}

uint32_t tgs_crc32(uint32_t crc, const void *buf, size_t len) {
    pthread_once(&table_once, crc32_init);
    const unsigned char *p = buf;
    crc = ~crc;
#ifdef HAVE_CLMUL
    /* below 64 bytes (record headers) the tables are as fast */
    if (use_clmul && len >= 64) {
        size_t n = len & ~(size_t)15;
        crc = crc32_clmul(crc, p, n);
        p += n, len -= n;
    }
#endif
    return ~crc32_bytes(crc, p, len);
}

const char *tgs_crc32_impl(void) {
    pthread_once(&table_once, crc32_init);
    return use_clmul ? "pclmul" : "portable";
}
