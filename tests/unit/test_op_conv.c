/* Tests of lib/common/nn/op_conv.c and op_matmul.c, and of their kernels
 * (nn/cpu/): conv2d, convt2x2, linear, matmul.
 *
 * Each case goes through central finite differences (opcheck_fd) and
 * PyTorch's float64 results (opcheck_torch, tests/data/torch/op_conv.tsr
 * from tests/torch/gen_op_conv.py). Larger convs, whose tiling (row tiles,
 * grouped images, fewer images than threads) the small torch cases cannot
 * reach, are checked against a direct float64 convolution here. conv2d
 * cases run on both of its paths (direct AVX2 kernels, im2col + sgemm).
 * Then determinism (bytewise the same run twice; other thread counts
 * within rounding), inference plans, and the builders' shape errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "opcheck.h"
#include "nn/cpu/ops_cpu.h" /* tgs_cpu_conv_direct: run every case on both conv2d paths */

/* All four ops are linear in each input (quadratic where one tensor plays
 * two roles), so central differences are exact up to rounding: a large
 * step keeps the rounding of f = sum(out * R) small next to it. FD_TOL is
 * on max |num - ana| / max(1, max |ana|). */
#define FD_EPS 0.05f
#define FD_TOL 1e-3
/* Against torch in float64: sums of at most a few hundred float32
 * products of values in (-1, 1). */
#define TORCH_ATOL 1e-5
#define TORCH_RTOL 1e-4

struct conv_opt {
    int stride, pad, dil;
};

static struct tgs_tensor *build_conv(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    const struct conv_opt *o = ctx;
    return tgs_conv2d(g, in[0], in[1], in[2], o->stride, o->pad, o->dil);
}

static struct tgs_tensor *build_conv_self(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    (void)ctx;
    return tgs_conv2d(g, in[0], in[0], NULL, 1, 1, 1);
}

static struct tgs_tensor *build_convt(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    (void)ctx;
    return tgs_convt2x2(g, in[0], in[1], in[2]);
}

static struct tgs_tensor *build_convt_self(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    (void)ctx;
    return tgs_convt2x2(g, in[0], in[0], NULL);
}

static struct tgs_tensor *build_linear(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    (void)ctx;
    return tgs_linear(g, in[0], in[1], in[2]);
}

static struct tgs_tensor *build_linear_self(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    (void)ctx;
    return tgs_linear(g, in[0], in[0], NULL);
}

struct mm_opt {
    int ta, tb;
};

static struct tgs_tensor *build_matmul(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    const struct mm_opt *o = ctx;
    return tgs_matmul(g, in[0], in[1], o->ta, o->tb);
}

static struct tgs_tensor *build_matmul_self_nt(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    (void)ctx;
    return tgs_matmul(g, in[0], in[0], 0, 1);
}

#define IN4(a, b, c, d) {4, {a, b, c, d}, 1, OPCHECK_UNIFORM, 0, 0, 0}
#define IN3(a, b, c) {3, {a, b, c}, 1, OPCHECK_UNIFORM, 0, 0, 0}
#define IN2(a, b) {2, {a, b}, 1, OPCHECK_UNIFORM, 0, 0, 0}
#define IN1(a) {1, {a}, 1, OPCHECK_UNIFORM, 0, 0, 0}
#define NOGRAD4(a, b, c, d) {4, {a, b, c, d}, 0, OPCHECK_UNIFORM, 0, 0, 0}
#define NOGRAD1(a) {1, {a}, 0, OPCHECK_UNIFORM, 0, 0, 0}

static struct conv_opt s1p1 = {1, 1, 1}, s1p0 = {1, 0, 1}, s2p2 = {2, 2, 1}, s2p1 = {2, 1, 1}, dil2 = {1, 2, 2},
                       s2p0 = {2, 0, 1};
static struct mm_opt mm_nn = {0, 0}, mm_nt = {0, 1}, mm_tn = {1, 0}, mm_tt = {1, 1};

/* The shapes here and in gen_op_conv.py go together, case by case. */
static struct opcheck_case cases[] = {
    {"conv_3x3_p1", 2, {IN4(2, 3, 7, 6), IN4(5, 3, 3, 3)}, build_conv, &s1p1, FD_TOL, FD_EPS, 0},
    {"conv_3x3_p1_bias", 3, {IN4(3, 4, 5, 8), IN4(6, 4, 3, 3), IN1(6)}, build_conv, &s1p1, FD_TOL, FD_EPS, 0},
    {"conv_1x1_bias", 3, {IN4(2, 4, 5, 7), IN4(3, 4, 1, 1), IN1(3)}, build_conv, &s1p0, FD_TOL, FD_EPS, 0},
    {"conv_1x1_pad1", 2, {IN4(2, 2, 4, 5), IN4(3, 2, 1, 1)}, build_conv, &s1p1, FD_TOL, FD_EPS, 0},
    {"conv_5x5_s2_p2", 3, {IN4(2, 3, 9, 11), IN4(4, 3, 5, 5), IN1(4)}, build_conv, &s2p2, FD_TOL, FD_EPS, 0},
    {"conv_3x3_s2_p1_nodx", 2, {NOGRAD4(2, 3, 8, 7), IN4(4, 3, 3, 3)}, build_conv, &s2p1, FD_TOL, FD_EPS, 0},
    {"conv_dil2", 3, {IN4(2, 2, 9, 8), IN4(3, 2, 3, 3), IN1(3)}, build_conv, &dil2, FD_TOL, FD_EPS, 0},
    {"conv_2x3_p1", 2, {IN4(2, 3, 6, 7), IN4(4, 3, 2, 3)}, build_conv, &s1p1, FD_TOL, FD_EPS, 0},
    {"conv_2x3_s2", 3, {IN4(2, 3, 7, 9), IN4(2, 3, 2, 3), IN1(2)}, build_conv, &s2p0, FD_TOL, FD_EPS, 0},
    /* batch 5 > the threads: images split between threads, grouped tiles,
     * per-thread dw partials */
    {"conv_batch5", 3, {IN4(5, 6, 10, 9), IN4(7, 6, 3, 3), IN1(7)}, build_conv, &s1p1, FD_TOL, FD_EPS, 0},
    {"conv_3x3_p1_infer", 3, {NOGRAD4(2, 3, 7, 6), NOGRAD4(5, 3, 3, 3), NOGRAD1(5)}, build_conv, &s1p1, FD_TOL,
     FD_EPS, 1},
    {"convt_bias", 3, {IN4(2, 3, 4, 5), IN4(3, 4, 2, 2), IN1(4)}, build_convt, NULL, FD_TOL, FD_EPS, 0},
    {"convt_nobias", 2, {IN4(3, 2, 3, 3), IN4(2, 5, 2, 2)}, build_convt, NULL, FD_TOL, FD_EPS, 0},
    {"lin_2d_bias", 3, {IN2(5, 7), IN2(4, 7), IN1(4)}, build_linear, NULL, FD_TOL, FD_EPS, 0},
    {"lin_2d_nobias", 2, {IN2(3, 6), IN2(5, 6)}, build_linear, NULL, FD_TOL, FD_EPS, 0},
    {"lin_3d_bias", 3, {IN3(2, 3, 6), IN2(5, 6), IN1(5)}, build_linear, NULL, FD_TOL, FD_EPS, 0},
    {"lin_3d_nobias", 2, {IN3(2, 4, 5), IN2(3, 5)}, build_linear, NULL, FD_TOL, FD_EPS, 0},
    {"lin_4d_bias", 3, {IN4(2, 2, 3, 4), IN2(6, 4), IN1(6)}, build_linear, NULL, FD_TOL, FD_EPS, 0},
    /* big enough to be split between threads */
    {"lin_big", 3, {IN2(40, 48), IN2(36, 48), IN1(36)}, build_linear, NULL, FD_TOL, FD_EPS, 0},
    {"mm_2d_nn", 2, {IN2(4, 6), IN2(6, 5)}, build_matmul, &mm_nn, FD_TOL, FD_EPS, 0},
    {"mm_2d_nt", 2, {IN2(4, 6), IN2(5, 6)}, build_matmul, &mm_nt, FD_TOL, FD_EPS, 0},
    {"mm_2d_tn", 2, {IN2(6, 4), IN2(6, 5)}, build_matmul, &mm_tn, FD_TOL, FD_EPS, 0},
    {"mm_2d_tt", 2, {IN2(6, 4), IN2(5, 6)}, build_matmul, &mm_tt, FD_TOL, FD_EPS, 0},
    {"mm_b_nn", 2, {IN3(3, 4, 6), IN3(3, 6, 5)}, build_matmul, &mm_nn, FD_TOL, FD_EPS, 0},
    {"mm_b_nt", 2, {IN3(3, 4, 6), IN3(3, 5, 6)}, build_matmul, &mm_nt, FD_TOL, FD_EPS, 0},
    {"mm_b_tn", 2, {IN3(3, 6, 4), IN3(3, 6, 5)}, build_matmul, &mm_tn, FD_TOL, FD_EPS, 0},
    {"mm_b_tt", 2, {IN3(3, 6, 4), IN3(3, 5, 6)}, build_matmul, &mm_tt, FD_TOL, FD_EPS, 0},
    {"mm_b_big_nt", 2, {IN3(4, 24, 20), IN3(4, 28, 20)}, build_matmul, &mm_nt, FD_TOL, FD_EPS, 0},
    /* one tensor in two roles: the two gradient contributions accumulate */
    {"mm_self_nt", 1, {IN3(3, 4, 6)}, build_matmul_self_nt, NULL, FD_TOL, FD_EPS, 0},
    {"conv_self", 1, {IN4(2, 2, 3, 3)}, build_conv_self, NULL, FD_TOL, FD_EPS, 0},
    {"convt_self", 1, {IN4(2, 2, 2, 2)}, build_convt_self, NULL, FD_TOL, FD_EPS, 0},
    {"lin_self", 1, {IN2(4, 4)}, build_linear_self, NULL, FD_TOL, FD_EPS, 0},
};

#define NCASES ((int)(sizeof cases / sizeof cases[0]))

/* ---- a direct float64 convolution, the reference for the larger shapes ---- */

struct conv_shape {
    int n, c, h, w, k, kh, kw, stride, pad, dil, bias;
};

static int conv_out(int h, int k, const struct conv_shape *s)
{
    return (h + 2 * s->pad - s->dil * (k - 1) - 1) / s->stride + 1;
}

/* out, dx, dw, db (double) from x, w, b, dout */
static void conv_ref(const struct conv_shape *s, const float *x, const float *w, const float *b, const float *dout,
                     double *out, double *dx, double *dw, double *db)
{
    int ho = conv_out(s->h, s->kh, s), wo = conv_out(s->w, s->kw, s);
    memset(dx, 0, sizeof *dx * s->n * s->c * s->h * s->w);
    memset(dw, 0, sizeof *dw * s->k * s->c * s->kh * s->kw);
    memset(db, 0, sizeof *db * s->k);
    for (int n = 0; n < s->n; n++)
        for (int k = 0; k < s->k; k++)
            for (int oh = 0; oh < ho; oh++)
                for (int ow = 0; ow < wo; ow++) {
                    long o = (((long)n * s->k + k) * ho + oh) * wo + ow;
                    double acc = s->bias ? b[k] : 0, d = dout[o];
                    db[k] += d;
                    for (int c = 0; c < s->c; c++)
                        for (int i = 0; i < s->kh; i++)
                            for (int j = 0; j < s->kw; j++) {
                                int ih = oh * s->stride - s->pad + i * s->dil;
                                int iw = ow * s->stride - s->pad + j * s->dil;
                                if (ih < 0 || ih >= s->h || iw < 0 || iw >= s->w) continue;
                                long xi = (((long)n * s->c + c) * s->h + ih) * s->w + iw;
                                long wi = (((long)k * s->c + c) * s->kh + i) * s->kw + j;
                                acc += (double)x[xi] * w[wi];
                                dx[xi] += d * w[wi];
                                dw[wi] += d * x[xi];
                            }
                    out[o] = acc;
                }
}

/* max |a - ref| / max(1, max |ref|) */
static double rel_err(const float *a, const double *ref, long n)
{
    double scale = 1, worst = 0;
    for (long i = 0; i < n; i++)
        if (fabs(ref[i]) > scale) scale = fabs(ref[i]);
    for (long i = 0; i < n; i++)
        if (fabs(a[i] - ref[i]) > worst) worst = fabs(a[i] - ref[i]);
    return worst / scale;
}

/* Float32 GEMMs over up to ~900 terms against float64: 1e-5 of the largest
 * magnitude is ~50x the expected rounding. */
#define REF_TOL 1e-5
/* Winograd F(4x4,3x3) scales by up to 8 in its transforms and by 1/6 and
 * 1/24 in G: measured 2-5e-6 on these shapes, ten times F(2x2)'s */
#define REF_TOL_F4 3e-5

static void test_conv_reference(const char *name, struct conv_shape s)
{
    struct opcheck_case c = {name, s.bias ? 3 : 2,
                             {IN4(s.n, s.c, s.h, s.w), IN4(s.k, s.c, s.kh, s.kw), IN1(s.k)},
                             build_conv, NULL, 0, 0, 0};
    struct conv_opt o = {s.stride, s.pad, s.dil};
    c.ctx = &o;
    struct opcheck_graph og;
    char nm[160];
    snprintf(nm, sizeof nm, "reference %s", name);
    if (opcheck_graph_make(&og, &c, 1) < 0) {
        CHECKF(0, nm, "%s", tgs_errmsg());
        opcheck_graph_free(&og);
        return;
    }
    tgs_rng r;
    tgs_rng_seed(&r, 77, 0);
    long nx = og.in[0]->size, nw = og.in[1]->size, no = og.out->size;
    float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *b = malloc(s.k * sizeof *b);
    float *dout = malloc(no * sizeof *dout), *got = malloc((nx > no ? nx : no) * sizeof *got);
    double *out = malloc(no * sizeof *out), *dx = malloc(nx * sizeof *dx), *dw = malloc(nw * sizeof *dw);
    double *db = malloc(s.k * sizeof *db);
    opcheck_fill(x, nx, &c.in[0], &r);
    opcheck_fill(w, nw, &c.in[1], &r);
    opcheck_fill(b, s.k, &c.in[2], &r);
    opcheck_fill(dout, no, &c.in[0], &r);
    tgs_tensor_set(og.g, og.in[0], x);
    tgs_tensor_set(og.g, og.in[1], w);
    if (s.bias) tgs_tensor_set(og.g, og.in[2], b);
    int ok = tgs_graph_forward(og.g) == 0 && tgs_graph_backward_from(og.g, og.out, dout) == 0;
    conv_ref(&s, x, w, b, dout, out, dx, dw, db);
    double e[4] = {0}, tol = tgs_cpu_conv_direct(-1) == 4 ? REF_TOL_F4 : REF_TOL;
    if (ok) {
        tgs_tensor_get(og.g, og.out, got);
        e[0] = rel_err(got, out, no);
        tgs_tensor_get_grad(og.g, og.in[0], got);
        e[1] = rel_err(got, dx, nx);
        tgs_tensor_get_grad(og.g, og.in[1], got);
        e[2] = rel_err(got, dw, nw);
        if (s.bias) {
            tgs_tensor_get_grad(og.g, og.in[2], got);
            e[3] = rel_err(got, db, s.k);
        }
    }
    CHECKF(ok && e[0] <= tol && e[1] <= tol && e[2] <= tol && e[3] <= tol, nm,
           "%s; relative errors out %.3g dx %.3g dw %.3g db %.3g", ok ? "ran" : tgs_errmsg(), e[0], e[1], e[2], e[3]);
    free(x), free(w), free(b), free(dout), free(got), free(out), free(dx), free(dw), free(db);
    opcheck_graph_free(&og);
}

/* ---- determinism ---- */

/* Run a case's graph forward and backward (fixed inputs and dout) and
 * return out followed by every input gradient, in one malloc'd array. */
static float *run_case_once(const struct opcheck_case *c, int64_t *len)
{
    struct opcheck_graph og;
    if (opcheck_graph_make(&og, c, 1) < 0) {
        opcheck_graph_free(&og);
        return NULL;
    }
    tgs_rng r;
    tgs_rng_seed(&r, 4321, 0);
    int64_t total = og.out->size, maxn = og.out->size;
    for (int i = 0; i < c->nin; i++) {
        total += og.in[i]->size;
        if (og.in[i]->size > maxn) maxn = og.in[i]->size;
    }
    float *res = malloc(total * sizeof *res), *buf = malloc(maxn * sizeof *buf);
    for (int i = 0; i < c->nin; i++) {
        opcheck_fill(buf, og.in[i]->size, &c->in[i], &r);
        tgs_tensor_set(og.g, og.in[i], buf);
    }
    opcheck_fill(buf, og.out->size, &c->in[0], &r);
    if (tgs_graph_forward(og.g) < 0 || tgs_graph_backward_from(og.g, og.out, buf) < 0) {
        free(res);
        res = NULL;
    } else {
        tgs_tensor_get(og.g, og.out, res);
        int64_t at = og.out->size;
        for (int i = 0; i < c->nin; i++) {
            tgs_tensor_get_grad(og.g, og.in[i], res + at);
            at += og.in[i]->size;
        }
        *len = total;
    }
    free(buf);
    opcheck_graph_free(&og);
    return res;
}

static void test_determinism(const struct opcheck_case *c)
{
    char nm[160];
    int64_t n1 = 0, n2 = 0, n3 = 0;
    tgs_cpu_set_threads(2);
    float *a = run_case_once(c, &n1), *b = run_case_once(c, &n2);
    snprintf(nm, sizeof nm, "%s: two runs on 2 threads are bytewise equal", c->name);
    CHECK(a && b && n1 == n2 && memcmp(a, b, n1 * sizeof *a) == 0, nm);
    /* 1 and 3 threads split the work otherwise: the same within rounding */
    for (int nt = 1; nt <= 3; nt += 2) {
        tgs_cpu_set_threads(nt);
        float *d = run_case_once(c, &n3);
        double worst = 0, scale = 1;
        for (int64_t i = 0; a && d && i < n1 && n3 == n1; i++) {
            if (fabs(a[i]) > scale) scale = fabs(a[i]);
            if (fabs(a[i] - d[i]) > worst) worst = fabs(a[i] - d[i]);
        }
        snprintf(nm, sizeof nm, "%s: on %d thread%s, within 1e-5 of the 2-thread result", c->name, nt,
                 nt > 1 ? "s" : "");
        CHECKF(a && d && n3 == n1 && worst / scale <= 1e-5, nm, "relative difference %.3g", worst / scale);
        free(d);
    }
    tgs_cpu_set_threads(0);
    free(a);
    free(b);
}

/* The inference plan (smaller workspace, memory reuse) computes the same
 * forward bytes as the training plan. */
static void test_infer_matches_train(const struct opcheck_case *c)
{
    char nm[160];
    snprintf(nm, sizeof nm, "%s: inference plan forward equals training plan forward", c->name);
    struct opcheck_graph ga, gb;
    int ok = opcheck_graph_make(&ga, c, 1) == 0 && opcheck_graph_make(&gb, c, 0) == 0;
    if (ok) {
        tgs_rng r;
        tgs_rng_seed(&r, 5, 0);
        for (int i = 0; i < c->nin; i++) {
            float *v = malloc(ga.in[i]->size * sizeof *v);
            opcheck_fill(v, ga.in[i]->size, &c->in[i], &r);
            tgs_tensor_set(ga.g, ga.in[i], v);
            tgs_tensor_set(gb.g, gb.in[i], v);
            free(v);
        }
        int64_t n = ga.out->size;
        float *oa = malloc(n * sizeof *oa), *ob = malloc(n * sizeof *ob);
        ok = tgs_graph_forward(ga.g) == 0 && tgs_graph_forward(gb.g) == 0;
        if (ok) {
            tgs_tensor_get(ga.g, ga.out, oa);
            tgs_tensor_get(gb.g, gb.out, ob);
            ok = memcmp(oa, ob, n * sizeof *oa) == 0;
        }
        int64_t ma[4], mb[4];
        tgs_graph_memory(ga.g, ma);
        tgs_graph_memory(gb.g, mb);
        ok = ok && mb[3] <= ma[3];
        free(oa);
        free(ob);
    }
    CHECKF(ok, nm, "%s", tgs_errmsg());
    opcheck_graph_free(&ga);
    opcheck_graph_free(&gb);
}

/* ---- builders refuse bad shapes, naming the op ---- */

static void check_bad(const char *name, const char *op, struct tgs_tensor *(*build)(struct tgs_graph *, void *),
                      void *ctx)
{
    struct tgs_params *ps = tgs_params_new(tgs_backend_cpu());
    struct tgs_graph *g = tgs_graph_new(ps);
    struct tgs_tensor *t = build(g, ctx);
    const char *e = tgs_graph_error(g);
    CHECKF(!t && e && strncmp(e, op, strlen(op)) == 0, name, "got %s, error \"%s\"", t ? "a tensor" : "NULL",
           e ? e : "(none)");
    tgs_graph_free(g);
    tgs_params_free(ps);
}

static struct tgs_tensor *in4(struct tgs_graph *g, const char *nm, int a, int b, int c, int d)
{
    return tgs_input(g, nm, 4, (int32_t[]){a, b, c, d});
}

static struct tgs_tensor *bad_conv_channels(struct tgs_graph *g, void *ctx)
{
    (void)ctx;
    return tgs_conv2d(g, in4(g, "x", 1, 3, 8, 8), in4(g, "w", 4, 2, 3, 3), NULL, 1, 1, 1);
}

static struct tgs_tensor *bad_conv_bias(struct tgs_graph *g, void *ctx)
{
    (void)ctx;
    return tgs_conv2d(g, in4(g, "x", 1, 3, 8, 8), in4(g, "w", 4, 3, 3, 3), tgs_input(g, "b", 1, (int32_t[]){3}), 1,
                      1, 1);
}

static struct tgs_tensor *bad_conv_kernel(struct tgs_graph *g, void *ctx)
{
    (void)ctx;
    return tgs_conv2d(g, in4(g, "x", 1, 3, 4, 4), in4(g, "w", 4, 3, 7, 7), NULL, 1, 1, 1);
}

static struct tgs_tensor *bad_conv_stride(struct tgs_graph *g, void *ctx)
{
    (void)ctx;
    return tgs_conv2d(g, in4(g, "x", 1, 3, 8, 8), in4(g, "w", 4, 3, 3, 3), NULL, 0, 1, 1);
}

static struct tgs_tensor *bad_conv_dims(struct tgs_graph *g, void *ctx)
{
    (void)ctx;
    return tgs_conv2d(g, tgs_input(g, "x", 3, (int32_t[]){3, 8, 8}), in4(g, "w", 4, 3, 3, 3), NULL, 1, 1, 1);
}

static struct tgs_tensor *bad_convt_kernel(struct tgs_graph *g, void *ctx)
{
    (void)ctx;
    return tgs_convt2x2(g, in4(g, "x", 1, 3, 4, 4), in4(g, "w", 3, 2, 3, 3), NULL);
}

static struct tgs_tensor *bad_convt_channels(struct tgs_graph *g, void *ctx)
{
    (void)ctx;
    return tgs_convt2x2(g, in4(g, "x", 1, 3, 4, 4), in4(g, "w", 2, 3, 2, 2), NULL);
}

static struct tgs_tensor *bad_linear(struct tgs_graph *g, void *ctx)
{
    (void)ctx;
    return tgs_linear(g, tgs_input(g, "x", 2, (int32_t[]){4, 5}), tgs_input(g, "w", 2, (int32_t[]){3, 6}), NULL);
}

static struct tgs_tensor *bad_linear_bias(struct tgs_graph *g, void *ctx)
{
    (void)ctx;
    return tgs_linear(g, tgs_input(g, "x", 2, (int32_t[]){4, 5}), tgs_input(g, "w", 2, (int32_t[]){3, 5}),
                      tgs_input(g, "b", 1, (int32_t[]){5}));
}

static struct tgs_tensor *bad_matmul_inner(struct tgs_graph *g, void *ctx)
{
    (void)ctx;
    return tgs_matmul(g, tgs_input(g, "a", 2, (int32_t[]){4, 5}), tgs_input(g, "b", 2, (int32_t[]){4, 5}), 0, 0);
}

static struct tgs_tensor *bad_matmul_batch(struct tgs_graph *g, void *ctx)
{
    (void)ctx;
    return tgs_matmul(g, tgs_input(g, "a", 3, (int32_t[]){2, 4, 5}), tgs_input(g, "b", 3, (int32_t[]){3, 5, 4}), 0,
                      0);
}

static struct tgs_tensor *bad_matmul_dims(struct tgs_graph *g, void *ctx)
{
    (void)ctx;
    return tgs_matmul(g, tgs_input(g, "a", 3, (int32_t[]){2, 4, 5}), tgs_input(g, "b", 2, (int32_t[]){5, 4}), 0, 0);
}

/* A NULL input gives NULL and keeps the first error. */
static struct tgs_tensor *null_chain(struct tgs_graph *g, void *ctx)
{
    (void)ctx;
    struct tgs_tensor *y = bad_conv_channels(g, NULL);
    y = tgs_conv2d(g, y, in4(g, "w2", 4, 4, 3, 3), NULL, 1, 1, 1);
    y = tgs_convt2x2(g, y, in4(g, "w3", 4, 4, 2, 2), NULL);
    y = tgs_linear(g, y, tgs_input(g, "w4", 2, (int32_t[]){3, 16}), NULL);
    return tgs_matmul(g, y, y, 0, 1);
}

static void test_bad_shapes(void)
{
    check_bad("conv2d refuses a channel mismatch", "conv2d", bad_conv_channels, NULL);
    check_bad("conv2d refuses a bias of the wrong size", "conv2d", bad_conv_bias, NULL);
    check_bad("conv2d refuses a kernel larger than the padded input", "conv2d", bad_conv_kernel, NULL);
    check_bad("conv2d refuses stride 0", "conv2d", bad_conv_stride, NULL);
    check_bad("conv2d refuses a 3-d x", "conv2d", bad_conv_dims, NULL);
    check_bad("convt2x2 refuses a 3x3 kernel", "convt2x2", bad_convt_kernel, NULL);
    check_bad("convt2x2 refuses a channel mismatch", "convt2x2", bad_convt_channels, NULL);
    check_bad("linear refuses a feature mismatch", "linear", bad_linear, NULL);
    check_bad("linear refuses a bias of the wrong size", "linear", bad_linear_bias, NULL);
    check_bad("matmul refuses an inner-dimension mismatch", "matmul", bad_matmul_inner, NULL);
    check_bad("matmul refuses different batches", "matmul", bad_matmul_batch, NULL);
    check_bad("matmul refuses 3-d times 2-d", "matmul", bad_matmul_dims, NULL);
    check_bad("a NULL input propagates and the first error stays", "conv2d: x has 3 channels", null_chain, NULL);
}

static const char *const path_names[5] = {"im2col+sgemm", "default", "direct wherever possible",
                                          "Winograd F(2x2) wherever possible", "Winograd F(4x4) wherever possible"};

int main(void)
{
    struct opcheck_refs rf;
    int have_refs = opcheck_refs_load(&rf, "tests/data/torch/op_conv.tsr") == 0;
    CHECKF(have_refs, "load tests/data/torch/op_conv.tsr", "%s", tgs_errmsg());
    int has_direct = tgs_cpu_conv_direct(-1) != 0;
    if (!has_direct) printf("skip - conv2d direct path: this CPU has no AVX2/FMA, sgemm path only\n");
    for (int i = 0; i < NCASES; i++) {
        if (cases[i].plan != OPCHECK_INFER) opcheck_fd(&cases[i]);
        if (have_refs) opcheck_torch(&rf, &cases[i], TORCH_ATOL, TORCH_RTOL), opcheck_backends(&cases[i]);
    }
    /* the conv cases again on the other paths (the default sends the
     * narrow ones to sgemm) */
    for (int mode = 0; mode <= 4 && has_direct; mode += mode ? 1 : 2) {
        tgs_cpu_conv_direct(mode);
        printf("# conv2d path: %s\n", path_names[mode]);
        for (int i = 0; i < NCASES; i++) {
            if (strncmp(cases[i].name, "conv_", 5) != 0) continue;
            if (cases[i].plan != OPCHECK_INFER) opcheck_fd(&cases[i]);
            if (have_refs) opcheck_torch(&rf, &cases[i], TORCH_ATOL, TORCH_RTOL), opcheck_backends(&cases[i]);
        }
    }
    tgs_cpu_conv_direct(1);

    /* Shapes past the tile budget (256K floats of columns per thread):
     * row tiles, grouped images, one image on two threads, col2im. */
    test_conv_reference("3x3 p1, row tiles", (struct conv_shape){3, 32, 34, 33, 8, 3, 3, 1, 1, 1, 1});
    test_conv_reference("3x3 p1, one image split by rows", (struct conv_shape){1, 32, 34, 33, 8, 3, 3, 1, 1, 1, 1});
    test_conv_reference("3x3 s2 p1, row tiles, col2im", (struct conv_shape){3, 96, 40, 40, 6, 3, 3, 2, 1, 1, 0});
    test_conv_reference("3x3 s2 p1, one image, col2im", (struct conv_shape){1, 96, 40, 40, 6, 3, 3, 2, 1, 1, 1});
    test_conv_reference("1x1 bias, in place", (struct conv_shape){2, 16, 64, 64, 4, 1, 1, 1, 0, 1, 1});
    test_conv_reference("3x3 p1, 7 small images grouped", (struct conv_shape){7, 8, 6, 6, 4, 3, 3, 1, 1, 1, 1});
    test_conv_reference("5x5 p2 dil 2, 3 images", (struct conv_shape){3, 5, 20, 17, 3, 5, 5, 1, 2, 2, 0});
    test_conv_reference("3x3 p1, K=5, 1 image, 70 wide", (struct conv_shape){1, 3, 9, 70, 5, 3, 3, 1, 1, 1, 1});
    test_conv_reference("3x3 p1, 48->16 at 40x40", (struct conv_shape){2, 48, 40, 40, 16, 3, 3, 1, 1, 1, 0});
    for (int mode = 0; mode <= 4 && has_direct; mode += mode ? 1 : 2) {
        tgs_cpu_conv_direct(mode);
        printf("# conv2d path: %s\n", path_names[mode]);
        test_conv_reference("3x3 p1, row tiles", (struct conv_shape){3, 32, 34, 33, 8, 3, 3, 1, 1, 1, 1});
        test_conv_reference("3x3 p1, one image split by rows", (struct conv_shape){1, 32, 34, 33, 8, 3, 3, 1, 1, 1, 1});
        test_conv_reference("3x3 p1, 7 small images", (struct conv_shape){7, 8, 6, 6, 4, 3, 3, 1, 1, 1, 1});
        test_conv_reference("3x3 p1, 48->16 at 40x40", (struct conv_shape){2, 48, 40, 40, 16, 3, 3, 1, 1, 1, 0});
        test_conv_reference("7x7 p3, 2 images", (struct conv_shape){2, 4, 15, 26, 6, 7, 7, 1, 3, 1, 1});
    }
    tgs_cpu_conv_direct(1);

    struct conv_opt o = {1, 1, 1};
    struct opcheck_case big_conv = {"conv 5x16x24x20", 3, {IN4(5, 16, 24, 20), IN4(12, 16, 3, 3), IN1(12)},
                                    build_conv, &o, 0, 0, 0};
    struct conv_opt o2 = {2, 1, 1};
    struct opcheck_case big_conv_s2 = {"conv s2 5x16x24x20", 3, {IN4(5, 16, 24, 20), IN4(12, 16, 3, 3), IN1(12)},
                                       build_conv, &o2, 0, 0, 0};
    test_determinism(&big_conv);
    test_determinism(&big_conv_s2);
    for (int mode = 0; mode <= 4 && has_direct; mode += mode ? 1 : 3) {
        printf("# conv2d path: %s\n", path_names[mode]);
        tgs_cpu_conv_direct(mode);
        test_determinism(&big_conv);
    }
    tgs_cpu_conv_direct(1);
    for (int i = 0; i < NCASES; i++) {
        const char *nm = cases[i].name;
        if (!strcmp(nm, "convt_bias") || !strcmp(nm, "lin_big") || !strcmp(nm, "mm_b_big_nt"))
            test_determinism(&cases[i]);
    }
    test_infer_matches_train(&big_conv);
    test_infer_matches_train(&cases[0]);

    test_bad_shapes();
    /* opcheck_refs_load leaves one more (empty) sample than it read */
    for (int i = 0; rf.s && i <= rf.n; i++) tgs_sample_free(&rf.s[i]);
    free(rf.s);
    CHECK_DONE();
}
