/* backend_cpu: the reference backend. Memory is plain aligned host memory;
 * GEMMs go to OpenBLAS; the ops' own loops run on a small thread pool. */
#include "ops_cpu.h"
#include "err.h"

#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* OpenBLAS's own controls (cblas.h declares them in OpenBLAS builds). */
void openblas_set_num_threads(int num_threads);
char *openblas_get_config(void);
char *openblas_get_corename(void);

const char *tgs_cpu_describe(void)
{
    static char buf[256];
    /* the config starts "OpenBLAS 0.3.21 ..." */
    snprintf(buf, sizeof buf, "cpu: %s (%s kernels), %s direct convolutions", openblas_get_config(), openblas_get_corename(),
             tgs_cpu_conv_direct(-1) ? "AVX2" : "no");
    return buf;
}

static void *cpu_alloc(size_t bytes)
{
    size_t n = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, n ? n : 64);
    if (p) memset(p, 0, n);
    return p;
}

static void cpu_free(void *p) { free(p); }
static void cpu_zero(float *p, int64_t n) { memset(p, 0, (size_t)n * sizeof *p); }
static void cpu_upload(float *dst, const float *src, int64_t n) { memmove(dst, src, (size_t)n * sizeof *dst); }
static void cpu_download(float *dst, const float *src, int64_t n) { memmove(dst, src, (size_t)n * sizeof *dst); }

/* The table refers to each op's implementation weakly: an op's file (its
 * graph builder and its kernels together) is linked in when a program
 * builds that op, and only then; a graph can hold no op whose builder was
 * not linked, so a missing entry is never reached by a graph that was
 * built. tgs_graph_plan still refuses a NULL entry, with the op's name. */
#pragma weak tgs_cpu_conv2d
#pragma weak tgs_cpu_convt2x2
#pragma weak tgs_cpu_linear
#pragma weak tgs_cpu_matmul
#pragma weak tgs_cpu_batchnorm
#pragma weak tgs_cpu_layernorm
#pragma weak tgs_cpu_relu
#pragma weak tgs_cpu_elu
#pragma weak tgs_cpu_gelu
#pragma weak tgs_cpu_sigmoid
#pragma weak tgs_cpu_softmax
#pragma weak tgs_cpu_dropout
#pragma weak tgs_cpu_dropout2d
#pragma weak tgs_cpu_maxpool2
#pragma weak tgs_cpu_avgpool
#pragma weak tgs_cpu_gap
#pragma weak tgs_cpu_upsample2
#pragma weak tgs_cpu_upcat
#pragma weak tgs_cpu_add
#pragma weak tgs_cpu_mul
#pragma weak tgs_cpu_scale
#pragma weak tgs_cpu_concat
#pragma weak tgs_cpu_reshape
#pragma weak tgs_cpu_permute
#pragma weak tgs_cpu_window_part
#pragma weak tgs_cpu_window_merge
#pragma weak tgs_cpu_roll
#pragma weak tgs_cpu_loss_bce
#pragma weak tgs_cpu_loss_dice
#pragma weak tgs_cpu_loss_focal
#pragma weak tgs_cpu_loss_boundary
#pragma weak tgs_cpu_loss_lovasz
#pragma weak tgs_cpu_loss_lovasz_sym
#pragma weak tgs_cpu_loss_mse

static const struct tgs_op_impl *const cpu_ops[TGS_OP_COUNT] = {
    [TGS_OP_CONV2D] = &tgs_cpu_conv2d,
    [TGS_OP_CONVT2X2] = &tgs_cpu_convt2x2,
    [TGS_OP_LINEAR] = &tgs_cpu_linear,
    [TGS_OP_MATMUL] = &tgs_cpu_matmul,
    [TGS_OP_BATCHNORM] = &tgs_cpu_batchnorm,
    [TGS_OP_LAYERNORM] = &tgs_cpu_layernorm,
    [TGS_OP_RELU] = &tgs_cpu_relu,
    [TGS_OP_ELU] = &tgs_cpu_elu,
    [TGS_OP_GELU] = &tgs_cpu_gelu,
    [TGS_OP_SIGMOID] = &tgs_cpu_sigmoid,
    [TGS_OP_SOFTMAX] = &tgs_cpu_softmax,
    [TGS_OP_DROPOUT] = &tgs_cpu_dropout,
    [TGS_OP_DROPOUT2D] = &tgs_cpu_dropout2d,
    [TGS_OP_MAXPOOL2] = &tgs_cpu_maxpool2,
    [TGS_OP_AVGPOOL] = &tgs_cpu_avgpool,
    [TGS_OP_GAP] = &tgs_cpu_gap,
    [TGS_OP_UPSAMPLE2] = &tgs_cpu_upsample2,
    [TGS_OP_UPCAT] = &tgs_cpu_upcat,
    [TGS_OP_ADD] = &tgs_cpu_add,
    [TGS_OP_MUL] = &tgs_cpu_mul,
    [TGS_OP_SCALE] = &tgs_cpu_scale,
    [TGS_OP_CONCAT] = &tgs_cpu_concat,
    [TGS_OP_RESHAPE] = &tgs_cpu_reshape,
    [TGS_OP_PERMUTE] = &tgs_cpu_permute,
    [TGS_OP_WINDOW_PART] = &tgs_cpu_window_part,
    [TGS_OP_WINDOW_MERGE] = &tgs_cpu_window_merge,
    [TGS_OP_ROLL] = &tgs_cpu_roll,
    [TGS_OP_LOSS_BCE] = &tgs_cpu_loss_bce,
    [TGS_OP_LOSS_DICE] = &tgs_cpu_loss_dice,
    [TGS_OP_LOSS_FOCAL] = &tgs_cpu_loss_focal,
    [TGS_OP_LOSS_BOUNDARY] = &tgs_cpu_loss_boundary,
    [TGS_OP_LOSS_LOVASZ] = &tgs_cpu_loss_lovasz,
    [TGS_OP_LOSS_LOVASZ_SYM] = &tgs_cpu_loss_lovasz_sym,
    [TGS_OP_LOSS_MSE] = &tgs_cpu_loss_mse,
};

static const struct tgs_backend cpu_backend = {
    .name = "cpu",
    .alloc = cpu_alloc,
    .free = cpu_free,
    .zero = cpu_zero,
    .upload = cpu_upload,
    .download = cpu_download,
    .ops = cpu_ops,
};

const struct tgs_backend *tgs_backend_cpu(void) { return &cpu_backend; }

void tgs_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda, const float *b,
               int ldb, float beta, float *c, int ldc)
{
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k,
                alpha, a, lda, b, ldb, beta, c, ldc);
}

/* ---- the thread pool ----
 * Workers sleep on a condition variable between jobs; a job is one fn run
 * by every thread with its own tid. Jobs are a few milliseconds (a layer's
 * loop), so the wake-up cost of a condition variable does not matter. */

#define MAX_THREADS 64

static struct {
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    int nthreads;  /* configured, including the caller */
    int started;   /* workers running */
    uint64_t generation;
    int pending;
    int job_threads;
    void (*fn)(void *, int, int);
    void *ctx;
} pool = {.mu = PTHREAD_MUTEX_INITIALIZER, .go = PTHREAD_COND_INITIALIZER, .done = PTHREAD_COND_INITIALIZER};

static void *worker(void *arg)
{
    int tid = (int)(intptr_t)arg;
    uint64_t seen = 0;
    pthread_mutex_lock(&pool.mu);
    for (;;) {
        while (pool.generation == seen) pthread_cond_wait(&pool.go, &pool.mu);
        seen = pool.generation;
        if (tid >= pool.job_threads) continue;
        void (*fn)(void *, int, int) = pool.fn;
        void *ctx = pool.ctx;
        int nt = pool.job_threads;
        pthread_mutex_unlock(&pool.mu);
        fn(ctx, tid, nt);
        pthread_mutex_lock(&pool.mu);
        if (--pool.pending == 0) pthread_cond_signal(&pool.done);
    }
    return NULL;
}

void tgs_cpu_set_threads(int n)
{
    if (n <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
    if (n > MAX_THREADS) n = MAX_THREADS;
    pthread_mutex_lock(&pool.mu);
    pool.nthreads = n;
    pthread_mutex_unlock(&pool.mu);
    /* Our loops split work between threads and call OpenBLAS from each,
     * so OpenBLAS itself stays single-threaded: its spinning workers would
     * otherwise compete with ours for the same cores. */
    openblas_set_num_threads(1);
}

int tgs_cpu_threads(void)
{
    if (!pool.nthreads) tgs_cpu_set_threads(0);
    return pool.nthreads;
}

void tgs_cpu_parallel(int nthreads, void (*fn)(void *ctx, int tid, int nthreads), void *ctx)
{
    int max = tgs_cpu_threads();
    if (nthreads > max) nthreads = max;
    if (nthreads <= 1) {
        fn(ctx, 0, 1);
        return;
    }
    pthread_mutex_lock(&pool.mu);
    while (pool.started < nthreads - 1) {
        pthread_t th;
        if (pthread_create(&th, NULL, worker, (void *)(intptr_t)(pool.started + 1)) != 0) break;
        pthread_detach(th);
        pool.started++;
    }
    if (nthreads > pool.started + 1) nthreads = pool.started + 1;
    pool.fn = fn;
    pool.ctx = ctx;
    pool.job_threads = nthreads;
    pool.pending = nthreads - 1;
    pool.generation++;
    pthread_cond_broadcast(&pool.go);
    pthread_mutex_unlock(&pool.mu);
    fn(ctx, 0, nthreads);
    pthread_mutex_lock(&pool.mu);
    while (pool.pending > 0) pthread_cond_wait(&pool.done, &pool.mu);
    pthread_mutex_unlock(&pool.mu);
}
