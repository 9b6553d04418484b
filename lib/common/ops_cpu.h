/* ops_cpu: the CPU backend's op implementations (one per enum tgs_op), and
 * what their files share. Each op_*.c defines its tgs_cpu_* tables next to
 * the graph builders; backend_cpu.c gathers them into the backend. */
#ifndef TGS_OPS_CPU_H
#define TGS_OPS_CPU_H

#include "nn.h"

extern const struct tgs_op_impl tgs_cpu_conv2d, tgs_cpu_convt2x2, tgs_cpu_linear, tgs_cpu_matmul;
extern const struct tgs_op_impl tgs_cpu_batchnorm, tgs_cpu_layernorm;
extern const struct tgs_op_impl tgs_cpu_relu, tgs_cpu_elu, tgs_cpu_gelu, tgs_cpu_sigmoid, tgs_cpu_softmax;
extern const struct tgs_op_impl tgs_cpu_dropout, tgs_cpu_dropout2d;
extern const struct tgs_op_impl tgs_cpu_maxpool2, tgs_cpu_avgpool, tgs_cpu_gap, tgs_cpu_upsample2,
    tgs_cpu_upcat;
extern const struct tgs_op_impl tgs_cpu_add, tgs_cpu_mul, tgs_cpu_scale, tgs_cpu_concat;
extern const struct tgs_op_impl tgs_cpu_reshape, tgs_cpu_permute, tgs_cpu_window_part, tgs_cpu_window_merge,
    tgs_cpu_roll;
extern const struct tgs_op_impl tgs_cpu_loss_bce, tgs_cpu_loss_dice, tgs_cpu_loss_focal, tgs_cpu_loss_boundary,
    tgs_cpu_loss_lovasz, tgs_cpu_loss_lovasz_sym, tgs_cpu_loss_mse;

/* Run fn(ctx, tid, nthreads) on nthreads threads at once (tid 0 on the
 * caller) and return when all are done. The CPU backend's own loops split
 * their work by tid; OpenBLAS is kept single-threaded inside these calls so
 * the two never fight for the cores. nthreads is capped at tgs_cpu_threads(). */
void tgs_cpu_parallel(int nthreads, void (*fn)(void *ctx, int tid, int nthreads), void *ctx);

/* The range [lo, hi) of n items that thread tid of nt takes. */
static inline void tgs_split(int64_t n, int tid, int nt, int64_t *lo, int64_t *hi)
{
    *lo = n * tid / nt;
    *hi = n * (tid + 1) / nt;
}

/* o[0..n) += x[0..n), in blocks of 8 the compiler vectorises at -O2 */
static inline void tgs_vec_acc(float *restrict o, const float *restrict x, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) o[i + k] += x[i + k];
    for (; i < n; i++) o[i] += x[i];
}

/* Which conv2d path to take, for tests and benchmarks: 0 im2col + sgemm
 * only, 1 the default choice, 2 the direct AVX2 kernels wherever they
 * apply, 3 Winograd F(2x2,3x3) wherever it applies, 4 F(4x4,3x3).
 * Returns the previous mode. */
int tgs_cpu_conv_direct(int mode);

/* The direct path's register tile (AVX2 + FMA; only called where the CPU
 * has them): acc (4 rows of ld floats, 24 wide) = [acc +] the sum over cn
 * channels c and the taps t of w[c][t][0..3] (4 output channels) times
 * x[c*cs + off[t] + 0..23]. The Winograd GEMMs are this with one tap. */
void tgs_cpu_direct_tile(const float *x, int64_t cs, int32_t cn, const int32_t *off, int32_t taps, const float *w,
                         float *acc, int64_t ld, int load);
/* The direct weight gradient's register tile (AVX2 + FMA, as above):
 * sums[k*3 + t] = the sum over p < len (a multiple of 8) of d[k*ldd + p]
 * times x[off[t] + p], for 4 rows k of d and 3 offsets t. */
void tgs_cpu_dw_tile(const float *d, int64_t ldd, const float *x, const int32_t *off, int64_t len, float *sums);

/* C = alpha * op(A) * op(B) + beta * C, row-major (cblas_sgemm), on the
 * calling thread. */
void tgs_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda, const float *b,
               int ldb, float beta, float *c, int ldc);

#endif
