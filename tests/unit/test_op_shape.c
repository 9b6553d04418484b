/* Tests of lib/common/nn/op_shape.c and nn/cpu/op_shape.c: reshape, permute (2-, 3- and 4-D),
 * window partition and merge (ws 2 and 4), roll (positive, negative and
 * beyond-the-size shifts).
 *
 * Each case runs two checks (opcheck.h):
 *   fd     central differences (eps 1e-3) against the analytic backward;
 *          the ops move data, so the derivative is exact up to float
 *          rounding of f = sum(out * R): tolerance 1e-3 relative.
 *   torch  against tests/data/torch/op_shape.tsr (tests/torch/gen_op_shape.py,
 *          the Swin reference code's window_partition / window_reverse and
 *          torch.roll): exact (atol 0, rtol 0), since outputs and gradients
 *          are the inputs' and the output gradient's floats moved.
 * Then: round trips that must give the input back bit for bit (partition
 * then merge, roll then roll back, a permute then its inverse); large
 * tensors, whose loops split over threads, against a naive index map with
 * 1, 3 and 7 threads; the bad shapes of each builder. */
#include "opcheck.h"
#include "nn/cpu/ops_cpu.h"

#define IN(...) {.ndim = (int)(sizeof((int32_t[]){__VA_ARGS__}) / sizeof(int32_t)), .ne = {__VA_ARGS__}, .grad = 1}

#define FD_TOL 1e-3

struct shape_arg {
    int ndim;
    int32_t v[TGS_NN_MAX_DIMS]; /* reshape: the shape; permute: the axes; window: ws, h, w; roll: sh, sw */
};

static struct tgs_tensor *build_reshape(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    const struct shape_arg *a = ctx;
    return tgs_reshape(g, in[0], a->ndim, a->v);
}

static struct tgs_tensor *build_permute(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    return tgs_permute(g, in[0], ((const struct shape_arg *)ctx)->v);
}

static struct tgs_tensor *build_window_part(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    return tgs_window_partition(g, in[0], ((const struct shape_arg *)ctx)->v[0]);
}

static struct tgs_tensor *build_window_merge(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    const struct shape_arg *a = ctx;
    return tgs_window_merge(g, in[0], a->v[0], a->v[1], a->v[2]);
}

static struct tgs_tensor *build_roll(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    const struct shape_arg *a = ctx;
    return tgs_roll(g, in[0], a->v[0], a->v[1]);
}

/* Swin's shifted-window data path for ws 4 on (B,8,12,C), then channels
 * first: every op of the file in one inference plan */
static struct tgs_tensor *build_swin_path(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    (void)ctx;
    struct tgs_tensor *t = tgs_roll(g, in[0], -2, -2);
    t = tgs_window_merge(g, tgs_window_partition(g, t, 4), 4, 8, 12);
    return tgs_permute(g, tgs_roll(g, t, 2, 2), (const int32_t[]){0, 3, 1, 2});
}

#define ARG(...) (&(struct shape_arg){(int)(sizeof((int32_t[]){__VA_ARGS__}) / sizeof(int32_t)), {__VA_ARGS__}})

static const struct opcheck_case cases[] = {
    {"reshape_4d_2d", 1, {IN(2, 3, 4, 5)}, build_reshape, ARG(6, 20), FD_TOL, 0, 0},
    {"reshape_3d_4d", 1, {IN(2, 3, 10)}, build_reshape, ARG(2, 5, 3, 2), FD_TOL, 0, 0},
    {"reshape_2d_1d", 1, {IN(3, 7)}, build_reshape, ARG(21), FD_TOL, 0, 0},
    {"permute_2d_10", 1, {IN(5, 7)}, build_permute, ARG(1, 0), FD_TOL, 0, 0},
    {"permute_3d_021", 1, {IN(2, 3, 4)}, build_permute, ARG(0, 2, 1), FD_TOL, 0, 0},
    {"permute_3d_201", 1, {IN(2, 3, 4)}, build_permute, ARG(2, 0, 1), FD_TOL, 0, 0},
    {"permute_3d_102", 1, {IN(3, 4, 5)}, build_permute, ARG(1, 0, 2), FD_TOL, 0, 0},
    {"permute_4d_0231", 1, {IN(2, 3, 4, 5)}, build_permute, ARG(0, 2, 3, 1), FD_TOL, 0, 0},
    {"permute_4d_0312", 1, {IN(2, 3, 4, 5)}, build_permute, ARG(0, 3, 1, 2), FD_TOL, 0, 0},
    {"permute_4d_0213", 1, {IN(2, 3, 4, 5)}, build_permute, ARG(0, 2, 1, 3), FD_TOL, 0, 0},
    {"permute_4d_3210", 1, {IN(2, 3, 4, 5)}, build_permute, ARG(3, 2, 1, 0), FD_TOL, 0, 0},
    {"permute_4d_1302", 1, {IN(2, 3, 4, 5)}, build_permute, ARG(1, 3, 0, 2), FD_TOL, 0, 0},
    {"permute_4d_0123", 1, {IN(2, 3, 4, 5)}, build_permute, ARG(0, 1, 2, 3), FD_TOL, 0, 0},
    {"window_part_ws2", 1, {IN(2, 4, 6, 3)}, build_window_part, ARG(2), FD_TOL, 0, 0},
    {"window_part_ws4", 1, {IN(2, 8, 4, 3)}, build_window_part, ARG(4), FD_TOL, 0, 0},
    {"window_part_ws4_wide", 1, {IN(2, 4, 8, 3)}, build_window_part, ARG(4), FD_TOL, 0, 0},
    {"window_merge_ws2", 1, {IN(12, 4, 3)}, build_window_merge, ARG(2, 4, 6), FD_TOL, 0, 0},
    {"window_merge_ws4", 1, {IN(4, 16, 3)}, build_window_merge, ARG(4, 8, 4), FD_TOL, 0, 0},
    {"roll_p1p2", 1, {IN(2, 5, 6, 3)}, build_roll, ARG(1, 2), FD_TOL, 0, 0},
    {"roll_m2m3", 1, {IN(2, 5, 6, 3)}, build_roll, ARG(-2, -3), FD_TOL, 0, 0},
    {"roll_swin_shift", 1, {IN(2, 8, 8, 3)}, build_roll, ARG(-2, -2), FD_TOL, 0, 0},
    {"roll_swin_back", 1, {IN(2, 8, 8, 3)}, build_roll, ARG(2, 2), FD_TOL, 0, 0},
    {"roll_beyond", 1, {IN(2, 5, 6, 3)}, build_roll, ARG(7, -13), FD_TOL, 0, 0},
    {"roll_0m1", 1, {IN(1, 4, 4, 2)}, build_roll, ARG(0, -1), FD_TOL, 0, 0},
};

static const struct opcheck_case infer_case = {
    "infer_swin_path", 1, {{.ndim = 4, .ne = {2, 8, 12, 3}}}, build_swin_path, NULL, 0, 0, 1};

/* ---- helpers: a one-input graph run with given threads ---- */

static void fill(float *v, int64_t n, uint64_t seed)
{
    tgs_rng r;
    tgs_rng_seed(&r, seed, 0);
    for (int64_t i = 0; i < n; i++) v[i] = 2 * tgs_rng_uniform(&r) - 1;
}

/* out = build(x) and dx for dout (when dout is given); out and dx are
 * allocated; returns the output's size, -1 on error */
static int64_t run_graph(opcheck_build_fn build, void *ctx, int ndim, const int32_t *ne, const float *x,
                         const float *dout, int threads, float **out, float **dx)
{
    *out = NULL;
    if (dx) *dx = NULL;
    tgs_cpu_set_threads(threads);
    struct tgs_params *ps = tgs_params_new(tgs_backend_cpu());
    struct tgs_graph *g = tgs_graph_new(ps);
    struct tgs_tensor *tx = tgs_input(g, "x", ndim, ne);
    tgs_requires_grad(tx);
    struct tgs_tensor *t = build(g, &tx, ctx);
    int64_t rc = -1;
    if (!t || tgs_graph_plan(g, TGS_PLAN_TRAIN) < 0) {
        if (!t) tgs_err("build: %s", tgs_graph_error(g));
        goto done;
    }
    tgs_tensor_set(g, tx, x);
    if (tgs_graph_forward(g) < 0) goto done;
    *out = malloc(t->size * sizeof(float));
    tgs_tensor_get(g, t, *out);
    if (dx) {
        if (tgs_graph_backward_from(g, t, dout) < 0) goto done;
        *dx = malloc(tx->size * sizeof(float));
        tgs_tensor_get_grad(g, tx, *dx);
    }
    rc = t->size;
done:
    tgs_graph_free(g);
    tgs_params_free(ps);
    tgs_cpu_set_threads(0);
    return rc;
}

static int64_t numel(int ndim, const int32_t *ne)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= ne[i];
    return n;
}

/* ---- round trips: the input back, bit for bit, forward and backward ---- */

static struct tgs_tensor *build_part_merge(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    int ws = *(const int *)ctx;
    return tgs_window_merge(g, tgs_window_partition(g, in[0], ws), ws, in[0]->ne[1], in[0]->ne[2]);
}

static struct tgs_tensor *build_roll_back(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    const int *s = ctx;
    return tgs_roll(g, tgs_roll(g, in[0], s[0], s[1]), -s[0], -s[1]);
}

static struct tgs_tensor *build_perm_inverse(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    (void)ctx;
    /* (0,2,3,1) then its inverse (0,3,1,2): NCHW -> NHWC -> NCHW */
    return tgs_permute(g, tgs_permute(g, in[0], (const int32_t[]){0, 2, 3, 1}), (const int32_t[]){0, 3, 1, 2});
}

static void round_trip(const char *name, opcheck_build_fn build, void *ctx, int ndim, const int32_t *ne)
{
    int64_t n = numel(ndim, ne);
    float *x = malloc(n * sizeof(float)), *dout = malloc(n * sizeof(float)), *out, *dx;
    fill(x, n, 7);
    fill(dout, n, 8);
    int64_t no = run_graph(build, ctx, ndim, ne, x, dout, 1, &out, &dx);
    if (no < 0) CHECKF(0, name, "%s", tgs_errmsg());
    else
        CHECKF(no == n && !memcmp(out, x, n * sizeof(float)) && !memcmp(dx, dout, n * sizeof(float)), name,
               "output or gradient is not the input's bytes");
    free(x), free(dout), free(out), free(dx);
}

static void test_round_trips(void)
{
    static int ws2 = 2, ws4 = 4, shift[2] = {-2, -2}, shift_odd[2] = {3, -5};
    round_trip("window partition then merge is the identity (ws 2, (2,4,6,3))", build_part_merge, &ws2, 4,
               (const int32_t[]){2, 4, 6, 3});
    round_trip("window partition then merge is the identity (ws 4, (2,8,12,3))", build_part_merge, &ws4, 4,
               (const int32_t[]){2, 8, 12, 3});
    round_trip("roll (-2,-2) then (2,2) is the identity", build_roll_back, shift, 4, (const int32_t[]){2, 8, 8, 3});
    round_trip("roll (3,-5) then (-3,5) is the identity", build_roll_back, shift_odd, 4,
               (const int32_t[]){2, 5, 7, 3});
    round_trip("permute (0,2,3,1) then (0,3,1,2) is the identity", build_perm_inverse, NULL, 4,
               (const int32_t[]){2, 3, 4, 5});
}

/* ---- large tensors against a naive index map ----
 * map(i) is where input element i lands in the output; the output must be
 * out[map(i)] = x[i] and the gradient dx[i] = dout[map(i)], exactly. */

enum map_kind { MAP_RESHAPE, MAP_PERMUTE, MAP_WINDOW_PART, MAP_WINDOW_MERGE, MAP_ROLL };

struct big_case {
    const char *name;
    enum map_kind kind;
    int ndim;
    int32_t ne[TGS_NN_MAX_DIMS]; /* the input's; for merge, the image's (B,H,W,C) */
    struct shape_arg arg;
};

/* window index of image element (b,y,x,c) of (B,H,W,C), windows of ws */
static int64_t window_index(const int32_t *ne, int ws, int64_t i)
{
    int64_t C = ne[3], W = ne[2], H = ne[1];
    int64_t c = i % C, x = i / C % W, y = i / C / W % H, b = i / C / W / H;
    int64_t nwx = W / ws, nw = H / ws * nwx;
    int64_t win = b * nw + y / ws * nwx + x / ws, pos = y % ws * ws + x % ws;
    return (win * ws * ws + pos) * C + c;
}

static int64_t map_index(const struct big_case *bc, int64_t i)
{
    const int32_t *ne = bc->ne;
    switch (bc->kind) {
    case MAP_RESHAPE: return i;
    case MAP_PERMUTE: {
        int64_t idx[TGS_NN_MAX_DIMS], r = i, o = 0;
        for (int d = bc->ndim - 1; d >= 0; d--) idx[d] = r % ne[d], r /= ne[d];
        for (int k = 0; k < bc->ndim; k++) o = o * ne[bc->arg.v[k]] + idx[bc->arg.v[k]];
        return o;
    }
    case MAP_WINDOW_PART: return window_index(ne, bc->arg.v[0], i);
    case MAP_WINDOW_MERGE: return -1; /* the inverse: see test_big */
    case MAP_ROLL: {
        int64_t C = ne[3], W = ne[2], H = ne[1];
        int64_t c = i % C, x = i / C % W, y = i / C / W % H, b = i / C / W / H;
        y = ((y + bc->arg.v[0]) % H + H) % H;
        x = ((x + bc->arg.v[1]) % W + W) % W;
        return ((b * H + y) * W + x) * C + c;
    }
    }
    return -1;
}

static opcheck_build_fn big_build(enum map_kind k)
{
    switch (k) {
    case MAP_RESHAPE: return build_reshape;
    case MAP_PERMUTE: return build_permute;
    case MAP_WINDOW_PART: return build_window_part;
    case MAP_WINDOW_MERGE: return build_window_merge;
    case MAP_ROLL: return build_roll;
    }
    return NULL;
}

static void test_big(void)
{
    static const struct big_case big[] = {
        {"reshape (8,32,48,64) to (256,3072)", MAP_RESHAPE, 4, {8, 32, 48, 64}, {2, {256, 3072}}},
        {"permute (8,32,48,64) by (0,2,3,1)", MAP_PERMUTE, 4, {8, 32, 48, 64}, {4, {0, 2, 3, 1}}},
        {"permute (8,48,64,32) by (0,3,1,2)", MAP_PERMUTE, 4, {8, 48, 64, 32}, {4, {0, 3, 1, 2}}},
        {"permute (64,49,3,32) by (2,0,1,3)", MAP_PERMUTE, 4, {64, 49, 3, 32}, {4, {2, 0, 1, 3}}},
        {"permute (6,31,37,29) by (3,2,1,0)", MAP_PERMUTE, 4, {6, 31, 37, 29}, {4, {3, 2, 1, 0}}},
        {"permute (6,31,37,29) by (1,3,0,2)", MAP_PERMUTE, 4, {6, 31, 37, 29}, {4, {1, 3, 0, 2}}},
        {"permute (300,1001) by (1,0)", MAP_PERMUTE, 2, {300, 1001}, {2, {1, 0}}},
        {"window partition (4,64,64,24) ws 4", MAP_WINDOW_PART, 4, {4, 64, 64, 24}, {1, {4}}},
        {"window merge to (4,56,56,24) ws 7", MAP_WINDOW_MERGE, 4, {4, 56, 56, 24}, {3, {7, 56, 56}}},
        {"roll (4,64,64,24) by (-2,-2)", MAP_ROLL, 4, {4, 64, 64, 24}, {2, {-2, -2}}},
        {"roll (4,63,65,24) by (5,-7)", MAP_ROLL, 4, {4, 63, 65, 24}, {2, {5, -7}}},
    };
    static const int threads[] = {1, 3, 7};
    for (size_t k = 0; k < sizeof big / sizeof big[0]; k++) {
        const struct big_case *bc = &big[k];
        int64_t n = numel(bc->ndim, bc->ne);
        float *x = malloc(n * sizeof(float)), *dout = malloc(n * sizeof(float));
        float *want = malloc(n * sizeof(float)), *wdx = malloc(n * sizeof(float));
        int32_t in_ne[TGS_NN_MAX_DIMS];
        int in_ndim = bc->ndim;
        memcpy(in_ne, bc->ne, sizeof in_ne);
        fill(x, n, 40 + k);
        fill(dout, n, 60 + k);
        if (bc->kind == MAP_WINDOW_MERGE) {
            /* input is the windows: image element m is window element w(m) */
            int ws = bc->arg.v[0];
            in_ndim = 3;
            in_ne[0] = (int32_t)(n / ((int64_t)ws * ws * bc->ne[3]));
            in_ne[1] = ws * ws;
            in_ne[2] = bc->ne[3];
            for (int64_t m = 0; m < n; m++) {
                int64_t w = window_index(bc->ne, ws, m);
                want[m] = x[w];
                wdx[w] = dout[m];
            }
        } else {
            for (int64_t i = 0; i < n; i++) {
                int64_t o = map_index(bc, i);
                want[o] = x[i];
                wdx[i] = dout[o];
            }
        }
        for (int t = 0; t < 3; t++) {
            char name[160];
            snprintf(name, sizeof name, "%s, threads=%d", bc->name, threads[t]);
            float *out, *dx;
            int64_t no = run_graph(big_build(bc->kind), (void *)&bc->arg, in_ndim, in_ne, x, dout, threads[t], &out,
                                   &dx);
            if (no < 0) CHECKF(0, name, "%s", tgs_errmsg());
            else
                CHECKF(no == n && !memcmp(out, want, n * sizeof(float)) && !memcmp(dx, wdx, n * sizeof(float)), name,
                       "output %s, gradient %s", no == n && !memcmp(out, want, n * sizeof(float)) ? "ok" : "differs",
                       !memcmp(dx, wdx, n * sizeof(float)) ? "ok" : "differs");
            free(out), free(dx);
        }
        free(x), free(dout), free(want), free(wdx);
    }
}

/* ---- bad shapes ---- */

static void test_bad_shapes(void)
{
    struct opcheck_bad k = {0};
    struct tgs_tensor *x;
    x = opcheck_bad_input(&k, 4, 2, 3, 4, 5);
    opcheck_bad_check(&k, "reshape: 120 elements to (7,17)", tgs_reshape(k.g, x, 2, (const int32_t[]){7, 17}), "reshape");
    x = opcheck_bad_input(&k, 4, 2, 3, 4, 5);
    opcheck_bad_check(&k, "reshape: 120 elements to (2,3,4,6)", tgs_reshape(k.g, x, 4, (const int32_t[]){2, 3, 4, 6}),
              "reshape");
    x = opcheck_bad_input(&k, 4, 2, 3, 4, 5);
    opcheck_bad_check(&k, "reshape: a dim of -1", tgs_reshape(k.g, x, 2, (const int32_t[]){-1, 60}), "reshape");
    x = opcheck_bad_input(&k, 4, 2, 3, 4, 5);
    opcheck_bad_check(&k, "reshape: 5 dims", tgs_reshape(k.g, x, 5, (const int32_t[]){1, 2, 3, 4, 5}), "reshape");
    x = opcheck_bad_input(&k, 4, 2, 3, 4, 5);
    opcheck_bad_check(&k, "permute: repeated axis (0,1,1,3)", tgs_permute(k.g, x, (const int32_t[]){0, 1, 1, 3}), "permute");
    x = opcheck_bad_input(&k, 3, 2, 3, 4, 1);
    opcheck_bad_check(&k, "permute: axis 3 of a 3-D tensor", tgs_permute(k.g, x, (const int32_t[]){0, 3, 1}), "permute");
    x = opcheck_bad_input(&k, 3, 2, 3, 4, 1);
    opcheck_bad_check(&k, "permute: negative axis", tgs_permute(k.g, x, (const int32_t[]){0, -1, 1}), "permute");
    x = opcheck_bad_input(&k, 4, 2, 6, 8, 3);
    opcheck_bad_check(&k, "window_partition: ws 4 does not divide H 6", tgs_window_partition(k.g, x, 4), "window_partition");
    x = opcheck_bad_input(&k, 4, 2, 8, 6, 3);
    opcheck_bad_check(&k, "window_partition: ws 4 does not divide W 6", tgs_window_partition(k.g, x, 4), "window_partition");
    x = opcheck_bad_input(&k, 4, 2, 8, 8, 3);
    opcheck_bad_check(&k, "window_partition: ws 0", tgs_window_partition(k.g, x, 0), "window_partition");
    x = opcheck_bad_input(&k, 3, 2, 64, 3, 1);
    opcheck_bad_check(&k, "window_partition: 3-D input", tgs_window_partition(k.g, x, 4), "window_partition");
    x = opcheck_bad_input(&k, 3, 8, 16, 3, 1);
    opcheck_bad_check(&k, "window_merge: ws 4 does not divide h 6", tgs_window_merge(k.g, x, 4, 6, 8), "window_merge");
    x = opcheck_bad_input(&k, 3, 8, 9, 3, 1);
    opcheck_bad_check(&k, "window_merge: windows of 9, not 16", tgs_window_merge(k.g, x, 4, 8, 8), "window_merge");
    x = opcheck_bad_input(&k, 3, 7, 16, 3, 1);
    opcheck_bad_check(&k, "window_merge: 7 windows for 4 per image", tgs_window_merge(k.g, x, 4, 8, 8), "window_merge");
    x = opcheck_bad_input(&k, 4, 2, 16, 3, 1);
    opcheck_bad_check(&k, "window_merge: 4-D input", tgs_window_merge(k.g, x, 4, 8, 8), "window_merge");
    x = opcheck_bad_input(&k, 3, 2, 8, 3, 1);
    opcheck_bad_check(&k, "roll: 3-D input", tgs_roll(k.g, x, 1, 1), "roll");
    /* a NULL input (an earlier builder failed) keeps the first message */
    x = opcheck_bad_input(&k, 4, 2, 6, 8, 3);
    struct tgs_tensor *t = tgs_window_partition(k.g, x, 4);
    t = tgs_roll(k.g, tgs_permute(k.g, tgs_reshape(k.g, t, 1, (const int32_t[]){288}), (const int32_t[]){0}), 1, 1);
    opcheck_bad_check(&k, "a failed build propagates NULL and keeps the first error", t, "window_partition");
}

int main(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) opcheck_fd(&cases[i]);
    struct opcheck_refs rf;
    if (opcheck_refs_load(&rf, "tests/data/torch/op_shape.tsr") < 0) {
        CHECKF(0, "load torch references", "%s", tgs_errmsg());
    } else {
        /* data moved, not computed: exact */
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) opcheck_torch(&rf, &cases[i], 0, 0), opcheck_backends(&cases[i]);
        opcheck_torch(&rf, &infer_case, 0, 0), opcheck_backends(&infer_case);
        for (int i = 0; i <= rf.n; i++) tgs_sample_free(&rf.s[i]);
        free(rf.s);
    }
    test_round_trips();
    test_big();
    test_bad_shapes();
    CHECK_DONE();
}
