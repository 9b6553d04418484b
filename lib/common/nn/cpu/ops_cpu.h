/* ops_cpu: the CPU backend's op implementations (one per line of the op
 * list, nn/ops.def), and what their files share. Each op_*.c here defines
 * the tgs_cpu_* tables of its ops, next to their kernels (the graph
 * builders are nn/op_*.c); backend_cpu.c gathers them into the backend,
 * pool.c runs their loops. */
#ifndef TGS_OPS_CPU_H
#define TGS_OPS_CPU_H

#include "nn/nn.h"

#define TGS_OP(suffix, impl, name) extern const struct tgs_op_impl tgs_cpu_##impl;
#include "nn/ops.def"

/* Run fn(ctx, tid, nthreads) on nthreads threads at once (tid 0 on the
 * caller) and return when all are done. The CPU backend's own loops split
 * their work by tid; OpenBLAS is kept single-threaded inside these calls so
 * the two never fight for the cores. nthreads is capped at tgs_cpu_threads(). */
void tgs_cpu_parallel(int nthreads, void (*fn)(void *ctx, int tid, int nthreads), void *ctx);

/* The range [lo, hi) of n items that thread tid of nt takes. */
static inline void tgs_split(int64_t n, int tid, int nt, int64_t *lo, int64_t *hi) {
    *lo = n * tid / nt;
    *hi = n * (tid + 1) / nt;
}

/* o[0..n) += x[0..n), in blocks of 8 the compiler vectorises at -O2 */
static inline void tgs_vec_acc(float *restrict o, const float *restrict x, int64_t n) {
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

/* Whether GELU and softmax take their AVX2 builds (nn/cpu/op_act.c): mode
 * 0 no, 1 where the CPU has AVX2 (the default), -1 only asks. Both give
 * the same bytes; the tests run each. Returns the choice in force before. */
int tgs_cpu_vmath_avx2(int mode);

/* C = alpha * op(A) * op(B) + beta * C, row-major (cblas_sgemm), on the
 * calling thread. */
void tgs_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda, const float *b,
               int ldb, float beta, float *c, int ldc);

#endif
