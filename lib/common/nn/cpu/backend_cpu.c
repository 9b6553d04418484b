/* backend_cpu: the reference backend: its table of op implementations
 * (one for each line of the op list, nn/ops.def) and its memory, plain
 * aligned host memory. GEMMs go to OpenBLAS; the ops' own loops run on
 * the thread pool of pool.c. */
#include "nn/cpu/ops_cpu.h"
#include "nn/optim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* OpenBLAS's own controls (cblas.h declares them in OpenBLAS builds). */
char *openblas_get_config(void);
char *openblas_get_corename(void);

const char *tgs_cpu_describe(void) {
    static char buf[256];
    /* the config starts "OpenBLAS 0.3.21 ..." */
    snprintf(buf, sizeof buf, "cpu: %s (%s kernels), %s direct convolutions", openblas_get_config(), openblas_get_corename(),
             tgs_cpu_conv_direct(-1) ? "AVX2" : "no");
    return buf;
}

static void *cpu_alloc(size_t bytes) {
    size_t n = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, n ? n : 64);
    if (p) memset(p, 0, n);
    return p;
}

static void cpu_free(void *p) { free(p); }
static void cpu_zero(float *p, int64_t n) { memset(p, 0, (size_t)n * sizeof *p); }
static void cpu_upload(float *dst, const float *src, int64_t n) { memmove(dst, src, (size_t)n * sizeof *dst); }
static void cpu_download(float *dst, const float *src, int64_t n) { memmove(dst, src, (size_t)n * sizeof *dst); }
static void cpu_copy(float *dst, const float *src, int64_t n) { memcpy(dst, src, (size_t)n * sizeof *dst); }

/* avg = decay * avg + (1 - decay) * x, the weight average's step */
static void cpu_ema_update(float *restrict avg, const float *restrict x, int64_t n, float decay) {
    float keep = decay, w = 1.0f - decay;
    for (int64_t k = 0; k < n; k++) avg[k] = keep * avg[k] + w * x[k];
}

static void cpu_swap(float *restrict a, float *restrict b, int64_t n) {
    for (int64_t k = 0; k < n; k++) {
        float v = a[k];
        a[k] = b[k], b[k] = v;
    }
}

/* Every op's CPU implementation, from the op list: a line of nn/ops.def
 * whose tgs_cpu_<impl> is not defined does not link. */
static const struct tgs_op_impl *const cpu_ops[] = {
    [TGS_OP_NONE] = NULL,
#define TGS_OP(suffix, impl, name) [TGS_OP_##suffix] = &tgs_cpu_##impl,
#include "nn/ops.def"
};
_Static_assert(sizeof cpu_ops / sizeof cpu_ops[0] == TGS_OP_COUNT, "cpu_ops: an entry for each enum tgs_op");

static const struct tgs_backend cpu_backend = {
    .name = "cpu",
    .alloc = cpu_alloc,
    .free = cpu_free,
    .zero = cpu_zero,
    .upload = cpu_upload,
    .download = cpu_download,
    .copy = cpu_copy,
    .optim_update = tgs_optim_update,
    .clip_grad_norm = tgs_clip_grad_norm,
    .ema_update = cpu_ema_update,
    .swap = cpu_swap,
    .threads = tgs_cpu_threads,
    .ops = cpu_ops,
};

const struct tgs_backend *tgs_backend_cpu(void) { return &cpu_backend; }
