/* mae: masked-image pretraining of an encoder (tgs-mae), SimMIM style
 * (Xie et al. 2022), which suits the Swin encoder and a CNN encoder alike.
 *
 * The input (C x S x S, as tgs-train's) is cut into patches of P x P
 * pixels, P the model's stride, so that a patch is one pixel of the
 * encoder's deepest level (S/P x S/P). Of those L patches exactly
 * round(ratio L) are hidden, chosen from the seed and the sample; the
 * encoder sees the input with a learned value per channel (the mask
 * token, "mae.token") where a patch is hidden. A light decoder, one 1x1
 * conv of the deepest features ("mae.pred"), predicts the C*P*P pixels of
 * every patch; the loss is the MSE on the hidden patches only, against
 * the pixels normalised per patch (their mean and standard deviation over
 * the patch's C*P*P values, as MAE's norm_pix_loss), so the encoder learns
 * structure rather than the brightness of a patch.
 *
 * Layouts: a patch's pixels are the channels of the prediction, index
 * (ch * P + dy) * P + dx, at (S/P x S/P): target and 'where' (1 on the
 * hidden patches) are (N, C*P*P, S/P, S/P) like the prediction. The loss
 * is mean((pred * where - target)^2) over all of it, times L / hidden, the
 * mean over the hidden entries: the target is 0 outside them, and the
 * visible patches get no gradient. */
#ifndef TGS_MAE_H
#define TGS_MAE_H

#include <stddef.h>
#include <stdint.h>

#include "nn/model.h"
#include "nn/nn.h"
#include "train.h"

#define TGS_MAE_DEFAULT_RATIO 0.6f

typedef struct {
    float ratio;  /* of the patches hidden, in (0, 1) */
} tgs_mae_opts;

/* The shape of the task for a model at side s. */
typedef struct {
    int c, s, p;  /* channels, side, patch */
    int side;     /* s / p: patches a row */
    int npatch;   /* side * side */
    int nhide;    /* hidden a sample: round(ratio npatch), at least 1, at most npatch - 1 */
} tgs_mae_shape;

int tgs_mae_shape_of(tgs_mae_shape *sh, const tgs_mae_opts *o, const struct tgs_model_opts *mo, int c, int s);

/* hidden[npatch]: 1 on exactly nhide patches, drawn from (seed, stream). */
void tgs_mae_choose(const tgs_mae_shape *sh, uint64_t seed, uint64_t stream, uint8_t *hidden);
/* The stream of a training sample (epoch from 0, index its place in the
 * epoch, so that a stream resumed at a later epoch draws the same masks)
 * and of a validation sample (the same masks every epoch). */
uint64_t tgs_mae_stream_train(int64_t epoch, uint64_t index);
uint64_t tgs_mae_stream_val(uint64_t index);

/* From one model input img (C x S x S) and its hidden patches: target and
 * where (C*P*P x side x side), hide (C x S x S: 1 on hidden pixels); then
 * img's hidden pixels are set to 0, the encoder's input before the token. */
void tgs_mae_fill(const tgs_mae_shape *sh, const uint8_t *hidden, float *img, float *hide, float *target, float *where);

/* The pretraining graph on ps for n inputs: the encoder (parameter names
 * as the full model's, tgs_model_build_encoder), the token and the
 * decoder. net->x is the masked input, net->total the loss, net->mae the
 * other tensors. Planned for mode (TGS_NET_TRAIN or TGS_NET_INFER). */
int tgs_mae_net_build(tgs_net *net, struct tgs_params *ps, const struct tgs_model_opts *mo, const tgs_mae_shape *sh,
                      int mode, int n);
/* Declare the pretraining model's parameters on ps and allocate them. */
int tgs_mae_params(struct tgs_params *ps, const struct tgs_model_opts *mo, const tgs_mae_shape *sh, uint64_t seed);

/* A PNG of n rows, each: the input with its hidden patches grey, the
 * reconstruction (visible pixels as given, hidden ones the prediction
 * brought back to the patch's own mean and deviation), the original;
 * channel c/2 (the tile of a 2.5D stack), each row scaled to its
 * original's range. orig (n x C x S x S), hidden (n x npatch), pred
 * (n x C*P*P x side x side). */
int tgs_mae_grid_png(const char *path, const tgs_mae_shape *sh, int n, const float *orig, const uint8_t *hidden,
                     const float *pred);

/* Every parameter and buffer of ps but the pretraining head ("mae.*")
 * into c: the encoder that tgs-train --init takes. */
int tgs_mae_put_encoder(tgs_ckpt *c, struct tgs_params *ps);

#endif
