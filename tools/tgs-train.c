/* tgs-train: train a segmentation model on a sample stream.
 *
 * Input: labelled samples, either raw tiles (tgs-stack25d: u8 image, u8
 * mask; padded here) or model inputs (tgs-augment: f32 image and mask,
 * crop, epoch). With 'epoch' records the stream says where each epoch
 * ends (it is streamed, in constant memory); without, the file is held in
 * memory and each epoch is one pass in an order shuffled from the seed and
 * the epoch. Each epoch: train, validate on --val (competition mAP on the
 * tile's crop, over the 0.05..0.95 sweep), append a row to DIR/log.csv,
 * write DIR/last.ckpt and, when the mAP is the best so far, DIR/best.ckpt.
 *
 * Everything random is a function of the seed and the counters (the
 * shuffle of the seed and epoch, dropout of the seed and step), and the
 * checkpoint holds the counters, the optimizer state, the epoch's partial
 * loss sums and the early-stopping state: so --resume from any checkpoint,
 * even one written mid-epoch on SIGINT, continues byte for byte as the
 * uninterrupted run (same --threads, same input). */
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "cli.h"
#include "err.h"
#include "json.h"
#include "metric.h"
#include "nn/ckpt_params.h"
#include "nn/model.h"
#include "nn/nn.h"
#include "nn/optim.h"
#include "outfile.h"
#include "progress.h"
#include "rng.h"
#include "samples.h"
#include "stream.h"
#include "tiles.h"
#include "train.h"

static const char usage[] =
    "usage: tgs-train -o DIR [--val FILE] [--model SPEC] [--size S] [--norm MEAN,STD]\n"
    "                 [--loss SPEC] [--loss2 SPEC --stage2-epoch E]\n"
    "                 [--optim adam|adamw|sgd] [--lr LR] [--wd WD] [--momentum M]\n"
    "                 [--nesterov] [--sched SPEC] [--sched-unit epoch|step] [--clip NORM]\n"
    "                 [--batch N] [--epochs N] [--patience N] [--seed N] [--ema DECAY]\n"
    "                 [--init CKPT | --resume CKPT] [--device NAME] [--threads N] [-q] [TRAIN]\n"
    "Train a model on the samples of TRAIN (or stdin): raw tiles from tgs-stack25d,\n"
    "or tgs-augment's padded inputs. Writes DIR/last.ckpt, DIR/best.ckpt (best val\n"
    "mAP) and DIR/log.csv, one row per epoch.\n"
    "data:\n"
    "  -o, --output DIR  the run's directory (made if missing)\n"
    "  --val FILE        validation samples (raw or padded, labelled)\n"
    "  --size S          side raw tiles are padded to (default: the smallest\n"
    "                    multiple of the model's stride >= the tile, 104 or 112)\n"
    "  --norm MEAN,STD   raw tiles become (x/255 - MEAN) / STD (default 0,1; give\n"
    "                    tgs-augment's --norm when it pads the stream)\n"
    "model:\n"
    "  --model SPEC      default \"resunet widths=8,16,32,64,128 blocks=1,1,1,1,1\";\n"
    "                    in= defaults to the samples' channels\n"
    "  --init CKPT       start from CKPT's tensors of the same names (an encoder)\n"
    "loss (NAME=WEIGHT,...: bce dice focal boundary lovasz lovasz-sym cls deep):\n"
    "  --loss SPEC       default bce=1,dice=1,cls=0.1 (cls: salt-presence BCE;\n"
    "                    deep: the map losses on a ds=1 model's aux maps)\n"
    "  --loss2 SPEC      the loss from epoch --stage2-epoch on\n"
    "  --stage2-epoch E  epochs of the first loss before --loss2 takes over\n"
    "optimizer:\n"
    "  --optim NAME      adam (default), adamw or sgd\n"
    "  --lr LR           base learning rate (default 0.001)\n"
    "  --wd WD           weight decay (default 0; adamw 0.01)\n"
    "  --momentum M      sgd momentum (default 0.9)\n"
    "  --nesterov        sgd: Nesterov momentum\n"
    "  --sched SPEC      constant (default), step:N:G, cosine:T0[:MULT[:MIN]],\n"
    "                    noam:W:D, each with ,warmup=N and ,lr=LR\n"
    "  --sched-unit U    the schedule counts epochs (default) or steps\n"
    "  --clip NORM       clip the gradients' global L2 norm (default 0: off)\n"
    "  --ema DECAY       validate and save a moving average of the weights,\n"
    "                    updated each step with this decay, e.g. 0.999 (0: off)\n"
    "run:\n"
    "  --batch N         samples per step (default 16)\n"
    "  --epochs N        stop after N epochs (default: as many as the stream's\n"
    "                    epoch records hold; 1 for a stream without them)\n"
    "  --patience N      stop after N epochs without a better val mAP (0: off)\n"
    "  --seed N          seed of the weights, shuffles and dropout (default 0)\n"
    "  --resume CKPT     continue the run CKPT was saved from\n"
    "  --device NAME     where the model runs: cpu (default), or sim (the CPU\n"
    "                    kernels behind memory the host cannot touch: the same\n"
    "                    bytes, and what crossed to the device, said at the end)\n"
    "  --threads N       CPU threads (default 0: all cores)\n"
    "  -q, --quiet       no progress bar and no per-epoch lines\n"
    "  -h, --help        this text;  -V, --version  the version\n";

#define DEFAULT_MODEL "resunet widths=8,16,32,64,128 blocks=1,1,1,1,1"
#define DEFAULT_LOSS "bce=1,dice=1,cls=0.1"
#define NP TGS_LOSS_NPARTS

/* ---- options ---- */

/* The options that make a run what it is, in the order the checkpoint's
 * "options" JSON lists them. A resumed run takes them from there. */
enum {
    K_MODEL, K_SIZE, K_NORM, K_LOSS, K_LOSS2, K_STAGE2, K_OPTIM, K_LR, K_WD, K_MOMENTUM, K_NESTEROV, K_SCHED,
    K_SCHED_UNIT, K_CLIP, K_BATCH, K_EPOCHS, K_PATIENCE, K_SEED, K_INIT, K_EMA, NKEYS
};
static const struct {
    const char *key, *opt;
    int string;     /* a JSON string (else a number, or true/false) */
    int may_change; /* on --resume */
} keys[NKEYS] = {
    [K_MODEL] = {"model", "--model", 1, 0},         [K_SIZE] = {"size", "--size", 0, 0},
    [K_NORM] = {"norm", "--norm", 1, 0},            [K_LOSS] = {"loss", "--loss", 1, 0},
    [K_LOSS2] = {"loss2", "--loss2", 1, 0},         [K_STAGE2] = {"stage2_epoch", "--stage2-epoch", 0, 0},
    [K_OPTIM] = {"optim", "--optim", 1, 0},         [K_LR] = {"lr", "--lr", 0, 0},
    [K_WD] = {"wd", "--wd", 0, 0},                  [K_MOMENTUM] = {"momentum", "--momentum", 0, 0},
    [K_NESTEROV] = {"nesterov", "--nesterov", 0, 0}, [K_SCHED] = {"sched", "--sched", 1, 0},
    [K_SCHED_UNIT] = {"sched_unit", "--sched-unit", 1, 0}, [K_CLIP] = {"clip", "--clip", 0, 0},
    [K_BATCH] = {"batch", "--batch", 0, 0},         [K_EPOCHS] = {"epochs", "--epochs", 0, 1},
    [K_PATIENCE] = {"patience", "--patience", 0, 1}, [K_SEED] = {"seed", "--seed", 0, 0},
    [K_INIT] = {"init", "--init", 1, 0},             [K_EMA] = {"ema", "--ema", 0, 0},
};

typedef struct {
    char model[512];
    int size;
    float mean, std;
    float loss[NP], loss2[NP];
    int has_loss2;
    long stage2_epoch;
    enum tgs_optim_kind optim;
    float lr, wd, momentum;
    int nesterov;
    char sched[256];
    int sched_step; /* the schedule counts steps, not epochs */
    double clip;
    long batch, epochs, patience;
    uint64_t seed;
    char init[1024];
    float ema; /* decay of the weight average, 0: none */
    int set[NKEYS]; /* given on the command line (1) or taken from the checkpoint (2) */
    /* how to run it, not stored */
    const char *output, *val, *resume, *input;
    long threads;
    const char *device;
    int quiet;
} options;

static void copy_str(char *dst, size_t size, const char *src, const char *opt) {
    if (strlen(src) >= size) die_usage("%s: '%.40s...' is too long", opt, src);
    strcpy(dst, src);
}

/* Set option k from text, as on the command line. */
static void set_opt(options *o, int k, const char *v) {
    const char *opt = keys[k].opt;
    switch (k) {
    case K_MODEL: copy_str(o->model, sizeof o->model, v, opt); break;
    case K_SIZE: o->size = (int)tgs_parse_long(v, opt, 0, 4096); break;
    case K_NORM: tgs_parse_norm(v, opt, &o->mean, &o->std); break;
    case K_LOSS:
        if (tgs_loss_mix_parse(v, o->loss) < 0) die_usage("--loss: %s", tgs_errmsg());
        break;
    case K_LOSS2:
        o->has_loss2 = *v != 0;
        memset(o->loss2, 0, sizeof o->loss2);
        if (*v && tgs_loss_mix_parse(v, o->loss2) < 0) die_usage("--loss2: %s", tgs_errmsg());
        break;
    case K_STAGE2: o->stage2_epoch = tgs_parse_long(v, opt, 0, 1000000); break;
    case K_OPTIM:
        if (tgs_optim_parse(v, &o->optim) < 0) die_usage("--optim: %s", tgs_errmsg());
        break;
    case K_LR: o->lr = (float)tgs_parse_double(v, opt, 1e-12, 1e30); break;
    case K_WD: o->wd = (float)tgs_parse_double(v, opt, 0, 1e6); break;
    case K_MOMENTUM: o->momentum = (float)tgs_parse_double(v, opt, 0, 0.9999); break;
    case K_NESTEROV:
        if (strcmp(v, "true") && strcmp(v, "false")) die_usage("--nesterov: '%s' is not true or false", v);
        o->nesterov = *v == 't';
        break;
    case K_SCHED: {
        struct tgs_sched s;
        if (tgs_sched_parse(v, &s) < 0) die_usage("--sched: %s", tgs_errmsg());
        copy_str(o->sched, sizeof o->sched, v, opt);
        break;
    }
    case K_SCHED_UNIT:
        if (strcmp(v, "epoch") && strcmp(v, "step")) die_usage("--sched-unit: '%s' is not epoch or step", v);
        o->sched_step = *v == 's';
        break;
    case K_CLIP: o->clip = tgs_parse_double(v, opt, 0, 1e30); break;
    case K_BATCH: o->batch = tgs_parse_long(v, opt, 1, 4096); break;
    case K_EPOCHS: o->epochs = tgs_parse_long(v, opt, 0, 1000000); break;
    case K_PATIENCE: o->patience = tgs_parse_long(v, opt, 0, 1000000); break;
    case K_SEED: o->seed = tgs_parse_seed(v); break;
    case K_INIT: copy_str(o->init, sizeof o->init, v, opt); break;
    case K_EMA:
        o->ema = (float)tgs_parse_double(v, opt, 0, 0.999999);
        break;
    }
}

/* Option k as the text set_opt reads back to the same value. */
static void fmt_opt(const options *o, int k, char *b, size_t n) {
    switch (k) {
    case K_MODEL: snprintf(b, n, "%s", o->model); break;
    case K_SIZE: snprintf(b, n, "%d", o->size); break;
    case K_NORM: {
        char m[32], s[32];
        snprintf(b, n, "%s,%s", tgs_fmt_float(m, sizeof m, o->mean), tgs_fmt_float(s, sizeof s, o->std));
        break;
    }
    case K_LOSS: tgs_loss_mix_format(o->loss, b, n); break;
    case K_LOSS2:
        if (o->has_loss2) tgs_loss_mix_format(o->loss2, b, n);
        else snprintf(b, n, "%s", "");
        break;
    case K_STAGE2: snprintf(b, n, "%ld", o->stage2_epoch); break;
    case K_OPTIM: snprintf(b, n, "%s", tgs_optim_name(o->optim)); break;
    case K_LR: tgs_fmt_float(b, n, o->lr); break;
    case K_WD: tgs_fmt_float(b, n, o->wd); break;
    case K_MOMENTUM: tgs_fmt_float(b, n, o->momentum); break;
    case K_NESTEROV: snprintf(b, n, "%s", o->nesterov ? "true" : "false"); break;
    case K_SCHED: snprintf(b, n, "%s", o->sched); break;
    case K_SCHED_UNIT: snprintf(b, n, "%s", o->sched_step ? "step" : "epoch"); break;
    case K_CLIP: tgs_fmt_double(b, n, o->clip); break;
    case K_BATCH: snprintf(b, n, "%ld", o->batch); break;
    case K_EPOCHS: snprintf(b, n, "%ld", o->epochs); break;
    case K_PATIENCE: snprintf(b, n, "%ld", o->patience); break;
    case K_SEED: snprintf(b, n, "%llu", (unsigned long long)o->seed); break;
    case K_INIT: snprintf(b, n, "%s", o->init); break;
    case K_EMA: tgs_fmt_float(b, n, o->ema); break;
    }
}

/* The options as one JSON object, for the checkpoint's metadata. */
static void options_json(const options *o, char *buf, size_t size) {
    size_t len = 0;
    buf[len++] = '{';
    for (int k = 0; k < NKEYS; k++) {
        char v[1024];
        fmt_opt(o, k, v, sizeof v);
        int64_t r = tgs_json_put_str(buf, len, size, keys[k].key);
        if (r < 0 || (size_t)r + 2 >= size) die("options too long for the checkpoint");
        len = (size_t)r;
        buf[len++] = ':';
        if (keys[k].string) r = tgs_json_put_str(buf, len, size, v);
        else r = (int64_t)(len + (size_t)snprintf(buf + len, size - len, "%s", v));
        if (r < 0 || (size_t)r + 2 >= size) die("options too long for the checkpoint");
        len = (size_t)r;
        buf[len++] = k + 1 < NKEYS ? ',' : '}';
    }
    buf[len] = 0;
}

static options parse_args(int argc, char **argv) {
    options o;
    memset(&o, 0, sizeof o);
    enum {
        OPT_VAL = 256, OPT_THREADS, OPT_DEVICE, OPT_RESUME, OPT_KEY /* OPT_KEY + k: option k */
    };
    static const struct option longopts[] = {
        {"val", required_argument, 0, OPT_VAL},
        {"threads", required_argument, 0, OPT_THREADS},
        {"device", required_argument, 0, OPT_DEVICE},
        {"resume", required_argument, 0, OPT_RESUME},
        {"model", required_argument, 0, OPT_KEY + K_MODEL},
        {"size", required_argument, 0, OPT_KEY + K_SIZE},
        {"norm", required_argument, 0, OPT_KEY + K_NORM},
        {"loss", required_argument, 0, OPT_KEY + K_LOSS},
        {"loss2", required_argument, 0, OPT_KEY + K_LOSS2},
        {"stage2-epoch", required_argument, 0, OPT_KEY + K_STAGE2},
        {"optim", required_argument, 0, OPT_KEY + K_OPTIM},
        {"lr", required_argument, 0, OPT_KEY + K_LR},
        {"wd", required_argument, 0, OPT_KEY + K_WD},
        {"momentum", required_argument, 0, OPT_KEY + K_MOMENTUM},
        {"nesterov", no_argument, 0, OPT_KEY + K_NESTEROV},
        {"sched", required_argument, 0, OPT_KEY + K_SCHED},
        {"sched-unit", required_argument, 0, OPT_KEY + K_SCHED_UNIT},
        {"clip", required_argument, 0, OPT_KEY + K_CLIP},
        {"batch", required_argument, 0, OPT_KEY + K_BATCH},
        {"epochs", required_argument, 0, OPT_KEY + K_EPOCHS},
        {"patience", required_argument, 0, OPT_KEY + K_PATIENCE},
        {"seed", required_argument, 0, OPT_KEY + K_SEED},
        {"init", required_argument, 0, OPT_KEY + K_INIT},
        {"ema", required_argument, 0, OPT_KEY + K_EMA},
        {"output", required_argument, 0, 'o'},
        {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, ":o:qhV", longopts, NULL)) != -1) {
        if (c >= OPT_KEY && c < OPT_KEY + NKEYS) {
            int k = c - OPT_KEY;
            set_opt(&o, k, k == K_NESTEROV ? "true" : optarg);
            if (k == K_EPOCHS && o.epochs == 0) die_usage("--epochs: 0 is out of range [1, 1000000]");
            if (k == K_INIT && !*optarg) die_usage("--init: an empty file name");
            o.set[k] = 1;
            continue;
        }
        switch (c) {
        case OPT_VAL: o.val = optarg; break;
        case OPT_THREADS: o.threads = tgs_parse_long(optarg, "--threads", 0, 1024); break;
        case OPT_DEVICE: o.device = optarg; break;
        case OPT_RESUME: o.resume = optarg; break;
        case 'o': o.output = optarg; break;
        case 'q': o.quiet = 1; break;
        case 'h': fputs(usage, stdout); exit(0);
        case 'V': tgs_print_version(); printf("%s\n", tgs_cpu_describe()); exit(0);
        default: tgs_bad_option(c, argv);
        }
    }
    if (optind < argc) o.input = argv[optind++];
    if (optind < argc) die_usage("unexpected argument '%s'", argv[optind]);
    if (!o.output) die_usage("no -o DIR: where the checkpoints and the log go");
    if (!*o.output) die_usage("-o: an empty directory name");
    if (o.resume && o.set[K_INIT]) die_usage("--init and --resume: a resumed run has its weights already");
    return o;
}

/* What was not given (nor taken from a checkpoint) gets its default. */
static void options_defaults(options *o) {
    if (!o->set[K_MODEL]) copy_str(o->model, sizeof o->model, DEFAULT_MODEL, "--model");
    if (!o->set[K_NORM]) o->mean = 0, o->std = 1;
    if (!o->set[K_LOSS]) tgs_loss_mix_parse(DEFAULT_LOSS, o->loss);
    if (!o->set[K_OPTIM]) o->optim = TGS_OPTIM_ADAM;
    if (!o->set[K_LR]) o->lr = 1e-3f;
    if (!o->set[K_WD]) o->wd = o->optim == TGS_OPTIM_ADAMW ? 0.01f : 0;
    if (!o->set[K_MOMENTUM]) o->momentum = o->optim == TGS_OPTIM_SGD ? 0.9f : 0;
    if (!o->set[K_SCHED]) copy_str(o->sched, sizeof o->sched, "constant", "--sched");
    if (!o->set[K_BATCH]) o->batch = 16;
    if (o->has_loss2 != (o->stage2_epoch > 0))
        die_usage(o->has_loss2 ? "--loss2 needs --stage2-epoch E (E >= 1): when it takes over"
                               : "--stage2-epoch needs --loss2: the loss it switches to");
    if (o->optim != TGS_OPTIM_SGD && (o->set[K_MOMENTUM] == 1 || o->nesterov))
        die_usage("--momentum and --nesterov are for --optim sgd");
    if (o->nesterov && !(o->momentum > 0)) die_usage("--nesterov needs --momentum above 0");
}

/* The model spec of the options, parsed; in= from the data unless the
 * spec says it. */
static void model_opts(const char *spec, int channels, struct tgs_model_opts *mo) {
    if (tgs_model_parse(mo, spec) < 0) die_usage("--model: %s", tgs_errmsg());
    if (channels > 0 && !strstr(spec, " in=")) mo->in_ch = channels;
}

/* --resume: options not given come from the checkpoint; those given must
 * agree with it, but --epochs and --patience, which may change. */
static void options_merge(options *o, const tgs_ckpt *c, const char *path) {
    const char *js = tgs_ckpt_meta_get(c, "options");
    if (!js) die("%s: no metadata 'options': not a checkpoint of tgs-train", path);
    tgs_ckpt_kv *kv;
    int n;
    if (tgs_json_flat_parse(js, strlen(js), &kv, &n) < 0) die("%s: metadata 'options': %s", path, tgs_errmsg());
    for (int k = 0; k < NKEYS; k++) {
        const char *stored = NULL;
        for (int i = 0; i < n; i++)
            if (strcmp(kv[i].key, keys[k].key) == 0) stored = kv[i].value;
        if (!stored && k == K_EMA) stored = "0"; /* checkpoints from before --ema */
        if (!stored) die("%s: metadata 'options' has no '%s'", path, keys[k].key);
        if (o->set[k] && !keys[k].may_change) {
            char mine[1024];
            int same;
            if (k == K_MODEL) { /* the stored spec is canonical, with in=; compare what it means */
                struct tgs_model_opts a, b;
                if (tgs_model_parse(&b, stored) < 0) die("%s: options: %s", path, tgs_errmsg());
                model_opts(o->model, b.in_ch, &a);
                same = memcmp(&a, &b, sizeof a) == 0;
                snprintf(mine, sizeof mine, "%s", o->model);
            } else {
                fmt_opt(o, k, mine, sizeof mine);
                options t = *o;
                set_opt(&t, k, stored);
                char theirs[1024];
                fmt_opt(&t, k, theirs, sizeof theirs);
                same = strcmp(mine, theirs) == 0;
            }
            if (!same)
                die_usage("%s %s: the run in %s has %s '%s'; a resumed run keeps its options (only --epochs and "
                          "--patience may change)", keys[k].opt, mine, path, keys[k].opt, stored);
        }
        if (!o->set[k]) {
            set_opt(o, k, stored);
            o->set[k] = 2;
        }
    }
    tgs_json_kv_free(kv, n);
}

/* ---- signals: finish the step, save, exit ---- */

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig) {
    if (stop_signal) { /* a second one: give up at once, as any tool */
        tgs_outfile_abort_all();
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    stop_signal = sig;
}

static void catch_stop_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sa.sa_flags = SA_RESTART; /* reads from a pipe go on; the loop looks at the flag */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* ---- the run ---- */

/* The next training sample: 1, or 0 at the epoch's end; dies on bad input. */
static int next_sample(tgs_samples *src, const tgs_sample **smp, uint64_t *index) {
    int rc = tgs_samples_next(src, smp, index);
    if (rc < 0) die("%s", tgs_errmsg());
    return rc;
}

typedef struct {
    int64_t step;          /* updates done */
    int64_t epoch;         /* epochs done */
    int64_t pos;           /* samples done of the epoch under way */
    double sums[NP + 1];   /* over those samples: each part's loss times the batch size; [NP] the total */
    double best_metric;    /* NaN before the first validation */
    int64_t best_epoch;
    double last_metric;
} train_state;

#define MAX_NETS 3

typedef struct {
    options *o;
    struct tgs_model_opts mo;
    char spec[512];
    int c, s;              /* the training inputs' channels and side */
    struct tgs_params *ps;
    tgs_optim_state opt;
    tgs_ema ema;           /* with --ema: the average, which is validated and saved */
    struct tgs_sched sched;
    train_state st;
    tgs_prep prep;
    tgs_net nets[MAX_NETS];
    int stage;             /* the loss the nets were built with: 1 or 2 */
    float *img, *mask, *salt, *out; /* one batch, host side */
    char last_path[4200], best_path[4200], log_path[4200];
    int log_begun;         /* log.csv is written (with the first checkpoint) */
    int64_t log_keep;      /* the epochs of the old log to keep on --resume; -1: a fresh log */
    /* validation */
    tgs_sample *val;
    size_t nval;
    int val_s;
    const char *val_path;
    const char **val_ids;  /* sorted, for spotting training tiles that are also validation tiles */
    size_t nval_ids;
    size_t overlap;        /* training samples of the first epoch that are validation tiles */
} run;

static const float *stage_weights(const run *r, int stage) { return stage == 2 ? r->o->loss2 : r->o->loss; }
static int stage_of(const run *r, int64_t epoch) { return r->o->has_loss2 && epoch >= r->o->stage2_epoch ? 2 : 1; }

/* The net for a batch of n at side s (the current stage's losses): built
 * once and kept; the full training batch stays, others take turns. */
static tgs_net *get_net(run *r, int n, int s) {
    int free_slot = -1;
    for (int i = 0; i < MAX_NETS; i++) {
        if (r->nets[i].g && r->nets[i].n == n && r->nets[i].s == s) return &r->nets[i];
        if (!r->nets[i].g && free_slot < 0) free_slot = i;
    }
    if (free_slot < 0) { /* evict one that is not the main training shape */
        for (int i = MAX_NETS - 1; i >= 0 && free_slot < 0; i--)
            if (!(r->nets[i].n == r->o->batch && r->nets[i].s == r->s)) free_slot = i;
        tgs_net_free(&r->nets[free_slot]);
    }
    tgs_net *net = &r->nets[free_slot];
    if (tgs_net_build(net, r->ps, &r->mo, 1, n, r->c, s, stage_weights(r, r->stage)) < 0)
        die("model for a batch of %d at %dx%d: %s", n, s, s, tgs_errmsg());
    return net;
}

static void set_stage(run *r, int stage) {
    if (stage == r->stage) return;
    for (int i = 0; i < MAX_NETS; i++) tgs_net_free(&r->nets[i]);
    r->stage = stage;
}

static uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15u;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

static float current_lr(const run *r, int64_t epoch, int64_t step) {
    return tgs_sched_lr(&r->sched, r->o->sched_step ? step : epoch);
}

/* Fill batch slot i from a sample; die naming it on bad input. */
static void fill_slot(run *r, int i, int s, const tgs_sample *smp, const char *path, uint64_t index, int32_t crop[4]) {
    tgs_prep_view v;
    size_t plane = (size_t)s * (size_t)s;
    const char *id = tgs_sample_id(smp);
    if (tgs_prep_view_sample(&r->prep, smp, 1, &v) < 0 || (v.c != r->c && tgs_err("'image' has %d channels, the model takes %d", v.c, r->c)) ||
        (v.s != s && tgs_err("the input is %dx%d, the others %dx%d", v.s, v.s, s, s)) ||
        tgs_prep_fill(&r->prep, &v, r->img + (size_t)i * plane * (size_t)r->c, r->mask + (size_t)i * plane) < 0)
        die("%s: sample %llu%s%s%s: %s", path, (unsigned long long)index, id ? " (" : "", id ? id : "", id ? ")" : "",
            tgs_errmsg());
    r->salt[i] = (float)tgs_prep_has_salt(r->mask + (size_t)i * plane, s, v.crop);
    if (crop) memcpy(crop, v.crop, 4 * sizeof *crop);
}

static void net_inputs(tgs_net *net, run *r) {
    tgs_tensor_set(net->g, net->x, r->img);
    tgs_tensor_set(net->g, net->y, r->mask);
    tgs_tensor_set(net->g, net->salt, r->salt);
}

/* The loss parts of the net's last forward pass; [NP] the total. */
static void read_losses(tgs_net *net, double v[NP + 1]) {
    for (int k = 0; k < NP; k++) {
        float x = 0;
        if (net->part[k]) tgs_tensor_get(net->g, net->part[k], &x);
        v[k] = net->part[k] ? x : NAN;
    }
    float t;
    tgs_tensor_get(net->g, net->total, &t);
    v[NP] = t;
}

static void losses_text(const run *r, const double v[NP + 1], char *buf, size_t size) {
    size_t k = 0;
    buf[0] = 0;
    for (int p = 0; p < NP && k < size; p++)
        if (stage_weights(r, r->stage)[p] > 0)
            k += (size_t)snprintf(buf + k, size - k, "%s%s %.4g", k ? " " : "", tgs_loss_part_name(p), v[p]);
}

/* ---- the log ---- */

static const char log_header[] = "epoch,stage,step,lr,train_loss,train_bce,train_dice,train_focal,train_boundary,"
                                 "train_lovasz,train_lovasz_sym,train_cls,train_deep,val_loss,val_map,val_threshold,val_iou,"
                                 "val_map50,img_s,seconds\n";

/* A fresh log, or on --resume the old one cut to the rows of epochs the
 * checkpoint has done (a row written after it is of a future it lost). */
static void log_start(const char *path, int64_t keep_epochs, int resume) {
    tgs_outfile out;
    if (tgs_outfile_open(&out, path) < 0) die("%s", tgs_errmsg());
    fputs(log_header, out.fp);
    FILE *old = resume ? fopen(path, "r") : NULL;
    if (old) {
        char line[4096];
        int first = 1;
        while (fgets(line, sizeof line, old)) {
            if (first) { /* the header, written above */
                first = 0;
                continue;
            }
            char *end;
            long long e = strtoll(line, &end, 10);
            if (end != line && *end == ',' && e >= 1 && e <= keep_epochs) fputs(line, out.fp);
        }
        fclose(old);
    }
    if (tgs_outfile_commit(&out) < 0) die("%s", tgs_errmsg());
}

/* The log is begun with the run's first checkpoint, not before: a run that
 * fails before that leaves its directory as it found it. */
static void log_begin(run *r) {
    if (r->log_begun) return;
    log_start(r->log_path, r->log_keep < 0 ? 0 : r->log_keep, r->log_keep >= 0);
    r->log_begun = 1;
}

static void log_row(const char *path, const char *row) {
    FILE *fp = fopen(path, "a");
    if (!fp) die("%s:", path);
    fputs(row, fp);
    if (fclose(fp) != 0) die("%s: write error:", path);
}

/* ---- checkpoints ---- */

static int file_exists(const char *path) { return access(path, F_OK) == 0; }

static void put_scalar_i64(tgs_ckpt *c, const char *name, int64_t v) {
    if (tgs_ckpt_add(c, name, TGS_I64, 0, NULL, &v) < 0) die("%s", tgs_errmsg());
}
static void put_scalar_f64(tgs_ckpt *c, const char *name, double v) {
    if (tgs_ckpt_add(c, name, TGS_F64, 0, NULL, &v) < 0) die("%s", tgs_errmsg());
}

/* Stop on a number that is not finite in epoch e (from 1) at step k (from
 * 1): the checkpoints already written stay as they are, the last good ones. */
_Noreturn static void not_finite(run *r, int64_t e, int64_t k, const char *what, double v) {
    const char *val = tgs_nonfinite_name(v);
    if (file_exists(r->last_path))
        die("epoch %lld, step %lld: %s is %s; stopped, %s left as it was", (long long)e, (long long)k, what, val,
            r->last_path);
    die("epoch %lld, step %lld: %s is %s; stopped before any checkpoint was written", (long long)e, (long long)k, what, val);
}

static void save_ckpt(run *r, const char *path, double metric) {
    tgs_ckpt c;
    char b[64], opts[8192];
    tgs_ckpt_init(&c);
    options_json(r->o, opts, sizeof opts);
    snprintf(b, sizeof b, "%lld", (long long)r->st.epoch);
    int bad = tgs_ckpt_meta_set(&c, "format", "tgs") < 0 || tgs_ckpt_meta_set(&c, "tgs_version", TGS_VERSION) < 0 ||
              tgs_ckpt_meta_set(&c, "arch", r->spec) < 0 || tgs_ckpt_meta_set(&c, "epoch", b) < 0;
    if (!bad && isfinite(metric)) bad = tgs_ckpt_meta_set(&c, "metric", tgs_fmt_double(b, sizeof b, metric)) < 0;
    snprintf(b, sizeof b, "%lld", (long long)r->st.step);
    bad = bad || tgs_ckpt_meta_set(&c, "step", b) < 0;
    snprintf(b, sizeof b, "%d", r->s);
    bad = bad || tgs_ckpt_meta_set(&c, "size", b) < 0;
    fmt_opt(r->o, K_NORM, b, sizeof b);
    bad = bad || tgs_ckpt_meta_set(&c, "norm", b) < 0 || tgs_ckpt_meta_set(&c, "options", opts) < 0;
    /* with --ema the model's own names hold the average (what tgs-mcdrop
     * and --init read), and the weights being trained go beside it */
    if (r->o->ema > 0) tgs_ema_swap(&r->ema);
    if (!bad) bad = tgs_ckpt_put_params(&c, r->ps) < 0;
    if (r->o->ema > 0) tgs_ema_swap(&r->ema);
    if (bad || tgs_optim_state_put(&r->opt, &c) < 0 || (r->o->ema > 0 && tgs_ema_put_live(&r->ema, &c) < 0))
        die("%s", tgs_errmsg());
    put_scalar_i64(&c, "train.step", r->st.step);
    put_scalar_i64(&c, "train.epoch", r->st.epoch);
    put_scalar_i64(&c, "train.pos", r->st.pos);
    put_scalar_i64(&c, "train.seed", (int64_t)r->o->seed);
    /* no metric yet (NaN) is an absent tensor: a checkpoint is finite */
    if (isfinite(r->st.best_metric)) put_scalar_f64(&c, "train.best_metric", r->st.best_metric);
    put_scalar_i64(&c, "train.best_epoch", r->st.best_epoch);
    if (isfinite(r->st.last_metric)) put_scalar_f64(&c, "train.last_metric", r->st.last_metric);
    if (tgs_ckpt_add(&c, "train.loss_sums", TGS_F64, 1, (int64_t[]){NP + 1}, r->st.sums) < 0) die("%s", tgs_errmsg());
    /* weights can go bad while the loss stays finite (an infinite batch
     * norm variance): stop here and keep the checkpoint already written */
    for (int k = 0; k < c.n; k++) {
        double v;
        int64_t at = tgs_ckpt_tensor_nonfinite(&c.t[k], &v);
        if (at >= 0) {
            char what[TGS_CKPT_MAX_NAME + 64];
            snprintf(what, sizeof what, "tensor '%s' at element %lld", c.t[k].name, (long long)at);
            not_finite(r, r->st.pos ? r->st.epoch + 1 : r->st.epoch, r->st.step, what, v);
        }
    }
    log_begin(r);
    if (tgs_ckpt_save(&c, path) < 0) die("%s", tgs_errmsg());
    tgs_ckpt_free(&c);
}

static void load_state(run *r, const tgs_ckpt *c, const char *path) {
    const void *p;
#define GET(name, type, dtype, n, dst)                                                                                 \
    do {                                                                                                               \
        if (!(p = tgs_ckpt_expect(c, name, dtype, n))) die("%s: %s", path, tgs_errmsg());                            \
        memcpy(dst, p, sizeof(type) * (n));                                                                            \
    } while (0)
    int64_t seed;
    GET("train.step", int64_t, TGS_I64, 1, &r->st.step);
    GET("train.epoch", int64_t, TGS_I64, 1, &r->st.epoch);
    GET("train.pos", int64_t, TGS_I64, 1, &r->st.pos);
    GET("train.seed", int64_t, TGS_I64, 1, &seed);
    /* the metrics are absent (or NaN, before this was written) until the
     * first validation */
    if (tgs_ckpt_find(c, "train.best_metric")) GET("train.best_metric", double, TGS_F64, 1, &r->st.best_metric);
    GET("train.best_epoch", int64_t, TGS_I64, 1, &r->st.best_epoch);
    if (tgs_ckpt_find(c, "train.last_metric")) GET("train.last_metric", double, TGS_F64, 1, &r->st.last_metric);
    GET("train.loss_sums", double, TGS_F64, NP + 1, r->st.sums);
#undef GET
    if ((uint64_t)seed != r->o->seed) die("%s: train.seed %llu differs from the options' seed", path, (unsigned long long)seed);
    if (r->st.step < 0 || r->st.epoch < 0 || r->st.pos < 0) die("%s: negative counters", path);
    const char *arch = tgs_ckpt_meta_get(c, "arch");
    if (!arch || strcmp(arch, r->spec) != 0) die("%s: metadata 'arch' is '%s', the options say '%s'", path, arch ? arch : "", r->spec);
    if (tgs_ckpt_get_params(c, r->ps, 1, NULL) < 0 || tgs_optim_state_get(&r->opt, c) < 0) die("%s: %s", path, tgs_errmsg());
}

/* ---- validation ---- */

typedef struct {
    double loss, map, iou, threshold, map50;
} val_result;

static val_result validate(run *r, tgs_metric *m, int quiet) {
    val_result v = {0};
    int s = r->val_s, b = (int)r->o->batch;
    size_t plane = (size_t)s * (size_t)s;
    float *prob = NULL;
    uint8_t *truth = NULL;
    size_t cap = 0;
    double loss = 0;
    tgs_metric_reset(m);
    tgs_progress bar;
    tgs_progress_start(&bar, "val", "img", r->nval, quiet);
    for (size_t at = 0; at < r->nval; at += (size_t)b) {
        int n = r->nval - at < (size_t)b ? (int)(r->nval - at) : b;
        int32_t crop[4096][4];
        for (int i = 0; i < n; i++) fill_slot(r, i, s, &r->val[at + (size_t)i], r->val_path, at + (size_t)i + 1, crop[i]);
        tgs_net *net = get_net(r, n, s);
        net_inputs(net, r);
        struct tgs_exec *x = tgs_graph_exec(net->g);
        x->train = 0;
        int rc = tgs_graph_forward(net->g);
        x->train = 1;
        if (rc < 0) die("validation: %s", tgs_errmsg());
        double parts[NP + 1];
        read_losses(net, parts);
        loss += parts[NP] * n;
        tgs_tensor_get(net->g, net->out.seg, r->out);
        for (int i = 0; i < n; i++) {
            const int32_t *c = crop[i];
            size_t np = (size_t)c[2] * (size_t)c[3];
            if (np > cap) {
                free(prob), free(truth);
                prob = malloc(np * sizeof *prob), truth = malloc(np);
                if (!prob || !truth) die("out of memory");
                cap = np;
            }
            const float *lo = r->out + (size_t)i * plane, *mk = r->mask + (size_t)i * plane;
            size_t k = 0;
            for (int y = c[0]; y < c[0] + c[2]; y++)
                for (int xx = c[1]; xx < c[1] + c[3]; xx++, k++) {
                    size_t j = (size_t)y * (size_t)s + (size_t)xx;
                    prob[k] = 1.0f / (1.0f + expf(-lo[j]));
                    truth[k] = mk[j] > 0.5f;
                }
            if (tgs_metric_add_prob(m, prob, truth, (int)np) < 0)
                die("validation: sample %zu: the model's output: %s", at + (size_t)i + 1, tgs_errmsg());
        }
        tgs_progress_update(&bar, at + (size_t)n);
    }
    if (bar.enabled && bar.drawn) fputs("\r\033[K", stderr);
    free(prob), free(truth);
    int best = tgs_metric_best(m), k50 = tgs_metric_find(m, 0.5);
    v.loss = loss / (double)r->nval;
    v.map = tgs_metric_map(m, best);
    v.iou = tgs_metric_mean_iou(m, best);
    v.threshold = m->cut[best];
    v.map50 = tgs_metric_map(m, k50);
    return v;
}

static int cmp_str_ptr(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Read every validation sample and check it once, up front: ids unique. */
static void load_val(run *r, const char *path) {
    tgs_reader rd;
    if (tgs_reader_open(&rd, path) < 0) die("%s", tgs_errmsg());
    size_t cap = 0;
    r->val_path = strdup(rd.path);
    for (;;) {
        if (r->nval == cap) {
            cap = cap ? 2 * cap : 256;
            tgs_sample *p = realloc(r->val, sizeof *p * cap);
            if (!p) die("out of memory");
            r->val = p;
        }
        memset(&r->val[r->nval], 0, sizeof r->val[r->nval]);
        int rc = tgs_read_sample(&rd, &r->val[r->nval]);
        if (rc < 0) die("%s", tgs_errmsg());
        if (rc == 0) break;
        tgs_sample *smp = &r->val[r->nval++];
        tgs_prep_view v;
        const char *id = tgs_sample_id(smp);
        if (tgs_prep_view_sample(&r->prep, smp, 1, &v) < 0 ||
            (v.c != r->c && tgs_err("'image' has %d channels, the training samples %d", v.c, r->c)) ||
            (r->nval > 1 && v.s != r->val_s && tgs_err("the input is %dx%d, the samples before %dx%d", v.s, v.s, r->val_s, r->val_s)))
            die("%s: sample %zu%s%s%s: %s", rd.path, r->nval, id ? " (" : "", id ? id : "", id ? ")" : "", tgs_errmsg());
        r->val_s = v.s;
    }
    tgs_sample_free(&r->val[r->nval]);
    if (r->nval == 0) die("%s: no validation samples", rd.path);
    tgs_reader_close(&rd);
    /* a tile twice would count twice in the mAP */
    tgs_id_log log = {0};
    for (size_t i = 0; i < r->nval; i++) {
        const char *id = tgs_sample_id(&r->val[i]);
        if (id && tgs_id_log_add(&log, id, (long)i + 1) < 0) die("%s", tgs_errmsg());
    }
    if (tgs_id_log_check(&log, r->val_path, "sample") < 0) die("%s", tgs_errmsg());
    tgs_id_log_free(&log);
    r->val_ids = malloc(sizeof *r->val_ids * r->nval);
    if (!r->val_ids) die("out of memory");
    for (size_t i = 0; i < r->nval; i++)
        if (tgs_sample_id(&r->val[i])) r->val_ids[r->nval_ids++] = tgs_sample_id(&r->val[i]);
    qsort(r->val_ids, r->nval_ids, sizeof *r->val_ids, cmp_str_ptr);
}

/* Whether a training sample is one of the validation tiles. */
static int is_val_tile(const run *r, const tgs_sample *smp) {
    const char *id = tgs_sample_id(smp);
    return id && r->nval_ids && bsearch(&id, r->val_ids, r->nval_ids, sizeof *r->val_ids, cmp_str_ptr);
}

/* ---- main ---- */

_Noreturn static void stop_now(run *r) {
    int sig = stop_signal;
    save_ckpt(r, r->last_path, r->st.last_metric);
    fprintf(stderr, "%s: %s: stopped in epoch %lld after step %lld; saved %s (continue with --resume %s)\n", tgs_prog,
            sig == SIGTERM ? "SIGTERM" : "SIGINT", (long long)r->st.epoch + 1, (long long)r->st.step, r->last_path,
            r->last_path);
    exit(128 + sig);
}

/* "42s", "3m05s" or "1h07m" */
static const char *fmt_duration(char *buf, size_t size, double secs)
{
    long s = secs > 0 ? (long)(secs + 0.5) : 0;
    if (s < 60) snprintf(buf, size, "%lds", s);
    else if (s < 3600) snprintf(buf, size, "%ldm%02lds", s / 60, s % 60);
    else snprintf(buf, size, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
    return buf;
}

int main(int argc, char **argv) {
    tgs_cli_init(argv[0]);
    catch_stop_signals();
    options o = parse_args(argc, argv);
    run r;
    memset(&r, 0, sizeof r);
    r.o = &o;
    r.st.best_metric = NAN, r.st.last_metric = NAN;
    tgs_ckpt rck;
    tgs_ckpt_init(&rck);
    if (o.resume) {
        if (tgs_ckpt_load(&rck, o.resume) < 0) die("%s", tgs_errmsg());
        options_merge(&o, &rck, o.resume);
    }
    options_defaults(&o);
    if (o.resume) { /* asked for no more than is done: say so before touching anything */
        const int64_t *done = tgs_ckpt_expect(&rck, "train.epoch", TGS_I64, 1);
        if (!done) die("%s: %s", o.resume, tgs_errmsg());
        if (o.epochs && *done > o.epochs)
            die_usage("--epochs %ld: the run in %s has done %lld epochs already", o.epochs, o.resume, (long long)*done);
        if (o.epochs && *done == o.epochs) {
            if (!o.quiet) fprintf(stderr, "nothing to train: the run in %s has done its %ld epochs\n", o.resume, o.epochs);
            tgs_ckpt_free(&rck);
            return 0;
        }
    }
    if (o.patience && !o.val) die_usage("--patience needs --val: it counts epochs without a better val mAP");
    r.sched.base_lr = o.lr;
    if (tgs_sched_parse(o.sched, &r.sched) < 0) die_usage("--sched: %s", tgs_errmsg());
    struct tgs_optim_opts oo;
    tgs_optim_defaults(&oo, o.optim);
    oo.weight_decay = o.wd;
    if (o.optim == TGS_OPTIM_SGD) oo.momentum = o.momentum, oo.nesterov = o.nesterov;
    if (tgs_optim_check(&oo) < 0) die_usage("%s", tgs_errmsg());
    tgs_cpu_set_threads((int)o.threads);
    const struct tgs_backend *be = tgs_backend_by_name(o.device ? o.device : "cpu");
    if (!be) die_usage("--device: %s", tgs_errmsg());

    snprintf(r.last_path, sizeof r.last_path, "%s/last.ckpt", o.output);
    snprintf(r.best_path, sizeof r.best_path, "%s/best.ckpt", o.output);
    snprintf(r.log_path, sizeof r.log_path, "%s/log.csv", o.output);
    if (!o.resume && file_exists(r.last_path))
        die("%s already holds a run (%s); continue it with --resume %s, or give another -o", o.output, r.last_path,
            r.last_path);

    /* the data decides the channels and the input side */
    tgs_samples src;
    if (tgs_samples_open(&src, o.input, o.seed, &stop_signal, o.quiet) < 0) die("%s", tgs_errmsg());
    const tgs_sample *first = tgs_samples_first(&src);
    if (!src.streaming && !o.epochs) o.epochs = 1; /* as --help says: the file once */
    model_opts(o.model, 0, &r.mo);
    if (o.size % tgs_model_stride(&r.mo))
        die_usage("--size %d is not a multiple of the model's stride %d", o.size, tgs_model_stride(&r.mo));
    tgs_prep_init(&r.prep, tgs_model_stride(&r.mo));
    r.prep.size = o.size, r.prep.mean = o.mean, r.prep.std = o.std;
    tgs_prep_view v;
    if (tgs_prep_view_sample(&r.prep, first, 1, &v) < 0) die("%s: sample 1: %s", src.rd.path, tgs_errmsg());
    if (o.size && v.s != o.size) die_usage("--size %d: the training samples are already padded to %d", o.size, v.s);
    model_opts(o.model, v.c, &r.mo);
    r.c = r.mo.in_ch, r.s = r.prep.size = o.size = v.s;
    if (v.c != r.c) die("%s: sample 1: 'image' has %d channels, the model (%s) takes %d", src.rd.path, v.c, o.model, r.c);
    tgs_model_format(&r.mo, r.spec, sizeof r.spec);
    copy_str(o.model, sizeof o.model, r.spec, "--model");
    if (o.val) load_val(&r, o.val);
    /* made once the inputs have been read, and removed again by die()
     * while it is empty: a run that fails before its first checkpoint
     * leaves no run directory behind */
    if (tgs_outdir_make(o.output) < 0) die("-o: %s", tgs_errmsg());

    /* the model, the optimizer, and where they start from */
    r.ps = tgs_params_new(be);
    if (!r.ps || tgs_model_params(r.ps, &r.mo, o.seed) < 0) die("model: %s", tgs_errmsg());
    if (tgs_optim_state_init(&r.opt, &oo, r.ps) < 0) die("%s", tgs_errmsg());
    if (o.resume) {
        load_state(&r, &rck, o.resume);
    } else if (o.init[0]) {
        tgs_ckpt ic;
        int matched;
        if (tgs_ckpt_load(&ic, o.init) < 0) die("--init: %s", tgs_errmsg());
        if (tgs_ckpt_get_params(&ic, r.ps, 0, &matched) < 0) die("--init: %s: %s", o.init, tgs_errmsg());
        if (matched == 0) die("--init: %s: none of its tensors is named as one of the model's", o.init);
        if (!o.quiet)
            fprintf(stderr, "init: %d of the model's %d tensors loaded from %s\n", matched, tgs_params_count(r.ps), o.init);
        tgs_ckpt_free(&ic);
    }
    /* the average starts as the weights loaded; on --resume those are the
     * checkpoint's average, and the trained weights are beside it */
    if (o.ema > 0 && (tgs_ema_init(&r.ema, r.ps, o.ema) < 0 || (o.resume && tgs_ema_get_live(&r.ema, &rck) < 0)))
        die("%s%s%s", o.resume ? o.resume : "", o.resume ? ": " : "", tgs_errmsg());
    tgs_ckpt_free(&rck);
    r.log_keep = o.resume ? r.st.epoch : -1;

    size_t plane = (size_t)r.s * (size_t)r.s, vplane = (size_t)r.val_s * (size_t)r.val_s;
    if (vplane > plane) plane = vplane;
    r.img = malloc(sizeof *r.img * plane * (size_t)r.c * (size_t)o.batch);
    r.mask = malloc(sizeof *r.mask * plane * (size_t)o.batch);
    r.out = malloc(sizeof *r.out * plane * (size_t)o.batch);
    r.salt = malloc(sizeof *r.salt * (size_t)o.batch);
    if (!r.img || !r.mask || !r.out || !r.salt) die("out of memory for a batch of %ld", o.batch);
    tgs_metric metric;
    tgs_metric_init_sweep(&metric);
    uint64_t seed_key = mix64(o.seed);

    int first_epoch = 1, ran = 0;
    double run_t0 = tgs_now(); /* for the ETA: this process's epochs so far */
    int64_t run_epochs = 0;
    for (;;) {
        int64_t e = r.st.epoch;
        if (o.epochs && e >= o.epochs) break;
        int begun = tgs_samples_begin_epoch(&src, e, first_epoch);
        if (begun < 0) die("%s", tgs_errmsg());
        if (!begun) {
            if (first_epoch && o.resume) die("%s: the stream holds no epoch %lld to resume at", src.rd.path, (long long)e);
            break;
        }
        set_stage(&r, stage_of(&r, e));
        uint64_t index;
        const tgs_sample *smp;
        for (int64_t k = 0; k < r.st.pos; k++) /* resuming mid-epoch: what was done */
            if (next_sample(&src, &smp, &index) == 0)
                die("%s: epoch %lld has %lld samples, the checkpoint was saved after %lld of them", src.rd.path,
                    (long long)e, (long long)k, (long long)r.st.pos);
        int first_process_epoch = first_epoch;
        first_epoch = 0;
        char label[64];
        if (o.epochs) snprintf(label, sizeof label, "epoch %lld/%ld", (long long)e + 1, o.epochs);
        else snprintf(label, sizeof label, "epoch %lld", (long long)e + 1);
        tgs_progress bar;
        int64_t total = tgs_samples_per_epoch(&src);
        tgs_progress_start(&bar, label, "img", (uint64_t)total, o.quiet);
        double t0 = tgs_now(), lr = current_lr(&r, e, r.st.step);
        int64_t images = 0;
        for (;;) {
            if (stop_signal) {
                if (bar.enabled && bar.drawn) fputs("\r\033[K", stderr);
                stop_now(&r);
            }
            int n = 0;
            while (n < o.batch && next_sample(&src, &smp, &index)) {
                if (first_process_epoch && is_val_tile(&r, smp)) r.overlap++;
                fill_slot(&r, n++, r.s, smp, src.rd.path, index, NULL);
            }
            if (n == 0) break;
            tgs_net *net = get_net(&r, n, r.s);
            net_inputs(net, &r);
            struct tgs_exec *x = tgs_graph_exec(net->g);
            x->train = 1;
            x->step = seed_key + (uint64_t)r.st.step + 1;
            tgs_params_zero_grad(r.ps);
            if (tgs_graph_forward(net->g) < 0) die("epoch %lld: %s", (long long)e + 1, tgs_errmsg());
            double parts[NP + 1];
            read_losses(net, parts);
            if (!isfinite(parts[NP])) {
                char t[256];
                losses_text(&r, parts, t, sizeof t);
                char what[300];
                snprintf(what, sizeof what, "the loss (%s)", t);
                not_finite(&r, e + 1, r.st.step + 1, what, parts[NP]);
            }
            if (tgs_graph_backward(net->g, net->total) < 0) die("epoch %lld: %s", (long long)e + 1, tgs_errmsg());
            double norm = tgs_optim_state_clip(&r.opt, o.clip);
            if (!isfinite(norm)) not_finite(&r, e + 1, r.st.step + 1, "the gradients' norm", norm);
            lr = current_lr(&r, e, r.st.step);
            tgs_optim_state_step(&r.opt, (float)lr, r.st.step + 1);
            r.st.step++;
            if (o.ema > 0) tgs_ema_update(&r.ema, r.st.step);
            r.st.pos += n;
            images += n;
            for (int k = 0; k <= NP; k++)
                if (isfinite(parts[k])) r.st.sums[k] += parts[k] * n;
            ran = 1;
            tgs_progress_update(&bar, (uint64_t)r.st.pos);
        }
        if (bar.enabled && bar.drawn) fputs("\r\033[K", stderr);
        double secs = tgs_now() - t0;
        if (first_process_epoch && r.overlap && !o.quiet) /* a leak, or a deliberate fit check: say it once */
            fprintf(stderr, "%s: warning: %zu training samples of this epoch are validation tiles (%s): the val mAP is "
                            "not a held-out score\n", tgs_prog, r.overlap, r.val_path);
        if (r.st.pos == 0) break; /* an epoch with nothing in it: the stream ended */
        tgs_samples_end_epoch(&src, r.st.pos);

        val_result vr = {NAN, NAN, NAN, NAN, NAN};
        if (o.val) {
            if (o.ema > 0) tgs_ema_swap(&r.ema);
            vr = validate(&r, &metric, o.quiet);
            if (o.ema > 0) tgs_ema_swap(&r.ema);
        }
        r.st.epoch++;
        int best = 0;
        if (o.val) {
            r.st.last_metric = vr.map;
            if (!(vr.map <= r.st.best_metric)) /* the first, or better */
                best = 1, r.st.best_metric = vr.map, r.st.best_epoch = r.st.epoch;
        }
        /* the row: the epoch's mean of each part over its images */
        char row[2048], num[64];
        size_t len = (size_t)snprintf(row, sizeof row, "%lld,%d,%lld,%s", (long long)r.st.epoch, r.stage,
                                      (long long)r.st.step, tgs_fmt_float(num, sizeof num, (float)lr));
        double mean[NP + 1];
        for (int k = 0; k <= NP; k++) mean[k] = r.st.sums[k] / (double)r.st.pos;
        len += (size_t)snprintf(row + len, sizeof row - len, ",%.6g", mean[NP]);
        for (int k = 0; k < NP; k++) {
            if (stage_weights(&r, r.stage)[k] > 0) len += (size_t)snprintf(row + len, sizeof row - len, ",%.6g", mean[k]);
            else len += (size_t)snprintf(row + len, sizeof row - len, ",");
        }
        if (o.val)
            len += (size_t)snprintf(row + len, sizeof row - len, ",%.6g,%.6f,%.2f,%.6f,%.6f", vr.loss, vr.map, vr.threshold,
                                    vr.iou, vr.map50);
        else len += (size_t)snprintf(row + len, sizeof row - len, ",,,,,");
        snprintf(row + len, sizeof row - len, ",%.1f,%.1f\n", secs > 0 ? (double)images / secs : 0.0, secs);
        if (!o.quiet) {
            char parts_txt[256], line[1024];
            losses_text(&r, mean, parts_txt, sizeof parts_txt);
            int l = snprintf(line, sizeof line, "epoch %lld%s: lr %s train %.4f (%s)", (long long)r.st.epoch,
                             o.has_loss2 ? (r.stage == 2 ? " [loss2]" : " [loss1]") : "", tgs_fmt_float(num, sizeof num, (float)lr),
                             mean[NP], parts_txt);
            if (o.val)
                l += snprintf(line + l, sizeof line - (size_t)l, " val %.4f mAP %.4f at %.2f (0.50: %.4f) IoU %.4f%s",
                              vr.loss, vr.map, vr.threshold, vr.map50, vr.iou, best ? " *" : "");
            l += snprintf(line + l, sizeof line - (size_t)l, ", %.1f img/s, %s", secs > 0 ? (double)images / secs : 0.0,
                          fmt_duration(num, sizeof num, secs));
            run_epochs++;
            if (o.epochs && r.st.epoch < o.epochs) {
                double left = (tgs_now() - run_t0) / (double)run_epochs * (double)(o.epochs - r.st.epoch);
                snprintf(line + l, sizeof line - (size_t)l, ", ETA %s", fmt_duration(num, sizeof num, left));
            }
            fprintf(stderr, "%s\n", line);
        }
        r.st.pos = 0;
        memset(r.st.sums, 0, sizeof r.st.sums);
        if (best) save_ckpt(&r, r.best_path, vr.map);
        save_ckpt(&r, r.last_path, r.st.last_metric);
        log_row(r.log_path, row);
        if (stop_signal) stop_now(&r);
        if (o.patience && r.st.epoch - r.st.best_epoch >= o.patience) {
            if (!o.quiet)
                fprintf(stderr, "early stop: no better val mAP in %ld epochs (best %.4f after epoch %lld)\n", o.patience,
                        r.st.best_metric, (long long)r.st.best_epoch);
            break;
        }
    }
    if (!ran && !o.quiet) fprintf(stderr, "nothing to train: the run is at epoch %lld\n", (long long)r.st.epoch);
    if (!o.quiet) {
        if (o.val && r.st.best_epoch > 0)
            fprintf(stderr, "done: %lld epochs; best val mAP %.4f after epoch %lld (%s)\n", (long long)r.st.epoch,
                    r.st.best_metric, (long long)r.st.best_epoch, r.best_path);
        else fprintf(stderr, "done: %lld epochs (%s)\n", (long long)r.st.epoch, r.last_path);
        tgs_traffic_say(be);
    }
    for (int i = 0; i < MAX_NETS; i++) tgs_net_free(&r.nets[i]);
    tgs_optim_state_free(&r.opt);
    if (o.ema > 0) tgs_ema_free(&r.ema);
    tgs_params_free(r.ps);
    tgs_prep_free(&r.prep);
    tgs_samples_close(&src);
    for (size_t i = 0; i < r.nval; i++) tgs_sample_free(&r.val[i]);
    free(r.val), free((void *)r.val_path), free(r.val_ids);
    free(r.img), free(r.mask), free(r.out), free(r.salt);
    return 0;
}
