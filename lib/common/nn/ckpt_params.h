/* ckpt_params: the bridge between a checkpoint (checkpoint.h, the
 * safetensors container) and the engine: a model's parameters and buffers
 * saved into it and loaded from it by name. */
#ifndef TGS_CKPT_PARAMS_H
#define TGS_CKPT_PARAMS_H

#include "checkpoint.h"
#include "nn/nn.h"

/* Add every parameter and buffer of ps under its own name, F32, its shape. */
int tgs_ckpt_put_params(tgs_ckpt *c, struct tgs_params *ps);
/* Load every parameter and buffer of ps from c by name.
 * strict: every one must be there with the same shape, and every tensor of
 * c outside the prefixes "optim." and "train." must be one of them (a
 * checkpoint of this very model).
 * !strict (an --init from another model): tensors whose names match are
 * loaded, a matching name with another shape or dtype is an error, the
 * rest is left alone; *matched (may be NULL) gets the count loaded.
 * Either way a tensor holding a NaN or an infinity is refused by name. */
int tgs_ckpt_get_params(const tgs_ckpt *c, struct tgs_params *ps, int strict, int *matched);

#endif
