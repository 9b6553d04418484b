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
 * bad shapes of the builder.
 *
 * Last, the op as the model chains it (composite cases, below): a Swin
 * block unshifted, shifted, and of one window reading a larger table;
 * patch merging; the whole swinunet encoder. Each by central differences
 * over its input and its parameters (fd_model), and sim against cpu. */
#include "opcheck.h"
#include "nn/layers.h"
#include "nn/model.h"

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

/* ---- composite cases ----
 * The builders declare the layers' parameters (tgs_param inside c->build,
 * as layers.c does): opcheck_graph_make allocates the set after build, as
 * a model's caller does. drop_path and dropout are 0, so the function is
 * deterministic; the encoder's stem BN runs on batch statistics (train
 * mode), which is smooth for a batch of 2.
 *
 * Why fd_model and not opcheck_fd:
 *   - opcheck_fd checks the inputs' gradients only, and most of a block's
 *     backward ends in parameters (the table's gradient from attn_bias,
 *     q k v proj, the LNs, the MLP);
 *   - at their init (Swin's trunc_normal, std 0.02) a block is the identity
 *     plus ~1e-3, so dx is mostly the residual's dout and a wrong backward
 *     of the attention or the MLP stays under the tolerance (tried: below).
 * So the parameters are first redrawn at unit gain: tensors of 2 or more
 * dims (weights; the table ((2tw-1)^2, heads) likewise, entries ~1, so the
 * softmaxes are far from uniform) U(+-sqrt(3 / fan_in)), fan_in = size /
 * ne[0]; 1-dim ones (biases, gammas, betas) their init + U(-1/2, 1/2).
 * Then as opcheck_fd: f = sum(out * R), central differences of step
 * fd_eps (1e-3), error max |num - ana| / max(1, max |ana|) per tensor
 * against fd_tol (1e-2); every element of an input up to 300 (300 spread
 * ones of a larger), FD_PARAM_ELEMS drawn ones of each parameter.
 * Kinks: the encoder's stem has ReLUs; a step that crosses one measures
 * the kink, not the gradient. The one-sided differences (f(+e) - f(0))/e
 * and (f(0) - f(-e))/e differ by twice the error the kink puts in the
 * central one, so an element where they differ by more than the tolerance
 * (relative, as the error) is skipped and counted: at most 1 in 20 may be
 * (the Swin-only cases, which have no kink, skip none; a tighter bound
 * skips them too: at step 1e-3 their curvature alone makes the one-sided
 * slopes differ by a few 1e-3). The skip reads forward values only, and
 * the analytic gradient only through the scale, so a wrong backward shows
 * as an error, not as skips. The encoder's worst error (~5e-3, the stem
 * conv's weight) is the kinks too, many small ones below the bound: a stem
 * weight moves every unit of its channel; at steps of 4e-4 that element's
 * difference meets the analytic one to 2e-4, and grows with the step.
 * Tried: opcheck_fd passes the three blocks with attn_bias's dscores left
 * out, with roll's or window_merge's backward mixing up h and w, and with
 * GELU's backward short of x phi(x); fd_model fails each (and a negated
 * table gradient, and LN's backward short of its xh term); window_merge's
 * h/w mix-up only on the rectangular shifted block. */

#define FD_PARAM_ELEMS 24

struct swin_arg {
    int heads, ws, shift, tw, mlp;
};

/* x (B,H,W,C) -> one block, channels last as in the model */
static struct tgs_tensor *build_swin_block(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    const struct swin_arg *a = ctx;
    return tgs_layer_swin_block(g, in[0], "blk", a->heads, a->ws, a->shift, a->tw, a->mlp, 0);
}

/* x (B,H,W,C) -> (B,H/2,W/2,2C) */
static struct tgs_tensor *build_patch_merge(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    (void)ctx;
    return tgs_layer_patch_merge(g, in[0], "merge");
}

/* x (N,in,H,W) -> every level of the encoder, each flattened to (1, size)
 * and concatenated: the stem's levels and each stage's LN-ed tokens */
static struct tgs_tensor *build_encoder(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    struct tgs_model_opts o;
    struct tgs_model_enc enc;
    if (tgs_model_parse(&o, ctx) < 0 || tgs_model_build_encoder(g, &o, in[0], &enc) < 0)
        return tgs_graph_fail(g, "%s", tgs_errmsg());
    struct tgs_tensor *out = NULL;
    for (int i = 0; i < enc.nlevels; i++) {
        struct tgs_tensor *l = tgs_reshape(g, enc.skip[i], 2, (int32_t[]){1, (int32_t)enc.skip[i]->size});
        out = out ? tgs_concat(g, out, l) : l;
    }
    return out;
}

/* noshift: the model's even blocks, 2x2 windows of 2x2 tokens per image;
 * shift: its odd blocks, windows of 3 shifted by 1 (window 3's shift) on a
 * 6x9 image, 2x3 windows, so every mask region and an h/w mix-up in roll,
 * window_partition, window_merge or the mask show; one_window: a stage no
 * larger than the model's window (2x2 of window 3: one window, unshifted,
 * the 5x5 table's centre 3x3) */
static struct swin_arg S_NOSHIFT = {2, 2, 0, 2, 2}, S_SHIFT = {2, 3, 1, 3, 2}, S_ONE = {2, 2, 0, 3, 2};
/* levels: stem (2,4,16,16), stem2 (2,8,8,8), stage 0 (2,8,4,4): windows
 * of 2, its second block shifted by 1, stage 1 (2,16,2,2): side 2 =
 * window, one unshifted window. The spec takes sides of multiples of 8
 * (its stride) whose stages its windows tile: 8, 16, 32, ... (not 24:
 * stage 1 would be 3x3); 16 is the smallest where stage 0 has more than
 * one window, and so a shifted block (at 8 every stage is one window). */
/* Patch tokens: with tokens=conv every token is made of the stem's ReLU
 * outputs, and at this size 6% of the inputs sit within a step of a kink,
 * more than the check allows; that model's gradients are held to torch's
 * instead (test_torch_models, swinunet_conv). */
static char ENC_SPEC[] = "swinunet in=1 embed=8 depths=2,2 heads=2,2 window=2 mlp=2 drop_path=0 stem=4,8 dropout=0 "
                         "scse=2 hcw=3 tokens=patch";

static const struct opcheck_case composite[] = {
    {"swin_block_noshift", 1, {IN(2, 4, 4, 8)}, build_swin_block, &S_NOSHIFT, 0, 0, 0},
    {"swin_block_shift", 1, {IN(2, 6, 9, 8)}, build_swin_block, &S_SHIFT, 0, 0, 0},
    {"swin_block_one_window", 1, {IN(2, 2, 2, 8)}, build_swin_block, &S_ONE, 0, 0, 0},
    {"patch_merge", 1, {IN(2, 4, 6, 8)}, build_patch_merge, NULL, 0, 0, 0},
    {"swinunet_encoder", 1, {IN(2, 1, 16, 16)}, build_encoder, ENC_SPEC, 0, 0, 0},
};

/* the worst of one kind of tensor (inputs or parameters) */
struct fd_tally {
    double worst, num, ana;
    const char *where;
    int64_t at;
    int checked, skipped;
};

/* Central differences over the elements idx[0..n) of tensor t (host: its
 * values, ana: its analytic gradient), put back by upload (parameters) or
 * tgs_tensor_set (inputs). */
static void fd_tensor(struct opcheck_graph *og, struct tgs_tensor *t, int param, float *host, const float *ana,
                      const int64_t *idx, int64_t n, const float *R, float *out, double f0, double eps,
                      double tol, struct fd_tally *y)
{
    const struct tgs_backend *be = tgs_params_backend(og->ps);
    double scale = 1;
    for (int64_t j = 0; j < t->size; j++)
        if (fabs(ana[j]) > scale) scale = fabs(ana[j]);
    for (int64_t k = 0; k < n; k++) {
        int64_t j = idx[k];
        float keep = host[j];
        double f[2];
        for (int s = 0; s < 2; s++) {
            host[j] = keep + (s ? -1 : 1) * (float)eps;
            if (param) be->upload(t->data + j, host + j, 1);
            else tgs_tensor_set(og->g, t, host);
            tgs_graph_forward(og->g);
            tgs_tensor_get(og->g, og->out, out);
            f[s] = opcheck_dot(out, R, og->out->size);
        }
        host[j] = keep;
        if (param) be->upload(t->data + j, host + j, 1);
        else tgs_tensor_set(og->g, t, host);
        y->checked++;
        /* a kink inside [-e, e]: the one-sided slopes disagree */
        if (fabs((f[0] - f0) - (f0 - f[1])) / eps > tol * scale) {
            y->skipped++;
            continue;
        }
        double num = (f[0] - f[1]) / (2 * eps), err = fabs(num - ana[j]) / scale;
        if (!(err <= y->worst)) y->worst = err, y->num = num, y->ana = ana[j], y->where = t->name, y->at = j;
    }
}

/* fd of a composite case: its input's and its parameters' gradients, with
 * the parameters redrawn (see above). Returns the failures (0 to 2). */
static int fd_model(const struct opcheck_case *c)
{
    char name[2][160];
    snprintf(name[0], sizeof name[0], "fd %s: input gradients", c->name);
    snprintf(name[1], sizeof name[1], "fd %s: parameter gradients", c->name);
    struct opcheck_graph og;
    if (opcheck_graph_make(&og, c, 1) < 0) {
        CHECKF(0, name[0], "%s", tgs_errmsg());
        opcheck_graph_free(&og);
        return 1;
    }
    const struct tgs_backend *be = tgs_params_backend(og.ps);
    tgs_rng r;
    tgs_rng_seed(&r, 1234, 0);
    int np = tgs_params_count(og.ps);
    float **ph = calloc(np, sizeof *ph);
    for (int i = 0; i < np; i++) {
        struct tgs_tensor *t = tgs_params_at(og.ps, i);
        if (!(t->flags & TGS_TENSOR_PARAM)) continue; /* BN running statistics */
        ph[i] = malloc(t->size * sizeof(float));
        be->download(ph[i], t->data, t->size);
        float b = sqrtf(3.0f * t->ne[0] / (float)t->size);
        for (int64_t j = 0; j < t->size; j++)
            ph[i][j] = t->ndim >= 2 ? b * (2 * tgs_rng_uniform(&r) - 1) : ph[i][j] + tgs_rng_uniform(&r) - 0.5f;
        be->upload(t->data, ph[i], t->size);
    }
    float *host[TGS_NN_MAX_SRC + 2] = {0};
    for (int i = 0; i < c->nin; i++) {
        host[i] = malloc(og.in[i]->size * sizeof(float));
        opcheck_fill(host[i], og.in[i]->size, &c->in[i], &r);
        tgs_tensor_set(og.g, og.in[i], host[i]);
    }
    int64_t no = og.out->size;
    float *R = malloc(no * sizeof(float)), *out = malloc(no * sizeof(float));
    for (int64_t i = 0; i < no; i++) R[i] = 2 * tgs_rng_uniform(&r) - 1;
    double eps = c->fd_eps > 0 ? c->fd_eps : 1e-3, tol = c->fd_tol > 0 ? c->fd_tol : 1e-2;
    struct fd_tally y[2];
    memset(y, 0, sizeof y);
    int failed = 0;
    if (tgs_graph_forward(og.g) < 0 || tgs_graph_backward_from(og.g, og.out, R) < 0) {
        CHECKF(0, name[0], "run: %s", tgs_errmsg());
        failed = 1;
        goto done;
    }
    tgs_tensor_get(og.g, og.out, out);
    double f0 = opcheck_dot(out, R, no);
    int64_t *idx = malloc(sizeof(int64_t) * 300);
    for (int i = 0; i < c->nin; i++) {
        if (!c->in[i].grad) continue;
        int64_t n = og.in[i]->size, m = n < 300 ? n : 300;
        float *ana = malloc(n * sizeof(float));
        tgs_tensor_get_grad(og.g, og.in[i], ana);
        for (int64_t k = 0; k < m; k++) idx[k] = n > 300 ? k * (n / 300) : k;
        fd_tensor(&og, og.in[i], 0, host[i], ana, idx, m, R, out, f0, eps, tol, &y[0]);
        free(ana);
    }
    for (int i = 0; i < np; i++) {
        struct tgs_tensor *t = tgs_params_at(og.ps, i);
        if (!ph[i]) continue;
        int64_t m = t->size < FD_PARAM_ELEMS ? t->size : FD_PARAM_ELEMS;
        float *ana = malloc(t->size * sizeof(float));
        be->download(ana, t->grad, t->size);
        for (int64_t k = 0; k < m; k++) idx[k] = t->size <= FD_PARAM_ELEMS ? k : tgs_rng_below(&r, (uint32_t)t->size);
        fd_tensor(&og, t, 1, ph[i], ana, idx, m, R, out, f0, eps, tol, &y[1]);
        free(ana);
    }
    free(idx);
    for (int k = 0; k < 2; k++) {
        printf("# fd %s: %s: worst %.3g (%s[%lld]: numeric %.6g, analytic %.6g), %d of %d elements skipped at a kink\n",
               c->name, k ? "parameters" : "input", y[k].worst, y[k].where ? y[k].where : "-", (long long)y[k].at,
               y[k].num, y[k].ana, y[k].skipped, y[k].checked);
        int ok = y[k].checked > 0 && y[k].worst <= tol && 20 * y[k].skipped <= y[k].checked;
        CHECKF(ok, name[k], "%s[%lld]: numeric %.6g, analytic %.6g (error %.3g > %.3g), or %d of %d skipped at a kink",
               y[k].where ? y[k].where : "-", (long long)y[k].at, y[k].num, y[k].ana, y[k].worst, tol, y[k].skipped,
               y[k].checked);
        failed += !ok;
    }
done:
    for (int i = 0; i < c->nin; i++) free(host[i]);
    for (int i = 0; i < np; i++) free(ph[i]);
    free(ph);
    free(R);
    free(out);
    opcheck_graph_free(&og);
    return failed;
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
    for (size_t i = 0; i < sizeof composite / sizeof composite[0]; i++)
        fd_model(&composite[i]), opcheck_backends(&composite[i]);
    CHECK_DONE();
}
