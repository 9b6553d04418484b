/* Tests of lib/common/nn/op_attn.c and nn/cpu/op_attn.c: attn_bias, Swin's
 * relative position bias and shifted-window mask on attention scores,
 * unshifted (several windows, and one window of the whole image), shifted
 * on a square and on a rectangular image, and a window of 3 reading a
 * window of 7's table (a stage smaller than the model's window).
 *
 * Each case runs three checks (opcheck.h):
 *   fd     central differences against the analytic backward; the op is
 *          linear, so eps 1e-2 (the -100 of the mask makes the outputs'
 *          float32 rounding 100 times a unit's: a smaller step would
 *          measure that); tolerance 1e-3.
 *   torch  against tests/data/torch/op_attn.tsr (tests/torch/gen_op_attn.py,
 *          the Swin reference code's relative_position_index and
 *          img_mask): atol 1e-5 (a float32 sum of three terms, one -100),
 *          rtol 1e-5 (the table's gradient, summed in double).
 *   sim    the same bytes as the CPU.
 * Then: a large case (the default swinunet's stage 0 at batch 4) gives
 * the same bytes, forward and backward, for 1, 2, 3 and 7 threads; the
 * bad shapes of the builder. */
#include "opcheck.h"

struct ab_arg {
    int ws, shift, h, w;
};

static struct tgs_tensor *build_ab(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    const struct ab_arg *a = ctx;
    return tgs_attn_bias(g, in[0], in[1], a->ws, a->shift, a->h, a->w);
}

#define IN(...) {.ndim = (int)(sizeof((int32_t[]){__VA_ARGS__}) / sizeof(int32_t)), .ne = {__VA_ARGS__}, .grad = 1}
static struct ab_arg A_NOSHIFT = {2, 0, 4, 4}, A_SHIFT = {4, 2, 8, 8}, A_RECT = {3, 1, 6, 9}, A_ONE = {4, 0, 4, 4}, A_SMALL = {3, 0, 3, 3},
                     A_BIG = {7, 3, 28, 28};

/* as gen_op_attn.py's CASES: scores (B*nW, heads, N, N), table ((2ws-1)^2, heads) */
static const struct opcheck_case cases[] = {
    {"attn_bias_noshift", 2, {IN(8, 2, 4, 4), IN(9, 2)}, build_ab, &A_NOSHIFT, 1e-3, 1e-2, 0},
    {"attn_bias_shift", 2, {IN(4, 3, 16, 16), IN(49, 3)}, build_ab, &A_SHIFT, 1e-3, 1e-2, 0},
    {"attn_bias_shift_rect", 2, {IN(12, 2, 9, 9), IN(25, 2)}, build_ab, &A_RECT, 1e-3, 1e-2, 0},
    {"attn_bias_one_window", 2, {IN(2, 2, 16, 16), IN(49, 2)}, build_ab, &A_ONE, 1e-3, 1e-2, 0},
    {"attn_bias_table_of_7", 2, {IN(2, 2, 9, 9), IN(169, 2)}, build_ab, &A_SMALL, 1e-3, 1e-2, 0},
};

/* out and both gradients of a large shifted case on t threads, in one buffer */
static float *run_big(int threads, int64_t *len)
{
    static const struct opcheck_case big = {
        "big", 2, {IN(4 * 16, 3, 49, 49), IN(169, 3)}, build_ab, &A_BIG, 0, 0, 0};
    tgs_cpu_set_threads(threads);
    struct opcheck_graph og;
    float *buf = NULL;
    if (opcheck_graph_make(&og, &big, 1) < 0) goto done;
    int64_t ns = og.in[0]->size, nt = og.in[1]->size;
    float *v = malloc(ns * sizeof(float));
    tgs_rng r;
    tgs_rng_seed(&r, 5, 0);
    for (int64_t i = 0; i < ns; i++) v[i] = 2 * tgs_rng_uniform(&r) - 1;
    tgs_tensor_set(og.g, og.in[0], v);
    tgs_tensor_set(og.g, og.in[1], v + 1000);
    buf = malloc((2 * ns + nt) * sizeof(float));
    if (tgs_graph_forward(og.g) < 0 || tgs_graph_backward_from(og.g, og.out, v) < 0) {
        free(buf), buf = NULL;
    } else {
        tgs_tensor_get(og.g, og.out, buf);
        tgs_tensor_get_grad(og.g, og.in[0], buf + ns);
        tgs_tensor_get_grad(og.g, og.in[1], buf + 2 * ns);
        *len = 2 * ns + nt;
    }
    free(v);
done:
    opcheck_graph_free(&og);
    tgs_cpu_set_threads(0);
    return buf;
}

static void test_threads(void)
{
    int64_t n1 = 0, n = 0;
    float *one = run_big(1, &n1);
    CHECKF(one, "attn_bias (64,3,49,49): runs", "%s", tgs_errmsg());
    static const int threads[] = {2, 3, 7};
    for (int t = 0; one && t < 3; t++) {
        float *v = run_big(threads[t], &n);
        char name[96];
        snprintf(name, sizeof name, "attn_bias (64,3,49,49): %d threads give 1 thread's bytes", threads[t]);
        CHECK(v && n == n1 && memcmp(v, one, n * sizeof(float)) == 0, name);
        free(v);
    }
    free(one);
}

static void test_bad_shapes(void)
{
    struct opcheck_bad k = {0};
    struct tgs_tensor *s, *t;
    s = opcheck_bad_input(&k, 4, 8, 2, 4, 4);
    t = tgs_input(k.g, "t", 2, (int32_t[]){9, 2});
    opcheck_bad_check(&k, "attn_bias: window 3 does not divide 4x4", tgs_attn_bias(k.g, s, t, 3, 0, 4, 4), "attn_bias");
    s = opcheck_bad_input(&k, 4, 8, 2, 4, 4);
    t = tgs_input(k.g, "t", 2, (int32_t[]){9, 2});
    opcheck_bad_check(&k, "attn_bias: shift 2 >= window 2", tgs_attn_bias(k.g, s, t, 2, 2, 4, 4), "attn_bias");
    s = opcheck_bad_input(&k, 4, 7, 2, 4, 4);
    t = tgs_input(k.g, "t", 2, (int32_t[]){9, 2});
    opcheck_bad_check(&k, "attn_bias: 7 windows for 4 an image", tgs_attn_bias(k.g, s, t, 2, 0, 4, 4), "attn_bias");
    s = opcheck_bad_input(&k, 4, 8, 2, 4, 5);
    t = tgs_input(k.g, "t", 2, (int32_t[]){9, 2});
    opcheck_bad_check(&k, "attn_bias: scores not square", tgs_attn_bias(k.g, s, t, 2, 0, 4, 4), "attn_bias");
    s = opcheck_bad_input(&k, 4, 8, 2, 4, 4);
    t = tgs_input(k.g, "t", 2, (int32_t[]){9, 3});
    opcheck_bad_check(&k, "attn_bias: table of 3 heads for 2", tgs_attn_bias(k.g, s, t, 2, 0, 4, 4), "attn_bias");
    s = opcheck_bad_input(&k, 4, 8, 2, 4, 4);
    t = tgs_input(k.g, "t", 2, (int32_t[]){8, 2});
    opcheck_bad_check(&k, "attn_bias: table of 8 entries for window 2", tgs_attn_bias(k.g, s, t, 2, 0, 4, 4),
                      "attn_bias");
    s = opcheck_bad_input(&k, 4, 8, 2, 4, 4);
    opcheck_bad_check(&k, "attn_bias: no table", tgs_attn_bias(k.g, s, NULL, 2, 0, 4, 4), "attn_bias");
}

int main(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) opcheck_fd(&cases[i]);
    struct opcheck_refs rf;
    if (opcheck_refs_load(&rf, "tests/data/torch/op_attn.tsr") < 0) {
        CHECKF(0, "load torch references", "%s", tgs_errmsg());
    } else {
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            opcheck_torch(&rf, &cases[i], 1e-5, 1e-5), opcheck_backends(&cases[i]);
        opcheck_refs_free(&rf);
    }
    test_threads();
    test_bad_shapes();
    CHECK_DONE();
}
