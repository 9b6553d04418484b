/* conv_bench: forward and backward of the unet-ref convolutions (batch 16,
 * 3x3 pad 1, the 1x1 head), timed through the CPU backend's op table, in
 * GFLOP/s. Built by `make build/bench/conv_bench`; run as
 *     OPENBLAS_NUM_THREADS=1 build/bench/conv_bench [threads] [batch] [reps] [layer-name-part|all] [path]
 * path: op_conv.c's tgs_cpu_conv_direct mode (0 im2col+sgemm, 1 default, 2 direct
 * wherever possible, 3 Winograd F(2x2) wherever possible, 4 F(4x4); GFLOP/s count the
 * direct convolution's flops, so Winograd can pass the sgemm ceiling). A 6th argument
 * "resunet" times the fold-0 recipe's resunet layers instead of unet-ref's, "resunet16"
 * those of widths 16..256 with hcw=8. A 7th, "dw", times the backward without the input
 * gradient: the weight gradient alone, so that bwd - (its bwd) is the input gradient's. 
 * Compare with ../shared/bench/sgemm_peak.c's ceiling. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn/nn.h"
#include "nn/cpu/ops_cpu.h"
#include "rng.h"


static double clock_s(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Wall time is what a step costs; CPU time (all threads) shows the kernels'
 * own efficiency on a machine where other work competes for the cores. */
static double now(void) { return clock_s(CLOCK_MONOTONIC); }
static double cpu(void) { return clock_s(CLOCK_PROCESS_CPUTIME_ID); }

struct shape {
    const char *name;
    int c, k, hw, ksize, pad, bias, dx;
};

/* unet-ref, widths 16..256 over 128..8; decoder inputs are upsample+skip */
static const struct shape shapes[] = {
    {"enc1a 1->16 @128", 1, 16, 128, 3, 1, 0, 0},
    {"enc1b 16->16 @128", 16, 16, 128, 3, 1, 0, 1},
    {"enc2a 16->32 @64", 16, 32, 64, 3, 1, 0, 1},
    {"enc2b 32->32 @64", 32, 32, 64, 3, 1, 0, 1},
    {"enc3a 32->64 @32", 32, 64, 32, 3, 1, 0, 1},
    {"enc3b 64->64 @32", 64, 64, 32, 3, 1, 0, 1},
    {"enc4a 64->128 @16", 64, 128, 16, 3, 1, 0, 1},
    {"enc4b 128->128 @16", 128, 128, 16, 3, 1, 0, 1},
    {"enc5a 128->256 @8", 128, 256, 8, 3, 1, 0, 1},
    {"enc5b 256->256 @8", 256, 256, 8, 3, 1, 0, 1},
    {"dec4a 384->128 @16", 384, 128, 16, 3, 1, 0, 1},
    {"dec4b 128->128 @16", 128, 128, 16, 3, 1, 0, 1},
    {"dec3a 192->64 @32", 192, 64, 32, 3, 1, 0, 1},
    {"dec3b 64->64 @32", 64, 64, 32, 3, 1, 0, 1},
    {"dec2a 96->32 @64", 96, 32, 64, 3, 1, 0, 1},
    {"dec2b 32->32 @64", 32, 32, 64, 3, 1, 0, 1},
    {"dec1a 48->16 @128", 48, 16, 128, 3, 1, 0, 1},
    {"dec1b 16->16 @128", 16, 16, 128, 3, 1, 0, 1},
    {"seg 1x1 16->1 @128", 16, 1, 128, 1, 0, 1, 1},
};

/* resunet widths=12,24,48,96,192 blocks=1,1,1,1,1 at 112 (the fold-0
 * recipe's model): its stride-1 convolutions, hypercolumn head included */
static const struct shape shapes_resunet[] = {
    {"stem 3->12 @112", 3, 12, 112, 3, 1, 0, 0},
    {"enc0 12->12 @112", 12, 12, 112, 3, 1, 0, 1},
    {"enc1 24->24 @56", 24, 24, 56, 3, 1, 0, 1},
    {"enc2 48->48 @28", 48, 48, 28, 3, 1, 0, 1},
    {"enc3 96->96 @14", 96, 96, 14, 3, 1, 0, 1},
    {"enc4 192->192 @7", 192, 192, 7, 3, 1, 0, 1},
    {"dec0a 288->96 @14", 288, 96, 14, 3, 1, 0, 1},
    {"dec0b 96->96 @14", 96, 96, 14, 3, 1, 0, 1},
    {"dec1a 144->48 @28", 144, 48, 28, 3, 1, 0, 1},
    {"dec1b 48->48 @28", 48, 48, 28, 3, 1, 0, 1},
    {"dec2a 72->24 @56", 72, 24, 56, 3, 1, 0, 1},
    {"dec2b 24->24 @56", 24, 24, 56, 3, 1, 0, 1},
    {"dec3a 36->12 @112", 36, 12, 112, 3, 1, 0, 1},
    {"dec3b 12->12 @112", 12, 12, 112, 3, 1, 0, 1},
    {"head 180->12 @112", 180, 12, 112, 3, 1, 0, 1},
    {"seg 1x1 12->1 @112", 12, 1, 112, 1, 0, 1, 1},
};

/* resunet widths=16,32,64,128,256 hcw=8 at 112 (the w16 recipe): the
 * same, its head on the four 8-channel hypercolumn cuts */
static const struct shape shapes_resunet16[] = {
    {"stem 3->16 @112", 3, 16, 112, 3, 1, 0, 0},
    {"enc0 16->16 @112", 16, 16, 112, 3, 1, 0, 1},
    {"enc1 32->32 @56", 32, 32, 56, 3, 1, 0, 1},
    {"enc2 64->64 @28", 64, 64, 28, 3, 1, 0, 1},
    {"enc3 128->128 @14", 128, 128, 14, 3, 1, 0, 1},
    {"enc4 256->256 @7", 256, 256, 7, 3, 1, 0, 1},
    {"dec0a 384->128 @14", 384, 128, 14, 3, 1, 0, 1},
    {"dec0b 128->128 @14", 128, 128, 14, 3, 1, 0, 1},
    {"dec1a 192->64 @28", 192, 64, 28, 3, 1, 0, 1},
    {"dec1b 64->64 @28", 64, 64, 28, 3, 1, 0, 1},
    {"dec2a 96->32 @56", 96, 32, 56, 3, 1, 0, 1},
    {"dec2b 32->32 @56", 32, 32, 56, 3, 1, 0, 1},
    {"dec3a 48->16 @112", 48, 16, 112, 3, 1, 0, 1},
    {"dec3b 16->16 @112", 16, 16, 112, 3, 1, 0, 1},
    {"head 32->16 @112", 32, 16, 112, 3, 1, 0, 1},
    {"seg 1x1 16->1 @112", 16, 1, 112, 1, 0, 1, 1},
};

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 2, batch = argc > 2 ? atoi(argv[2]) : 16;
    int reps = argc > 3 ? atoi(argv[3]) : 5;
    const char *only = argc > 4 && strcmp(argv[4], "all") != 0 ? argv[4] : NULL;
    if (argc > 5) tgs_cpu_conv_direct(atoi(argv[5]));
    const struct shape *table = shapes;
    size_t nshapes = sizeof shapes / sizeof shapes[0];
    if (argc > 6 && strcmp(argv[6], "resunet") == 0) table = shapes_resunet, nshapes = sizeof shapes_resunet / sizeof shapes_resunet[0];
    if (argc > 6 && strcmp(argv[6], "resunet16") == 0)
        table = shapes_resunet16, nshapes = sizeof shapes_resunet16 / sizeof shapes_resunet16[0];
    int dw_only = argc > 7 && strcmp(argv[7], "dw") == 0;
    tgs_cpu_set_threads(threads);
    const struct tgs_op_impl *impl = tgs_backend_cpu()->ops[TGS_OP_CONV2D];
    double tf_all = 0, tb_all = 0, ff_all = 0, fb_all = 0;
    int64_t work_max = 0;
    tgs_rng r;
    tgs_rng_seed(&r, 1, 0);
    double cf_all = 0, cb_all = 0;
    printf("%-22s %9s %8s %9s %8s  %8s %8s  %s\n", "layer", "fwd ms", "GFLOP/s", "bwd ms", "GFLOP/s", "fwd/core",
           "bwd/core", "work MB");
    for (size_t i = 0; i < nshapes; i++) {
        const struct shape *s = &table[i];
        if (only && !strstr(s->name, only)) continue;
        struct tgs_params *ps = tgs_params_new(tgs_backend_cpu());
        struct tgs_graph *g = tgs_graph_new(ps);
        struct tgs_tensor *x = tgs_input(g, "x", 4, (int32_t[]){batch, s->c, s->hw, s->hw});
        int dx = s->dx && !dw_only;
        if (dx) tgs_requires_grad(x);
        struct tgs_tensor *w = tgs_param(g, "w", 4, (int32_t[]){s->k, s->c, s->ksize, s->ksize},
                                         TGS_INIT_KAIMING_UNIFORM, 0);
        struct tgs_tensor *b = s->bias ? tgs_param(g, "b", 1, (int32_t[]){s->k}, TGS_INIT_FAN_IN_UNIFORM,
                                                   (int64_t)s->c * s->ksize * s->ksize)
                                       : NULL;
        struct tgs_tensor *y = tgs_conv2d(g, x, w, b, 1, s->pad, 1);
        if (!y || tgs_graph_plan(g, TGS_PLAN_TRAIN) < 0) {
            fprintf(stderr, "%s: build failed: %s\n", s->name, tgs_graph_error(g) ? tgs_graph_error(g) : "plan");
            return 1;
        }
        float *host = malloc((x->size > y->size ? x->size : y->size) * sizeof *host);
        for (int64_t j = 0; j < x->size; j++) host[j] = 2 * tgs_rng_uniform(&r) - 1;
        tgs_tensor_set(g, x, host);
        for (int64_t j = 0; j < y->size; j++) host[j] = 2 * tgs_rng_uniform(&r) - 1;
        tgs_graph_forward(g);
        tgs_graph_backward_from(g, y, host);
        struct tgs_node *n = tgs_graph_node(g, 0);
        struct tgs_exec *ex = tgs_graph_exec(g);
        double tf = 1e30, tb = 1e30, cf = 1e30, cb = 1e30;
        for (int rep = 0; rep < reps; rep++) {
            double t0 = now(), c0 = cpu();
            impl->forward(n, ex);
            double t1 = now(), c1 = cpu();
            impl->backward(n, ex);
            double t2 = now(), c2 = cpu();
            if (t1 - t0 < tf) tf = t1 - t0;
            if (t2 - t1 < tb) tb = t2 - t1;
            if (c1 - c0 < cf) cf = c1 - c0;
            if (c2 - c1 < cb) cb = c2 - c1;
        }
        double ff = 2.0 * batch * s->k * s->c * s->ksize * s->ksize * (double)s->hw * s->hw;
        double fb = ff * (dx ? 2 : 1);
        int64_t mem[4];
        tgs_graph_memory(g, mem);
        if (mem[3] > work_max) work_max = mem[3];
        printf("%-22s %9.2f %8.1f %9.2f %8.1f  %8.1f %8.1f  %.1f\n", s->name, tf * 1e3, ff / tf / 1e9, tb * 1e3,
               fb / tb / 1e9, ff / cf / 1e9, fb / cb / 1e9, mem[3] / 1048576.0);
        tf_all += tf, tb_all += tb, ff_all += ff, fb_all += fb, cf_all += cf, cb_all += cb;
        free(host);
        tgs_graph_free(g);
        tgs_params_free(ps);
    }
    printf("%-22s %9.2f %8.1f %9.2f %8.1f  %8.1f %8.1f  %.1f max\n", "all", tf_all * 1e3, ff_all / tf_all / 1e9,
           tb_all * 1e3, fb_all / tb_all / 1e9, ff_all / cf_all / 1e9, fb_all / cb_all / 1e9, work_max / 1048576.0);
    printf("step (fwd+bwd): %.1f ms, %.1f GFLOP/s, threads %d, batch %d, conv path mode %d\n",
           (tf_all + tb_all) * 1e3, (ff_all + fb_all) / (tf_all + tb_all) / 1e9, threads, batch,
           tgs_cpu_conv_direct(-1));
    return 0;
}
