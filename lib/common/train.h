/* train: what tgs-train and tgs-mcdrop share: turning samples into model
 * inputs, the model with its losses as a graph, the optimizer's state and
 * how it goes into a checkpoint.
 *
 * Inputs. A sample's image is either a raw tile (u8 C x H x W, as
 * tgs-stack25d writes it), padded here to S x S exactly as tgs-augment
 * pads by default (centred, reflect, x/255 then (v - mean) / std, through
 * lib/common/augment.h), or already a model input (f32 C x S x S, as
 * tgs-augment writes it, with its 'crop' record saying where the tile is).
 * S for raw tiles: the size asked for, else the smallest multiple of the
 * model's stride at least the tile's side (101 -> 104 for stride 4, 112
 * for stride 16). */
#ifndef TGS_TRAIN_H
#define TGS_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "augment.h"
#include "checkpoint.h"
#include "nn/model.h"
#include "nn/nn.h"
#include "nn/optim.h"
#include "stream.h"

/* ---- losses ---- */

/* The map parts come first: every part before TGS_LOSS_CLS is a loss of a
 * logit map against the mask (train.c's deep supervision relies on it). */
enum tgs_loss_part {
    TGS_LOSS_BCE,        /* BCE with logits over the map */
    TGS_LOSS_DICE,       /* soft Dice, per image */
    TGS_LOSS_FOCAL,      /* focal, alpha 0.25 gamma 2 */
    TGS_LOSS_BOUNDARY,   /* Kervadec's boundary loss */
    TGS_LOSS_LOVASZ,     /* Lovasz hinge, per image */
    TGS_LOSS_LOVASZ_SYM, /* symmetric Lovasz (salt and background) */
    TGS_LOSS_CLS,        /* BCE of the salt-presence logit; target: the tile has salt */
    TGS_LOSS_DEEP,       /* deep supervision (a model with ds=1): the mix's map
                            parts above, weighted as in the mix, on each aux
                            logit map; the mean over the maps */
    TGS_LOSS_NPARTS
};

/* "bce", "dice", "focal", "boundary", "lovasz", "lovasz-sym", "cls", "deep" */
const char *tgs_loss_part_name(int part);
/* "bce=1,dice=0.5,cls=0.1": a weight per part (others 0), each finite and
 * >= 0, at least one above 0; -1 with a message quoting the spec. */
int tgs_loss_mix_parse(const char *spec, float w[TGS_LOSS_NPARTS]);
/* The parts with a weight above 0, in the enum's order, weights as %g
 * would not do: the shortest text that reads back as the same float. */
void tgs_loss_mix_format(const float w[TGS_LOSS_NPARTS], char *buf, size_t size);

/* ---- inputs ---- */

typedef struct {
    int size;          /* S for raw tiles; 0: from the tile and the stride */
    int stride;        /* the model's stride (tgs_model_stride) */
    float mean, std;   /* normalisation of raw tiles, as tgs-augment --norm; what
                          an f32 input's 'norm' record must say, when it has one */
    const char *norm_from; /* where mean, std came from, said in parentheses
                              after a 'norm' mismatch; NULL: nothing said */
    tgs_aug_work work;
} tgs_prep;

/* One sample as the model will see it. */
typedef struct {
    const tgs_record *image, *mask; /* mask NULL when the sample has none */
    int c, h, w;                    /* the image record's */
    int s;                          /* side of the model input */
    int raw;                        /* 1: u8 tile padded here; 0: f32 model input */
    int32_t crop[4];                /* y0, x0, h, w of the tile in S x S */
} tgs_prep_view;

void tgs_prep_init(tgs_prep *p, int stride);
void tgs_prep_free(tgs_prep *p);
/* Look at a sample: its image (and its mask when it has one, which must be
 * u8 0/1 of the tile's size, or f32 0/1 of the input's). need_mask makes
 * a missing mask an error. An f32 image must have been normalised as p
 * says (tgs_prep_check_norm). Messages name the record, not the sample. */
int tgs_prep_view_sample(const tgs_prep *p, const tgs_sample *smp, int need_mask, tgs_prep_view *v);
/* The normalisation a sample's f32 'image' was made with: its 'norm'
 * record (f32 (2): MEAN, STD, as tgs-augment --norm writes it). 1 with
 * *mean and *std; 0 when there is none to go by: no record (a stream from
 * before it) or a u8 image (a raw tile, which the reader normalises
 * itself); -1 when the record is not two finite floats with STD > 0. */
int tgs_sample_norm(const tgs_sample *smp, float *mean, float *std);
/* Whether smp's f32 image is normalised as p->mean, p->std: -1 and
 * "'norm' is 0.5,0.2, the model takes 0,1" (with " (p->norm_from)") when
 * its 'norm' record says otherwise; 0 when it agrees or says nothing
 * (tgs_sample_norm). So a stream and a model that disagree on the scale
 * fail before the model sees a pixel. */
int tgs_prep_check_norm(const tgs_prep *p, const tgs_sample *smp);
/* The model input (c x S x S floats) and, when mask is not NULL and the
 * sample has one, the target (S x S floats of 0 and 1). */
int tgs_prep_fill(tgs_prep *p, const tgs_prep_view *v, float *img, float *mask);
/* 1 when the crop of a filled target holds salt. */
int tgs_prep_has_salt(const float *mask, int s, const int32_t crop[4]);

/* ---- the model at one input shape ---- */

typedef struct {
    struct tgs_graph *g;
    int n, c, s;       /* batch, channels, side */
    struct tgs_tensor *x, *y, *salt; /* input (N,C,S,S); target (N,1,S,S); presence target (N,1) */
    struct tgs_model_out out;
    struct tgs_tensor *part[TGS_LOSS_NPARTS]; /* unweighted losses; NULL where the weight is 0 */
    struct tgs_tensor *total;                 /* sum of weight * part; NULL without losses */
    int replay; /* TGS_NET_INFER_MC: the first node a Monte Carlo dropout pass must
                   rerun (tgs_graph_forward_from), the nodes before it giving every
                   pass the same; 0 in the other modes */
    /* a pretraining net (mae.h; NULL in others): the hidden pixels (N,C,S,S),
     * the target and where it counts (N,C*P*P,S/P,S/P), the prediction */
    struct {
        struct tgs_tensor *hide, *target, *where, *pred;
    } mae;
} tgs_net;

/* How a net is planned. TGS_NET_INFER_MC is inference whose Monte Carlo
 * dropout passes after the first rerun from net->replay: the plan keeps
 * what the nodes from there read of the nodes before (the encoder's
 * features), which costs memory (about 30 MB for the shipped resunet at a
 * batch of 16), so only a net that runs several passes asks for it. */
enum { TGS_NET_INFER = 0, TGS_NET_TRAIN = 1, TGS_NET_INFER_MC = 2 };

/* Build and plan the model on ps for a batch of n c x s x s inputs, in
 * mode (TGS_NET_*). With w (loss weights), the losses too: TGS_NET_TRAIN
 * plans the graph for backward from total. Declares the parameters on
 * first use; tgs_graph_plan allocates them (seeded 0): a caller that wants
 * another seed calls tgs_params_alloc(ps, seed) before the first build. */
int tgs_net_build(tgs_net *net, struct tgs_params *ps, const struct tgs_model_opts *mo, int mode, int n, int c, int s,
                  const float *w);
void tgs_net_free(tgs_net *net);
/* The end of building a net on net->g: the first build error, if any, as
 * the error, else the plan for mode (TGS_NET_*); on failure the graph is
 * freed and net->g is NULL. tgs_net_build's and tgs_mae_net_build's. */
int tgs_net_plan(tgs_net *net, int mode);
/* Declare the model's parameters on ps (building it once on a small
 * throwaway graph) and allocate them, initialised from seed. */
int tgs_model_params(struct tgs_params *ps, const struct tgs_model_opts *mo, uint64_t seed);

/* ---- optimizer state ---- */

/* The state lives on ps's backend, one allocation carved per parameter,
 * and every update, clip and transfer goes through the backend (nn.h's
 * device contract). */
typedef struct {
    struct tgs_optim_opts o;
    struct tgs_params *ps;
    const struct tgs_backend *be;
    float *block;  /* backend memory holding every tensor's state */
    float **state; /* per tensor of ps: tgs_optim_state_per_elem * size floats in block, NULL for buffers */
    int count;
} tgs_optim_state;

int tgs_optim_state_init(tgs_optim_state *st, const struct tgs_optim_opts *o, struct tgs_params *ps);
void tgs_optim_state_free(tgs_optim_state *st);
/* One update of every parameter with its gradient (step: 1-based). */
void tgs_optim_state_step(tgs_optim_state *st, float lr, int64_t step);
/* The global L2 norm of the gradients, clipping them to max_norm when it
 * is above 0 (tgs_clip_grad_norm); NaN or Inf when a gradient is. */
double tgs_optim_state_clip(tgs_optim_state *st, double max_norm);
/* Into / out of a checkpoint as "optim.exp_avg.<param>" and
 * "optim.exp_avg_sq.<param>" (Adam, AdamW) or "optim.momentum_buffer.<param>"
 * (SGD with momentum), F32 of the parameter's shape, as torch's state_dict
 * names them. get refuses a missing or misshapen one. */
int tgs_optim_state_put(const tgs_optim_state *st, tgs_ckpt *c);
int tgs_optim_state_get(tgs_optim_state *st, const tgs_ckpt *c);

/* ---- weight averaging ---- */

/* An exponential moving average of every parameter and buffer (BN running
 * statistics too) of ps, taken after each optimizer update t (1-based):
 *     avg = d * avg + (1 - d) * w,   d = min(decay, (1 + t) / (10 + t))
 * The ramp keeps the first updates from averaging in the random start
 * (TensorFlow's ExponentialMovingAverage with num_updates). The average of
 * the last few hundred updates is a smoother model than the last weights:
 * tgs-train validates and deploys it, and trains the weights beside it.
 * Backend memory and backend calls, like the optimizer state. */
typedef struct {
    struct tgs_params *ps;
    const struct tgs_backend *be;
    float decay;
    int count;
    float *block; /* backend memory holding every tensor's average */
    float **avg;  /* per tensor of ps, its size, in block */
} tgs_ema;

/* The average starts as the weights ps holds now. */
int tgs_ema_init(tgs_ema *e, struct tgs_params *ps, float decay);
void tgs_ema_free(tgs_ema *e);
void tgs_ema_update(tgs_ema *e, int64_t step);
/* Exchange ps's tensors with the average; a second call undoes it. */
void tgs_ema_swap(tgs_ema *e);
/* Into / out of a checkpoint: the weights being trained (not the average)
 * as "train.live.<name>"; get refuses a missing or misshapen one. */
int tgs_ema_put_live(const tgs_ema *e, tgs_ckpt *c);
int tgs_ema_get_live(tgs_ema *e, const tgs_ckpt *c);

/* For a backend that counts its traffic (sim), one line on stderr: what
 * crossed to the device and back so far. Nothing for one that does not. */
void tgs_traffic_say(const struct tgs_backend *be);

/* ---- a trained model from its checkpoint ---- */

typedef struct {
    struct tgs_model_opts mo;
    int size;          /* the training input side (metadata "size"), 0 if absent */
    float mean, std;   /* metadata "norm", 0,1 if absent */
} tgs_model_info;

/* Check metadata "format" is "tgs", parse "arch", "size", "norm". */
int tgs_model_info_get(const tgs_ckpt *c, tgs_model_info *info);

#endif
