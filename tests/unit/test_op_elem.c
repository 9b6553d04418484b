/* Tests of lib/common/nn/op_elem.c and nn/cpu/op_elem.c: add and mul with every broadcast pattern
 * of b, x + x and x * x, scale, concat of 2-, 3- and 4-D tensors.
 *
 * Each case runs two checks (opcheck.h):
 *   fd     central differences (eps 1e-3) against the analytic backward.
 *          The ops are linear or bilinear, so central differences are
 *          exact up to float rounding of f = sum(out * R): tolerance 1e-3
 *          relative to the largest analytic gradient.
 *   torch  against tests/data/torch/op_elem.tsr (tests/torch/gen_op_elem.py,
 *          float64 references): atol 1e-6, rtol 1e-5. Outputs and most
 *          gradients are single float operations (exact up to rounding of
 *          the float64 reference); b's gradients sum at most 70 terms of
 *          magnitude < 1 in double.
 * Then large tensors, whose loops split over threads, against naive loops,
 * with 1, 3 and 7 threads; the bad shapes of each builder; a forward pass
 * of a small chain in an inference plan (memory reused). */
#include "opcheck.h"
#include "nn/cpu/ops_cpu.h"

#define IN(...) {.ndim = (int)(sizeof((int32_t[]){__VA_ARGS__}) / sizeof(int32_t)), .ne = {__VA_ARGS__}, .grad = 1}
#define IN_NOGRAD(...) {.ndim = (int)(sizeof((int32_t[]){__VA_ARGS__}) / sizeof(int32_t)), .ne = {__VA_ARGS__}}

#define FD_TOL 1e-3
#define ATOL 1e-6
#define RTOL 1e-5

static struct tgs_tensor *build_add(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    (void)ctx;
    return tgs_add(g, in[0], in[1]);
}

static struct tgs_tensor *build_mul(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    (void)ctx;
    return tgs_mul(g, in[0], in[1]);
}

static struct tgs_tensor *build_add_self(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    (void)ctx;
    return tgs_add(g, in[0], in[0]);
}

static struct tgs_tensor *build_mul_self(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    (void)ctx;
    return tgs_mul(g, in[0], in[0]);
}

static struct tgs_tensor *build_scale(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    return tgs_scale(g, in[0], *(const float *)ctx);
}

static struct tgs_tensor *build_concat(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    (void)ctx;
    return tgs_concat(g, in[0], in[1]);
}

static struct tgs_tensor *build_concat_self(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    (void)ctx;
    return tgs_concat(g, in[0], in[0]);
}

/* cat(a * gate, a + bias): a chain whose intermediates an inference plan
 * puts in reused memory */
static struct tgs_tensor *build_chain(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    (void)ctx;
    return tgs_concat(g, tgs_mul(g, in[0], in[1]), tgs_add(g, in[0], in[2]));
}

static float scale_4d = -0.75f, scale_2d = 2.5f;

#define A4 2, 3, 5, 7
#define PATTERNS(op, build)                                                                                       \
    {#op "_none", 2, {IN(A4), IN(A4)}, build, NULL, FD_TOL, 0, 0},                                               \
    {#op "_nc11", 2, {IN(A4), IN(2, 3, 1, 1)}, build, NULL, FD_TOL, 0, 0},                                       \
    {#op "_n1hw", 2, {IN(A4), IN(2, 1, 5, 7)}, build, NULL, FD_TOL, 0, 0},                                       \
    {#op "_1c11", 2, {IN(A4), IN(1, 3, 1, 1)}, build, NULL, FD_TOL, 0, 0},                                       \
    {#op "_1111", 2, {IN(A4), IN(1, 1, 1, 1)}, build, NULL, FD_TOL, 0, 0},                                       \
    {#op "_2d", 2, {IN(3, 7), IN(1, 7)}, build, NULL, FD_TOL, 0, 0},                                             \
    {#op "_3d", 2, {IN(2, 5, 4), IN(2, 1, 4)}, build, NULL, FD_TOL, 0, 0},                                       \
    {#op "_b_nograd", 2, {IN(A4), IN_NOGRAD(1, 3, 1, 1)}, build, NULL, FD_TOL, 0, 0},                            \
    {#op "_a_nograd", 2, {IN_NOGRAD(A4), IN(2, 1, 5, 7)}, build, NULL, FD_TOL, 0, 0}

static const struct opcheck_case cases[] = {
    PATTERNS(add, build_add),
    {"add_self", 1, {IN(A4)}, build_add_self, NULL, FD_TOL, 0, 0},
    PATTERNS(mul, build_mul),
    {"mul_self", 1, {IN(A4)}, build_mul_self, NULL, FD_TOL, 0, 0},
    {"scale_4d", 1, {IN(A4)}, build_scale, &scale_4d, FD_TOL, 0, 0},
    {"scale_2d", 1, {IN(3, 7)}, build_scale, &scale_2d, FD_TOL, 0, 0},
    {"concat_4d", 2, {IN(2, 3, 5, 7), IN(2, 2, 5, 7)}, build_concat, NULL, FD_TOL, 0, 0},
    {"concat_2d", 2, {IN(3, 4), IN(3, 5)}, build_concat, NULL, FD_TOL, 0, 0},
    {"concat_3d", 2, {IN(2, 3, 5), IN(2, 1, 5)}, build_concat, NULL, FD_TOL, 0, 0},
    {"concat_b_nograd", 2, {IN(2, 1, 3, 3), IN_NOGRAD(2, 4, 3, 3)}, build_concat, NULL, FD_TOL, 0, 0},
    {"concat_self", 1, {IN(2, 3, 4, 5)}, build_concat_self, NULL, FD_TOL, 0, 0},
};

static const struct opcheck_case infer_case = {
    "infer_chain", 3, {IN_NOGRAD(A4), IN_NOGRAD(2, 3, 1, 1), IN_NOGRAD(1, 3, 1, 1)}, build_chain, NULL, 0, 0, 1};

/* ---- large tensors, several thread counts, against naive loops ---- */

struct run {
    float *out, *ga, *gb; /* gb NULL when b is a */
};

static void run_free(struct run *r)
{
    free(r->out);
    free(r->ga);
    free(r->gb);
    memset(r, 0, sizeof *r);
}

static void fill(float *v, int64_t n, uint64_t seed)
{
    tgs_rng r;
    tgs_rng_seed(&r, seed, 0);
    for (int64_t i = 0; i < n; i++) v[i] = 2 * tgs_rng_uniform(&r) - 1;
}

/* Run op on a (ne_a) and b (ne_b) with the given threads: output and both
 * gradients for the output gradient dout. */
static int run_graph(enum tgs_op op, int ndim, const int32_t *ne_a, const int32_t *ne_b, const float *a,
                     const float *b, const float *dout, int threads, struct run *r)
{
    memset(r, 0, sizeof *r);
    tgs_cpu_set_threads(threads);
    struct tgs_params *ps = tgs_params_new(tgs_backend_cpu());
    struct tgs_graph *g = tgs_graph_new(ps);
    struct tgs_tensor *ta = tgs_input(g, "a", ndim, ne_a), *tb = tgs_input(g, "b", ndim, ne_b), *out = NULL;
    tgs_requires_grad(ta);
    tgs_requires_grad(tb);
    switch (op) {
    case TGS_OP_ADD: out = tgs_add(g, ta, tb); break;
    case TGS_OP_MUL: out = tgs_mul(g, ta, tb); break;
    case TGS_OP_CONCAT: out = tgs_concat(g, ta, tb); break;
    default: break;
    }
    int rc = -1;
    if (!out || tgs_graph_plan(g, TGS_PLAN_TRAIN) < 0) goto done;
    tgs_tensor_set(g, ta, a);
    tgs_tensor_set(g, tb, b);
    if (tgs_graph_forward(g) < 0 || tgs_graph_backward_from(g, out, dout) < 0) goto done;
    r->out = malloc(out->size * sizeof(float));
    r->ga = malloc(ta->size * sizeof(float));
    r->gb = malloc(tb->size * sizeof(float));
    tgs_tensor_get(g, out, r->out);
    tgs_tensor_get_grad(g, ta, r->ga);
    tgs_tensor_get_grad(g, tb, r->gb);
    rc = 0;
done:
    tgs_graph_free(g);
    tgs_params_free(ps);
    tgs_cpu_set_threads(0);
    return rc;
}

static int64_t numel(const int32_t *ne)
{
    return (int64_t)ne[0] * ne[1] * ne[2] * ne[3];
}

/* |x - y| <= tol * max(1, |y|) everywhere */
static int close_to(const float *x, const float *y, int64_t n, double tol, int64_t *at)
{
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)x[i] - y[i]), s = fabs((double)y[i]);
        if (!(d <= tol * (s > 1 ? s : 1))) {
            *at = i;
            return 0;
        }
    }
    return 1;
}

/* add or mul of a (8,16,48,49) with b broadcast: naive loops give the
 * reference (the output and a's gradient exactly, b's gradient summed in
 * double); 3 and 7 threads must give the same bytes for the output and a's
 * gradient, b's gradient within summation order (1e-5). */
static void test_broadcast_threads(void)
{
    static const int32_t A[4] = {8, 16, 48, 49};
    static const int32_t Bs[][4] = {{8, 16, 48, 49}, {8, 16, 1, 1}, {8, 1, 48, 49}, {1, 16, 1, 1}, {1, 1, 1, 1},
                                    {1, 16, 48, 49}, {8, 1, 48, 1}};
    int64_t n = numel(A);
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float)), *dout = malloc(n * sizeof(float));
    float *want = malloc(n * sizeof(float)), *wa = malloc(n * sizeof(float)), *wb = malloc(n * sizeof(float));
    double *sb = malloc(n * sizeof(double));
    fill(a, n, 1);
    fill(dout, n, 3);
    for (int op = 0; op < 2; op++) {
        for (size_t p = 0; p < sizeof Bs / sizeof Bs[0]; p++) {
            const int32_t *B = Bs[p];
            int64_t nb = numel(B);
            fill(b, nb, 2 + p);
            for (int64_t e = 0; e < nb; e++) sb[e] = 0;
            for (int i0 = 0; i0 < A[0]; i0++)
                for (int i1 = 0; i1 < A[1]; i1++)
                    for (int i2 = 0; i2 < A[2]; i2++)
                        for (int i3 = 0; i3 < A[3]; i3++) {
                            int64_t i = ((int64_t)(i0 * A[1] + i1) * A[2] + i2) * A[3] + i3;
                            int64_t j = ((int64_t)((B[0] > 1 ? i0 : 0) * B[1] + (B[1] > 1 ? i1 : 0)) * B[2] +
                                         (B[2] > 1 ? i2 : 0)) * B[3] + (B[3] > 1 ? i3 : 0);
                            want[i] = op ? a[i] * b[j] : a[i] + b[j];
                            wa[i] = op ? dout[i] * b[j] : dout[i];
                            sb[j] += op ? (double)dout[i] * a[i] : dout[i];
                        }
            for (int64_t e = 0; e < nb; e++) wb[e] = (float)sb[e];
            static const int threads[] = {1, 3, 7};
            struct run r1 = {0};
            for (int t = 0; t < 3; t++) {
                char name[128];
                snprintf(name, sizeof name, "%s (8,16,48,49) with b (%d,%d,%d,%d), threads=%d", op ? "mul" : "add",
                         B[0], B[1], B[2], B[3], threads[t]);
                struct run r;
                if (run_graph(op ? TGS_OP_MUL : TGS_OP_ADD, 4, A, B, a, b, dout, threads[t], &r) < 0) {
                    CHECKF(0, name, "%s", tgs_errmsg());
                    continue;
                }
                int64_t at = -1;
                int ok_out = memcmp(r.out, want, n * sizeof(float)) == 0;
                int ok_a = memcmp(r.ga, wa, n * sizeof(float)) == 0;
                /* b's sums reach ~100 terms per element at most: 1e-5 */
                int ok_b = close_to(r.gb, wb, nb, 1e-5, &at);
                int same = !r1.out || (memcmp(r.out, r1.out, n * sizeof(float)) == 0 &&
                                       memcmp(r.ga, r1.ga, n * sizeof(float)) == 0);
                CHECKF(ok_out && ok_a && ok_b && same, name, "out %s, grad a %s, grad b %s (at %lld: %g vs %g), %s",
                       ok_out ? "ok" : "differs", ok_a ? "ok" : "differs", ok_b ? "ok" : "off", (long long)at,
                       at >= 0 ? r.gb[at] : 0, at >= 0 ? wb[at] : 0, same ? "same as 1 thread" : "other bytes");
                if (!r1.out) r1 = r;
                else run_free(&r);
            }
            run_free(&r1);
        }
    }
    free(a), free(b), free(dout), free(want), free(wa), free(wb), free(sb);
}

/* concat of (N,C1,H,W) and (N,C2,H,W) and of 2-D (N,C1), (N,C2), large
 * enough to split over threads: a copy, exact with any thread count */
static void test_concat_threads(void)
{
    static const int32_t shapes[][3][4] = {
        {{16, 24, 64, 64}, {16, 8, 64, 64}, {16, 32, 64, 64}},
        {{3, 5, 101, 101}, {3, 7, 101, 101}, {3, 12, 101, 101}},
        {{1001, 37, 1, 1}, {1001, 50, 1, 1}, {1001, 87, 1, 1}},
    };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int32_t *A = shapes[s][0], *B = shapes[s][1], *O = shapes[s][2];
        int ndim = A[2] == 1 ? 2 : 4;
        int64_t na = numel(A), nb = numel(B), no = numel(O), inner = (int64_t)A[2] * A[3];
        float *a = malloc(na * sizeof(float)), *b = malloc(nb * sizeof(float)), *dout = malloc(no * sizeof(float));
        float *want = malloc(no * sizeof(float)), *wa = malloc(na * sizeof(float)), *wb = malloc(nb * sizeof(float));
        fill(a, na, 10 + s);
        fill(b, nb, 20 + s);
        fill(dout, no, 30 + s);
        for (int n = 0; n < A[0]; n++) {
            for (int64_t k = 0; k < A[1] * inner; k++) {
                want[n * O[1] * inner + k] = a[n * A[1] * inner + k];
                wa[n * A[1] * inner + k] = dout[n * O[1] * inner + k];
            }
            for (int64_t k = 0; k < B[1] * inner; k++) {
                want[n * O[1] * inner + A[1] * inner + k] = b[n * B[1] * inner + k];
                wb[n * B[1] * inner + k] = dout[n * O[1] * inner + A[1] * inner + k];
            }
        }
        static const int threads[] = {1, 3, 7};
        for (int t = 0; t < 3; t++) {
            char name[128];
            if (ndim == 2)
                snprintf(name, sizeof name, "concat (%d,%d) and (%d,%d), threads=%d", A[0], A[1], B[0], B[1],
                         threads[t]);
            else
                snprintf(name, sizeof name, "concat (%d,%d,%d,%d) and (%d,%d,%d,%d), threads=%d", A[0], A[1], A[2],
                         A[3], B[0], B[1], B[2], B[3], threads[t]);
            struct run r;
            if (run_graph(TGS_OP_CONCAT, ndim, A, B, a, b, dout, threads[t], &r) < 0) {
                CHECKF(0, name, "%s", tgs_errmsg());
                continue;
            }
            CHECK(memcmp(r.out, want, no * sizeof(float)) == 0 && memcmp(r.ga, wa, na * sizeof(float)) == 0 &&
                      memcmp(r.gb, wb, nb * sizeof(float)) == 0,
                  name);
            run_free(&r);
        }
        free(a), free(b), free(dout), free(want), free(wa), free(wb);
    }
}

/* ---- bad shapes ---- */

static void test_bad_shapes(void)
{
    struct opcheck_bad k = {0};
    struct tgs_tensor *a;
    a = opcheck_bad_input(&k, 4, 2, 3, 4, 5);
    opcheck_bad_check(&k, "add: b (2,3,4,6) does not broadcast to (2,3,4,5)", tgs_add(k.g, a, opcheck_bad_input(&k, 4, 2, 3, 4, 6)),
              "add");
    a = opcheck_bad_input(&k, 4, 2, 3, 4, 5);
    opcheck_bad_check(&k, "add: b (2,3) of fewer dims", tgs_add(k.g, a, opcheck_bad_input(&k, 2, 2, 3, 1, 1)), "add");
    a = opcheck_bad_input(&k, 4, 2, 3, 4, 5);
    opcheck_bad_check(&k, "add: b (2,3,4,5) larger than a (2,1,4,5)", tgs_add(k.g, opcheck_bad_input(&k, 4, 2, 1, 4, 5), a), "add");
    a = opcheck_bad_input(&k, 4, 2, 3, 4, 5);
    opcheck_bad_check(&k, "mul: b (2,2,1,1) does not broadcast to (2,3,4,5)", tgs_mul(k.g, a, opcheck_bad_input(&k, 4, 2, 2, 1, 1)),
              "mul");
    a = opcheck_bad_input(&k, 4, 2, 3, 4, 5);
    opcheck_bad_check(&k, "mul: b (3,3,1,1) does not broadcast to (2,3,4,5)", tgs_mul(k.g, a, opcheck_bad_input(&k, 4, 3, 3, 1, 1)),
              "mul");
    a = opcheck_bad_input(&k, 4, 2, 3, 4, 5);
    opcheck_bad_check(&k, "scale: a NaN factor", tgs_scale(k.g, a, NAN), "scale");
    a = opcheck_bad_input(&k, 4, 2, 3, 4, 5);
    opcheck_bad_check(&k, "concat: other N", tgs_concat(k.g, a, opcheck_bad_input(&k, 4, 3, 3, 4, 5)), "concat");
    a = opcheck_bad_input(&k, 4, 2, 3, 4, 5);
    opcheck_bad_check(&k, "concat: other H", tgs_concat(k.g, a, opcheck_bad_input(&k, 4, 2, 3, 5, 5)), "concat");
    a = opcheck_bad_input(&k, 4, 2, 3, 4, 5);
    opcheck_bad_check(&k, "concat: other W", tgs_concat(k.g, a, opcheck_bad_input(&k, 4, 2, 3, 4, 4)), "concat");
    a = opcheck_bad_input(&k, 4, 2, 3, 4, 5);
    opcheck_bad_check(&k, "concat: 4-D with 2-D", tgs_concat(k.g, a, opcheck_bad_input(&k, 2, 2, 3, 1, 1)), "concat");
    a = opcheck_bad_input(&k, 1, 6, 1, 1, 1);
    opcheck_bad_check(&k, "concat: 1-D", tgs_concat(k.g, a, a), "concat");
    /* a NULL input (an earlier builder failed) keeps the first message */
    a = opcheck_bad_input(&k, 4, 2, 3, 4, 5);
    struct tgs_tensor *bad = tgs_add(k.g, a, opcheck_bad_input(&k, 4, 1, 2, 1, 1));
    struct tgs_tensor *next = tgs_concat(k.g, tgs_mul(k.g, bad, a), a);
    opcheck_bad_check(&k, "a failed build propagates NULL and keeps the first error", next, "add");
}

int main(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) opcheck_fd(&cases[i]);
    struct opcheck_refs rf;
    if (opcheck_refs_load(&rf, "tests/data/torch/op_elem.tsr") < 0) {
        CHECKF(0, "load torch references", "%s", tgs_errmsg());
    } else {
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) opcheck_torch(&rf, &cases[i], ATOL, RTOL), opcheck_backends(&cases[i]);
        opcheck_torch(&rf, &infer_case, ATOL, RTOL), opcheck_backends(&infer_case);
        for (int i = 0; i <= rf.n; i++) tgs_sample_free(&rf.s[i]);
        free(rf.s);
    }
    test_broadcast_threads();
    test_concat_threads();
    test_bad_shapes();
    CHECK_DONE();
}
