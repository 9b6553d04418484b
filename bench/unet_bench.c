/* unet_bench: our side of the engine benchmark, the twin of
 * ../shared/bench/torch_ref.py: the same model (unet-ref), input, loss and
 * optimizer (Adam, lr 1e-3), timed the same way (3 warm-up steps, then
 * --steps timed ones; inference in eval mode). Prints one line of
 * key=value pairs like torch_ref.py's, plus the GFLOP/s achieved (conv and
 * linear FLOPs; a training step counted as 3 forward passes).
 *
 * For tgs-train's recipes: --arch "resunet ..." --size 112 --loss
 * "lovasz-sym=1,cls=0.1" builds the net as tgs-train does (its loss mix),
 * and --profile writes to stderr where a training step goes: each op
 * kind's forward and backward time, the gradient zeroing and the
 * optimizer, per step and as a share of the step. */
#include "cli.h"
#include "err.h"
#include "nn/model.h"
#include "nn/nn.h"
#include "nn/optim.h"
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

/* The table --profile prints: prof (TGS_PROFILE_SLOTS seconds, see nn.h)
 * over steps, plus the parameter-gradient zeroing and the optimizer. */
static void print_profile(const double *prof, double zero_s, double optim_s, double step_s, int steps)
{
    double ms = 1e3 / steps, total = step_s * ms;
    fprintf(stderr, "%-18s %9s %9s %7s   (ms per step; step %.1f ms)\n", "op", "forward", "backward", "share", total);
    int order[TGS_OP_COUNT], n = 0;
    for (int op = 0; op < TGS_OP_COUNT; op++)
        if (prof[op] > 0 || prof[TGS_OP_COUNT + op] > 0) order[n++] = op;
    for (int i = 1; i < n; i++) /* by total time, largest first */
        for (int j = i; j > 0; j--) {
            int a = order[j - 1], b = order[j];
            if (prof[a] + prof[TGS_OP_COUNT + a] >= prof[b] + prof[TGS_OP_COUNT + b]) break;
            order[j - 1] = b, order[j] = a;
        }
    double seen = 0;
    for (int i = 0; i < n; i++) {
        int op = order[i];
        double f = prof[op] * ms, b = prof[TGS_OP_COUNT + op] * ms;
        seen += f + b;
        fprintf(stderr, "%-18s %9.2f %9.2f %6.1f%%\n", tgs_op_name(op), f, b, 100 * (f + b) / total);
    }
    const char *names[] = {"zero act. grads", "zero param grads", "optimizer"};
    double v[] = {prof[2 * TGS_OP_COUNT] * ms, zero_s * ms, optim_s * ms};
    for (int i = 0; i < 3; i++) {
        seen += v[i];
        fprintf(stderr, "%-18s %19.2f %6.1f%%\n", names[i], v[i], 100 * v[i] / total);
    }
    fprintf(stderr, "%-18s %19.2f %6.1f%%\n", "(not in an op)", total - seen, 100 * (total - seen) / total);
}

static void fill(float *v, int64_t n, tgs_rng *r, int mask)
{
    for (int64_t i = 0; i < n; i++) v[i] = mask ? (float)(tgs_rng_uniform(r) > 0.5f) : tgs_rng_normal(r);
}

int main(int argc, char **argv)
{
    tgs_cli_init("unet_bench");
    int threads = 2, batch = 16, channels = 1, steps = 10, size = 128, profile = 0;
    const char *spec = "unet-ref", *loss_spec = NULL;
    static const struct option longopts[] = {{"threads", required_argument, 0, 't'},
                                             {"batch", required_argument, 0, 'b'},
                                             {"channels", required_argument, 0, 'c'},
                                             {"steps", required_argument, 0, 's'},
                                             {"size", required_argument, 0, 'z'},
                                             {"arch", required_argument, 0, 'm'},
                                             {"loss", required_argument, 0, 'l'},
                                             {"profile", no_argument, 0, 'p'},
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
        case 'l': loss_spec = optarg; break;
        case 'p': profile = 1; break;
        default:
            die_usage("usage: unet_bench [--threads N] [--batch N] [--channels C] [--steps N] [--size S] [--arch SPEC]\n"
                      "                  [--loss SPEC] [--profile]");
        }
    }
    tgs_cpu_set_threads(threads);
    struct tgs_model_opts mo;
    char full[512];
    snprintf(full, sizeof full, "%s in=%d", spec, channels);
    if (tgs_model_parse(&mo, full) < 0) die("%s", tgs_errmsg());

    struct tgs_params *ps = tgs_params_new(tgs_backend_cpu());
    struct tgs_graph *g;
    struct tgs_tensor *x, *y, *c, *loss;
    struct tgs_model_out out;
    tgs_net net = {0};
    if (loss_spec) { /* as tgs-train builds it */
        float w[TGS_LOSS_NPARTS];
        if (tgs_loss_mix_parse(loss_spec, w) < 0 || tgs_model_params(ps, &mo, 0) < 0 ||
            tgs_net_build(&net, ps, &mo, 1, batch, channels, size, w) < 0)
            die("%s", tgs_errmsg());
        g = net.g, x = net.x, y = net.y, c = net.salt, loss = net.total;
    } else { /* as torch_ref.py builds it */
        g = tgs_graph_new(ps);
        x = tgs_input(g, "x", 4, (int32_t[]){batch, channels, size, size});
        y = tgs_input(g, "y", 4, (int32_t[]){batch, 1, size, size});
        c = tgs_input(g, "c", 2, (int32_t[]){batch, 1});
        if (tgs_model_build(g, &mo, x, &out) < 0) die("%s", tgs_errmsg());
        loss = tgs_add(g, tgs_loss(g, TGS_OP_LOSS_BCE, out.seg, y, 1), tgs_loss(g, TGS_OP_LOSS_BCE, out.cls, c, 0.5f));
        if (!loss) die("%s", tgs_graph_error(g));
        if (tgs_params_alloc(ps, 0) < 0 || tgs_graph_plan(g, TGS_PLAN_TRAIN) < 0) die("%s", tgs_errmsg());
    }

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
    double fl = forward_flops(g), t0 = 0, prof[TGS_PROFILE_SLOTS] = {0}, zero_s = 0, optim_s = 0;
    for (int s = 0; s < 3 + steps; s++) {
        if (s == 3) {
            t0 = tgs_now();
            if (profile) tgs_graph_exec(g)->profile = prof;
        }
        tgs_graph_exec(g)->step = s + 1;
        double t = tgs_now();
        tgs_params_zero_grad(ps);
        if (s >= 3) zero_s += tgs_now() - t;
        if (tgs_graph_forward(g) < 0 || tgs_graph_backward(g, loss) < 0) die("%s", tgs_errmsg());
        t = tgs_now();
        tgs_optim_state_step(&opt, 1e-3f, s + 1);
        if (s >= 3) optim_s += tgs_now() - t;
    }
    double train_s = tgs_now() - t0;
    if (profile) print_profile(prof, zero_s, optim_s, train_s, steps);
    int64_t mem[4];
    tgs_graph_memory(g, mem);
    if (loss_spec) tgs_net_free(&net);
    else tgs_graph_free(g);

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
