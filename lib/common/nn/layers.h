/* layers: the few building blocks models are made of, each declaring its
 * parameters under a name prefix so checkpoints read like PyTorch's state
 * dicts ("enc.0.0.weight", "enc.0.1.running_mean"). */
#ifndef TGS_LAYERS_H
#define TGS_LAYERS_H

#include "nn/nn.h"

/* k x k conv, torch's default init; bias optional. x (N,C,H,W) -> (N,cout,Ho,Wo). */
struct tgs_tensor *tgs_layer_conv(struct tgs_graph *g, struct tgs_tensor *x, const char *name, int cout, int k,
                                  int stride, int pad, int bias);
/* Batch norm (eps 1e-5, momentum 0.1) with weight, bias, running_mean,
 * running_var; relu fuses a ReLU. */
struct tgs_tensor *tgs_layer_bn(struct tgs_graph *g, struct tgs_tensor *x, const char *name, int relu);
/* relu(bn(x) + r): a ResNet block's last BN, residual add and ReLU, fused */
struct tgs_tensor *tgs_layer_bn_add_relu(struct tgs_graph *g, struct tgs_tensor *x, const char *name,
                                         struct tgs_tensor *r);
/* x (..., I) -> (..., out) */
struct tgs_tensor *tgs_layer_linear(struct tgs_graph *g, struct tgs_tensor *x, const char *name, int out, int bias);
/* x (..., I) -> (..., out) with the ViT/Swin init: weight truncated normal
 * (std 0.02, cut at 2 std), bias zero */
struct tgs_tensor *tgs_layer_linear_tn(struct tgs_graph *g, struct tgs_tensor *x, const char *name, int out,
                                       int bias);
/* LayerNorm over the last dim, torch's (eps 1e-5, weight 1, bias 0) */
struct tgs_tensor *tgs_layer_ln(struct tgs_graph *g, struct tgs_tensor *x, const char *name);
/* scSE (Roy et al. 2018): x * cSE(x) + x * sSE(x), channel squeeze by r. */
struct tgs_tensor *tgs_layer_scse(struct tgs_graph *g, struct tgs_tensor *x, const char *name, int r);

/* Swin's pre-norm block on tokens x (B,H,W,C), H and W multiples of ws:
 * x += drop_path(attn(norm1(x))), then x += drop_path(mlp(norm2(x))), the
 * MLP fc1 (mlp*C) - GELU - fc2. attn: windows of ws x ws, rolled by
 * -shift first (and back after) when shift > 0, with Swin's mask between
 * the rolled regions; q, k, v as three linears (attn.q, attn.k, attn.v;
 * k without bias, which the softmax cancels),
 * heads of C/heads channels, scores scaled by 1/sqrt(C/heads) plus
 * attn.relative_position_bias_table ((2tw-1)^2, heads), tw >= ws the
 * model's window (the table's shape does not depend on the input size);
 * attn.proj.
 * dp: stochastic depth, a residual branch dropped per sample (in training
 * and Monte Carlo dropout passes). */
struct tgs_tensor *tgs_layer_swin_block(struct tgs_graph *g, struct tgs_tensor *x, const char *prefix, int heads,
                                        int ws, int shift, int tw, int mlp, float dp);
/* Swin's patch merging (B,H,W,C) -> (B,H/2,W/2,2C): the tokens of each 2x2
 * neighbourhood concatenated in row-major order (0,0) (0,1) (1,0) (1,1)
 * (Swin's own is (0,0) (1,0) (0,1) (1,1)), then norm (LN of 4C) and
 * reduction (linear 4C -> 2C, no bias). */
struct tgs_tensor *tgs_layer_patch_merge(struct tgs_graph *g, struct tgs_tensor *x, const char *prefix);

/* name = prefix + "." + leaf, into a static-free caller buffer */
const char *tgs_layer_name(char *buf, size_t size, const char *prefix, const char *leaf);

#endif
