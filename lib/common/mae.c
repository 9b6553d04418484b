/* mae: masked-image pretraining (see mae.h). */
#include "mae.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "nn/ckpt_params.h"
#include "nn/dropout.h"
#include "nn/layers.h"
#include "pngio.h"
#include "rng.h"

int tgs_mae_shape_of(tgs_mae_shape *sh, const tgs_mae_opts *o, const struct tgs_model_opts *mo, int c, int s) {
    memset(sh, 0, sizeof *sh);
    sh->c = c, sh->s = s, sh->p = tgs_model_stride(mo);
    if (s % sh->p) return tgs_err("the input side %d is not a multiple of the model's stride %d", s, sh->p);
    sh->side = s / sh->p;
    sh->npatch = sh->side * sh->side;
    if (sh->npatch > 4096) return tgs_err("a %dx%d input is %d patches of %dx%d, more than 4096", s, s, sh->npatch, sh->p, sh->p);
    if (sh->npatch < 2) return tgs_err("a %dx%d input is one %dx%d patch: nothing to hide and show", s, s, sh->p, sh->p);
    sh->nhide = (int)lrintf(o->ratio * (float)sh->npatch);
    if (sh->nhide < 1) sh->nhide = 1;
    if (sh->nhide > sh->npatch - 1) sh->nhide = sh->npatch - 1;
    return 0;
}

/* A partial Fisher-Yates shuffle: the first nhide of a permutation. */
void tgs_mae_choose(const tgs_mae_shape *sh, uint64_t seed, uint64_t stream, uint8_t *hidden) {
    int idx[4096], n = sh->npatch;
    tgs_rng r;
    tgs_rng_seed(&r, seed, stream);
    for (int i = 0; i < n; i++) idx[i] = i;
    memset(hidden, 0, (size_t)n);
    for (int i = 0; i < sh->nhide; i++) {
        int j = i + (int)tgs_rng_below(&r, (uint32_t)(n - i));
        int t = idx[i];
        idx[i] = idx[j], idx[j] = t;
        hidden[idx[i]] = 1;
    }
}

/* Distinct streams: training samples by epoch and index, validation
 * samples by index alone under another tag. */
uint64_t tgs_mae_stream_train(int64_t epoch, uint64_t index) {
    return tgs_drop_mix64(tgs_drop_mix64((uint64_t)epoch + 1) ^ index);
}
uint64_t tgs_mae_stream_val(uint64_t index) { return tgs_drop_mix64(0x76616cULL ^ tgs_drop_mix64(index)); }

void tgs_mae_fill(const tgs_mae_shape *sh, const uint8_t *hidden, float *img, float *hide, float *target, float *where) {
    int c = sh->c, s = sh->s, p = sh->p, side = sh->side;
    size_t plane = (size_t)s * (size_t)s, pplane = (size_t)side * (size_t)side;
    int per = c * p * p; /* values in a patch */
    for (int py = 0; py < side; py++)
        for (int px = 0; px < side; px++) {
            int h = hidden[py * side + px];
            double sum = 0, sq = 0;
            if (h)
                for (int ch = 0; ch < c; ch++)
                    for (int dy = 0; dy < p; dy++)
                        for (int dx = 0; dx < p; dx++) {
                            double v = img[(size_t)ch * plane + (size_t)(py * p + dy) * (size_t)s + (size_t)(px * p + dx)];
                            sum += v, sq += v * v;
                        }
            double mean = sum / per, var = sq / per - mean * mean;
            double inv = 1 / sqrt((var > 0 ? var : 0) + 1e-6);
            for (int ch = 0; ch < c; ch++)
                for (int dy = 0; dy < p; dy++)
                    for (int dx = 0; dx < p; dx++) {
                        size_t at = (size_t)ch * plane + (size_t)(py * p + dy) * (size_t)s + (size_t)(px * p + dx);
                        size_t k = (size_t)((ch * p + dy) * p + dx) * pplane + (size_t)(py * side + px);
                        target[k] = h ? (float)((img[at] - mean) * inv) : 0;
                        where[k] = (float)h;
                        hide[at] = (float)h;
                        if (h) img[at] = 0;
                    }
        }
}

int tgs_mae_net_build(tgs_net *net, struct tgs_params *ps, const struct tgs_model_opts *mo, const tgs_mae_shape *sh,
                      int mode, int n) {
    memset(net, 0, sizeof *net);
    int c = sh->c, s = sh->s, per = sh->c * sh->p * sh->p;
    net->n = n, net->c = c, net->s = s;
    if (c != mo->in_ch) return tgs_err("the model takes %d input channels, the samples have %d", mo->in_ch, c);
    struct tgs_graph *g = net->g = tgs_graph_new(ps);
    if (!g) return -1;
    net->x = tgs_input(g, "image", 4, (int32_t[]){n, c, s, s});
    net->mae.hide = tgs_input(g, "mae_hide", 4, (int32_t[]){n, c, s, s});
    net->mae.target = tgs_input(g, "mae_target", 4, (int32_t[]){n, per, sh->side, sh->side});
    net->mae.where = tgs_input(g, "mae_where", 4, (int32_t[]){n, per, sh->side, sh->side});
    /* the token: a learned value per channel where a patch is hidden
     * (the hidden pixels of x are 0) */
    struct tgs_tensor *token = tgs_param(g, "mae.token", 4, (int32_t[]){1, c, 1, 1}, TGS_INIT_ZEROS, 0);
    struct tgs_tensor *x = tgs_add(g, net->x, tgs_mul(g, net->mae.hide, token));
    struct tgs_model_enc enc;
    if (tgs_model_build_encoder(g, mo, x, &enc) < 0) goto fail;
    struct tgs_tensor *deep = enc.skip[enc.nlevels - 1];
    net->mae.pred = tgs_layer_conv(g, deep, "mae.pred", per, 1, 1, 0, 1);
    tgs_keep(net->mae.pred); /* read for recon.png after the loss has run */
    /* mean over all entries of (pred where - target)^2, scaled to the
     * mean over the hidden ones: the same count in every sample */
    struct tgs_tensor *masked = tgs_mul(g, net->mae.pred, net->mae.where);
    net->total = tgs_loss(g, TGS_OP_LOSS_MSE, masked, net->mae.target, (float)sh->npatch / (float)sh->nhide);
    return tgs_net_plan(net, mode);
fail:
    tgs_graph_free(g);
    net->g = NULL;
    return -1;
}

int tgs_mae_params(struct tgs_params *ps, const struct tgs_model_opts *mo, const tgs_mae_shape *sh, uint64_t seed) {
    struct tgs_graph *g = tgs_graph_new(ps);
    if (!g) return -1;
    int c = sh->c, s = sh->s, per = c * sh->p * sh->p;
    struct tgs_tensor *x = tgs_input(g, "image", 4, (int32_t[]){2, c, s, s});
    struct tgs_tensor *hide = tgs_input(g, "mae_hide", 4, (int32_t[]){2, c, s, s});
    struct tgs_tensor *token = tgs_param(g, "mae.token", 4, (int32_t[]){1, c, 1, 1}, TGS_INIT_ZEROS, 0);
    struct tgs_model_enc enc;
    int rc = tgs_model_build_encoder(g, mo, tgs_add(g, x, tgs_mul(g, hide, token)), &enc);
    if (rc == 0 && !tgs_layer_conv(g, enc.skip[enc.nlevels - 1], "mae.pred", per, 1, 1, 0, 1))
        rc = tgs_err("%s", tgs_graph_error(g) ? tgs_graph_error(g) : "mae.pred");
    tgs_graph_free(g);
    if (rc < 0) return -1;
    return tgs_params_alloc(ps, seed);
}

/* ---- the picture ---- */

static uint8_t to_u8(float v, float lo, float scale) {
    float x = (v - lo) * scale;
    return (uint8_t)(x < 0 ? 0 : x > 255 ? 255 : lrintf(x));
}

int tgs_mae_grid_png(const char *path, const tgs_mae_shape *sh, int n, const float *orig, const uint8_t *hidden,
                     const float *pred) {
    int c = sh->c, s = sh->s, p = sh->p, side = sh->side, gap = 4;
    int w = 3 * s + 2 * gap, h = n * s + (n - 1) * gap;
    size_t plane = (size_t)s * (size_t)s, pplane = (size_t)side * (size_t)side;
    size_t per = (size_t)c * (size_t)p * (size_t)p;
    uint8_t *px = malloc((size_t)w * (size_t)h);
    if (!px) return tgs_err("out of memory");
    memset(px, 255, (size_t)w * (size_t)h);
    int ch = c / 2;
    for (int i = 0; i < n; i++) {
        const float *im = orig + (size_t)i * (size_t)c * plane, *one = im + (size_t)ch * plane;
        const float *pr = pred + (size_t)i * per * pplane;
        const uint8_t *hid = hidden + (size_t)i * (size_t)sh->npatch;
        float lo = one[0], hi = one[0];
        for (size_t k = 0; k < plane; k++) lo = one[k] < lo ? one[k] : lo, hi = one[k] > hi ? one[k] : hi;
        float scale = hi > lo ? 255 / (hi - lo) : 0;
        for (int py = 0; py < side; py++)
            for (int qx = 0; qx < side; qx++) {
                int hd = hid[py * side + qx];
                /* the patch's own mean and deviation over its C*P*P values, as the target was made */
                double sum = 0, sq = 0;
                for (int cc = 0; cc < c; cc++)
                    for (int dy = 0; dy < p; dy++)
                        for (int dx = 0; dx < p; dx++) {
                            double v = im[(size_t)cc * plane + (size_t)(py * p + dy) * (size_t)s + (size_t)(qx * p + dx)];
                            sum += v, sq += v * v;
                        }
                double mean = sum / (double)per, var = sq / (double)per - mean * mean;
                double sd = sqrt((var > 0 ? var : 0) + 1e-6);
                for (int dy = 0; dy < p; dy++)
                    for (int dx = 0; dx < p; dx++) {
                        int y = py * p + dy, x = qx * p + dx;
                        float v = one[(size_t)y * (size_t)s + (size_t)x];
                        size_t k = (size_t)((ch * p + dy) * p + dx) * pplane + (size_t)(py * side + qx);
                        float rec = hd ? (float)(pr[k] * sd + mean) : v;
                        uint8_t *row = px + (size_t)(i * (s + gap) + y) * (size_t)w;
                        row[x] = hd ? 128 : to_u8(v, lo, scale);
                        row[s + gap + x] = to_u8(rec, lo, scale);
                        row[2 * (s + gap) + x] = to_u8(v, lo, scale);
                    }
            }
    }
    int rc = tgs_png_write_gray8(path, px, w, h);
    free(px);
    return rc;
}

int tgs_mae_put_encoder(tgs_ckpt *c, struct tgs_params *ps) {
    tgs_ckpt all;
    tgs_ckpt_init(&all);
    int rc = tgs_ckpt_put_params(&all, ps);
    for (int k = 0; rc == 0 && k < all.n; k++) {
        const tgs_ckpt_tensor *t = &all.t[k];
        if (strncmp(t->name, "mae.", 4) == 0) continue;
        rc = tgs_ckpt_add(c, t->name, t->dtype, t->ndim, t->shape, t->data);
    }
    tgs_ckpt_free(&all);
    return rc;
}
