/* unet_bench: our side of the engine benchmark, the twin of
 * ../shared/bench/torch_ref.py: the same model (unet-ref), input, loss and
 * optimizer (Adam, lr 1e-3), timed the same way (3 warm-up steps, then
 * --steps timed ones; inference in eval mode). Prints one line of
 * key=value pairs like torch_ref.py's, plus the GFLOP/s achieved (conv and
 * linear FLOPs; a training step counted as 3 forward passes). */
#include "cli.h"
#include "err.h"
#include "model.h"
#include "nn.h"
#include "optim.h"
#include "train.h"
#include "progress.h"
#include "rng.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static double forward_flops(struct tgs_graph *g)
{
    double f = 0;
    for (int i = 0; i < tgs_graph_nnodes(g); i++) {
        struct tgs_node *n = tgs_graph_node(g, i);
        if (n->op == TGS_OP_CONV2D) {
            const struct tgs_tensor *w = n->src[1];
            f += 2.0 * n->out->size * w->ne[1] * w->ne[2] * w->ne[3];
        } else if (n->op == TGS_OP_LINEAR) {
            f += 2.0 * n->out->size * n->src[1]->ne[1];
        }
    }
    return f;
}

static void fill(float *v, int64_t n, tgs_rng *r, int mask)
{
    for (int64_t i = 0; i < n; i++) v[i] = mask ? (float)(tgs_rng_uniform(r) > 0.5f) : tgs_rng_normal(r);
}

int main(int argc, char **argv)
{
    tgs_cli_init("unet_bench");
    int threads = 2, batch = 16, channels = 1, steps = 10, size = 128;
    const char *spec = "unet-ref";
    static const struct option longopts[] = {{"threads", required_argument, 0, 't'},
                                             {"batch", required_argument, 0, 'b'},
                                             {"channels", required_argument, 0, 'c'},
                                             {"steps", required_argument, 0, 's'},
                                             {"size", required_argument, 0, 'z'},
                                             {"model", required_argument, 0, 'm'},
                                             {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        switch (ch) {
        case 't': threads = atoi(optarg); break;
        case 'b': batch = atoi(optarg); break;
        case 'c': channels = atoi(optarg); break;
        case 's': steps = atoi(optarg); break;
        case 'z': size = atoi(optarg); break;
        case 'm': spec = optarg; break;
        default: die_usage("usage: unet_bench [--threads N] [--batch N] [--channels C] [--steps N] [--size S] [--model SPEC]");
        }
    }
    tgs_cpu_set_threads(threads);
    struct tgs_model_opts mo;
    char full[512];
    snprintf(full, sizeof full, "%s in=%d", spec, channels);
    if (tgs_model_parse(&mo, full) < 0) die("%s", tgs_errmsg());

    struct tgs_params *ps = tgs_params_new(tgs_backend_cpu());
    struct tgs_graph *g = tgs_graph_new(ps);
    struct tgs_tensor *x = tgs_input(g, "x", 4, (int32_t[]){batch, channels, size, size});
    struct tgs_tensor *y = tgs_input(g, "y", 4, (int32_t[]){batch, 1, size, size});
    struct tgs_tensor *c = tgs_input(g, "c", 2, (int32_t[]){batch, 1});
    struct tgs_model_out out;
    if (tgs_model_build(g, &mo, x, &out) < 0) die("%s", tgs_errmsg());
    struct tgs_tensor *loss =
        tgs_add(g, tgs_loss(g, TGS_OP_LOSS_BCE, out.seg, y, 1), tgs_loss(g, TGS_OP_LOSS_BCE, out.cls, c, 0.5f));
    if (!loss) die("%s", tgs_graph_error(g));
    if (tgs_params_alloc(ps, 0) < 0 || tgs_graph_plan(g, TGS_PLAN_TRAIN) < 0) die("%s", tgs_errmsg());

    tgs_rng r;
    tgs_rng_seed(&r, 0, 0);
    float *host = malloc(x->size * sizeof(float));
    fill(host, x->size, &r, 0);
    tgs_tensor_set(g, x, host);
    fill(host, y->size, &r, 1);
    tgs_tensor_set(g, y, host);
    fill(host, c->size, &r, 1);
    tgs_tensor_set(g, c, host);

    struct tgs_optim_opts oo;
    tgs_optim_defaults(&oo, TGS_OPTIM_ADAM);
    tgs_optim_state opt;
    if (tgs_optim_state_init(&opt, &oo, ps) < 0) die("%s", tgs_errmsg());
    double fl = forward_flops(g), t0 = 0;
    for (int s = 0; s < 3 + steps; s++) {
        if (s == 3) t0 = tgs_now();
        tgs_graph_exec(g)->step = s + 1;
        tgs_params_zero_grad(ps);
        if (tgs_graph_forward(g) < 0 || tgs_graph_backward(g, loss) < 0) die("%s", tgs_errmsg());
        tgs_optim_state_step(&opt, 1e-3f, s + 1);
    }
    double train_s = tgs_now() - t0;
    int64_t mem[4];
    tgs_graph_memory(g, mem);
    tgs_graph_free(g);

    /* inference: eval mode, memory reused by liveness */
    g = tgs_graph_new(ps);
    x = tgs_input(g, "x", 4, (int32_t[]){batch, channels, size, size});
    if (tgs_model_build(g, &mo, x, &out) < 0 || tgs_graph_plan(g, TGS_PLAN_INFER) < 0) die("%s", tgs_errmsg());
    fill(host, x->size, &r, 0);
    tgs_tensor_set(g, x, host);
    for (int s = 0; s < 3 + steps; s++) {
        if (s == 3) t0 = tgs_now();
        if (tgs_graph_forward(g) < 0) die("%s", tgs_errmsg());
    }
    double infer_s = tgs_now() - t0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("impl=tgs-%s device=cpu threads=%d batch=%d channels=%d train_img_s=%.2f infer_img_s=%.2f "
           "peak_rss_mb=%.0f train_gflop_s=%.1f infer_gflop_s=%.1f train_mem_mb=%.0f\n",
           TGS_VERSION, threads, batch, channels, batch * steps / train_s, batch * steps / infer_s,
           ru.ru_maxrss / 1024.0, 3 * fl * steps / train_s / 1e9, fl * steps / infer_s / 1e9,
           (mem[0] + mem[1] + mem[2] + mem[3]) / 1048576.0);
    tgs_optim_state_free(&opt);
    free(host);
    tgs_graph_free(g);
    tgs_params_free(ps);
    return 0;
}
