/* Tests of lib/common/mae.c, the pieces of tgs-mae that tools/t-mae.sh
 * cannot see from outside:
 *   the shape      patches of the model's stride, round(ratio L) hidden;
 *   the masking    exactly nhide distinct patches, the same bytes from the
 *                  same (seed, stream), others from another seed or stream,
 *                  every patch hidden about ratio of the time;
 *   the fill       hidden pixels zeroed (the encoder never sees them), the
 *                  visible ones untouched, the target normalised per patch;
 *   the loss       equal to the mean of (pred - target)^2 over the hidden
 *                  patches alone, computed here from the prediction (read
 *                  after the loss ran: tgs_keep); a
 *                  visible patch's prediction gets no gradient, a hidden
 *                  one's does; for resunet and swinunet encoders;
 *   the encoder    checkpoint: every parameter but mae.*, under the full
 *                  model's names and shapes. */
#include "check.h"
#include "err.h"
#include "mae.h"
#include "nn/ckpt_params.h"
#include "rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TINY_RES "resunet in=1 widths=4,8,16 blocks=1,1,1 dropout=0 scse=2 hcw=3"
/* at 16 x 16: resunet patches of 4 (4 x 4 of them), swinunet patches of 8
 * (stride 2^(stages+1)), 2 x 2 of them, its second stage one window */
#define TINY_SWIN "swinunet in=1 embed=8 depths=2,2 heads=2,2 window=2 mlp=2 drop_path=0 stem=4,8 dropout=0 scse=2 hcw=3"

static void test_shape(void)
{
    struct tgs_model_opts mo;
    tgs_model_parse(&mo, "resunet widths=12,24,48,96,192 blocks=1,1,1,1,1");
    tgs_mae_opts o = {0.6f};
    tgs_mae_shape sh;
    int ok = tgs_mae_shape_of(&sh, &o, &mo, 1, 112) == 0;
    CHECKF(ok && sh.p == 16 && sh.side == 7 && sh.npatch == 49 && sh.nhide == 29,
           "shape: 112 x 112 for stride 16 is 7 x 7 patches of 16, 29 hidden at 0.6", "p %d side %d npatch %d nhide %d",
           sh.p, sh.side, sh.npatch, sh.nhide);
    CHECK(tgs_mae_shape_of(&sh, &o, &mo, 1, 104) < 0 && strstr(tgs_errmsg(), "not a multiple"),
          "shape: 104 (not a multiple of 16) refused");
    CHECK(tgs_mae_shape_of(&sh, &o, &mo, 1, 16) < 0 && strstr(tgs_errmsg(), "one 16x16 patch"),
          "shape: one patch refused (nothing to hide and show)");
    o.ratio = 0.99f;
    CHECK(tgs_mae_shape_of(&sh, &o, &mo, 1, 112) == 0 && sh.nhide == 48, "shape: ratio 0.99 leaves one patch shown");
    o.ratio = 0.001f;
    CHECK(tgs_mae_shape_of(&sh, &o, &mo, 1, 112) == 0 && sh.nhide == 1, "shape: ratio 0.001 hides one patch");
}

static void test_choose(void)
{
    tgs_mae_shape sh = {.c = 1, .s = 112, .p = 16, .side = 7, .npatch = 49, .nhide = 29};
    uint8_t a[49], b[49], c[49], d[49];
    tgs_mae_choose(&sh, 5, tgs_mae_stream_train(0, 3), a);
    tgs_mae_choose(&sh, 5, tgs_mae_stream_train(0, 3), b);
    tgs_mae_choose(&sh, 6, tgs_mae_stream_train(0, 3), c);
    tgs_mae_choose(&sh, 5, tgs_mae_stream_train(1, 3), d);
    int n = 0, bad = 0;
    for (int i = 0; i < 49; i++) n += a[i], bad += a[i] > 1;
    CHECKF(n == 29 && !bad, "masking: exactly 29 of 49 patches hidden, as 0/1", "%d hidden", n);
    CHECK(memcmp(a, b, 49) == 0, "masking: the same seed and sample, the same patches");
    CHECK(memcmp(a, c, 49) != 0, "masking: another seed, other patches");
    CHECK(memcmp(a, d, 49) != 0, "masking: the same sample in the next epoch, other patches");
    tgs_mae_choose(&sh, 5, tgs_mae_stream_val(3), c);
    tgs_mae_choose(&sh, 5, tgs_mae_stream_val(4), d);
    CHECK(memcmp(a, c, 49) != 0 && memcmp(c, d, 49) != 0, "masking: validation samples have streams of their own");
    /* every patch equally likely: 4000 draws, each patch's count within
     * 5 standard deviations of 4000 * 29/49 (sd about 31) */
    int count[49] = {0}, lo = 4000, hi = 0;
    for (int k = 0; k < 4000; k++) {
        tgs_mae_choose(&sh, 1, tgs_mae_stream_train(k / 100, (uint64_t)(k % 100)), a);
        for (int i = 0; i < 49; i++) count[i] += a[i];
    }
    for (int i = 0; i < 49; i++) lo = count[i] < lo ? count[i] : lo, hi = count[i] > hi ? count[i] : hi;
    CHECKF(lo > 2367 - 155 && hi < 2367 + 155, "masking: each patch hidden about 29/49 of the time",
           "counts %d..%d of 4000, want 2367 +- 155", lo, hi);
}

static void test_fill(void)
{
    /* 2 channels, 8 x 8, patches of 4: 2 x 2 patches, 1 and 2 hidden */
    tgs_mae_shape sh = {.c = 2, .s = 8, .p = 4, .side = 2, .npatch = 4, .nhide = 2};
    uint8_t hidden[4] = {0, 1, 1, 0};
    float img[128], orig[128], hide[128], target[128], where[128];
    tgs_rng r;
    tgs_rng_seed(&r, 3, 0);
    for (int i = 0; i < 128; i++) orig[i] = img[i] = 2 + 3 * tgs_rng_normal(&r);
    tgs_mae_fill(&sh, hidden, img, hide, target, where);
    int zeroed = 1, kept = 1, hides = 1;
    for (int ch = 0; ch < 2; ch++)
        for (int y = 0; y < 8; y++)
            for (int x = 0; x < 8; x++) {
                int at = ch * 64 + y * 8 + x, h = hidden[(y / 4) * 2 + x / 4];
                if (h && img[at] != 0) zeroed = 0;
                if (!h && img[at] != orig[at]) kept = 0;
                if (hide[at] != (float)h) hides = 0;
            }
    CHECK(zeroed && kept && hides, "fill: hidden pixels 0 and marked in hide, visible ones untouched");
    /* patch 1 (py 0, px 1): its 32 target values have mean 0, variance 1
     * and are its pixels in (ch, dy, dx) order, shifted and scaled */
    double s = 0, q = 0;
    int order = 1, wh = 1;
    float m0 = 0;
    for (int ch = 0; ch < 2; ch++)
        for (int dy = 0; dy < 4; dy++)
            for (int dx = 0; dx < 4; dx++) m0 += orig[ch * 64 + dy * 8 + 4 + dx] / 32;
    for (int k = 0; k < 32; k++) {
        float v = target[k * 4 + 1];
        s += v, q += (double)v * v;
        int ch = k / 16, dy = k / 4 % 4, dx = k % 4;
        if ((v > 0) != (orig[ch * 64 + dy * 8 + 4 + dx] > m0)) order = 0;
        if (where[k * 4 + 1] != 1 || where[k * 4 + 0] != 0 || target[k * 4 + 0] != 0) wh = 0;
    }
    CHECKF(fabs(s / 32) < 1e-5 && fabs(q / 32 - 1) < 1e-4, "fill: a hidden patch's target has mean 0 and variance 1",
           "mean %g, variance %g", s / 32, q / 32);
    CHECK(order, "fill: the target's (ch*P+dy)*P+dx channel is that pixel of the patch");
    CHECK(wh, "fill: where is 1 on the hidden patch, target and where 0 on a visible one");
}

/* The loss, read from the graph, against the mean over the hidden patches
 * computed here from the prediction; and the prediction's gradient. */
static void test_loss(const char *spec, const char *name)
{
    struct tgs_model_opts mo;
    tgs_model_parse(&mo, spec);
    tgs_mae_opts o = {0.6f};
    tgs_mae_shape sh;
    int n = 3, s = 16;
    char what[160];
    if (tgs_mae_shape_of(&sh, &o, &mo, 1, s) < 0) {
        snprintf(what, sizeof what, "%s: the shape at 16 x 16", name);
        CHECKF(0, what, "%s", tgs_errmsg());
        return;
    }
    struct tgs_params *ps = tgs_params_new(tgs_backend_cpu());
    tgs_net infer, train;
    int ok = tgs_mae_params(ps, &mo, &sh, 7) == 0 && tgs_mae_net_build(&infer, ps, &mo, &sh, TGS_NET_INFER, n) == 0 &&
             tgs_mae_net_build(&train, ps, &mo, &sh, TGS_NET_TRAIN, n) == 0;
    snprintf(what, sizeof what, "%s: the pretraining nets build (%d patches of %d, %d hidden)", name, sh.npatch, sh.p,
             sh.nhide);
    CHECKF(ok, what, "%s", tgs_errmsg());
    if (!ok) {
        tgs_params_free(ps);
        return;
    }
    /* a token far from 0, so that the hidden patches' input shows it */
    struct tgs_tensor *tok = tgs_params_find(ps, "mae.token");
    float one = 0.5f;
    tgs_tensor_set(infer.g, tok, &one);
    int64_t plane = (int64_t)s * s, pp = (int64_t)sh.c * sh.p * sh.p * sh.npatch;
    float *x = malloc(sizeof(float) * (size_t)(n * plane)), *hide = malloc(sizeof(float) * (size_t)(n * plane));
    float *tg = malloc(sizeof(float) * (size_t)(n * pp)), *wh = malloc(sizeof(float) * (size_t)(n * pp));
    float *pred = malloc(sizeof(float) * (size_t)(n * pp)), *dpred = malloc(sizeof(float) * (size_t)(n * pp));
    uint8_t hd[16];
    tgs_rng r;
    tgs_rng_seed(&r, 11, 0);
    for (int64_t i = 0; i < n * plane; i++) x[i] = tgs_rng_normal(&r);
    for (int i = 0; i < n; i++) {
        tgs_mae_choose(&sh, 7, tgs_mae_stream_train(0, (uint64_t)i), hd);
        tgs_mae_fill(&sh, hd, x + i * plane, hide + i * plane, tg + i * pp, wh + i * pp);
    }
    tgs_net *nets[2] = {&infer, &train};
    float loss[2] = {0, 0};
    double want = 0;
    for (int k = 0; k < 2; k++) {
        tgs_net *net = nets[k];
        tgs_tensor_set(net->g, net->x, x);
        tgs_tensor_set(net->g, net->mae.hide, hide);
        tgs_tensor_set(net->g, net->mae.target, tg);
        tgs_tensor_set(net->g, net->mae.where, wh);
        tgs_graph_forward(net->g);
        tgs_tensor_get(net->g, net->total, &loss[k]);
    }
    /* the inference net's prediction, read after its loss ran (tgs_keep) */
    tgs_tensor_get(infer.g, infer.mae.pred, pred);
    int64_t nh = 0;
    for (int64_t i = 0; i < n * pp; i++)
        if (wh[i] != 0) want += ((double)pred[i] - tg[i]) * ((double)pred[i] - tg[i]), nh++;
    want /= (double)nh;
    snprintf(what, sizeof what, "%s: the loss is the mean over the hidden patches alone", name);
    CHECKF(nh == (int64_t)n * sh.nhide * sh.p * sh.p && fabs(loss[0] - want) <= 1e-5 * want, what,
           "graph %.7g, hidden-only mean %.7g over %lld values", loss[0], want, (long long)nh);
    /* gradients: none into a visible patch's prediction */
    tgs_params_zero_grad(ps);
    tgs_graph_backward(train.g, train.total);
    tgs_tensor_get_grad(train.g, train.mae.pred, dpred);
    int vis0 = 1, hid = 0;
    for (int64_t i = 0; i < n * pp; i++) {
        if (wh[i] == 0 && dpred[i] != 0) vis0 = 0;
        if (wh[i] != 0 && dpred[i] != 0) hid++;
    }
    snprintf(what, sizeof what, "%s: no gradient into a visible patch's prediction, one into each hidden", name);
    CHECKF(vis0 && hid == nh, what, "visible all 0: %d, hidden with a gradient %d of %lld", vis0, hid, (long long)nh);
    float dtok;
    tgs_tensor_get_grad(train.g, tok, &dtok);
    snprintf(what, sizeof what, "%s: the token learns (a gradient)", name);
    CHECKF(dtok != 0 && isfinite(dtok), what, "%g", dtok);

    /* the encoder checkpoint: the full model's encoder tensors, no mae.* */
    tgs_ckpt c;
    tgs_ckpt_init(&c);
    ok = tgs_mae_put_encoder(&c, ps) == 0;
    struct tgs_params *full = tgs_params_new(tgs_backend_cpu());
    struct tgs_graph *g = tgs_graph_new(full);
    struct tgs_model_out out;
    ok = ok && tgs_model_build(g, &mo, tgs_input(g, "x", 4, (int32_t[]){1, 1, s, s}), &out) == 0 &&
         tgs_params_alloc(full, 1) == 0;
    int matched = 0;
    ok = ok && tgs_ckpt_get_params(&c, full, 0, &matched) == 0;
    int mae_named = 0;
    for (int i = 0; i < tgs_params_count(ps); i++) mae_named += !strncmp(tgs_params_at(ps, i)->name, "mae.", 4);
    snprintf(what, sizeof what, "%s: encoder.ckpt = every tensor but the 3 of mae.*, all in the full model", name);
    CHECKF(ok && mae_named == 3 && matched == tgs_params_count(ps) - 3, what, "%s; matched %d of %d - %d", tgs_errmsg(),
           matched, tgs_params_count(ps), mae_named);
    tgs_ckpt_free(&c);
    tgs_graph_free(g);
    tgs_params_free(full);
    free(x), free(hide), free(tg), free(wh), free(pred), free(dpred);
    tgs_graph_free(infer.g);
    tgs_graph_free(train.g);
    tgs_params_free(ps);
}

int main(void)
{
    tgs_cpu_set_threads(2);
    test_shape();
    test_choose();
    test_fill();
    test_loss(TINY_RES, "resunet");
    test_loss(TINY_SWIN, "swinunet");
    test_loss(TINY_SWIN " tokens=patch", "swinunet tokens=patch");
    CHECK_DONE();
}
