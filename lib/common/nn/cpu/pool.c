/* pool: the CPU backend's thread pool, which the kernels' own loops run
 * on, and tgs_sgemm, the OpenBLAS GEMM they call from each of its threads
 * (OpenBLAS itself kept single-threaded: see tgs_cpu_set_threads). */
#include "nn/cpu/ops_cpu.h"

#include <cblas.h>
#include <pthread.h>
#include <unistd.h>

/* OpenBLAS's own control (cblas.h declares it in OpenBLAS builds). */
void openblas_set_num_threads(int num_threads);

void tgs_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda, const float *b,
               int ldb, float beta, float *c, int ldc) {
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

static void *worker(void *arg) {
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

void tgs_cpu_set_threads(int n) {
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

int tgs_cpu_threads(void) {
    if (!pool.nthreads) tgs_cpu_set_threads(0);
    return pool.nthreads;
}

void tgs_cpu_parallel(int nthreads, void (*fn)(void *ctx, int tid, int nthreads), void *ctx) {
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
