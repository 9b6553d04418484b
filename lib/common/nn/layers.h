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
/* scSE (Roy et al. 2018): x * cSE(x) + x * sSE(x), channel squeeze by r. */
struct tgs_tensor *tgs_layer_scse(struct tgs_graph *g, struct tgs_tensor *x, const char *name, int r);

/* name = prefix + "." + leaf, into a static-free caller buffer */
const char *tgs_layer_name(char *buf, size_t size, const char *prefix, const char *leaf);

#endif
