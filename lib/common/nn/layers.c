/* layers: parameter declaration plus ops, for the models. */
#include "nn/layers.h"

#include <math.h>
#include <stdio.h>

const char *tgs_layer_name(char *buf, size_t size, const char *prefix, const char *leaf) {
    snprintf(buf, size, "%s.%s", prefix, leaf);
    return buf;
}

struct tgs_tensor *tgs_layer_conv(struct tgs_graph *g, struct tgs_tensor *x, const char *name, int cout, int k,
                                  int stride, int pad, int bias) {
    if (!x) return NULL;
    char nm[256];
    int32_t cin = x->ne[1];
    struct tgs_tensor *w = tgs_param(g, tgs_layer_name(nm, sizeof nm, name, "weight"), 4,
                                     (int32_t[]){cout, cin, k, k}, TGS_INIT_KAIMING_UNIFORM, 0);
    struct tgs_tensor *b = NULL;
    if (bias)
        b = tgs_param(g, tgs_layer_name(nm, sizeof nm, name, "bias"), 1, (int32_t[]){cout}, TGS_INIT_FAN_IN_UNIFORM,
                      (int64_t)cin * k * k);
    if (!w || (bias && !b)) return NULL;
    return tgs_conv2d(g, x, w, b, stride, pad, 1);
}

/* BN with torch's names and defaults (eps 1e-5, momentum 0.1); r: NULL, or
 * the residual of relu(bn(x) + r) */
static struct tgs_tensor *layer_bn(struct tgs_graph *g, struct tgs_tensor *x, const char *name, int relu,
                                   struct tgs_tensor *r) {
    if (!x) return NULL;
    char nm[256];
    int32_t c[1] = {x->ne[1]};
    struct tgs_tensor *gamma = tgs_param(g, tgs_layer_name(nm, sizeof nm, name, "weight"), 1, c, TGS_INIT_ONES, 0);
    struct tgs_tensor *beta = tgs_param(g, tgs_layer_name(nm, sizeof nm, name, "bias"), 1, c, TGS_INIT_ZEROS, 0);
    struct tgs_tensor *mean = tgs_buffer(g, tgs_layer_name(nm, sizeof nm, name, "running_mean"), 1, c, TGS_INIT_ZEROS);
    struct tgs_tensor *var = tgs_buffer(g, tgs_layer_name(nm, sizeof nm, name, "running_var"), 1, c, TGS_INIT_ONES);
    if (r) return tgs_batchnorm_add_relu(g, x, gamma, beta, mean, var, 1e-5f, 0.1f, r);
    return tgs_batchnorm(g, x, gamma, beta, mean, var, 1e-5f, 0.1f, relu);
}

struct tgs_tensor *tgs_layer_bn(struct tgs_graph *g, struct tgs_tensor *x, const char *name, int relu) {
    return layer_bn(g, x, name, relu, NULL);
}

struct tgs_tensor *tgs_layer_bn_add_relu(struct tgs_graph *g, struct tgs_tensor *x, const char *name,
                                         struct tgs_tensor *r) {
    if (!r) return NULL;
    return layer_bn(g, x, name, 1, r);
}

struct tgs_tensor *tgs_layer_linear(struct tgs_graph *g, struct tgs_tensor *x, const char *name, int out, int bias) {
    if (!x) return NULL;
    char nm[256];
    int32_t in = x->ne[x->ndim - 1];
    struct tgs_tensor *w =
        tgs_param(g, tgs_layer_name(nm, sizeof nm, name, "weight"), 2, (int32_t[]){out, in}, TGS_INIT_KAIMING_UNIFORM, 0);
    struct tgs_tensor *b = NULL;
    if (bias) b = tgs_param(g, tgs_layer_name(nm, sizeof nm, name, "bias"), 1, (int32_t[]){out}, TGS_INIT_FAN_IN_UNIFORM, in);
    if (!w || (bias && !b)) return NULL;
    return tgs_linear(g, x, w, b);
}

struct tgs_tensor *tgs_layer_linear_tn(struct tgs_graph *g, struct tgs_tensor *x, const char *name, int out,
                                       int bias) {
    if (!x) return NULL;
    char nm[256];
    int32_t in = x->ne[x->ndim - 1];
    struct tgs_tensor *w =
        tgs_param(g, tgs_layer_name(nm, sizeof nm, name, "weight"), 2, (int32_t[]){out, in}, TGS_INIT_TRUNC_NORMAL, 0);
    struct tgs_tensor *b = NULL;
    if (bias) b = tgs_param(g, tgs_layer_name(nm, sizeof nm, name, "bias"), 1, (int32_t[]){out}, TGS_INIT_ZEROS, 0);
    if (!w || (bias && !b)) return NULL;
    return tgs_linear(g, x, w, b);
}

struct tgs_tensor *tgs_layer_ln(struct tgs_graph *g, struct tgs_tensor *x, const char *name) {
    if (!x) return NULL;
    char nm[256];
    int32_t c[1] = {x->ne[x->ndim - 1]};
    struct tgs_tensor *gamma = tgs_param(g, tgs_layer_name(nm, sizeof nm, name, "weight"), 1, c, TGS_INIT_ONES, 0);
    struct tgs_tensor *beta = tgs_param(g, tgs_layer_name(nm, sizeof nm, name, "bias"), 1, c, TGS_INIT_ZEROS, 0);
    return tgs_layernorm(g, x, gamma, beta, 1e-5f);
}

/* Channel gate: GAP (N,C) -> linear C/r -> ReLU -> linear C -> sigmoid,
 * as (N,C,1,1); spatial gate: 1x1 conv to one map -> sigmoid, (N,1,H,W).
 * The two gated copies are added (the "concurrent" scSE of the paper). */
struct tgs_tensor *tgs_layer_scse(struct tgs_graph *g, struct tgs_tensor *x, const char *name, int r) {
    if (!x) return NULL;
    char nm[256];
    int32_t n = x->ne[0], c = x->ne[1];
    int mid = c / r > 0 ? c / r : 1;
    struct tgs_tensor *s = tgs_gap(g, x);
    s = tgs_relu(g, tgs_layer_linear(g, s, tgs_layer_name(nm, sizeof nm, name, "cse.fc1"), mid, 1));
    s = tgs_sigmoid(g, tgs_layer_linear(g, s, tgs_layer_name(nm, sizeof nm, name, "cse.fc2"), c, 1));
    s = tgs_reshape(g, s, 4, (int32_t[]){n, c, 1, 1});
    struct tgs_tensor *q = tgs_sigmoid(g, tgs_layer_conv(g, x, tgs_layer_name(nm, sizeof nm, name, "sse"), 1, 1, 1, 0, 1));
    return tgs_add(g, tgs_mul(g, x, s), tgs_mul(g, x, q));
}

/* ---- Swin-Transformer blocks (microsoft/Swin-Transformer,
 * models/swin_transformer.py): tokens (B,H,W,C), channels last ---- */

/* (B*, n, heads*d) -> (B* heads, n, d): each head's tokens as one matmul batch */
static struct tgs_tensor *heads_first(struct tgs_graph *g, struct tgs_tensor *x, int bw, int n, int heads, int d) {
    x = tgs_reshape(g, x, 4, (int32_t[]){bw, n, heads, d});
    x = tgs_permute(g, x, (int32_t[]){0, 2, 1, 3});
    return tgs_reshape(g, x, 3, (int32_t[]){bw * heads, n, d});
}

/* Window attention of normed tokens x (B,H,W,C), windows ws, shifted by
 * shift (rolled by -shift first, back after): softmax(q k^T / sqrt(d) +
 * relative position bias + mask) v, then proj. */
static struct tgs_tensor *swin_attention(struct tgs_graph *g, struct tgs_tensor *x, const char *prefix, int heads,
                                         int ws, int shift, int tw) {
    if (!x) return NULL;
    char nm[256];
    int B = x->ne[0], H = x->ne[1], W = x->ne[2], C = x->ne[3], d = C / heads, n = ws * ws;
    int bw = B * (H / ws) * (W / ws);
    if (heads < 1 || C % heads) return tgs_graph_fail(g, "%s: %d channels do not split into %d heads", prefix, C, heads);
    if (shift) x = tgs_roll(g, x, -shift, -shift);
    x = tgs_window_partition(g, x, ws); /* (bw, n, C) */
    snprintf(nm, sizeof nm, "%s.q", prefix);
    struct tgs_tensor *q = heads_first(g, tgs_layer_linear_tn(g, x, nm, C, 1), bw, n, heads, d);
    /* no bias on k (as BEiT): q . b is the same for every key of a query,
     * so the softmax cancels it; its gradient would be float noise, which
     * Adam's normalised steps turn into moves of lr */
    snprintf(nm, sizeof nm, "%s.k", prefix);
    struct tgs_tensor *k = heads_first(g, tgs_layer_linear_tn(g, x, nm, C, 0), bw, n, heads, d);
    snprintf(nm, sizeof nm, "%s.v", prefix);
    struct tgs_tensor *v = heads_first(g, tgs_layer_linear_tn(g, x, nm, C, 1), bw, n, heads, d);
    struct tgs_tensor *s = tgs_matmul(g, tgs_scale(g, q, 1 / sqrtf((float)d)), k, 0, 1); /* (bw*heads, n, n) */
    snprintf(nm, sizeof nm, "%s.relative_position_bias_table", prefix);
    struct tgs_tensor *table =
        tgs_param(g, nm, 2, (int32_t[]){(2 * tw - 1) * (2 * tw - 1), heads}, TGS_INIT_TRUNC_NORMAL, 0);
    s = tgs_attn_bias(g, tgs_reshape(g, s, 4, (int32_t[]){bw, heads, n, n}), table, ws, shift, H, W);
    s = tgs_reshape(g, tgs_softmax(g, s), 3, (int32_t[]){bw * heads, n, n});
    x = tgs_matmul(g, s, v, 0, 0); /* (bw*heads, n, d) */
    x = tgs_permute(g, tgs_reshape(g, x, 4, (int32_t[]){bw, heads, n, d}), (int32_t[]){0, 2, 1, 3});
    snprintf(nm, sizeof nm, "%s.proj", prefix);
    x = tgs_layer_linear_tn(g, tgs_reshape(g, x, 3, (int32_t[]){bw, n, C}), nm, C, 1);
    x = tgs_window_merge(g, x, ws, H, W);
    return shift ? tgs_roll(g, x, shift, shift) : x;
}

/* Stochastic depth: a residual branch x (B,H,W,C) dropped per sample with
 * probability p in training (and in Monte Carlo dropout passes), the kept
 * ones scaled by 1/(1-p): dropout2d's whole planes, with a sample as the
 * plane of a (1,B,H*W,C) view. */
static struct tgs_tensor *drop_path(struct tgs_graph *g, struct tgs_tensor *x, float p) {
    if (!x || p <= 0) return x;
    int32_t ne[4] = {x->ne[0], x->ne[1], x->ne[2], x->ne[3]};
    x = tgs_dropout2d(g, tgs_reshape(g, x, 4, (int32_t[]){1, ne[0], ne[1] * ne[2], ne[3]}), p);
    return tgs_reshape(g, x, 4, ne);
}

struct tgs_tensor *tgs_layer_swin_block(struct tgs_graph *g, struct tgs_tensor *x, const char *prefix, int heads,
                                        int ws, int shift, int tw, int mlp, float dp) {
    if (!x) return NULL;
    char nm[192];
    int C = x->ne[3];
    snprintf(nm, sizeof nm, "%s.norm1", prefix);
    struct tgs_tensor *h = tgs_layer_ln(g, x, nm);
    snprintf(nm, sizeof nm, "%s.attn", prefix);
    x = tgs_add(g, x, drop_path(g, swin_attention(g, h, nm, heads, ws, shift, tw), dp));
    snprintf(nm, sizeof nm, "%s.norm2", prefix);
    h = tgs_layer_ln(g, x, nm);
    snprintf(nm, sizeof nm, "%s.mlp.fc1", prefix);
    h = tgs_gelu(g, tgs_layer_linear_tn(g, h, nm, mlp * C, 1));
    snprintf(nm, sizeof nm, "%s.mlp.fc2", prefix);
    return tgs_add(g, x, drop_path(g, tgs_layer_linear_tn(g, h, nm, C, 1), dp));
}

/* (0,0) (0,1) (1,0) (1,1): x (B*H/2, dy, W/2, dx*C) viewed, dy and W/2 swapped */
struct tgs_tensor *tgs_layer_patch_merge(struct tgs_graph *g, struct tgs_tensor *x, const char *prefix) {
    if (!x) return NULL;
    char nm[192];
    int B = x->ne[0], H = x->ne[1], W = x->ne[2], C = x->ne[3];
    x = tgs_permute(g, tgs_reshape(g, x, 4, (int32_t[]){B * H / 2, 2, W / 2, 2 * C}), (int32_t[]){0, 2, 1, 3});
    x = tgs_reshape(g, x, 4, (int32_t[]){B, H / 2, W / 2, 4 * C});
    snprintf(nm, sizeof nm, "%s.norm", prefix);
    x = tgs_layer_ln(g, x, nm);
    snprintf(nm, sizeof nm, "%s.reduction", prefix);
    return tgs_layer_linear_tn(g, x, nm, 2 * C, 0);
}
