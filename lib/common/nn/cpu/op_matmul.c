/* op_matmul: linear (x w^T + b) and batched matmul: the CPU kernels and
 * their op tables (the graph builders are nn/op_matmul.c). Both are sgemm
 * calls whose output rows are split between threads (the GEMM-like
 * convolutions are in op_conv.c). */
#include "nn/cpu/ops_cpu.h"
#include "err.h"

/* Below this many flops a linear or matmul runs on one thread: waking the
 * pool costs more than it saves. */
#define SMALL_FLOPS (1 << 17)

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* ======================================================================
 * GEMM helpers for linear and matmul: a batch of C_b (M,N) = op(A_b) op(B_b)
 * whose output rows are split between threads. The reduction dimension is
 * never split, so results do not depend on the thread count.
 * ====================================================================== */

struct gemm_job {
    int ta, tb, m, n, k, batch;
    const float *a, *b;
    float *c;
    int lda, ldb, ldc;
    int64_t sa, sb, sc; /* batch strides */
    float beta;
    const float *bias;  /* (N) added to every row, or NULL */
};

static void gemm_worker(void *arg, int tid, int nt) {
    const struct gemm_job *j = arg;
    int64_t lo, hi;
    tgs_split((int64_t)j->batch * j->m, tid, nt, &lo, &hi);
    while (lo < hi) {
        int64_t bi = lo / j->m, r0 = lo % j->m, r1 = min64(j->m, r0 + (hi - lo));
        /* rows r0..r1 of op(A): A's rows when not transposed, its columns when it is */
        const float *a = j->a + bi * j->sa + (j->ta ? r0 : r0 * j->lda);
        float *c = j->c + bi * j->sc + r0 * j->ldc;
        tgs_sgemm(j->ta, j->tb, (int)(r1 - r0), j->n, j->k, 1, a, j->lda, j->b + bi * j->sb, j->ldb, j->beta, c,
                  j->ldc);
        if (j->bias)
            for (int64_t r = 0; r < r1 - r0; r++)
                for (int q = 0; q < j->n; q++) c[r * j->ldc + q] += j->bias[q];
        lo += r1 - r0;
    }
}

static int gemm_threads(const struct tgs_exec *x, const struct gemm_job *j) {
    double flops = 2.0 * j->batch * j->m * j->n * j->k;
    return flops < SMALL_FLOPS ? 1 : x->threads;
}

static void gemm_run(const struct tgs_exec *x, const struct gemm_job *j) {
    tgs_cpu_parallel(gemm_threads(x, j), gemm_worker, (void *)j);
}

/* sum over rows of d (R, N) into db (N), split by column ranges so each
 * db[q] is one fixed-order sum whatever the thread count */
struct colsum_ctx {
    float *db;
    const float *d;
    int64_t rows;
    int n;
};

static void colsum_worker(void *arg, int tid, int nt) {
    const struct colsum_ctx *cx = arg;
    int64_t lo, hi;
    tgs_split(cx->n, tid, nt, &lo, &hi);
    if (lo >= hi) return;
    /* blocks of 64 rows summed in float along the rows, blocks into doubles */
    double acc[256];
    float part[256];
    for (int64_t q0 = lo; q0 < hi; q0 += 256) {
        int64_t q1 = min64(hi, q0 + 256), nq = q1 - q0;
        for (int64_t q = 0; q < nq; q++) acc[q] = 0;
        for (int64_t r0 = 0; r0 < cx->rows; r0 += 64) {
            int64_t r1 = min64(cx->rows, r0 + 64);
            for (int64_t q = 0; q < nq; q++) part[q] = 0;
            for (int64_t r = r0; r < r1; r++) {
                const float *d = cx->d + r * cx->n + q0;
                for (int64_t q = 0; q < nq; q++) part[q] += d[q];
            }
            for (int64_t q = 0; q < nq; q++) acc[q] += part[q];
        }
        for (int64_t q = 0; q < nq; q++) cx->db[q0 + q] += (float)acc[q];
    }
}

/* ======================================================================
 * linear: out (R, O) = x (R, I) w^T + b, R = all leading dims of x
 * ====================================================================== */

// x is (R,I), w is (O,I), b is (O) or NULL, out is (R,O)
static void linear_forward(const struct tgs_exec *ex, float *out, const float *x, const float *w, const float *b,
                           int64_t rows, int in, int on) {
    struct gemm_job j = {0, 1, (int)rows, on, in, 1, x, w, out, in, in, on, 0, 0, 0, 0, b};
    gemm_run(ex, &j);
}

// dout is (R,O); dx (R,I) += dout w; dw (O,I) += dout^T x; db (O) += column sums of dout
static void linear_backward(const struct tgs_exec *ex, float *dx, float *dw, float *db, const float *dout,
                            const float *x, const float *w, int64_t rows, int in, int on) {
    if (dx) {
        struct gemm_job j = {0, 0, (int)rows, in, on, 1, dout, w, dx, on, in, in, 0, 0, 0, 1, NULL};
        gemm_run(ex, &j);
    }
    if (dw) {
        struct gemm_job j = {1, 0, on, in, (int)rows, 1, dout, x, dw, on, in, in, 0, 0, 0, 1, NULL};
        gemm_run(ex, &j);
    }
    if (db) {
        struct colsum_ctx cx = {db, dout, rows, on};
        tgs_cpu_parallel(rows * on < SMALL_FLOPS ? 1 : ex->threads, colsum_worker, &cx);
    }
}

static int linear_node_forward(struct tgs_node *n, const struct tgs_exec *x) {
    const struct tgs_tensor *in = n->src[0], *w = n->src[1];
    int64_t I = w->ne[1];
    linear_forward(x, n->out->data, in->data, w->data, n->nsrc > 2 ? n->src[2]->data : NULL, in->size / I, (int)I,
                   w->ne[0]);
    return 0;
}

static int linear_node_backward(struct tgs_node *n, const struct tgs_exec *x) {
    const struct tgs_tensor *in = n->src[0], *w = n->src[1];
    int64_t I = w->ne[1];
    linear_backward(x, in->grad, w->grad, n->nsrc > 2 ? n->src[2]->grad : NULL, n->out->grad, in->data, w->data,
                    in->size / I, (int)I, w->ne[0]);
    return 0;
}

const struct tgs_op_impl tgs_cpu_linear = {linear_node_forward, linear_node_backward, NULL, NULL};

/* ======================================================================
 * matmul: out (B,M,N) = op(a) op(b), op transposing the last two dims
 * ====================================================================== */

struct mm_dims {
    int batch, m, n, k;
    int ra, ca, rb, cb; /* stored rows and columns of a and b */
};

static struct mm_dims mm_node_dims(const struct tgs_node *n) {
    const struct tgs_tensor *a = n->src[0], *b = n->src[1];
    int d = a->ndim - 2;
    struct mm_dims m;
    m.batch = d ? a->ne[0] : 1;
    m.ra = a->ne[d], m.ca = a->ne[d + 1], m.rb = b->ne[d], m.cb = b->ne[d + 1];
    m.m = n->p.mm.trans_a ? m.ca : m.ra;
    m.k = n->p.mm.trans_a ? m.ra : m.ca;
    m.n = n->p.mm.trans_b ? m.rb : m.cb;
    return m;
}

// a is (B,M,K) or (B,K,M) when ta, b is (B,K,N) or (B,N,K) when tb, out is (B,M,N)
static void matmul_forward(const struct tgs_exec *ex, float *out, const float *a, const float *b, int ta, int tb,
                           const struct mm_dims *d) {
    struct gemm_job j = {ta, tb, d->m, d->n, d->k, d->batch, a, b, out, d->ca, d->cb, d->n,
                         (int64_t)d->ra * d->ca, (int64_t)d->rb * d->cb, (int64_t)d->m * d->n, 0, NULL};
    gemm_run(ex, &j);
}

// dout is (B,M,N); da and db (either may be NULL) accumulate in a's and b's stored layouts:
// d op(a) = dout op(b)^T, d op(b) = op(a)^T dout
static void matmul_backward(const struct tgs_exec *ex, float *da, float *db, const float *dout, const float *a,
                            const float *b, int ta, int tb, const struct mm_dims *d) {
    int64_t sa = (int64_t)d->ra * d->ca, sb = (int64_t)d->rb * d->cb, sc = (int64_t)d->m * d->n;
    if (da) {
        struct gemm_job j;
        if (!ta) /* da (M,K) = dout (M,N) op(b)^T */
            j = (struct gemm_job){0, !tb, d->m, d->k, d->n, d->batch, dout, b, da, d->n, d->cb, d->ca,
                                  sc, sb, sa, 1, NULL};
        else /* da (K,M) = op(b) (K,N) dout^T */
            j = (struct gemm_job){tb, 1, d->k, d->m, d->n, d->batch, b, dout, da, d->cb, d->n, d->ca,
                                  sb, sc, sa, 1, NULL};
        gemm_run(ex, &j);
    }
    /* a separate pass: a and b may be one tensor (x x^T), whose two
     * gradient contributions must not race */
    if (db) {
        struct gemm_job j;
        if (!tb) /* db (K,N) = op(a)^T (K,M) dout (M,N) */
            j = (struct gemm_job){!ta, 0, d->k, d->n, d->m, d->batch, a, dout, db, d->ca, d->n, d->cb,
                                  sa, sc, sb, 1, NULL};
        else /* db (N,K) = dout^T (N,M) op(a) (M,K) */
            j = (struct gemm_job){1, ta, d->n, d->k, d->m, d->batch, dout, a, db, d->n, d->ca, d->cb,
                                  sc, sa, sb, 1, NULL};
        gemm_run(ex, &j);
    }
}

static int matmul_node_forward(struct tgs_node *n, const struct tgs_exec *x) {
    struct mm_dims d = mm_node_dims(n);
    matmul_forward(x, n->out->data, n->src[0]->data, n->src[1]->data, n->p.mm.trans_a, n->p.mm.trans_b, &d);
    return 0;
}

static int matmul_node_backward(struct tgs_node *n, const struct tgs_exec *x) {
    struct mm_dims d = mm_node_dims(n);
    matmul_backward(x, n->src[0]->grad, n->src[1]->grad, n->out->grad, n->src[0]->data, n->src[1]->data,
                    n->p.mm.trans_a, n->p.mm.trans_b, &d);
    return 0;
}

const struct tgs_op_impl tgs_cpu_matmul = {matmul_node_forward, matmul_node_backward, NULL, NULL};
