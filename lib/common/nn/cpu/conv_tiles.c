/* conv_tiles: the AVX2 + FMA register tiles of the direct convolutions
 * (op_conv.c) that the Winograd GEMMs (conv_wino.c) run on too: 4 output
 * channels x 24 positions held in 12 registers over a block of channels.
 * Called only where the CPU has AVX2 and FMA (tgs_cpu_conv_direct); builds
 * for other processors get stubs that nothing calls. */
#include "nn/cpu/conv_tiles.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define TILES_AVX2 1
#include <immintrin.h>
#else
#define TILES_AVX2 0
#endif

#define TILE_MR 4 /* output channels per register tile (op_conv.c's DIRECT_MR) */

#if TILES_AVX2
/* acc (4 rows of ld floats, 24 wide) = [acc +] sum over cn channels and
 * the taps of w[k][c][tap] * x[c*cs + off[tap] + p] */
__attribute__((target("avx2,fma"))) void tgs_cpu_direct_tile(const float *x, int64_t cs, int32_t cn,
                                                             const int32_t *off, int32_t taps, const float *w,
                                                             float *acc, int64_t ld, int load) {
    __m256 a00, a01, a02, a10, a11, a12, a20, a21, a22, a30, a31, a32;
    if (load) {
        a00 = _mm256_loadu_ps(acc), a01 = _mm256_loadu_ps(acc + 8), a02 = _mm256_loadu_ps(acc + 16);
        a10 = _mm256_loadu_ps(acc + ld), a11 = _mm256_loadu_ps(acc + ld + 8), a12 = _mm256_loadu_ps(acc + ld + 16);
        a20 = _mm256_loadu_ps(acc + 2 * ld), a21 = _mm256_loadu_ps(acc + 2 * ld + 8);
        a22 = _mm256_loadu_ps(acc + 2 * ld + 16);
        a30 = _mm256_loadu_ps(acc + 3 * ld), a31 = _mm256_loadu_ps(acc + 3 * ld + 8);
        a32 = _mm256_loadu_ps(acc + 3 * ld + 16);
    } else {
        a00 = a01 = a02 = a10 = a11 = a12 = a20 = a21 = a22 = a30 = a31 = a32 = _mm256_setzero_ps();
    }
    for (int32_t c = 0; c < cn; c++, x += cs) {
        for (int32_t q = 0; q < taps; q++, w += TILE_MR) {
            const float *s = x + off[q];
            __m256 x0 = _mm256_loadu_ps(s), x1 = _mm256_loadu_ps(s + 8), x2 = _mm256_loadu_ps(s + 16);
            __m256 b = _mm256_broadcast_ss(w);
            a00 = _mm256_fmadd_ps(b, x0, a00), a01 = _mm256_fmadd_ps(b, x1, a01), a02 = _mm256_fmadd_ps(b, x2, a02);
            b = _mm256_broadcast_ss(w + 1);
            a10 = _mm256_fmadd_ps(b, x0, a10), a11 = _mm256_fmadd_ps(b, x1, a11), a12 = _mm256_fmadd_ps(b, x2, a12);
            b = _mm256_broadcast_ss(w + 2);
            a20 = _mm256_fmadd_ps(b, x0, a20), a21 = _mm256_fmadd_ps(b, x1, a21), a22 = _mm256_fmadd_ps(b, x2, a22);
            b = _mm256_broadcast_ss(w + 3);
            a30 = _mm256_fmadd_ps(b, x0, a30), a31 = _mm256_fmadd_ps(b, x1, a31), a32 = _mm256_fmadd_ps(b, x2, a32);
        }
    }
    _mm256_storeu_ps(acc, a00), _mm256_storeu_ps(acc + 8, a01), _mm256_storeu_ps(acc + 16, a02);
    _mm256_storeu_ps(acc + ld, a10), _mm256_storeu_ps(acc + ld + 8, a11), _mm256_storeu_ps(acc + ld + 16, a12);
    _mm256_storeu_ps(acc + 2 * ld, a20), _mm256_storeu_ps(acc + 2 * ld + 8, a21);
    _mm256_storeu_ps(acc + 2 * ld + 16, a22);
    _mm256_storeu_ps(acc + 3 * ld, a30), _mm256_storeu_ps(acc + 3 * ld + 8, a31);
    _mm256_storeu_ps(acc + 3 * ld + 16, a32);
}

__attribute__((target("avx2,fma"))) static float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* sums[k*3 + t] = sum over p < len (a multiple of 8) of d[k*ldd + p] *
 * x[off[t] + p], for 4 rows of d and 3 taps */
__attribute__((target("avx2,fma"))) void tgs_cpu_dw_tile(const float *d, int64_t ldd, const float *x,
                                                          const int32_t *off, int64_t len, float *sums) {
    __m256 a00, a01, a02, a10, a11, a12, a20, a21, a22, a30, a31, a32;
    a00 = a01 = a02 = a10 = a11 = a12 = a20 = a21 = a22 = a30 = a31 = a32 = _mm256_setzero_ps();
    const float *x0p = x + off[0], *x1p = x + off[1], *x2p = x + off[2];
    for (int64_t p = 0; p < len; p += 8) {
        __m256 x0 = _mm256_loadu_ps(x0p + p), x1 = _mm256_loadu_ps(x1p + p), x2 = _mm256_loadu_ps(x2p + p);
        __m256 v = _mm256_loadu_ps(d + p);
        a00 = _mm256_fmadd_ps(v, x0, a00), a01 = _mm256_fmadd_ps(v, x1, a01), a02 = _mm256_fmadd_ps(v, x2, a02);
        v = _mm256_loadu_ps(d + ldd + p);
        a10 = _mm256_fmadd_ps(v, x0, a10), a11 = _mm256_fmadd_ps(v, x1, a11), a12 = _mm256_fmadd_ps(v, x2, a12);
        v = _mm256_loadu_ps(d + 2 * ldd + p);
        a20 = _mm256_fmadd_ps(v, x0, a20), a21 = _mm256_fmadd_ps(v, x1, a21), a22 = _mm256_fmadd_ps(v, x2, a22);
        v = _mm256_loadu_ps(d + 3 * ldd + p);
        a30 = _mm256_fmadd_ps(v, x0, a30), a31 = _mm256_fmadd_ps(v, x1, a31), a32 = _mm256_fmadd_ps(v, x2, a32);
    }
    sums[0] = hsum8(a00), sums[1] = hsum8(a01), sums[2] = hsum8(a02);
    sums[3] = hsum8(a10), sums[4] = hsum8(a11), sums[5] = hsum8(a12);
    sums[6] = hsum8(a20), sums[7] = hsum8(a21), sums[8] = hsum8(a22);
    sums[9] = hsum8(a30), sums[10] = hsum8(a31), sums[11] = hsum8(a32);
}
#else
void tgs_cpu_direct_tile(const float *x, int64_t cs, int32_t cn, const int32_t *off, int32_t taps, const float *w,
                        float *acc, int64_t ld, int load) {
    (void)x, (void)cs, (void)cn, (void)off, (void)taps, (void)w, (void)acc, (void)ld, (void)load;
}
void tgs_cpu_dw_tile(const float *d, int64_t ldd, const float *x, const int32_t *off, int64_t len, float *sums) {
    (void)d, (void)ldd, (void)x, (void)off, (void)len, (void)sums;
}
#endif
