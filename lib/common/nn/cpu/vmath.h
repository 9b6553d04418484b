/* vmath: e^x and the standard normal CDF on 8 floats at once, for the
 * activations (GELU, softmax) of nn/cpu/op_act.c.
 *
 * Why: libm's erff and expf are scalar calls, and GELU alone was 11% of a
 * swinunet training step (bench/unet_bench --profile). These are written
 * with the compiler's vector extension (GCC, clang): a baseline x86-64 build
 * runs them as SSE2 pairs, and a caller compiled for AVX2 (target
 * attribute) as one register, with the same operations in the same order,
 * hence the same bytes (no FMA: nothing is contracted). Every function is
 * always_inline so that it takes its caller's instruction set, and no
 * vector crosses a call (the Makefile turns GCC's -Wpsabi off for the
 * files that include this: it warns of a calling convention never used).
 *
 * Accuracy (tests/unit/test_op_act.c, against double precision):
 *   tgs_vexp: relative error below 2e-7 on [-87, 0] (Cephes' expf
 *     polynomial after a Cody-Waite reduction); below -87 it returns
 *     e^-87, which a caller only ever adds to 1 or multiplies by x.
 *   tgs_vphi: Phi(v) from erfc (Numerical Recipes' erfcc, a Chebyshev fit
 *     with relative error below 1.2e-7 everywhere), so the left tail keeps
 *     its relative accuracy, where 0.5 * (1 + erff(v / sqrt 2)) rounds to 0
 *     below v = -5.5. */
#ifndef TGS_VMATH_H
#define TGS_VMATH_H

#include <stdint.h>
#include <string.h>

#define TGS_VW 8 /* floats a vector */
typedef float tgs_vf __attribute__((vector_size(4 * TGS_VW)));
typedef int32_t tgs_vi __attribute__((vector_size(4 * TGS_VW)));

#define TGS_VINLINE static inline __attribute__((always_inline))

TGS_VINLINE tgs_vf tgs_vset(float a) { return (tgs_vf){a, a, a, a, a, a, a, a}; }

/* m ? a : b, m a comparison's all-ones or zero lanes */
TGS_VINLINE tgs_vf tgs_vsel(tgs_vi m, tgs_vf a, tgs_vf b) { return (tgs_vf)(((tgs_vi)a & m) | ((tgs_vi)b & ~m)); }

/* n <= TGS_VW floats from p, zeros after them; and back */
TGS_VINLINE tgs_vf tgs_vload(const float *p, int64_t n) {
    tgs_vf v = {0};
    memcpy(&v, p, (size_t)n * sizeof(float));
    return v;
}
TGS_VINLINE void tgs_vstore(float *p, tgs_vf v, int64_t n) { memcpy(p, &v, (size_t)n * sizeof(float)); }

/* e^x for x <= 0 (x > 0 is not asked for: softmax subtracts the row's
 * max, Phi takes -z^2): x = k ln2 + r, |r| <= ln2 / 2, e^r by a degree-7
 * polynomial, 2^k put in the exponent bits. k is rounded by the 1.5 * 2^23
 * trick, exact for |x| < 2^22. */
TGS_VINLINE tgs_vf tgs_vexp(tgs_vf x) {
    x = tgs_vsel(x < -87.0f, tgs_vset(-87.0f), x);
    tgs_vf k = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    tgs_vf r = x - k * 0.693145751953125f; /* ln2 in two parts: the first's product is exact */
    r = r - k * 1.428606765330187045e-06f;
    tgs_vf p = tgs_vset(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    return (tgs_vf)((tgs_vi)p + (__builtin_convertvector(k, tgs_vi) << 23));
}

/* Phi(v), the standard normal CDF, and where pdf is not NULL phi(v) =
 * e^(-v^2/2) / sqrt(2 pi). Phi(-|v|) = erfc(|v| / sqrt 2) / 2. */
TGS_VINLINE tgs_vf tgs_vphi(tgs_vf v, tgs_vf *pdf) {
    tgs_vf z = tgs_vsel(v < 0.0f, -v, v) * 0.70710678118654752f;
    tgs_vf t = 1.0f / (1.0f + 0.5f * z);
    tgs_vf q = t * 0.17087277f - 0.82215223f;
    q = q * t + 1.48851587f;
    q = q * t - 1.13520398f;
    q = q * t + 0.27886807f;
    q = q * t - 0.18628806f;
    q = q * t + 0.09678418f;
    q = q * t + 0.37409196f;
    q = q * t + 1.00002368f;
    q = q * t - 1.26551223f;
    tgs_vf lower = 0.5f * t * tgs_vexp(q - z * z); /* Phi(-|v|) */
    if (pdf) *pdf = 0.39894228040143267794f * tgs_vexp(-0.5f * v * v);
    return tgs_vsel(v < 0.0f, lower, 1.0f - lower);
}

#endif
