/* The device contract, proved on the CPU: the sim backend computes with the
 * CPU kernels behind memory the host cannot touch. A training step of
 * unet-ref and of a resunet (Adam, SGD with momentum, gradient clipping,
 * the weight average, dropout) gives the same bytes on sim as on cpu, and
 * moves only the batch in and the losses out; a host read of sim memory is
 * caught; every op runs on sim (the cross-backend test covers each alone). */
#include "check.h"
#include "checkpoint.h"
#include "err.h"
#include "nn/ckpt_params.h"
#include "nn/model.h"
#include "nn/nn.h"
#include "nn/optim.h"
#include "rng.h"
#include "train.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* A deliberate host read of sim memory, in a child: it must die there. */
static void test_host_read_caught(void) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        struct tgs_params *ps = tgs_params_new(tgs_backend_sim());
        struct tgs_tensor *t = tgs_params_get(ps, "w", 1, (int32_t[]){4}, TGS_TENSOR_PARAM, TGS_INIT_ONES, 0);
        if (!t || tgs_params_alloc(ps, 1) < 0) _exit(3);
        volatile float v = t->data[0]; /* the host touching device memory */
        printf("read %g\n", (double)v);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    /* a plain build dies of SIGSEGV; under ASan its handler reports the
     * SEGV and exits non-zero; either way the read did not go through */
    CHECKF((WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV) || (WIFEXITED(status) && WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 3),
           "a host read of sim memory is caught", "status %d", status);
    /* while the same read through the backend works */
    struct tgs_params *ps = tgs_params_new(tgs_backend_sim());
    struct tgs_tensor *t = tgs_params_get(ps, "w", 1, (int32_t[]){4}, TGS_TENSOR_PARAM, TGS_INIT_ONES, 0);
    float host[4] = {0};
    CHECK(t && tgs_params_alloc(ps, 1) == 0, "sim: parameters allocated");
    tgs_backend_sim()->download(host, t->data, 4);
    CHECK(host[0] == 1 && host[3] == 1, "... and read through download");
    tgs_params_free(ps);
}

/* What a run leaves: every parameter and buffer, the optimizer state and
 * the weight average, downloaded; the losses of each step. */
typedef struct {
    float *bytes;
    size_t n;
    double loss[8];
    struct tgs_traffic step; /* what one training step (after the first) moved */
} outcome;

static void append(outcome *o, const float *x, size_t n) {
    o->bytes = realloc(o->bytes, (o->n + n) * sizeof *o->bytes);
    memcpy(o->bytes + o->n, x, n * sizeof *x);
    o->n += n;
}

static void run(const struct tgs_backend *be, const char *spec, enum tgs_optim_kind kind, double clip, int steps, outcome *o) {
    memset(o, 0, sizeof *o);
    struct tgs_model_opts mo;
    tgs_model_parse(&mo, spec);
    struct tgs_params *ps = tgs_params_new(be);
    if (tgs_model_params(ps, &mo, 5) < 0) {
        printf("# %s\n", tgs_errmsg());
        return;
    }
    const int n = 2, s = 32, c = mo.in_ch;
    float w[TGS_LOSS_NPARTS] = {1, 1, 0, 0, 0, 0, 0.1f};
    tgs_net net;
    if (tgs_net_build(&net, ps, &mo, TGS_NET_TRAIN, n, c, s, w) < 0) {
        printf("# %s\n", tgs_errmsg());
        return;
    }
    struct tgs_optim_opts oo;
    tgs_optim_defaults(&oo, kind);
    if (kind == TGS_OPTIM_SGD) oo.momentum = 0.9f, oo.nesterov = 1;
    tgs_optim_state st;
    tgs_optim_state_init(&st, &oo, ps);
    tgs_ema ema;
    tgs_ema_init(&ema, ps, 0.9f);
    float x[2 * 3 * 32 * 32], y[2 * 32 * 32], sal[2] = {1, 0};
    tgs_rng r;
    tgs_rng_seed(&r, 3, 0);
    for (int i = 0; i < n * c * s * s; i++) x[i] = tgs_rng_normal(&r);
    for (int i = 0; i < n * s * s; i++) y[i] = i < s * s ? x[i] > 0 : 0;
    struct tgs_exec *ex = tgs_graph_exec(net.g);
    for (int k = 1; k <= steps; k++) {
        struct tgs_traffic t0 = {0}, t1 = {0};
        if (be->traffic) be->traffic(&t0);
        tgs_tensor_set(net.g, net.x, x), tgs_tensor_set(net.g, net.y, y), tgs_tensor_set(net.g, net.salt, sal);
        ex->train = 1, ex->step = (uint64_t)k;
        tgs_params_zero_grad(ps);
        tgs_graph_forward(net.g);
        float loss;
        tgs_tensor_get(net.g, net.total, &loss);
        o->loss[k - 1] = loss;
        tgs_graph_backward(net.g, net.total);
        tgs_optim_state_clip(&st, clip);
        tgs_optim_state_step(&st, 1e-2f, k);
        tgs_ema_update(&ema, k);
        if (be->traffic) be->traffic(&t1);
        o->step = (struct tgs_traffic){t1.up_bytes - t0.up_bytes, t1.up_calls - t0.up_calls, t1.down_bytes - t0.down_bytes,
                                       t1.down_calls - t0.down_calls};
    }
    /* what a checkpoint would hold, read the way a checkpoint reads it */
    tgs_ckpt ck;
    tgs_ckpt_init(&ck);
    tgs_ckpt_put_params(&ck, ps), tgs_optim_state_put(&st, &ck), tgs_ema_put_live(&ema, &ck);
    for (int i = 0; i < ck.n; i++) append(o, ck.t[i].data, ck.t[i].nbytes / sizeof(float));
    tgs_ckpt_free(&ck);
    tgs_ema_free(&ema);
    tgs_optim_state_free(&st);
    tgs_net_free(&net);
    tgs_params_free(ps);
}

static void same_bytes(const char *what, const char *spec, enum tgs_optim_kind kind, double clip) {
    outcome a, b;
    run(tgs_backend_cpu(), spec, kind, clip, 3, &a);
    run(tgs_backend_sim(), spec, kind, clip, 3, &b);
    char name[200];
    snprintf(name, sizeof name, "%s: cpu and sim give the same bytes (%zu floats of weights, state and average; 3 losses)",
             what, a.n);
    CHECK(a.n > 0 && a.n == b.n && memcmp(a.bytes, b.bytes, a.n * sizeof(float)) == 0 &&
              memcmp(a.loss, b.loss, sizeof a.loss) == 0,
          name);
    /* a step moves the batch in (x, y, salt), the backward pass's seed of
     * 1, and the loss out: nothing else crosses */
    int64_t in = 2 * 3 * 32 * 32 + 2 * 32 * 32 + 2 + 1;
    if (strstr(spec, "in=1")) in -= 2 * 2 * 32 * 32;
    snprintf(name, sizeof name, "%s: a step moves %lld bytes in and 4 out (the batch, backward's seed; the loss)", what,
             (long long)(4 * in));
    CHECKF(b.step.up_bytes == (uint64_t)(4 * in) && b.step.down_bytes == 4, name, "in %llu bytes in %llu calls, out %llu in %llu",
           (unsigned long long)b.step.up_bytes, (unsigned long long)b.step.up_calls, (unsigned long long)b.step.down_bytes,
           (unsigned long long)b.step.down_calls);
    free(a.bytes), free(b.bytes);
}

int main(void) {
    tgs_cpu_set_threads(2);
    test_host_read_caught();
    same_bytes("unet-ref, Adam", "unet-ref in=3 widths=4,8,16 blocks=1,1,1", TGS_OPTIM_ADAM, 0);
    same_bytes("resunet (dropout, scSE, hypercolumn), SGD + Nesterov, clip 0.5",
               "resunet in=3 widths=4,8,16 blocks=1,1,1 dropout=0.2 hcw=4", TGS_OPTIM_SGD, 0.5);
    CHECK_DONE();
}
