/* Tests of lib/common/nn/op_act.c and nn/cpu/op_act.c: relu, elu, gelu, sigmoid, softmax, dropout
 * and dropout2d, by central finite differences and against PyTorch
 * (tests/torch/gen_op_act.py writes tests/data/torch/op_act.tsr; for the
 * dropouts it computes the C op's hash masks and has torch apply them), and
 * dropout's modes and mask properties.
 *
 * Tolerances. Finite differences: opcheck's rule, max |num - ana| /
 * max(1, max |ana|) <= 1e-2, eps 1e-3; ReLU and ELU (alpha != 1 has a kink
 * in the slope) take inputs with |x| >= 0.1, a hundred steps from the kink.
 * PyTorch (float64 references): atol 1e-5, rtol 1e-4. */
#include "opcheck.h"
#include "nn/cpu/ops_cpu.h" /* tgs_cpu_vmath_avx2: GELU and softmax on both their builds */

static struct tgs_tensor *build_act(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    enum tgs_op op = *(const enum tgs_op *)ctx;
    switch (op) {
    case TGS_OP_RELU: return tgs_relu(g, in[0]);
    case TGS_OP_GELU: return tgs_gelu(g, in[0]);
    case TGS_OP_SIGMOID: return tgs_sigmoid(g, in[0]);
    case TGS_OP_SOFTMAX: return tgs_softmax(g, in[0]);
    default: return NULL;
    }
}

static struct tgs_tensor *build_elu(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    return tgs_elu(g, in[0], *(const float *)ctx);
}

static struct tgs_tensor *build_dropout(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    return tgs_dropout(g, in[0], *(const float *)ctx);
}

static struct tgs_tensor *build_dropout2d(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    return tgs_dropout2d(g, in[0], *(const float *)ctx);
}

static const enum tgs_op RELU = TGS_OP_RELU, GELU = TGS_OP_GELU, SIGMOID = TGS_OP_SIGMOID, SOFTMAX = TGS_OP_SOFTMAX;
static const float ALPHA1 = 1.0f, ALPHA05 = 0.5f, P03 = 0.3f, P05 = 0.5f;

#define IN4(N, C, H, W, LO, HI, MARGIN) 1, {{4, {N, C, H, W}, 1, OPCHECK_UNIFORM, LO, HI, MARGIN}}
#define IN3(A, B, C, LO, HI) 1, {{3, {A, B, C}, 1, OPCHECK_UNIFORM, LO, HI, 0}}
#define IN2(A, B, LO, HI) 1, {{2, {A, B}, 1, OPCHECK_UNIFORM, LO, HI, 0}}

static const struct opcheck_case cases[] = {
    {"relu", IN4(2, 3, 5, 7, -1, 1, 0.1f), build_act, (void *)&RELU, 0, 0, 0},
    {"elu_1", IN4(2, 3, 5, 7, -3, 3, 0.1f), build_elu, (void *)&ALPHA1, 0, 0, 0},
    {"elu_05", IN4(2, 3, 5, 7, -3, 3, 0.1f), build_elu, (void *)&ALPHA05, 0, 0, 0},
    {"gelu", IN4(2, 3, 5, 7, -4, 4, 0), build_act, (void *)&GELU, 0, 0, 0},
    {"sigmoid", IN4(2, 3, 5, 7, -12, 12, 0), build_act, (void *)&SIGMOID, 0, 0, 0},
    {"sigmoid_2d", IN2(4, 9, -3, 3), build_act, (void *)&SIGMOID, 0, 0, 0},
    {"softmax_rows7", IN3(3, 4, 7, -3, 3), build_act, (void *)&SOFTMAX, 0, 0, 0},
    {"softmax_big", IN2(3, 7, -50, 100), build_act, (void *)&SOFTMAX, 0, 0, 0},
    {"softmax_1", IN2(5, 1, -1, 1), build_act, (void *)&SOFTMAX, 0, 0, 0},
    /* fd at a fixed step: forward re-run draws the same mask */
    {"dropout_2d", IN2(6, 11, -1, 1), build_dropout, (void *)&P03, 0, 0, 0},
    {"dropout_4d", IN4(2, 3, 5, 7, -1, 1, 0), build_dropout, (void *)&P05, 0, 0, 0},
    {"dropout2d", IN4(3, 4, 5, 6, -1, 1, 0), build_dropout2d, (void *)&P05, 0, 0, 0},
};

#define NCASES(a) (int)(sizeof(a) / sizeof(a[0]))

/* ---- dropout in its modes ---- */

struct run {
    struct tgs_params *ps;
    struct tgs_graph *g;
    struct tgs_tensor *x, *y;
    float *xin, *out;
    int64_t n;
};

/* x (shape ne) filled with values away from 0 (so a zero in the output is
 * a dropped element), one dropout node of probability p. */
static int run_make(struct run *r, int drop2d, const int32_t ne[4], float p, enum tgs_plan_mode mode)
{
    memset(r, 0, sizeof *r);
    r->ps = tgs_params_new(tgs_backend_cpu());
    r->g = tgs_graph_new(r->ps);
    r->x = tgs_input(r->g, "x", 4, ne);
    tgs_requires_grad(r->x);
    r->y = drop2d ? tgs_dropout2d(r->g, r->x, p) : tgs_dropout(r->g, r->x, p);
    if (!r->y || tgs_graph_plan(r->g, mode) < 0) return -1;
    r->n = r->x->size;
    r->xin = malloc(r->n * sizeof(float));
    r->out = malloc(r->n * sizeof(float));
    tgs_rng rng;
    tgs_rng_seed(&rng, 11, 0);
    for (int64_t i = 0; i < r->n; i++) r->xin[i] = 0.5f + tgs_rng_uniform(&rng);
    tgs_tensor_set(r->g, r->x, r->xin);
    return 0;
}

static void run_free(struct run *r)
{
    tgs_graph_free(r->g);
    tgs_params_free(r->ps);
    free(r->xin);
    free(r->out);
}

static int run_forward(struct run *r, int train, int mc, uint64_t step)
{
    struct tgs_exec *x = tgs_graph_exec(r->g);
    x->train = train, x->mc_dropout = mc, x->step = step;
    if (tgs_graph_forward(r->g) < 0) return -1;
    tgs_tensor_get(r->g, r->y, r->out);
    return 0;
}

static double zero_fraction(const float *v, int64_t n)
{
    int64_t z = 0;
    for (int64_t i = 0; i < n; i++) z += v[i] == 0;
    return (double)z / (double)n;
}

/* kept elements are exactly x * (1 / (1 - p)), computed as the op does */
static int kept_scaled(const struct run *r, float p)
{
    float s = 1 / (1 - p);
    for (int64_t i = 0; i < r->n; i++)
        if (r->out[i] != 0 && r->out[i] != r->xin[i] * s) return 0;
    return 1;
}

static void dropout_modes(void)
{
    const int32_t big[4] = {1, 1, 512, 512};
    struct run r;
    int ok = run_make(&r, 0, big, 0.3f, TGS_PLAN_TRAIN) == 0 && run_forward(&r, 1, 0, 7) == 0;
    double fz = ok ? zero_fraction(r.out, r.n) : -1;
    /* 262144 draws: the fraction's sd is 0.0009; 0.005 is 5.5 sd */
    CHECKF(ok && fabs(fz - 0.3) < 0.005, "dropout p=0.3: fraction of zeros near 0.3", "%.5f", fz);
    CHECK(ok && kept_scaled(&r, 0.3f), "dropout: kept elements scaled by 1/(1-p)");
    float *first = malloc(r.n * sizeof(float));
    memcpy(first, r.out, r.n * sizeof(float));
    ok = ok && run_forward(&r, 1, 0, 7) == 0;
    CHECK(ok && memcmp(first, r.out, r.n * sizeof(float)) == 0, "dropout: same mask when re-run at the same step");
    ok = ok && run_forward(&r, 1, 0, 8) == 0;
    int64_t differ = 0;
    for (int64_t i = 0; i < r.n; i++) differ += (first[i] == 0) != (r.out[i] == 0);
    /* two independent masks of p = 0.3 disagree on 2 * 0.3 * 0.7 = 42% */
    CHECKF(ok && fabs((double)differ / r.n - 0.42) < 0.01, "dropout: another mask at the next step",
           "%lld of %lld differ", (long long)differ, (long long)r.n);
    /* the mask does not depend on the thread count */
    tgs_graph_exec(r.g)->threads = 1;
    ok = ok && run_forward(&r, 1, 0, 7) == 0;
    CHECK(ok && memcmp(first, r.out, r.n * sizeof(float)) == 0, "dropout: same mask on 1 thread as on all");
    /* eval in a training plan: identity, and backward passes dy through */
    ok = ok && run_forward(&r, 0, 0, 7) == 0;
    CHECK(ok && memcmp(r.xin, r.out, r.n * sizeof(float)) == 0, "dropout: identity when !train");
    ok = ok && tgs_graph_backward_from(r.g, r.y, r.xin) == 0;
    tgs_tensor_get_grad(r.g, r.x, r.out);
    CHECK(ok && memcmp(r.xin, r.out, r.n * sizeof(float)) == 0, "dropout: backward is identity when !train");
    /* backward masks what the last forward masked */
    ok = ok && run_forward(&r, 1, 0, 9) == 0;
    memcpy(first, r.out, r.n * sizeof(float));
    ok = ok && tgs_graph_backward_from(r.g, r.y, r.xin) == 0;
    tgs_tensor_get_grad(r.g, r.x, r.out);
    CHECK(ok && memcmp(first, r.out, r.n * sizeof(float)) == 0, "dropout: backward applies forward's mask");
    run_free(&r);
    free(first);

    /* an inference plan: identity, unless mc_dropout */
    ok = run_make(&r, 0, big, 0.3f, TGS_PLAN_INFER) == 0 && run_forward(&r, 0, 0, 0) == 0;
    CHECK(ok && memcmp(r.xin, r.out, r.n * sizeof(float)) == 0, "dropout: identity in an inference plan");
    ok = ok && run_forward(&r, 0, 1, 0) == 0;
    fz = ok ? zero_fraction(r.out, r.n) : -1;
    CHECKF(ok && fabs(fz - 0.3) < 0.005 && kept_scaled(&r, 0.3f), "dropout: active with mc_dropout in inference",
           "zeros %.5f", fz);
    run_free(&r);

    /* p = 1 drops everything (no inf or NaN from the scale); p = 0 keeps all */
    ok = run_make(&r, 0, (int32_t[]){2, 3, 4, 5}, 1.0f, TGS_PLAN_TRAIN) == 0 && run_forward(&r, 1, 0, 0) == 0;
    CHECK(ok && zero_fraction(r.out, r.n) == 1 && r.out[0] == 0 && !signbit(r.out[0]), "dropout p=1: all zeros");
    run_free(&r);
    ok = run_make(&r, 0, (int32_t[]){2, 3, 4, 5}, 0.0f, TGS_PLAN_TRAIN) == 0 && run_forward(&r, 1, 0, 0) == 0;
    CHECK(ok && memcmp(r.xin, r.out, r.n * sizeof(float)) == 0, "dropout p=0: identity in training");
    run_free(&r);

    /* dropout2d: whole planes, at about p of them */
    ok = run_make(&r, 1, (int32_t[]){32, 32, 3, 3}, 0.5f, TGS_PLAN_TRAIN) == 0 && run_forward(&r, 1, 0, 3) == 0;
    int whole = 1, zeros = 0;
    for (int q = 0; q < 1024 && ok; q++) {
        int z = 0;
        for (int i = 0; i < 9; i++) z += r.out[q * 9 + i] == 0;
        whole &= z == 0 || z == 9;
        zeros += z == 9;
    }
    CHECK(ok && whole, "dropout2d: zeroes whole channels");
    /* 1024 planes: sd 0.016 */
    CHECKF(ok && fabs(zeros / 1024.0 - 0.5) < 0.07 && kept_scaled(&r, 0.5f),
           "dropout2d p=0.5: about half the channels, the rest scaled by 2", "%d of 1024 zero", zeros);
    ok = ok && run_forward(&r, 0, 0, 3) == 0;
    CHECK(ok && memcmp(r.xin, r.out, r.n * sizeof(float)) == 0, "dropout2d: identity when !train");
    run_free(&r);
}

/* Two dropout nodes in one graph draw different masks. */
static void two_nodes_differ(void)
{
    struct tgs_params *ps = tgs_params_new(tgs_backend_cpu());
    struct tgs_graph *g = tgs_graph_new(ps);
    struct tgs_tensor *x = tgs_input(g, "x", 2, (int32_t[]){64, 64});
    struct tgs_tensor *a = tgs_dropout(g, x, 0.5f), *b = tgs_dropout(g, x, 0.5f);
    int ok = a && b && tgs_graph_plan(g, TGS_PLAN_TRAIN) == 0;
    float *v = malloc(3 * 4096 * sizeof(float));
    for (int i = 0; i < 4096; i++) v[i] = 1;
    int64_t differ = 0;
    if (ok) {
        tgs_tensor_set(g, x, v);
        ok = tgs_graph_forward(g) == 0;
        tgs_tensor_get(g, a, v + 4096);
        tgs_tensor_get(g, b, v + 8192);
        for (int i = 0; i < 4096; i++) differ += (v[4096 + i] == 0) != (v[8192 + i] == 0);
    }
    CHECKF(ok && differ > 1500 && differ < 2600, "dropout: two nodes draw different masks", "%lld of 4096 differ",
           (long long)differ);
    free(v);
    tgs_graph_free(g);
    tgs_params_free(ps);
}

/* ---- GELU and softmax against double precision, on both builds ----
 * nn/cpu/vmath.h's e^x and Phi replace libm's expf and erff: GELU over
 * [-12, 12] in steps of 1/1024 (a length that leaves a tail of 3 past the
 * last whole vector), its derivative, and softmax rows of 49 (a 7 x 7
 * window) and 13, held to double-precision values; then the baseline and
 * the AVX2 builds give the same bytes. */
struct vm_run {
    struct tgs_params *ps;
    struct tgs_graph *g;
    struct tgs_tensor *x, *y, *x49, *s49, *x13, *s13;
    float *y_out, *dx_out, *s49_out, *s13_out;
};

#define VM_N (24 * 1024 + 3)

static int vm_run(struct vm_run *r, const float *x, const float *x49, const float *x13)
{
    float *ones = malloc(VM_N * sizeof(float));
    for (int i = 0; i < VM_N; i++) ones[i] = 1;
    tgs_tensor_set(r->g, r->x, x), tgs_tensor_set(r->g, r->x49, x49), tgs_tensor_set(r->g, r->x13, x13);
    int ok = tgs_graph_forward(r->g) == 0 && tgs_graph_backward_from(r->g, r->y, ones) == 0;
    tgs_tensor_get(r->g, r->y, r->y_out), tgs_tensor_get_grad(r->g, r->x, r->dx_out);
    tgs_tensor_get(r->g, r->s49, r->s49_out), tgs_tensor_get(r->g, r->s13, r->s13_out);
    free(ones);
    return ok;
}

static double softmax_err(const float *x, const float *y, int rows, int c)
{
    double worst = 0;
    for (int r = 0; r < rows; r++) {
        /* from the float differences x - max, as the op takes them: a
         * difference of 40 is itself rounded by up to 2e-6 (relative) */
        const float *a = x + r * c;
        float mx = a[0];
        double s = 0;
        for (int k = 1; k < c; k++) mx = a[k] > mx ? a[k] : mx;
        for (int k = 0; k < c; k++) s += exp((double)(a[k] - mx));
        for (int k = 0; k < c; k++) {
            double want = exp((double)(a[k] - mx)) / s, e = fabs(y[r * c + k] - want) / want;
            worst = e > worst ? e : worst;
        }
    }
    return worst;
}

static void vmath_against_double(void)
{
    struct vm_run r = {0};
    r.ps = tgs_params_new(tgs_backend_cpu());
    r.g = tgs_graph_new(r.ps);
    r.x = tgs_input(r.g, "x", 2, (int32_t[]){1, VM_N});
    tgs_requires_grad(r.x);
    r.y = tgs_gelu(r.g, r.x);
    r.x49 = tgs_input(r.g, "x49", 2, (int32_t[]){40, 49});
    r.s49 = tgs_softmax(r.g, r.x49);
    r.x13 = tgs_input(r.g, "x13", 2, (int32_t[]){40, 13});
    r.s13 = tgs_softmax(r.g, r.x13);
    int ok = r.y && r.s49 && r.s13 && tgs_graph_plan(r.g, TGS_PLAN_TRAIN) == 0;
    CHECKF(ok, "vmath: the graph plans", "%s", tgs_errmsg());
    float *x = malloc(VM_N * sizeof(float)), *x49 = malloc(40 * 49 * sizeof(float)), *x13 = malloc(40 * 13 * sizeof(float));
    for (int i = 0; i < VM_N; i++) x[i] = -12.0f + (float)i / 1024;
    tgs_rng rng;
    tgs_rng_seed(&rng, 5, 0);
    for (int i = 0; i < 40 * 49; i++) x49[i] = 40 * tgs_rng_uniform(&rng) - 30; /* logits up to 40 apart */
    for (int i = 0; i < 40 * 13; i++) x13[i] = 4 * tgs_rng_normal(&rng);
    float *out[2][4];
    int64_t len[4] = {VM_N, VM_N, 40 * 49, 40 * 13};
    for (int w = 0; w < 2; w++)
        for (int k = 0; k < 4; k++) out[w][k] = malloc(len[k] * sizeof(float));
    int had = tgs_cpu_vmath_avx2(0), wide = 0;
    for (int w = 0; ok && w < 2; w++) {
        tgs_cpu_vmath_avx2(w);
        wide = tgs_cpu_vmath_avx2(-1);
        if (w && !wide) break;
        r.y_out = out[w][0], r.dx_out = out[w][1], r.s49_out = out[w][2], r.s13_out = out[w][3];
        ok = vm_run(&r, x, x49, x13);
        double ey = 0, edx = 0;
        for (int i = 0; i < VM_N; i++) {
            double v = x[i], cdf = 0.5 * erfc(-v / sqrt(2.0)), want = v * cdf;
            double e = want == 0 ? fabs(out[w][0][i]) : fabs(out[w][0][i] - want) / fabs(want);
            ey = e > ey ? e : ey;
            double dwant = cdf + v * exp(-0.5 * v * v) / sqrt(2 * M_PI);
            e = fabs(out[w][1][i] - dwant);
            edx = e > edx ? e : edx;
        }
        char name[160];
        /* libm's erff form, 0.5 x (1 + erff(x / sqrt 2)), is 0 below x = -5.5: relative error 1 */
        snprintf(name, sizeof name, "gelu (%s): relative error below 2e-5 over [-12, 12], tails included",
                 w ? "AVX2" : "baseline");
        CHECKF(ok && ey < 2e-5, name, "%.3g", ey);
        snprintf(name, sizeof name, "gelu (%s): derivative within 1e-6 of double's", w ? "AVX2" : "baseline");
        CHECKF(ok && edx < 1e-6, name, "%.3g", edx);
        double es = fmax(softmax_err(x49, out[w][2], 40, 49), softmax_err(x13, out[w][3], 40, 13));
        snprintf(name, sizeof name, "softmax (%s): rows of 49 and 13 within 1e-6 (relative) of double's",
                 w ? "AVX2" : "baseline");
        CHECKF(ok && es < 1e-6, name, "%.3g", es);
    }
    if (!wide) {
        printf("skip - vmath: AVX2 and baseline builds, the same bytes: this CPU has no AVX2\n");
    } else {
        int same = 1;
        for (int k = 0; k < 4; k++) same = same && memcmp(out[0][k], out[1][k], len[k] * sizeof(float)) == 0;
        CHECK(ok && same, "vmath: gelu, its gradient and softmax, the same bytes from the AVX2 and baseline builds");
    }
    tgs_cpu_vmath_avx2(had ? 1 : 0);
    for (int w = 0; w < 2; w++)
        for (int k = 0; k < 4; k++) free(out[w][k]);
    free(x), free(x49), free(x13);
    tgs_graph_free(r.g);
    tgs_params_free(r.ps);
}

/* Builders refuse bad arguments with a message naming the op; a NULL
 * input after a failure keeps the first message. */
static void bad_builds(void)
{
    struct tgs_params *ps = tgs_params_new(tgs_backend_cpu());
    const char *what[] = {"dropout: p 1.5", "dropout: p -0.1", "dropout: p NaN", "dropout2d: 2-D x",
                          "elu: alpha -1", "relu: NULL x", "softmax: NULL x", "gelu: NULL x", "sigmoid: NULL x"};
    const char *op[] = {"dropout", "dropout", "dropout", "dropout2d", "elu", "relu", "softmax", "gelu", "sigmoid"};
    for (int k = 0; k < NCASES(what); k++) {
        struct tgs_graph *g = tgs_graph_new(ps);
        struct tgs_tensor *x2 = tgs_input(g, "x2", 2, (int32_t[]){4, 5}), *y = NULL;
        switch (k) {
        case 0: y = tgs_dropout(g, x2, 1.5f); break;
        case 1: y = tgs_dropout(g, x2, -0.1f); break;
        case 2: y = tgs_dropout(g, x2, NAN); break;
        case 3: y = tgs_dropout2d(g, x2, 0.5f); break;
        case 4: y = tgs_elu(g, x2, -1); break;
        case 5: y = tgs_relu(g, NULL); break;
        case 6: y = tgs_softmax(g, NULL); break;
        case 7: y = tgs_gelu(g, NULL); break;
        case 8: y = tgs_sigmoid(g, NULL); break;
        }
        const char *e = tgs_graph_error(g);
        CHECKF(!y && e && strncmp(e, op[k], strlen(op[k])) == 0, what[k], "returned %p, error '%s'", (void *)y,
               e ? e : "(none)");
        tgs_graph_free(g);
    }
    struct tgs_graph *g = tgs_graph_new(ps);
    struct tgs_tensor *x = tgs_input(g, "x", 2, (int32_t[]){4, 5});
    struct tgs_tensor *y = tgs_softmax(g, tgs_relu(g, tgs_dropout2d(g, x, 0.5f)));
    CHECKF(!y && tgs_graph_error(g) && strncmp(tgs_graph_error(g), "dropout2d", 9) == 0,
           "activations: first error kept through NULL inputs", "error '%s'",
           tgs_graph_error(g) ? tgs_graph_error(g) : "(none)");
    tgs_graph_free(g);
    tgs_params_free(ps);
}

int main(void)
{
    struct opcheck_refs rf;
    if (opcheck_refs_load(&rf, "tests/data/torch/op_act.tsr") < 0) {
        CHECKF(0, "load tests/data/torch/op_act.tsr", "%s", tgs_errmsg());
        CHECK_DONE();
    }
    for (int k = 0; k < NCASES(cases); k++) {
        opcheck_fd(&cases[k]);
        opcheck_torch(&rf, &cases[k], 1e-5, 1e-4), opcheck_backends(&cases[k]);
    }
    /* inference plans (memory reused, forward only) give the same outputs */
    for (int k = 0; k < 7; k += 3) {
        struct opcheck_case c = cases[k];
        c.plan = OPCHECK_INFER;
        opcheck_torch(&rf, &c, 1e-5, 1e-4), opcheck_backends(&c);
    }
    dropout_modes();
    two_nodes_differ();
    vmath_against_double();
    bad_builds();
    /* the slot past the last sample holds what the read at the end left */
    for (int i = 0; i <= rf.n; i++) tgs_sample_free(&rf.s[i]);
    free(rf.s);
    CHECK_DONE();
}
