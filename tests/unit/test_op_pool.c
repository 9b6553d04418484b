/* Tests of lib/common/nn/op_pool.c and nn/cpu/op_pool.c: maxpool2, avgpool, gap, upsample2 and upcat, by
 * central finite differences and against PyTorch
 * (tests/torch/gen_op_pool.py writes tests/data/torch/op_pool.tsr).
 *
 * Tolerances. Finite differences: opcheck's rule, max |num - ana| /
 * max(1, max |ana|) <= 1e-2, eps 1e-3 (the ops are piecewise linear, so
 * the numeric side is exact up to float rounding). PyTorch: atol 1e-5,
 * rtol 1e-4 (float64 references).
 *
 * Maxpool's fd inputs are distinct values on a grid of step 0.05, shuffled,
 * so no window's maximum changes under a 1e-3 step; opcheck's random fill
 * could put two values of a window closer than that. */
#include "opcheck.h"

static struct tgs_tensor *build_maxpool(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    (void)ctx;
    return tgs_maxpool2(g, in[0]);
}

static struct tgs_tensor *build_avgpool(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    return tgs_avgpool(g, in[0], *(const int *)ctx);
}

static struct tgs_tensor *build_gap(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    (void)ctx;
    return tgs_gap(g, in[0]);
}

static struct tgs_tensor *build_upsample(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    (void)ctx;
    return tgs_upsample2(g, in[0]);
}

/* upcat of the case's inputs, ctx: their steps */
static struct tgs_tensor *build_upcat(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    const int *steps = ctx;
    int k = 0;
    while (steps[k] >= 0) k++;
    return tgs_upcat(g, k, in, steps);
}

static const int K1 = 1, K2 = 2, K3 = 3;
static const int S012[] = {0, 1, 2, -1}, S10[] = {1, 0, -1}, S3[] = {3, -1};

#define X4(N, C, H, W) 1, {{4, {N, C, H, W}, 1, OPCHECK_UNIFORM, -1, 1, 0}}
#define U4(N, C, H, W) {4, {N, C, H, W}, 1, OPCHECK_UNIFORM, -1, 1, 0}

static const struct opcheck_case maxpool_cases[] = {
    {"maxpool_7x9", X4(2, 3, 7, 9), build_maxpool, NULL, 0, 0, 0},
    {"maxpool_6x19", X4(1, 2, 6, 19), build_maxpool, NULL, 0, 0, 0},
    {"maxpool_2x2", X4(3, 1, 2, 2), build_maxpool, NULL, 0, 0, 0},
    {"maxpool_ties", X4(2, 2, 4, 10), build_maxpool, NULL, 0, 0, 0},
};

static const struct opcheck_case cases[] = {
    {"avgpool_k2_7x9", X4(2, 3, 7, 9), build_avgpool, (void *)&K2, 0, 0, 0},
    {"avgpool_k3_7x9", X4(2, 3, 7, 9), build_avgpool, (void *)&K3, 0, 0, 0},
    {"avgpool_k1", X4(2, 2, 3, 4), build_avgpool, (void *)&K1, 0, 0, 0},
    {"gap_5x7", X4(2, 3, 5, 7), build_gap, NULL, 0, 0, 0},
    {"gap_1x1", X4(2, 3, 1, 1), build_gap, NULL, 0, 0, 0},
    {"upsample_1x1", X4(2, 3, 1, 1), build_upsample, NULL, 0, 0, 0},
    {"upsample_3x5", X4(2, 3, 3, 5), build_upsample, NULL, 0, 0, 0},
    {"upsample_8x8", X4(2, 2, 8, 8), build_upsample, NULL, 0, 0, 0},
    {"upsample_5x13", X4(1, 2, 5, 13), build_upsample, NULL, 0, 0, 0},
    {"upsample_2x1", X4(1, 1, 2, 1), build_upsample, NULL, 0, 0, 0},
    {"upcat_0_1_2", 3, {U4(2, 2, 12, 8), U4(2, 3, 6, 4), U4(2, 1, 3, 2)}, build_upcat, (void *)S012, 0, 0, 0},
    {"upcat_1_0", 2, {U4(1, 4, 5, 7), U4(1, 2, 10, 14)}, build_upcat, (void *)S10, 0, 0, 0},
    {"upcat_3", 1, {U4(2, 2, 2, 3)}, build_upcat, (void *)S3, 0, 0, 0},
};

#define NCASES(a) (int)(sizeof(a) / sizeof(a[0]))

/* Finite differences of a one-input case whose input is a shuffled grid of
 * distinct values, step 0.05 (opcheck's error rule). */
static void fd_distinct(const struct opcheck_case *c)
{
    char name[160];
    snprintf(name, sizeof name, "fd %s (distinct values)", c->name);
    struct opcheck_graph og;
    if (opcheck_graph_make(&og, c, 1) < 0) {
        CHECKF(0, name, "%s", tgs_errmsg());
        opcheck_graph_free(&og);
        return;
    }
    int64_t n = og.in[0]->size, no = og.out->size;
    float *x = malloc(n * sizeof(float)), *R = malloc(no * sizeof(float)), *out = malloc(no * sizeof(float)),
          *ana = malloc(n * sizeof(float));
    tgs_rng r;
    tgs_rng_seed(&r, 77, 0);
    for (int64_t i = 0; i < n; i++) x[i] = 0.05f * (float)(i - n / 2);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = tgs_rng_below(&r, (uint32_t)(i + 1));
        float t = x[i];
        x[i] = x[j], x[j] = t;
    }
    for (int64_t i = 0; i < no; i++) R[i] = 2 * tgs_rng_uniform(&r) - 1;
    tgs_tensor_set(og.g, og.in[0], x);
    double worst = 0, eps = 1e-3;
    int ok = tgs_graph_forward(og.g) == 0 && tgs_graph_backward_from(og.g, og.out, R) == 0;
    tgs_tensor_get_grad(og.g, og.in[0], ana);
    for (int64_t j = 0; j < n && ok; j++) {
        float keep = x[j];
        double f[2];
        for (int s = 0; s < 2; s++) {
            x[j] = keep + (s ? -1 : 1) * (float)eps;
            tgs_tensor_set(og.g, og.in[0], x);
            tgs_graph_forward(og.g);
            tgs_tensor_get(og.g, og.out, out);
            f[s] = opcheck_dot(out, R, no);
        }
        x[j] = keep;
        double err = fabs((f[0] - f[1]) / (2 * eps) - ana[j]);
        worst = !(err <= worst) ? err : worst; /* a NaN counts as a failure */
    }
    tgs_tensor_set(og.g, og.in[0], x);
    CHECKF(ok && worst <= 1e-2, name, "%s worst error %.3g", ok ? "" : tgs_errmsg(), worst);
    free(x);
    free(R);
    free(out);
    free(ana);
    opcheck_graph_free(&og);
}

/* A window holding a NaN gives NaN, in the four-wide path (first windows)
 * and the scalar one (the last window of a width-10 row). */
static void maxpool_nan(void)
{
    struct tgs_params *ps = tgs_params_new(tgs_backend_cpu());
    struct tgs_graph *g = tgs_graph_new(ps);
    struct tgs_tensor *x = tgs_input(g, "x", 4, (int32_t[]){1, 1, 2, 10}), *y = tgs_maxpool2(g, x);
    int ok = y && tgs_graph_plan(g, TGS_PLAN_INFER) == 0;
    float v[20], o[5];
    for (int i = 0; i < 20; i++) v[i] = (float)i;
    v[11] = NAN; /* window 0, bottom row */
    v[9] = NAN;  /* window 4, top row */
    if (ok) {
        tgs_tensor_set(g, x, v);
        ok = tgs_graph_forward(g) == 0;
        tgs_tensor_get(g, y, o);
    }
    CHECKF(ok && isnan(o[0]) && isnan(o[4]) && o[1] == 13 && o[2] == 15 && o[3] == 17, "maxpool: NaN propagates",
           "out %g %g %g %g %g", o[0], o[1], o[2], o[3], o[4]);
    tgs_graph_free(g);
    tgs_params_free(ps);
}

/* An upsampled constant stays that constant, edges included, and its
 * backward sums to the output gradient's sum (each input's four weights
 * in each direction add to 2). */
static void upsample_constant(void)
{
    struct tgs_params *ps = tgs_params_new(tgs_backend_cpu());
    struct tgs_graph *g = tgs_graph_new(ps);
    struct tgs_tensor *x = tgs_input(g, "x", 4, (int32_t[]){1, 2, 7, 11});
    tgs_requires_grad(x);
    struct tgs_tensor *y = tgs_upsample2(g, x);
    int ok = y && tgs_graph_plan(g, TGS_PLAN_TRAIN) == 0;
    float v[154], o[616], ones[616], dx[154];
    for (int i = 0; i < 154; i++) v[i] = 0.3f;
    for (int i = 0; i < 616; i++) ones[i] = 1;
    if (ok) {
        tgs_tensor_set(g, x, v);
        ok = tgs_graph_forward(g) == 0 && tgs_graph_backward_from(g, y, ones) == 0;
        tgs_tensor_get(g, y, o);
        tgs_tensor_get_grad(g, x, dx);
    }
    int flat = 1, four = 1;
    for (int i = 0; i < 616; i++) flat &= fabsf(o[i] - 0.3f) < 1e-6f;
    for (int i = 0; i < 154; i++) four &= fabsf(dx[i] - 4) < 1e-6f;
    CHECK(ok && flat, "upsample2: a constant image stays constant");
    CHECK(ok && four, "upsample2: backward of ones is 4 everywhere");
    tgs_graph_free(g);
    tgs_params_free(ps);
}

/* Planes split between threads: the same bytes on one thread and two. */
static void same_bytes_threads(const char *what, struct tgs_tensor *(*op)(struct tgs_graph *, struct tgs_tensor *))
{
    char name[160];
    snprintf(name, sizeof name, "%s (4,8,34,46): same bytes on 1 and 2 threads", what);
    const int64_t n = 4 * 8 * 34 * 46;
    float *res[2] = {0}, *xin = malloc(n * sizeof(float)), *dout = malloc(4 * n * sizeof(float));
    tgs_rng r;
    tgs_rng_seed(&r, 3, 0);
    for (int64_t i = 0; i < n; i++) xin[i] = tgs_rng_uniform(&r);
    for (int64_t i = 0; i < 4 * n; i++) dout[i] = tgs_rng_uniform(&r) - 0.5f;
    int ok = 1;
    int64_t no = 0;
    for (int t = 0; t < 2; t++) {
        struct tgs_params *ps = tgs_params_new(tgs_backend_cpu());
        struct tgs_graph *g = tgs_graph_new(ps);
        struct tgs_tensor *x = tgs_input(g, "x", 4, (int32_t[]){4, 8, 34, 46});
        tgs_requires_grad(x);
        struct tgs_tensor *y = op(g, x);
        ok &= y && tgs_graph_plan(g, TGS_PLAN_TRAIN) == 0;
        if (ok) {
            no = y->size;
            tgs_graph_exec(g)->threads = t + 1;
            res[t] = malloc((no + n) * sizeof(float));
            tgs_tensor_set(g, x, xin);
            ok &= tgs_graph_forward(g) == 0 && tgs_graph_backward_from(g, y, dout) == 0;
            tgs_tensor_get(g, y, res[t]);
            tgs_tensor_get_grad(g, x, res[t] + no);
        }
        tgs_graph_free(g);
        tgs_params_free(ps);
    }
    CHECK(ok && memcmp(res[0], res[1], (no + n) * sizeof(float)) == 0, name);
    free(res[0]);
    free(res[1]);
    free(xin);
    free(dout);
}

/* upcat gives the same bytes as the upsample2 and concat nodes it stands
 * for (out and every input's gradient), on one thread and on two; here a
 * hypercolumn of four levels, the second of them also given twice. */
static void upcat_equals_chain(int threads)
{
    static const int32_t C[4] = {3, 4, 5, 6}, H = 32, W = 24;
    const int k = 5, which[5] = {0, 1, 2, 3, 1}, steps[5] = {0, 1, 2, 3, 1};
    int64_t nin[4], total_in = 0, nout = 2LL * (3 + 4 + 5 + 6 + 4) * H * W;
    for (int i = 0; i < 4; i++) nin[i] = 2LL * C[i] * (H >> i) * (W >> i), total_in += nin[i];
    float *res[2] = {0}, *xin = malloc(total_in * sizeof(float)), *dout = malloc(nout * sizeof(float));
    tgs_rng r;
    tgs_rng_seed(&r, 11, 0);
    for (int64_t i = 0; i < total_in; i++) xin[i] = tgs_rng_uniform(&r) - 0.5f;
    for (int64_t i = 0; i < nout; i++) dout[i] = tgs_rng_uniform(&r) - 0.5f;
    int ok = 1;
    for (int v = 0; v < 2; v++) {
        struct tgs_params *ps = tgs_params_new(tgs_backend_cpu());
        struct tgs_graph *g = tgs_graph_new(ps);
        struct tgs_tensor *x[4], *src[5], *y;
        for (int i = 0; i < 4; i++) {
            x[i] = tgs_input(g, "x", 4, (int32_t[]){2, C[i], H >> i, W >> i});
            tgs_requires_grad(x[i]);
        }
        for (int i = 0; i < k; i++) src[i] = x[which[i]];
        if (v == 0) {
            y = tgs_upcat(g, k, src, steps);
        } else {
            y = NULL;
            for (int i = 0; i < k; i++) {
                struct tgs_tensor *u = src[i];
                for (int s = 0; s < steps[i]; s++) u = tgs_upsample2(g, u);
                y = y ? tgs_concat(g, y, u) : u;
            }
        }
        ok &= y && y->size == nout && tgs_graph_plan(g, TGS_PLAN_TRAIN) == 0;
        if (ok) {
            tgs_graph_exec(g)->threads = threads;
            res[v] = malloc((nout + total_in) * sizeof(float));
            float *in = xin, *o = res[v] + nout;
            for (int i = 0; i < 4; i++) tgs_tensor_set(g, x[i], in), in += nin[i];
            ok &= tgs_graph_forward(g) == 0 && tgs_graph_backward_from(g, y, dout) == 0;
            tgs_tensor_get(g, y, res[v]);
            for (int i = 0; i < 4; i++) tgs_tensor_get_grad(g, x[i], o), o += nin[i];
        }
        tgs_graph_free(g);
        tgs_params_free(ps);
    }
    char name[128];
    snprintf(name, sizeof name, "upcat on %d thread(s): same bytes as upsample2 and concat nodes", threads);
    CHECK(ok && memcmp(res[0], res[1], (nout + total_in) * sizeof(float)) == 0, name);
    free(res[0]);
    free(res[1]);
    free(xin);
    free(dout);
}

/* Each builder refuses bad shapes with a message naming it. */
static void bad_builds(void)
{
    struct tgs_params *ps = tgs_params_new(tgs_backend_cpu());
    const char *what[] = {"maxpool2: 3-D x",         "maxpool2: 1-row image",     "avgpool: window 0",
                          "avgpool: window > image", "gap: 2-D x",                "upsample2: 3-D x",
                          "maxpool2: NULL x",        "upcat: sizes do not meet", "upcat: batch sizes differ",
                          "upcat: no inputs",        "upcat: negative steps",    "upcat: 3-D input",
                          "upcat: NULL input",       "upcat: too many inputs"};
    const char *op[] = {"maxpool2", "maxpool2", "avgpool", "avgpool", "gap",   "upsample2", "maxpool2",
                        "upcat",    "upcat",    "upcat",   "upcat",   "upcat", "upcat",     "upcat"};
    for (int k = 0; k < NCASES(what); k++) {
        struct tgs_graph *g = tgs_graph_new(ps);
        struct tgs_tensor *x3 = tgs_input(g, "x3", 3, (int32_t[]){2, 4, 4}),
                          *x1 = tgs_input(g, "x1", 4, (int32_t[]){2, 3, 1, 8}),
                          *x4 = tgs_input(g, "x4", 4, (int32_t[]){2, 3, 4, 5}),
                          *x2 = tgs_input(g, "x2", 2, (int32_t[]){2, 3}),
                          *x5 = tgs_input(g, "x5", 4, (int32_t[]){3, 3, 4, 5});
        struct tgs_tensor *y = NULL;
        switch (k) {
        case 0: y = tgs_maxpool2(g, x3); break;
        case 1: y = tgs_maxpool2(g, x1); break;
        case 2: y = tgs_avgpool(g, x4, 0); break;
        case 3: y = tgs_avgpool(g, x4, 5); break;
        case 4: y = tgs_gap(g, x2); break;
        case 5: y = tgs_upsample2(g, x3); break;
        case 6: y = tgs_maxpool2(g, NULL); break;
        case 7: y = tgs_upcat(g, 2, (struct tgs_tensor *[]){x4, x1}, (int[]){0, 1}); break;
        case 8: y = tgs_upcat(g, 2, (struct tgs_tensor *[]){x4, x5}, (int[]){0, 0}); break;
        case 9: y = tgs_upcat(g, 0, (struct tgs_tensor *[]){x4}, (int[]){0}); break;
        case 10: y = tgs_upcat(g, 1, (struct tgs_tensor *[]){x4}, (int[]){-1}); break;
        case 11: y = tgs_upcat(g, 1, (struct tgs_tensor *[]){x3}, (int[]){0}); break;
        case 12: y = tgs_upcat(g, 2, (struct tgs_tensor *[]){x4, NULL}, (int[]){0, 0}); break;
        case 13: {
            struct tgs_tensor *many[TGS_NN_MAX_SRC + 1];
            int st[TGS_NN_MAX_SRC + 1] = {0};
            for (int i = 0; i <= TGS_NN_MAX_SRC; i++) many[i] = x4;
            y = tgs_upcat(g, TGS_NN_MAX_SRC + 1, many, st);
            break;
        }
        }
        const char *e = tgs_graph_error(g);
        CHECKF(!y && e && strncmp(e, op[k], strlen(op[k])) == 0, what[k], "returned %p, error '%s'", (void *)y,
               e ? e : "(none)");
        tgs_graph_free(g);
    }
    tgs_params_free(ps);
}

int main(void)
{
    struct opcheck_refs rf;
    if (opcheck_refs_load(&rf, "tests/data/torch/op_pool.tsr") < 0) {
        CHECKF(0, "load tests/data/torch/op_pool.tsr", "%s", tgs_errmsg());
        CHECK_DONE();
    }
    for (int k = 0; k < NCASES(maxpool_cases); k++) {
        if (k != 3) fd_distinct(&maxpool_cases[k]); /* the ties case is for torch's tie rule */
        opcheck_torch(&rf, &maxpool_cases[k], 1e-5, 1e-4), opcheck_backends(&maxpool_cases[k]);
    }
    for (int k = 0; k < NCASES(cases); k++) {
        opcheck_fd(&cases[k]);
        opcheck_torch(&rf, &cases[k], 1e-5, 1e-4), opcheck_backends(&cases[k]);
    }
    /* inference plans (memory reused, forward only) give the same outputs */
    struct opcheck_case c = maxpool_cases[0];
    c.plan = OPCHECK_INFER;
    opcheck_torch(&rf, &c, 1e-5, 1e-4), opcheck_backends(&c);
    c = cases[6];
    c.plan = OPCHECK_INFER;
    opcheck_torch(&rf, &c, 1e-5, 1e-4), opcheck_backends(&c);
    maxpool_nan();
    upsample_constant();
    same_bytes_threads("maxpool2", tgs_maxpool2);
    same_bytes_threads("upsample2", tgs_upsample2);
    upcat_equals_chain(1);
    upcat_equals_chain(2);
    bad_builds();
    /* the slot past the last sample holds what the read at the end left */
    for (int i = 0; i <= rf.n; i++) tgs_sample_free(&rf.s[i]);
    free(rf.s);
    CHECK_DONE();
}
