/* Tests of lib/common/nn/op_norm.c and nn/cpu/op_norm.c: batchnorm in training and eval mode, 4-D
 * and 2-D, with and without the fused ReLU, with the fused residual add and
 * ReLU, its running statistics, and layernorm; by central finite differences and against PyTorch
 * (tests/torch/gen_op_norm.py writes tests/data/torch/op_norm.tsr).
 *
 * Tolerances. Finite differences: opcheck's rule, max |num - ana| /
 * max(1, max |ana|) <= 1e-2 with eps 1e-3 (float32 forward, so the
 * numeric side carries ~1e-3 of rounding). PyTorch (float64 references):
 * atol 1e-5, rtol 1e-4 on outputs and gradients, and on the running
 * statistics.
 *
 * Fused BN-ReLU has its kink where the normalised value z is 0, which
 * depends on the whole channel. Its fd inputs keep z away from 0: x is
 * bimodal (|x| >= margin), beta is ~0 and the channel means are near 0, so
 * |z| is well above what a 1e-3 step moves. With the residual r the kink
 * is at z + r = 0: r is bimodal with |r| >= 3, beyond what |z| reaches
 * (about 2.5 here), so |z + r| stays far from 0 too. */
#include "opcheck.h"

struct bn_opts {
    float eps, momentum;
    int relu;
};

static const struct bn_opts BN = {1e-5f, 0.1f, 0}, BN_RELU = {1e-5f, 0.1f, 1}, BN_RELU_M3 = {1e-5f, 0.3f, 1};

static struct tgs_tensor *build_bn(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    const struct bn_opts *o = ctx;
    return tgs_batchnorm(g, in[0], in[1], in[2], in[3], in[4], o->eps, o->momentum, o->relu);
}

/* relu(bn(x) + r): inputs x, gamma, beta, running mean and var, r */
static struct tgs_tensor *build_bn_add_relu(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    const struct bn_opts *o = ctx;
    return tgs_batchnorm_add_relu(g, in[0], in[1], in[2], in[3], in[4], o->eps, o->momentum, in[5]);
}

static struct tgs_tensor *build_ln(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    (void)ctx;
    return tgs_layernorm(g, in[0], in[1], in[2], 1e-5f);
}

/* BN inputs: x, gamma (0.5..1.5), beta, running mean, running var (> 0) */
#define BN_IN(XIN, C, BLO, BHI, MLO, MHI)                                                                          \
    5, {XIN, {1, {C}, 1, OPCHECK_UNIFORM, 0.5f, 1.5f, 0}, {1, {C}, 1, OPCHECK_UNIFORM, BLO, BHI, 0},                \
        {1, {C}, 0, OPCHECK_UNIFORM, MLO, MHI, 0}, {1, {C}, 0, OPCHECK_UNIFORM, 0.5f, 2.0f, 0}}
/* the same plus the residual, (N,C,H,W) with |r| in [3, 4) */
#define BNR_IN(N, C, H, W, XMARGIN, BLO, BHI, MLO, MHI)                                                            \
    6, {{4, {N, C, H, W}, 1, OPCHECK_UNIFORM, -1, 1, XMARGIN},                                                     \
        {1, {C}, 1, OPCHECK_UNIFORM, 0.5f, 1.5f, 0}, {1, {C}, 1, OPCHECK_UNIFORM, BLO, BHI, 0},                    \
        {1, {C}, 0, OPCHECK_UNIFORM, MLO, MHI, 0}, {1, {C}, 0, OPCHECK_UNIFORM, 0.5f, 2.0f, 0},                    \
        {4, {N, C, H, W}, 1, OPCHECK_UNIFORM, -4, 4, 3}}
#define X4(N, C, H, W, G, LO, HI, MARGIN) {4, {N, C, H, W}, G, OPCHECK_UNIFORM, LO, HI, MARGIN}
#define X3(A, B, C, G, LO, HI) {3, {A, B, C}, G, OPCHECK_UNIFORM, LO, HI, 0}
#define X2(N, C, G, LO, HI, MARGIN) {2, {N, C}, G, OPCHECK_UNIFORM, LO, HI, MARGIN}

/* training mode: fd and torch */
static const struct opcheck_case bn_train[] = {
    {"bn_train_4d", BN_IN(X4(2, 3, 5, 7, 1, -1, 1, 0), 3, -0.5f, 0.5f, -0.5f, 0.5f), build_bn, (void *)&BN, 0, 0, 0},
    {"bn_train_4d_relu", BN_IN(X4(2, 3, 5, 7, 1, -1, 1, 0.5f), 3, -0.01f, 0.01f, -0.5f, 0.5f), build_bn,
     (void *)&BN_RELU, 0, 0, 0},
    {"bn_train_4d_big_relu", BN_IN(X4(4, 5, 9, 11, 1, -1, 1, 0.5f), 5, -0.01f, 0.01f, -0.5f, 0.5f), build_bn,
     (void *)&BN_RELU_M3, 0, 0, 0},
    {"bn_train_4d_offset", BN_IN(X4(3, 2, 6, 5, 1, 20, 22, 0), 2, -0.5f, 0.5f, -0.5f, 0.5f), build_bn, (void *)&BN,
     0, 0, 0},
    {"bn_train_4d_xnograd", BN_IN(X4(2, 3, 4, 4, 0, -1, 1, 0.5f), 3, -0.01f, 0.01f, -0.5f, 0.5f), build_bn,
     (void *)&BN_RELU, 0, 0, 0},
    {"bn_train_2d", BN_IN(X2(6, 5, 1, -1, 1, 0), 5, -0.5f, 0.5f, -0.5f, 0.5f), build_bn, (void *)&BN, 0, 0, 0},
    {"bn_train_2d_relu", BN_IN(X2(32, 4, 1, -1, 1, 0.6f), 4, -0.01f, 0.01f, -0.5f, 0.5f), build_bn,
     (void *)&BN_RELU, 0, 0, 0},
    {"bn_train_4d_add_relu", BNR_IN(2, 3, 5, 7, 0, -0.5f, 0.5f, -0.5f, 0.5f), build_bn_add_relu, (void *)&BN, 0, 0,
     0},
};

/* eval mode (running statistics): fd and torch on a training plan run with
 * train = 0; the running mean and beta are ~0 so the ReLU kink is far */
static const struct opcheck_case bn_eval[] = {
    {"bn_eval_4d", BN_IN(X4(2, 3, 5, 7, 1, -1, 1, 0), 3, -0.5f, 0.5f, -0.5f, 0.5f), build_bn, (void *)&BN, 0, 0, OPCHECK_EVAL},
    {"bn_eval_4d_relu", BN_IN(X4(2, 3, 5, 7, 1, -1, 1, 0.5f), 3, -0.01f, 0.01f, -0.01f, 0.01f), build_bn,
     (void *)&BN_RELU, 0, 0, OPCHECK_EVAL},
    {"bn_eval_2d_relu", BN_IN(X2(6, 5, 1, -1, 1, 0.5f), 5, -0.01f, 0.01f, -0.01f, 0.01f), build_bn,
     (void *)&BN_RELU, 0, 0, OPCHECK_EVAL},
    {"bn_eval_4d_add_relu", BNR_IN(2, 3, 5, 7, 0, -0.5f, 0.5f, -0.5f, 0.5f), build_bn_add_relu, (void *)&BN, 0, 0,
     OPCHECK_EVAL},
};

#define LN_IN(XIN, C)                                                                                              \
    3, {XIN, {1, {C}, 1, OPCHECK_UNIFORM, 0.5f, 1.5f, 0}, {1, {C}, 1, OPCHECK_UNIFORM, -0.5f, 0.5f, 0}}

static const struct opcheck_case ln_cases[] = {
    {"ln_2d", LN_IN(X2(4, 16, 1, -1, 1, 0), 16), build_ln, NULL, 0, 0, 0},
    {"ln_3d", LN_IN(X3(2, 5, 7, 1, -1, 1), 7), build_ln, NULL, 0, 0, 0},
    {"ln_4d_offset", LN_IN(X4(2, 3, 2, 9, 1, 30, 31, 0), 9), build_ln, NULL, 0, 0, 0},
};

#define NCASES(a) (int)(sizeof(a) / sizeof(a[0]))

/* ---- runs with the exec in a given mode ---- */

/* Inputs of case c from its reference sample; NULL if missing. */
static const tgs_sample *set_ref_inputs(const struct opcheck_refs *rf, const struct opcheck_case *c,
                                        struct opcheck_graph *og)
{
    const tgs_sample *s = opcheck_refs_find(rf, c->name);
    if (!s) return NULL;
    char rec[16];
    for (int i = 0; i < c->nin; i++) {
        snprintf(rec, sizeof rec, "in%d", i);
        const float *v = opcheck_ref_f32(s, rec, og->in[i]->size);
        if (!v) return NULL;
        tgs_tensor_set(og->g, og->in[i], v);
    }
    return s;
}

static int close_to(struct tgs_graph *g, const struct tgs_tensor *t, int grad, const float *want, const char *what,
                    char *why, size_t whylen)
{
    float *buf = malloc(t->size * sizeof(float));
    int64_t at = -1;
    if (grad) tgs_tensor_get_grad(g, t, buf);
    else tgs_tensor_get(g, t, buf);
    int ok = want && opcheck_close(buf, want, t->size, 1e-5, 1e-4, &at);
    if (!ok) {
        if (want) snprintf(why, whylen, "%s[%lld] = %.7g, torch %.7g", what, (long long)at, buf[at], want[at]);
        else snprintf(why, whylen, "%s: no reference of that size", what);
    }
    free(buf);
    return ok;
}

/* The torch comparison in a given mode, and the running statistics after
 * the one forward: torch's update in training, unchanged in eval. */
static void torch_mode(const struct opcheck_refs *rf, const struct opcheck_case *c)
{
    int train = c->plan != OPCHECK_EVAL;
    char name[160], why[256] = "";
    snprintf(name, sizeof name, "torch %s (train=%d) and running stats", c->name, train);
    struct opcheck_graph og;
    const tgs_sample *s = NULL;
    int ok = opcheck_graph_make(&og, c, 1) == 0 && (s = set_ref_inputs(rf, c, &og)) != NULL;
    if (!ok) {
        CHECKF(0, name, "%s", s ? tgs_errmsg() : "reference case or input missing");
        opcheck_graph_free(&og);
        return;
    }
    int64_t C = og.in[1]->size;
    const float *dout = opcheck_ref_f32(s, "dout", og.out->size);
    ok = dout && tgs_graph_forward(og.g) == 0 && tgs_graph_backward_from(og.g, og.out, dout) == 0;
    if (!ok) snprintf(why, sizeof why, "run: %s", dout ? tgs_errmsg() : "no dout");
    ok = ok && close_to(og.g, og.out, 0, opcheck_ref_f32(s, "out", og.out->size), "out", why, sizeof why);
    const char *gname[6] = {"grad0", "grad1", "grad2", "", "", "grad5"}; /* 3, 4: the running statistics */
    for (int i = 0; i < c->nin && ok; i++)
        if (c->in[i].grad) ok = close_to(og.g, og.in[i], 1, opcheck_ref_f32(s, gname[i], og.in[i]->size), gname[i],
                                         why, sizeof why);
    ok = ok && close_to(og.g, og.in[3], 0, opcheck_ref_f32(s, train ? "run_mean" : "in3", C), "run_mean", why,
                        sizeof why);
    ok = ok && close_to(og.g, og.in[4], 0, opcheck_ref_f32(s, train ? "run_var" : "in4", C), "run_var", why,
                        sizeof why);
    CHECKF(ok, name, "%s", why);
    opcheck_graph_free(&og);
}

/* ---- properties ---- */

/* One training step of case c on `threads` threads, inputs and dout drawn
 * from seed: a malloc'd buffer of the output, the gradient of every input
 * that has one, and after them the inputs without one as forward left them
 * (BN's running statistics). NULL on failure; *n gets its length. */
static float *step_bytes(const struct opcheck_case *c, int threads, uint64_t seed, int64_t *n)
{
    struct opcheck_graph og;
    if (opcheck_graph_make(&og, c, 1) < 0) {
        opcheck_graph_free(&og);
        return NULL;
    }
    tgs_graph_exec(og.g)->threads = threads;
    int64_t total = og.out->size, big = og.out->size;
    for (int i = 0; i < c->nin; i++) {
        total += og.in[i]->size;
        if (og.in[i]->size > big) big = og.in[i]->size;
    }
    float *res = malloc(total * sizeof(float)), *buf = malloc(big * sizeof(float)), *v = res;
    tgs_rng r;
    tgs_rng_seed(&r, seed, 0);
    for (int i = 0; res && buf && i < c->nin; i++) {
        opcheck_fill(buf, og.in[i]->size, &c->in[i], &r);
        tgs_tensor_set(og.g, og.in[i], buf);
    }
    int ok = res && buf;
    if (ok) {
        opcheck_fill(buf, og.out->size, &c->in[0], &r);
        ok = tgs_graph_forward(og.g) == 0 && tgs_graph_backward_from(og.g, og.out, buf) == 0;
    }
    if (ok) {
        tgs_tensor_get(og.g, og.out, v);
        v += og.out->size;
        for (int i = 0; i < c->nin; i++)
            if (c->in[i].grad) tgs_tensor_get_grad(og.g, og.in[i], v), v += og.in[i]->size;
        for (int i = 0; i < c->nin; i++)
            if (!c->in[i].grad) tgs_tensor_get(og.g, og.in[i], v), v += og.in[i]->size;
    }
    free(buf);
    opcheck_graph_free(&og);
    if (!ok) {
        free(res);
        return NULL;
    }
    *n = total;
    return res;
}

/* Cases a and b give the same bytes (step_bytes, on the given threads). */
static void same_bytes(const char *name, const struct opcheck_case *a, int ta, const struct opcheck_case *b, int tb)
{
    int64_t na = 0, nb = 0;
    float *ra = step_bytes(a, ta, 99, &na), *rb = step_bytes(b, tb, 99, &nb);
    CHECK(ra && rb && na == nb && memcmp(ra, rb, na * sizeof(float)) == 0, name);
    free(ra);
    free(rb);
}

/* Forward and backward give the same bytes on one thread and on two (the
 * per-plane statistics are combined in plane order, layernorm's column
 * sums are split by column). */
static void same_bytes_threads(const struct opcheck_case *c)
{
    char name[160];
    snprintf(name, sizeof name, "%s: same bytes on 1 and 2 threads", c->name);
    same_bytes(name, c, 1, c, 2);
}

/* relu=1 gives the same bytes as batchnorm then a separate ReLU node. */
static struct tgs_tensor *build_bn_then_relu(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    (void)ctx;
    return tgs_relu(g, tgs_batchnorm(g, in[0], in[1], in[2], in[3], in[4], 1e-5f, 0.1f, 0));
}

static void fused_equals_unfused(void)
{
    struct opcheck_case c[2] = {
        {"fused", BN_IN(X4(3, 4, 6, 5, 1, -1, 1, 0), 4, -0.5f, 0.5f, -0.5f, 0.5f), build_bn, (void *)&BN_RELU, 0, 0,
         0},
        {"unfused", BN_IN(X4(3, 4, 6, 5, 1, -1, 1, 0), 4, -0.5f, 0.5f, -0.5f, 0.5f), build_bn_then_relu, NULL, 0, 0,
         0},
    };
    same_bytes("batchnorm relu=1: same bytes as batchnorm then relu (out, grads, running stats)", &c[0], 1, &c[1], 1);
}

/* The residual form gives the same bytes as batchnorm, add and ReLU as
 * three nodes: out, the gradients of x, gamma, beta and r, the running
 * statistics. */
static struct tgs_tensor *build_bn_add_then_relu(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    (void)ctx;
    return tgs_relu(g, tgs_add(g, tgs_batchnorm(g, in[0], in[1], in[2], in[3], in[4], 1e-5f, 0.1f, 0), in[5]));
}

static void fused_add_relu_equals_unfused(int threads)
{
    struct opcheck_case c[2] = {
        {"fused", BNR_IN(4, 3, 24, 20, 0, -0.5f, 0.5f, -0.5f, 0.5f), build_bn_add_relu, (void *)&BN, 0, 0, 0},
        {"unfused", BNR_IN(4, 3, 24, 20, 0, -0.5f, 0.5f, -0.5f, 0.5f), build_bn_add_then_relu, NULL, 0, 0, 0},
    };
    /* r in (-1, 1) here, not bimodal: the mask then cuts through every
     * channel, which fd does not need but this comparison wants */
    for (int k = 0; k < 2; k++) c[k].in[5].lo = -1, c[k].in[5].hi = 1, c[k].in[5].margin = 0;
    char name[128];
    snprintf(name, sizeof name,
             "batchnorm_add_relu on %d thread(s): same bytes as batchnorm, add, relu (out, grads, running stats)",
             threads);
    same_bytes(name, &c[0], threads, &c[1], threads);
}

/* Training with one value per channel has no variance: torch refuses, so
 * does forward (the shape is fine for eval, so the builder accepts it). */
static void one_value_per_channel(void)
{
    const struct opcheck_case c = {"bn_one", BN_IN(X2(1, 3, 1, -1, 1, 0), 3, -0.5f, 0.5f, -0.5f, 0.5f), build_bn,
                                   (void *)&BN, 0, 0, 0};
    struct opcheck_graph og;
    int made = opcheck_graph_make(&og, &c, 1) == 0;
    int rc = made ? tgs_graph_forward(og.g) : 0;
    CHECKF(made && rc < 0 && strstr(tgs_errmsg(), "batchnorm"), "batchnorm: training on (1,C) fails in forward",
           "made %d rc %d: %s", made, rc, tgs_errmsg());
    tgs_graph_exec(og.g)->train = 0;
    CHECK(made && tgs_graph_forward(og.g) == 0, "batchnorm: eval on (1,C) runs");
    opcheck_graph_free(&og);
}

/* Each builder refuses bad shapes and arguments with a message naming it. */
static void bad_builds(void)
{
    struct tgs_params *ps = tgs_params_new(tgs_backend_cpu());
    struct {
        const char *what, *op;
    } cases[] = {
        {"batchnorm: 3-D x", "batchnorm"},
        {"batchnorm: gamma of another size", "batchnorm"},
        {"batchnorm: running var of another size", "batchnorm"},
        {"batchnorm: running mean with a gradient", "batchnorm"},
        {"batchnorm: eps 0", "batchnorm"},
        {"batchnorm: NULL x", "batchnorm"},
        {"layernorm: gamma of another size", "layernorm"},
        {"layernorm: beta 2-D", "layernorm"},
        {"batchnorm_add_relu: residual of another shape", "batchnorm"},
        {"batchnorm_add_relu: NULL residual", "batchnorm"},
    };
    for (int k = 0; k < NCASES(cases); k++) {
        struct tgs_graph *g = tgs_graph_new(ps);
        struct tgs_tensor *x4 = tgs_input(g, "x", 4, (int32_t[]){2, 3, 4, 4}),
                          *x3 = tgs_input(g, "x3", 3, (int32_t[]){2, 3, 4}),
                          *c3 = tgs_input(g, "c3", 1, (int32_t[]){3}), *c4 = tgs_input(g, "c4", 1, (int32_t[]){4}),
                          *c13 = tgs_input(g, "c13", 2, (int32_t[]){1, 4}),
                          *rm = tgs_input(g, "rm", 1, (int32_t[]){3}), *rv = tgs_input(g, "rv", 1, (int32_t[]){3});
        struct tgs_tensor *y = NULL;
        switch (k) {
        case 0: y = tgs_batchnorm(g, x3, c3, c3, rm, rv, 1e-5f, 0.1f, 0); break;
        case 1: y = tgs_batchnorm(g, x4, c4, c3, rm, rv, 1e-5f, 0.1f, 0); break;
        case 2: y = tgs_batchnorm(g, x4, c3, c3, rm, c4, 1e-5f, 0.1f, 0); break;
        case 3: tgs_requires_grad(rm); y = tgs_batchnorm(g, x4, c3, c3, rm, rv, 1e-5f, 0.1f, 1); break;
        case 4: y = tgs_batchnorm(g, x4, c3, c3, rm, rv, 0, 0.1f, 0); break;
        case 5: y = tgs_batchnorm(g, NULL, c3, c3, rm, rv, 1e-5f, 0.1f, 0); break;
        case 6: y = tgs_layernorm(g, x3, c3, c4, 1e-5f); break;
        case 7: y = tgs_layernorm(g, x3, c4, c13, 1e-5f); break;
        case 8: y = tgs_batchnorm_add_relu(g, x4, c3, c3, rm, rv, 1e-5f, 0.1f, x3); break;
        case 9: y = tgs_batchnorm_add_relu(g, x4, c3, c3, rm, rv, 1e-5f, 0.1f, NULL); break;
        }
        const char *e = tgs_graph_error(g);
        CHECKF(!y && e && strncmp(e, cases[k].op, strlen(cases[k].op)) == 0, cases[k].what, "returned %p, error '%s'",
               (void *)y, e ? e : "(none)");
        tgs_graph_free(g);
    }
    /* a NULL input after a failure keeps the first message */
    struct tgs_graph *g = tgs_graph_new(ps);
    struct tgs_tensor *x = tgs_input(g, "x", 3, (int32_t[]){2, 3, 4}), *c = tgs_input(g, "c", 1, (int32_t[]){5});
    struct tgs_tensor *y = tgs_layernorm(g, tgs_layernorm(g, x, c, c, 1e-5f), c, c, 1e-5f);
    CHECKF(!y && tgs_graph_error(g) && strstr(tgs_graph_error(g), "(4)"), "layernorm: first error kept",
           "error '%s'", tgs_graph_error(g) ? tgs_graph_error(g) : "(none)");
    tgs_graph_free(g);
    tgs_params_free(ps);
}

int main(void)
{
    struct opcheck_refs rf;
    if (opcheck_refs_load(&rf, "tests/data/torch/op_norm.tsr") < 0) {
        CHECKF(0, "load tests/data/torch/op_norm.tsr", "%s", tgs_errmsg());
        CHECK_DONE();
    }
    for (int k = 0; k < NCASES(bn_train); k++) {
        opcheck_fd(&bn_train[k]);
        opcheck_torch(&rf, &bn_train[k], 1e-5, 1e-4), opcheck_backends(&bn_train[k]);
        torch_mode(&rf, &bn_train[k]);
    }
    for (int k = 0; k < NCASES(bn_eval); k++) {
        opcheck_fd(&bn_eval[k]);
        torch_mode(&rf, &bn_eval[k]);
        /* an inference plan (memory reused, forward only) gives the same */
        struct opcheck_case c = bn_eval[k];
        c.plan = OPCHECK_INFER;
        opcheck_torch(&rf, &c, 1e-5, 1e-4), opcheck_backends(&c);
    }
    for (int k = 0; k < NCASES(ln_cases); k++) {
        opcheck_fd(&ln_cases[k]);
        opcheck_torch(&rf, &ln_cases[k], 1e-5, 1e-4), opcheck_backends(&ln_cases[k]);
    }
    /* big enough to be threaded */
    const struct opcheck_case big[] = {
        {"bn (4,3,64,64) relu", BN_IN(X4(4, 3, 64, 64, 1, -1, 1, 0), 3, -0.5f, 0.5f, -0.5f, 0.5f), build_bn,
         (void *)&BN_RELU, 0, 0, 0},
        {"ln (64,520)", LN_IN(X2(64, 520, 1, -1, 1, 0), 520), build_ln, NULL, 0, 0, 0},
    };
    for (int k = 0; k < NCASES(big); k++) same_bytes_threads(&big[k]);
    fused_equals_unfused();
    fused_add_relu_equals_unfused(1);
    fused_add_relu_equals_unfused(2);
    one_value_per_channel();
    bad_builds();
    /* the slot past the last sample holds what the read at the end left */
    for (int i = 0; i <= rf.n; i++) tgs_sample_free(&rf.s[i]);
    free(rf.s);
    CHECK_DONE();
}
