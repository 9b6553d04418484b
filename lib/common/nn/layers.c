/* layers: parameter declaration plus ops, for the models. */
#include "nn/layers.h"

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
