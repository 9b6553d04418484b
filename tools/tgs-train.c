/* tgs-train: train a segmentation model on a sample stream.
 *
 * Input: labelled samples, either raw tiles (tgs-stack25d: u8 image, u8
 * mask; padded here) or model inputs (tgs-augment: f32 image and mask,
 * crop, norm, epoch; their 'norm' must be the run's --norm, which it
 * takes from the first sample when not given). With 'epoch' records the stream says where each epoch
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
#include "trainer.h"

static const char usage[] =
    "usage: tgs-train -o DIR [--val FILE] [--arch SPEC] [--size S] [--norm MEAN,STD]\n"
    "                 [--loss SPEC] [--loss2 SPEC --stage2-epoch E]\n"
    "                 [--optim adam|adamw|sgd] [--lr LR] [--wd WD] [--momentum M]\n"
    "                 [--nesterov] [--sched SPEC] [--sched-unit epoch|step] [--clip NORM]\n"
    "                 [--batch N] [--epochs N] [--patience N] [--seed N] [--ema DECAY]\n"
    "                 [--init CKPT | --resume CKPT] [--device NAME] [--threads N] [-q] [TRAIN]\n"
    "Train a model on the samples of TRAIN (or stdin): raw tiles from tgs-stack25d,\n"
    "or tgs-augment's padded inputs. Writes DIR/last.ckpt, DIR/best.ckpt (best val\n"
    "mAP) and DIR/log.csv, one row per epoch, which DIR/events.out.tfevents.tgs\n"
    "holds too, for TensorBoard.\n"
    "data:\n"
    "  -o, --output DIR  the run's directory (made if missing)\n"
    "  --val FILE        validation samples (raw or padded, labelled)\n"
    "  --size S          side raw tiles are padded to (default: the smallest\n"
    "                    multiple of the model's stride >= the tile, 104 or 112)\n"
    "  --norm MEAN,STD   raw tiles become (x/255 - MEAN) / STD; padded samples'\n"
    "                    'norm' records must say the same (default: the first\n"
    "                    sample's 'norm', else 0,1)\n"
    "model:\n"
    "  --arch SPEC       the model; default \"" TGS_MODEL_DEFAULT "\", which is\n"
    "                    " TGS_MODEL_DEFAULT_MEANS ";\n"
    "                    in= defaults to the samples' channels; or the hybrid\n"
    "                    \"swinunet\" (Swin encoder, U-Net decoder), keys and\n"
    "                    defaults embed=48 depths=2,2,2 heads=3,6,12 window=7\n"
    "                    mlp=4 drop_path=0.1 stem=12,24 tokens=conv dropout=0\n"
    "                    scse=8 hcw=8 (side/4, /8, ... multiples of window:\n"
    "                    --size 112; tokens=patch: Swin's 4x4 patches of the\n"
    "                    pixels, not the CNN stem's)\n"
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

#define DEFAULT_MODEL TGS_MODEL_DEFAULT
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
    [K_MODEL] = {"model", "--arch", 1, 0},          [K_SIZE] = {"size", "--size", 0, 0},
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
        OPT_VAL = 256, OPT_THREADS, OPT_DEVICE, OPT_RESUME, OPT_MODEL_SPEC, OPT_KEY /* OPT_KEY + k: option k */
    };
    static const struct option longopts[] = {
        {"val", required_argument, 0, OPT_VAL},
        {"threads", required_argument, 0, OPT_THREADS},
        {"device", required_argument, 0, OPT_DEVICE},
        {"resume", required_argument, 0, OPT_RESUME},
        {"arch", required_argument, 0, OPT_KEY + K_MODEL},
        {"model", required_argument, 0, OPT_MODEL_SPEC},
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
        TGS_COMMON_LONGOPTS};
    int c;
    while ((c = getopt_long(argc, argv, ":o:qhV", longopts, NULL)) != -1) {
        if (c == OPT_MODEL_SPEC) die_usage("--model: a checkpoint in every tgs tool (tgs-mcdrop -m); the model's spec is --arch SPEC");
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
        case 'V': tgs_print_version(); printf("%s\n", tgs_cpu_describe()); exit(0); /* and its engine */
        default: tgs_common_option(c, argv, usage, &o.output, &o.quiet);
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
    if (!o->set[K_MODEL]) copy_str(o->model, sizeof o->model, DEFAULT_MODEL, "--arch");
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
    if (tgs_model_parse(mo, spec) < 0) die_usage("--arch: %s", tgs_errmsg());
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
        char canon[512]; /* the model as written then, with today's keys: older specs lack some */
        if (k == K_MODEL) {
            if (tgs_model_spec_saved(stored, canon, sizeof canon) < 0) die("%s: options: %s", path, tgs_errmsg());
            stored = canon;
        }
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

/* ---- the run ---- */

static int file_exists(const char *path) { return access(path, F_OK) == 0; }

int main(int argc, char **argv) {
    tgs_cli_init(argv[0]);
    tgs_catch_stop_signals();
    options o = parse_args(argc, argv);
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
    tgs_trainer r;
    tgs_trainer_init(&r);
    r.sched.base_lr = o.lr;
    if (tgs_sched_parse(o.sched, &r.sched) < 0) die_usage("--sched: %s", tgs_errmsg());
    tgs_optim_defaults(&r.optim, o.optim);
    r.optim.weight_decay = o.wd;
    if (o.optim == TGS_OPTIM_SGD) r.optim.momentum = o.momentum, r.optim.nesterov = o.nesterov;
    if (tgs_optim_check(&r.optim) < 0) die_usage("%s", tgs_errmsg());
    tgs_cpu_set_threads((int)o.threads);
    if (!(r.be = tgs_backend_by_name(o.device ? o.device : "cpu"))) die_usage("--device: %s", tgs_errmsg());

    snprintf(r.last_path, sizeof r.last_path, "%s/last.ckpt", o.output);
    snprintf(r.best_path, sizeof r.best_path, "%s/best.ckpt", o.output);
    snprintf(r.log_path, sizeof r.log_path, "%s/log.csv", o.output);
    snprintf(r.events_path, sizeof r.events_path, "%s/events.out.tfevents.tgs", o.output);
    if (!o.resume && file_exists(r.last_path))
        die("%s already holds a run (%s); continue it with --resume %s, or give another -o", o.output, r.last_path,
            r.last_path);

    /* the data decides the channels and the input side */
    tgs_samples src;
    if (tgs_samples_open(&src, o.input, o.seed, &tgs_stop_signal, o.quiet) < 0) die("%s", tgs_errmsg());
    const tgs_sample *first = tgs_samples_first(&src);
    if (!src.streaming && !o.epochs) o.epochs = 1; /* as --help says: the file once */
    model_opts(o.model, 0, &r.mo);
    if (o.size % tgs_model_stride(&r.mo))
        die_usage("--size %d is not a multiple of the model's stride %d", o.size, tgs_model_stride(&r.mo));
    /* padded inputs say the norm they were made with: without --norm (given
     * or resumed) the run takes it, and every sample must then agree */
    const char *first_id = tgs_sample_id(first);
    float nm, ns;
    int has_norm = tgs_sample_norm(first, &nm, &ns);
    if (has_norm < 0) die("%s: sample 1%s%s%s: %s", src.rd.path, first_id ? " (" : "", first_id ? first_id : "", first_id ? ")" : "", tgs_errmsg());
    if (has_norm && !o.set[K_NORM]) o.mean = nm, o.std = ns;
    tgs_prep_init(&r.prep, tgs_model_stride(&r.mo));
    r.prep.size = o.size, r.prep.mean = o.mean, r.prep.std = o.std;
    r.prep.norm_from = o.set[K_NORM] == 1 ? "--norm" : o.set[K_NORM] == 2 ? "the resumed run's --norm"
                       : has_norm ? "the first training sample's 'norm'" : "the default; give --norm";
    tgs_prep_view v;
    if (tgs_prep_view_sample(&r.prep, first, 1, &v) < 0)
        die("%s: sample 1%s%s%s: %s", src.rd.path, first_id ? " (" : "", first_id ? first_id : "", first_id ? ")" : "", tgs_errmsg());
    if (o.size && v.s != o.size) die_usage("--size %d: the training samples are already padded to %d", o.size, v.s);
    model_opts(o.model, v.c, &r.mo);
    r.c = r.mo.in_ch, r.s = r.prep.size = o.size = v.s;
    if (v.c != r.c) die("%s: sample 1: 'image' has %d channels, the model (%s) takes %d", src.rd.path, v.c, o.model, r.c);
    tgs_model_format(&r.mo, r.spec, sizeof r.spec);
    copy_str(o.model, sizeof o.model, r.spec, "--arch");
    if (o.val && tgs_trainer_load_val(&r, o.val) < 0) die("%s", tgs_errmsg());
    /* the rest of the run, as the trainer takes it */
    r.batch = (int)o.batch;
    memcpy(r.loss, o.loss, sizeof r.loss), memcpy(r.loss2, o.loss2, sizeof r.loss2);
    r.has_loss2 = o.has_loss2, r.stage2_epoch = o.stage2_epoch;
    r.sched_step = o.sched_step, r.clip = o.clip, r.ema = o.ema, r.seed = o.seed;
    fmt_opt(&o, K_NORM, r.norm, sizeof r.norm);
    char opts[8192];
    options_json(&o, opts, sizeof opts);
    r.options_json = opts;
    /* made once the inputs have been read, and removed again by die()
     * while it is empty: a run that fails before its first checkpoint
     * leaves no run directory behind */
    if (tgs_outdir_make(o.output) < 0) die("-o: %s", tgs_errmsg());

    /* the model, the optimizer, and where they start from */
    if (tgs_trainer_start(&r) < 0) die("%s", tgs_errmsg());
    if (o.resume) {
        if (tgs_trainer_resume(&r, &rck, o.resume) < 0) die("%s", tgs_errmsg());
    } else if (o.init[0]) {
        tgs_ckpt ic;
        int matched;
        if (tgs_ckpt_load(&ic, o.init) < 0) die("--init: %s", tgs_errmsg());
        /* an encoder learnt on inputs scaled otherwise starts from features
         * of other numbers: refused (tgs-mae's and tgs-train's checkpoints
         * say their norm) */
        tgs_model_info ii;
        if (tgs_ckpt_meta_get(&ic, "norm") && tgs_model_info_get(&ic, &ii) == 0 && (ii.mean != o.mean || ii.std != o.std))
            die_usage("--init: %s was trained on inputs normalised %s; this run's are %s (%s)", o.init,
                      tgs_ckpt_meta_get(&ic, "norm"), r.norm, r.prep.norm_from);
        if (tgs_ckpt_get_params(&ic, r.ps, 0, &matched) < 0) die("--init: %s: %s", o.init, tgs_errmsg());
        if (matched == 0) die("--init: %s: none of its tensors is named as one of the model's", o.init);
        if (!o.quiet)
            fprintf(stderr, "init: %d of the model's %d tensors loaded from %s\n", matched, tgs_params_count(r.ps), o.init);
        tgs_ckpt_free(&ic);
    }
    if (tgs_trainer_start_average(&r, o.resume ? &rck : NULL) < 0)
        die("%s%s%s", o.resume ? o.resume : "", o.resume ? ": " : "", tgs_errmsg());
    tgs_ckpt_free(&rck);

    tgs_fit_opts fo = {.epochs = o.epochs, .patience = o.patience, .resumed = o.resume != NULL, .validate = o.val != NULL,
                       .quiet = o.quiet, .stop = &tgs_stop_signal};
    int rc = tgs_trainer_fit(&r, &src, &fo);
    if (rc < 0) die("%s", tgs_errmsg());
    if (rc == TGS_FIT_STOPPED) {
        int sig = tgs_stop_signal;
        tgs_trainer_say_stopped(&r, sig);
        exit(128 + sig);
    }
    if (!o.quiet) {
        if (o.val && r.st.best_epoch > 0)
            fprintf(stderr, "done: %lld epochs; best val mAP %.4f after epoch %lld (%s)\n", (long long)r.st.epoch,
                    r.st.best_metric, (long long)r.st.best_epoch, r.best_path);
        else fprintf(stderr, "done: %lld epochs (%s)\n", (long long)r.st.epoch, r.last_path);
        tgs_traffic_say(r.be);
    }
    tgs_trainer_free(&r);
    tgs_samples_close(&src);
    return 0;
}
