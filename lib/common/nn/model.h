/* model: the segmentation networks, built onto a graph from options.
 *
 *   unet-ref  the benchmark U-Net, exactly ../shared/bench/torch_ref.py's
 *             (parameter names are its state-dict names)
 *   resunet   the production CNN: a residual encoder, a U-Net decoder with
 *             scSE blocks, a hypercolumn of every decoder level, dropout
 *             points for Monte Carlo dropout, and the salt-presence head
 *   swinunet  the hybrid: a Swin-Transformer encoder (4x4 patch embedding,
 *             stages of shifted-window blocks at strides 4, 8, 16, ...,
 *             patch merging between them) under a small CNN stem that
 *             gives the stride-1 and stride-2 levels, and resunet's
 *             decoder and heads on those levels
 *
 * All give a logit map (N,1,H,W) and a salt-presence logit (N,1). A model
 * is written as a spec string, which checkpoints record:
 *   "resunet widths=16,32,64,128,256 blocks=1,2,2,2,2 dropout=0.2 scse=8 hypercolumn=1 in=3"
 * and, for a cheaper head, " hcw=8" (see hc_width); with " ds=1", deep
 * supervision: a logit map from every decoder level below full resolution
 * too (aux), which the loss part 'deep' trains (lib/common/train.h).
 *   "swinunet in=1 embed=48 depths=2,2,2 heads=3,6,12 window=7 mlp=4 drop_path=0.1 stem=12,24 tokens=conv
 *    dropout=0 scse=8 hypercolumn=1 hcw=8"
 * has levels stem (12 ch, stride 1), stem2 (24, stride 2) and one per
 * stage (embed << i channels at stride 4 << i): 5 levels, stride 16. The
 * first stage's tokens come from stem2 by a 3x3 stride-2 conv (tokens=conv,
 * a convolutional stem, Xiao et al. 2021), or with " tokens=patch" from
 * the pixels by Swin's own 4x4 patch embedding. A conv token starts with
 * its neighbours' pixels in it, which a Swin encoder needs to learn tgs-mae's
 * task at this data size (pipelines/RESULTS.md). Each
 * stage's side must be a multiple of its window, except that a stage whose
 * side is <= window takes one window of its side, unshifted (as Swin):
 * 112 x 112 with window 7 gives 28, 14, 7. */
#ifndef TGS_MODEL_H
#define TGS_MODEL_H

#include "nn/nn.h"

#include <stddef.h>

#define TGS_MODEL_MAX_LEVELS 7
/* The tools' default model (tgs-train, tgs-mae: an encoder one pretrains
 * the other takes), sized for a 2-core CPU: resunet's defaults, which
 * tgs_model_defaults sets and TGS_MODEL_DEFAULT_MEANS spells out for
 * --help (test_models checks the two agree). */
#define TGS_MODEL_DEFAULT "resunet"
#define TGS_MODEL_DEFAULT_MEANS "widths=8,16,32,64,128 blocks=1,1,1,1,1 dropout=0.2 scse=8 hypercolumn=1"

enum tgs_arch { TGS_ARCH_UNET_REF = 1, TGS_ARCH_RESUNET, TGS_ARCH_SWINUNET };

struct tgs_model_opts {
    enum tgs_arch arch;
    int in_ch;                          /* 1, or 3 for a 2.5D stack */
    int nlevels;
    int widths[TGS_MODEL_MAX_LEVELS];   /* channels per encoder level (swinunet: stem=, then
                                           embed << stage, derived) */
    int blocks[TGS_MODEL_MAX_LEVELS];   /* resunet: residual blocks per level */
    float dropout;                      /* resunet: Dropout2d p at the dropout points */
    int scse;                           /* resunet: scSE squeeze ratio, 0 for none */
    int hypercolumn;                    /* resunet: seg head on all decoder levels */
    int hc_width;                       /* resunet: each level cut to this many channels
                                           (1x1 conv, BN, ReLU) before the hypercolumn;
                                           0 keeps the decoder's own */
    int deep_sup;                       /* resunet: aux logit maps for deep supervision */
    /* swinunet (the decoder options above apply too) */
    int embed;                          /* channels of stage 0's tokens */
    int nstages;                        /* nlevels - 2 */
    int depths[TGS_MODEL_MAX_LEVELS];   /* Swin blocks per stage */
    int heads[TGS_MODEL_MAX_LEVELS];    /* attention heads per stage */
    int window;                         /* window side */
    int mlp;                            /* MLP hidden = mlp * channels */
    float drop_path;                    /* stochastic depth of the last block (0 to this, linearly) */
    int conv_tokens;                    /* tokens=conv: stage 0's tokens from the stem's stride-2 level
                                           by a 3x3 stride-2 conv, not from the pixels by 4x4 patches */
};

struct tgs_model_out {
    struct tgs_tensor *seg; /* (N,1,H,W) logits */
    struct tgs_tensor *cls; /* (N,1) salt-presence logit */
    /* deep supervision (ds=1): (N,1,H,W) logits of each decoder level below
     * full resolution (a 1x1 conv there, then bilinear x2 steps), coarsest
     * first; naux 0 without it. Inference ignores them. */
    struct tgs_tensor *aux[TGS_MODEL_MAX_LEVELS];
    int naux;
};

/* The encoder alone, as the full model builds it (the same parameter
 * names), for pretraining (tgs-mae): each level's features, finest first,
 * NCHW; level i is at stride 2^i of the input. */
struct tgs_model_enc {
    struct tgs_tensor *skip[TGS_MODEL_MAX_LEVELS];
    int nlevels;
};

void tgs_model_defaults(struct tgs_model_opts *o, enum tgs_arch arch);
/* "NAME [key=value ...]"; unknown keys, bad values: -1 with a message. */
int tgs_model_parse(struct tgs_model_opts *o, const char *spec);
/* The same for a spec a checkpoint recorded: a key missing from it means
 * what it meant when the checkpoint was written, not today's default (a
 * swinunet without tokens= has patch tokens). */
int tgs_model_parse_saved(struct tgs_model_opts *o, const char *spec);
/* A recorded spec rewritten as today's tgs_model_format writes it, every
 * key spelled out with the value it had when recorded: what a resumed run
 * takes as its --arch. -1 with a message if it does not parse. */
int tgs_model_spec_saved(const char *spec, char *buf, size_t size);
/* The spec of o, parseable by tgs_model_parse. */
void tgs_model_format(const struct tgs_model_opts *o, char *buf, size_t size);
/* The input size a model needs to divide evenly: 2^(nlevels-1) (swinunet
 * also needs its windows to fit: tgs_model_build says which sizes). */
int tgs_model_stride(const struct tgs_model_opts *o);
/* Build on g from x (N,in_ch,H,W); H, W multiples of tgs_model_stride. */
int tgs_model_build(struct tgs_graph *g, const struct tgs_model_opts *o, struct tgs_tensor *x,
                    struct tgs_model_out *out);
/* Build only the encoder on g from x (as tgs_model_build checks it). */
int tgs_model_build_encoder(struct tgs_graph *g, const struct tgs_model_opts *o, struct tgs_tensor *x,
                            struct tgs_model_enc *enc);

#endif
