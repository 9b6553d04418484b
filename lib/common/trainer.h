/* trainer: what a tool that trains a model does between reading its
 * options and its samples: the nets for each batch shape, a batch filled
 * from samples, one training step (forward, losses, backward, clipping,
 * the optimizer, the weight average), validation with the competition
 * metric, the run's checkpoints (weights, optimizer state, counters) and
 * its log (log.csv, and the same for TensorBoard). tgs-train is a loop over these; tgs-mae and tgs-refine will be
 * too. Tensor memory stays on the trainer's backend (nn.h's contract):
 * a step moves the batch in and the losses out.
 *
 * Use: tgs_trainer_init, fill the fields under "the run" (the model, the
 * input shape, the losses, the optimizer, the paths), the validation
 * samples (tgs_trainer_load_val or _take_val), tgs_trainer_start, on a
 * resume tgs_trainer_resume, tgs_trainer_start_average, then
 * tgs_trainer_fit over the training samples. Every function returns -1
 * with a tgs_err message (naming the file and sample where there is one);
 * only the tool dies. */
#ifndef TGS_TRAINER_H
#define TGS_TRAINER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"
#include "mae.h"
#include "samples.h"
#include "train.h"

#define TGS_TRAINER_NETS 3

/* The counters a run carries from step to step, saved in its checkpoints
 * (formats/safetensors.md, "Training state"). */
typedef struct {
    int64_t step;                       /* updates done */
    int64_t epoch;                      /* epochs done */
    int64_t pos;                        /* samples done of the epoch under way */
    double sums[TGS_LOSS_NPARTS + 1];   /* over those samples: each part's loss times the batch size; [NPARTS] the total */
    double best_metric;                 /* NaN before the first validation */
    int64_t best_epoch;
    double last_metric;                 /* NaN before the first validation */
} tgs_train_state;

typedef struct {
    /* the run: set before tgs_trainer_start */
    const struct tgs_backend *be;
    struct tgs_model_opts mo;
    char spec[512];                     /* mo, formatted: metadata 'arch' */
    int c, s;                           /* the training inputs' channels and side */
    int batch;
    float loss[TGS_LOSS_NPARTS], loss2[TGS_LOSS_NPARTS]; /* loss2 from epoch stage2_epoch, when has_loss2 */
    int has_loss2;
    int64_t stage2_epoch;
    struct tgs_optim_opts optim;
    struct tgs_sched sched;
    int sched_step;                     /* the schedule counts steps, not epochs */
    double clip;                        /* the gradients' global norm, 0: off */
    float ema;                          /* decay of the weight average, 0: none */
    uint64_t seed;
    char norm[64];                      /* metadata 'norm': MEAN,STD */
    const char *options_json;           /* metadata 'options' */
    char last_path[4200], best_path[4200], log_path[4200];
    char events_path[4200];             /* log.csv for TensorBoard (tbevent.h), rewritten from it with each row; "": none */
    tgs_prep prep;                      /* the stride, size and normalisation of the inputs */
    /* masked-image pretraining (tgs-mae, mae.h) instead of segmentation:
     * the samples need no mask, the loss is the reconstruction's, the log
     * and validation report it, no best.ckpt (there is no mAP) */
    const tgs_mae_opts *mae;

    /* the state */
    struct tgs_params *ps;
    tgs_optim_state opt;
    tgs_ema avg;                        /* with ema: the average, which is validated and saved */
    tgs_train_state st;
    tgs_net nets[TGS_TRAINER_NETS];
    int stage;                          /* the loss the nets were built with: 1 or 2 */
    float *img, *mask, *salt, *out;     /* one batch, host side */
    tgs_mae_shape mae_shape;            /* with mae: its shape, and one batch of its inputs */
    float *mae_hide, *mae_target, *mae_where;
    uint8_t *mae_hidden;
    int log_begun;                      /* log.csv is written (with the first checkpoint) */
    int64_t log_keep;                   /* the epochs of the old log to keep on a resume; -1: a fresh log */
    int64_t events_epoch;               /* the events' wall times: epoch events_epoch ended at events_wall */
    double events_wall;                 /* (seconds since 1970), set as tgs_trainer_fit begins */
    /* validation */
    tgs_sample *val;
    size_t nval;
    int val_s;
    char *val_path;
    const char **val_ids;               /* sorted, for spotting training tiles that are validation tiles */
    size_t nval_ids;
    /* the last step */
    double parts[TGS_LOSS_NPARTS + 1];  /* its loss parts, [NPARTS] the total */
    double grad_norm;                   /* its gradients' norm */
    double lr;                          /* its learning rate */
} tgs_trainer;

/* Before the fields above: zero everything, no metric yet. */
void tgs_trainer_init(tgs_trainer *t);
/* Read every sample of path to validate on and check it once (the model's
 * channels, one input size, no id twice). After the run's fields, before
 * tgs_trainer_start. */
int tgs_trainer_load_val(tgs_trainer *t, const char *path);
/* The same from samples in memory (malloc'd; the trainer frees them);
 * name is for messages. */
int tgs_trainer_take_val(tgs_trainer *t, tgs_sample *val, size_t n, const char *name);
/* The model's parameters (seeded), the optimizer state, the batch buffers. */
int tgs_trainer_start(tgs_trainer *t);
/* Continue from a checkpoint of the same run: counters, weights, optimizer
 * state (the weight average is tgs_trainer_start_average's). */
int tgs_trainer_resume(tgs_trainer *t, const tgs_ckpt *c, const char *path);
/* The weight average, starting as the weights now; resume: with the
 * trained weights from the checkpoint beside it. */
int tgs_trainer_start_average(tgs_trainer *t, const tgs_ckpt *resume);
void tgs_trainer_free(tgs_trainer *t);

/* ---- the epoch loop ---- */

typedef struct {
    int64_t epochs;   /* stop after this many in all; 0: as many as the samples hold */
    int64_t patience; /* stop after this many without a better validation mAP; 0: off */
    int resumed;      /* continuing a checkpoint: the samples must hold its epoch */
    int validate;     /* validation samples were loaded */
    int quiet;        /* no progress bars, no per-epoch lines */
    const volatile sig_atomic_t *stop; /* set by a signal: save last.ckpt and return */
    /* called after each epoch's checkpoints (may be NULL): what a tool
     * writes beside them; -1 stops the run with its message */
    int (*epoch_done)(tgs_trainer *t, void *ctx);
    void *ctx;
} tgs_fit_opts;

enum tgs_fit_result {
    TGS_FIT_DONE = 0,    /* the epochs done, or early stopping */
    TGS_FIT_STOPPED = 1, /* *stop was set: last.ckpt holds the run, resumable mid-epoch */
};
/* Train epoch after epoch from src: a step per batch, validation, the log
 * row, best.ckpt when the mAP is the best so far and last.ckpt, with a
 * progress bar and a line per epoch on stderr unless quiet. Returns an
 * enum tgs_fit_result, or -1 with a message: bad samples, or a loss,
 * gradient or weight that is not finite ("epoch 3, step 40: the loss
 * (...) is NaN; stopped, DIR/last.ckpt left as it was"), the checkpoints
 * already written being the last good ones. */
int tgs_trainer_fit(tgs_trainer *t, tgs_samples *src, const tgs_fit_opts *fo);
/* After TGS_FIT_STOPPED by signal sig: the line that says where the run
 * stopped and how to continue it, on stderr (the tool then exits). */
void tgs_trainer_say_stopped(const tgs_trainer *t, int sig);

#endif
