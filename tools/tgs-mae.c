/* tgs-mae: pretrain a model's encoder on images without labels, as a
 * masked autoencoder (SimMIM style; lib/common/mae.h): hide most patches of
 * each tile, learn to draw them back. The encoder's weights then start
 * tgs-train (--init DIR/encoder.ckpt) in place of random ones.
 *
 * Through the shared training library (lib/common/trainer.c): progress,
 * log.csv, last.ckpt, --resume byte for byte, --device; every epoch also
 * DIR/encoder.ckpt (the encoder alone) and DIR/recon.png (hidden input,
 * reconstruction, original, for a person to look at). */
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
#include "mae.h"
#include "nn/ckpt_params.h"
#include "nn/model.h"
#include "nn/nn.h"
#include "outfile.h"
#include "samples.h"
#include "stream.h"
#include "train.h"
#include "trainer.h"

static const char usage[] =
    "usage: tgs-mae -o DIR [--arch SPEC] [--ratio R] [--epochs N] [--batch N] [--lr LR] [--warmup N] [--wd W]\n"
    "               [--size S] [--norm MEAN,STD] [--seed N] [--val FILE] [--show N] [--resume CKPT]\n"
    "               [--device NAME] [--threads N] [-q] [FILE]\n"
    "Pretrain the encoder of a model on images without labels: each tile's\n"
    "patches (the model's stride in pixels) are hidden at random, the encoder\n"
    "sees a learned token there, and a 1x1 conv of its deepest features learns\n"
    "the hidden pixels (MSE, each patch normalised). FILE (default stdin): tiles\n"
    "(tgs-stack25d) or tgs-augment's stream; labels are not read.\n"
    "Writes DIR/encoder.ckpt (for tgs-train --init), DIR/recon.png, DIR/log.csv\n"
    "(and DIR/events.out.tfevents.tgs, the log for TensorBoard) and DIR/last.ckpt\n"
    "(for --resume) after every epoch.\n"
    "  -o, --output DIR  the run's directory\n"
    "  --arch SPEC       the model whose encoder is pretrained, as tgs-train's\n"
    "                    (default \"" TGS_MODEL_DEFAULT "\", as tgs-train's)\n"
    "  --ratio R         of the patches hidden, 0 < R < 1 (default 0.6)\n"
    "  --epochs N        the run's length, which the rate's cosine spans (default 20;\n"
    "                    a stream of tgs-augment --epochs ending sooner ends it)\n"
    "  --batch N         default 32\n"
    "  --lr LR           AdamW's peak rate, cosine to 1/100 of it (default 0.001)\n"
    "  --warmup N        epochs of linear warm-up to the peak rate (default 0)\n"
    "  --wd W            AdamW's weight decay (default 0.05)\n"
    "  --size S          side of the input for raw tiles (default: the stride's multiple)\n"
    "  --norm MEAN,STD   normalisation of raw tiles, as tgs-augment; padded samples'\n"
    "                    'norm' must agree (default: the first's 'norm', else 0,1)\n"
    "  --seed N          weights and hidden patches (default 0)\n"
    "  --val FILE        images to report the reconstruction loss on (never trained on)\n"
    "  --show N          rows of recon.png: the first N of --val, else of FILE (default 8)\n"
    "  --resume CKPT     continue the run CKPT was saved from, with its options,\n"
    "                    byte for byte\n"
    "  --device NAME     cpu (default) or sim\n"
    "  --threads N       CPU threads (default 0: all cores)\n"
    "  -q, --quiet       no progress bar and no per-epoch lines\n"
    "  -h, --help        this text;  -V, --version  the version\n";

#define DEFAULT_MODEL TGS_MODEL_DEFAULT

/* The options a run keeps (metadata 'options' of its checkpoints). */
enum { K_MODEL, K_RATIO, K_EPOCHS, K_BATCH, K_LR, K_WD, K_SIZE, K_NORM, K_SEED, K_WARMUP, NKEYS };
static const char *const key_name[NKEYS] = {"model", "ratio", "epochs", "batch", "lr", "wd", "size", "norm", "seed", "warmup"};
static const char *const key_opt[NKEYS] = {"--arch", "--ratio", "--epochs", "--batch", "--lr",
                                           "--wd",   "--size",  "--norm",   "--seed",  "--warmup"};

typedef struct {
    const char *output, *input, *val, *device, *resume;
    char model[512];
    float ratio, lr, wd, mean, std;
    long epochs, batch, threads, show, warmup;
    int size;
    uint64_t seed;
    int quiet;
    int set[NKEYS];
} options;

static void set_opt(options *o, int k, const char *v) {
    const char *opt = key_opt[k];
    switch (k) {
    case K_MODEL:
        if (strlen(v) >= sizeof o->model) die_usage("--arch: too long");
        snprintf(o->model, sizeof o->model, "%s", v);
        break;
    case K_RATIO: {
        double r = tgs_parse_double(v, opt, 0, 1);
        if (!(r > 0 && r < 1)) die_usage("--ratio %s: want 0 < R < 1", v);
        o->ratio = (float)r;
        break;
    }
    case K_EPOCHS: o->epochs = tgs_parse_long(v, opt, 1, 100000); break;
    case K_BATCH: o->batch = tgs_parse_long(v, opt, 1, 4096); break;
    case K_LR: o->lr = (float)tgs_parse_double(v, opt, 1e-12, 10); break;
    case K_WD: o->wd = (float)tgs_parse_double(v, opt, 0, 10); break;
    case K_SIZE: o->size = (int)tgs_parse_long(v, opt, 0, 4096); break;
    case K_NORM: tgs_parse_norm(v, opt, &o->mean, &o->std); break;
    case K_SEED: o->seed = tgs_parse_seed(v); break;
    case K_WARMUP: o->warmup = tgs_parse_long(v, opt, 0, 100000); break;
    }
}

static void fmt_opt(const options *o, int k, char *b, size_t n) {
    char f[64];
    switch (k) {
    case K_MODEL: snprintf(b, n, "%s", o->model); break;
    case K_RATIO: snprintf(b, n, "%s", tgs_fmt_float(f, sizeof f, o->ratio)); break;
    case K_EPOCHS: snprintf(b, n, "%ld", o->epochs); break;
    case K_BATCH: snprintf(b, n, "%ld", o->batch); break;
    case K_LR: snprintf(b, n, "%s", tgs_fmt_float(f, sizeof f, o->lr)); break;
    case K_WD: snprintf(b, n, "%s", tgs_fmt_float(f, sizeof f, o->wd)); break;
    case K_SIZE: snprintf(b, n, "%d", o->size); break;
    case K_NORM: {
        char g[64];
        snprintf(b, n, "%s,%s", tgs_fmt_float(f, sizeof f, o->mean), tgs_fmt_float(g, sizeof g, o->std));
        break;
    }
    case K_SEED: snprintf(b, n, "%llu", (unsigned long long)o->seed); break;
    case K_WARMUP: snprintf(b, n, "%ld", o->warmup); break;
    }
}

/* {"mae":"1","model":...}: what --resume reads back */
static void options_json(const options *o, char *buf, size_t size) {
    size_t len = (size_t)snprintf(buf, size, "{\"mae\":\"1\"");
    for (int k = 0; k < NKEYS && len < size; k++) {
        char v[600];
        fmt_opt(o, k, v, sizeof v);
        len += (size_t)snprintf(buf + len, size - len, ",\"%s\":\"%s\"", key_name[k], v);
    }
    if (len < size) snprintf(buf + len, size - len, "}");
}

/* --resume: the run's options; those given must agree. */
static void options_merge(options *o, const tgs_ckpt *c, const char *path) {
    const char *js = tgs_ckpt_meta_get(c, "options");
    tgs_json_kv *kv;
    int n;
    if (!js || !strstr(js, "\"mae\":\"1\"")) die("%s: not a tgs-mae checkpoint (no 'mae' in its options)", path);
    if (tgs_json_flat_parse(js, strlen(js), &kv, &n) < 0) die("%s: metadata 'options': %s", path, tgs_errmsg());
    for (int k = 0; k < NKEYS; k++) {
        const char *stored = NULL;
        for (int i = 0; i < n; i++)
            if (!strcmp(kv[i].key, key_name[k])) stored = kv[i].value;
        if (!stored && k == K_WARMUP) stored = "0"; /* runs from before --warmup had none */
        if (!stored) die("%s: metadata 'options' has no '%s'", path, key_name[k]);
        char canon[512]; /* the model as written then, with today's keys: older specs lack some */
        if (k == K_MODEL) {
            if (tgs_model_spec_saved(stored, canon, sizeof canon) < 0) die("%s: options: %s", path, tgs_errmsg());
            stored = canon;
        }
        char mine[600], theirs[600];
        fmt_opt(o, k, mine, sizeof mine);
        options t = *o;
        set_opt(&t, k, stored);
        fmt_opt(&t, k, theirs, sizeof theirs);
        if (o->set[k] && strcmp(mine, theirs))
            die_usage("%s %s: the run in %s has '%s'; a resumed run keeps its options", key_opt[k],
                      mine, path, stored);
        set_opt(o, k, stored);
    }
    tgs_json_kv_free(kv, n);
}

/* ---- what each epoch leaves beside the checkpoint ---- */

typedef struct {
    const char *dir;
    int n;             /* rows of the picture */
    float *orig;       /* their model inputs, n x C x S x S */
    uint8_t *hidden;   /* n x npatch */
    float *pred;       /* n x C*P*P x side x side */
    tgs_net net;       /* inference, batch n */
    int64_t spec_epoch;
} after_epoch;

/* The first n samples of path (the picture's rows) as model inputs. */
static int read_rows(after_epoch *a, tgs_trainer *t, const char *path, int n) {
    tgs_reader rd;
    if (tgs_reader_open(&rd, path) < 0) return -1;
    size_t plane = (size_t)t->s * (size_t)t->s * (size_t)t->c;
    a->orig = malloc(sizeof *a->orig * plane * (size_t)n);
    if (!a->orig) return tgs_err("out of memory");
    tgs_sample s = {0};
    int rc = 0;
    a->n = 0;
    while (a->n < n && (rc = tgs_read_sample(&rd, &s)) > 0) {
        tgs_prep_view v;
        if (tgs_prep_view_sample(&t->prep, &s, 0, &v) < 0 || (v.c != t->c && tgs_err("'image' has %d channels, the model takes %d", v.c, t->c)) ||
            (v.s != t->s && tgs_err("the input is %dx%d, the training samples %dx%d", v.s, v.s, t->s, t->s)) ||
            tgs_prep_fill(&t->prep, &v, a->orig + (size_t)a->n * plane, NULL) < 0) {
            const char *id = tgs_sample_id(&s);
            rc = tgs_err_prefix("%s: sample %llu%s%s%s", rd.path, (unsigned long long)rd.nsamples, id ? " (" : "", id ? id : "",
                                id ? ")" : "");
            break;
        }
        a->n++;
    }
    tgs_sample_free(&s);
    tgs_reader_close(&rd);
    return rc < 0 ? -1 : 0;
}

/* DIR/recon.png: the rows through the model (the weight average when
 * there is one), the same hidden patches every epoch. */
static int draw(after_epoch *a, tgs_trainer *t) {
    const tgs_mae_shape *sh = &t->mae_shape;
    size_t plane = (size_t)t->s * (size_t)t->s * (size_t)t->c, per = (size_t)sh->c * (size_t)sh->p * (size_t)sh->p;
    size_t pp = per * (size_t)sh->npatch;
    if (!a->net.g && tgs_mae_net_build(&a->net, t->ps, &t->mo, sh, TGS_NET_INFER, a->n) < 0) return tgs_err_prefix("recon.png");
    float *x = malloc(sizeof *x * plane * (size_t)a->n), *hide = malloc(sizeof *hide * plane * (size_t)a->n);
    float *tg = malloc(sizeof *tg * pp * (size_t)a->n), *wh = malloc(sizeof *wh * pp * (size_t)a->n);
    if (!x || !hide || !tg || !wh) {
        free(x), free(hide), free(tg), free(wh);
        return tgs_err("out of memory");
    }
    memcpy(x, a->orig, sizeof *x * plane * (size_t)a->n);
    for (int i = 0; i < a->n; i++) {
        uint8_t *hd = a->hidden + (size_t)i * (size_t)sh->npatch;
        tgs_mae_choose(sh, t->seed, tgs_mae_stream_val((uint64_t)i + 1), hd);
        tgs_mae_fill(sh, hd, x + (size_t)i * plane, hide + (size_t)i * plane, tg + (size_t)i * pp, wh + (size_t)i * pp);
    }
    tgs_net *net = &a->net;
    tgs_tensor_set(net->g, net->x, x);
    tgs_tensor_set(net->g, net->mae.hide, hide);
    tgs_tensor_set(net->g, net->mae.target, tg);
    tgs_tensor_set(net->g, net->mae.where, wh);
    int rc = tgs_graph_forward(net->g);
    free(x), free(hide), free(tg), free(wh);
    if (rc < 0) return tgs_err_prefix("recon.png");
    tgs_tensor_get(net->g, net->mae.pred, a->pred);
    char path[4200];
    snprintf(path, sizeof path, "%s/recon.png", a->dir);
    return tgs_mae_grid_png(path, sh, a->n, a->orig, a->hidden, a->pred);
}

/* DIR/encoder.ckpt: the encoder's weights (the average when there is
 * one), with what tgs-train needs to know of them. */
static int save_encoder(tgs_trainer *t, const char *dir) {
    tgs_ckpt c;
    char path[4200], b[64];
    tgs_ckpt_init(&c);
    snprintf(path, sizeof path, "%s/encoder.ckpt", dir);
    snprintf(b, sizeof b, "%lld", (long long)t->st.epoch);
    int rc = tgs_ckpt_meta_set(&c, "format", "tgs") < 0 || tgs_ckpt_meta_set(&c, "tgs_version", TGS_VERSION) < 0 ||
                     tgs_ckpt_meta_set(&c, "arch", t->spec) < 0 || tgs_ckpt_meta_set(&c, "pretrained", "tgs-mae") < 0 ||
                     tgs_ckpt_meta_set(&c, "epoch", b) < 0 || tgs_ckpt_meta_set(&c, "norm", t->norm) < 0 ||
                     tgs_mae_put_encoder(&c, t->ps) < 0
                 ? -1
                 : 0;
    if (rc == 0) rc = tgs_ckpt_save(&c, path);
    tgs_ckpt_free(&c);
    return rc;
}

static int epoch_done(tgs_trainer *t, void *ctx) {
    after_epoch *a = ctx;
    if (save_encoder(t, a->dir) < 0) return -1;
    return a->n > 0 ? draw(a, t) : 0;
}

/* ---- the run ---- */

int main(int argc, char **argv) {
    tgs_cli_init(argv[0]);
    tgs_catch_stop_signals();
    options o = {.ratio = TGS_MAE_DEFAULT_RATIO, .epochs = 20, .batch = 32, .lr = 1e-3f, .wd = 0.05f, .std = 1, .show = 8};
    snprintf(o.model, sizeof o.model, "%s", DEFAULT_MODEL);
    enum { OPT_KEY = 256, OPT_VAL = OPT_KEY + NKEYS, OPT_SHOW, OPT_RESUME, OPT_DEVICE, OPT_THREADS, OPT_MODEL_SPEC };
    static const struct option longopts[] = {
        {"arch", required_argument, 0, OPT_KEY + K_MODEL}, {"model", required_argument, 0, OPT_MODEL_SPEC}, {"ratio", required_argument, 0, OPT_KEY + K_RATIO},
        {"batch", required_argument, 0, OPT_KEY + K_BATCH}, {"lr", required_argument, 0, OPT_KEY + K_LR},
        {"warmup", required_argument, 0, OPT_KEY + K_WARMUP},
        {"wd", required_argument, 0, OPT_KEY + K_WD},       {"size", required_argument, 0, OPT_KEY + K_SIZE},
        {"norm", required_argument, 0, OPT_KEY + K_NORM},   {"seed", required_argument, 0, OPT_KEY + K_SEED},
        {"epochs", required_argument, 0, OPT_KEY + K_EPOCHS}, {"val", required_argument, 0, OPT_VAL},
        {"show", required_argument, 0, OPT_SHOW},           {"resume", required_argument, 0, OPT_RESUME},
        {"device", required_argument, 0, OPT_DEVICE},       {"threads", required_argument, 0, OPT_THREADS},
        TGS_COMMON_LONGOPTS};
    int ch;
    while ((ch = getopt_long(argc, argv, ":o:qhV", longopts, NULL)) != -1) {
        if (ch == OPT_MODEL_SPEC) die_usage("--model: a checkpoint in every tgs tool (tgs-mcdrop -m); the model's spec is --arch SPEC");
        if (ch >= OPT_KEY && ch < OPT_KEY + NKEYS) {
            set_opt(&o, ch - OPT_KEY, optarg);
            o.set[ch - OPT_KEY] = 1;
            continue;
        }
        switch (ch) {
        case OPT_VAL: o.val = optarg; break;
        case OPT_SHOW: o.show = tgs_parse_long(optarg, "--show", 0, 64); break;
        case OPT_RESUME: o.resume = optarg; break;
        case OPT_DEVICE: o.device = optarg; break;
        case OPT_THREADS: o.threads = tgs_parse_long(optarg, "--threads", 0, 1024); break;
        case 'V': tgs_print_version(); printf("%s\n", tgs_cpu_describe()); exit(0);
        default: tgs_common_option(ch, argv, usage, &o.output, &o.quiet);
        }
    }
    if (optind < argc) o.input = argv[optind++];
    if (optind < argc) die_usage("unexpected argument '%s'", argv[optind]);
    if (!o.output) die_usage("no -o DIR: where the encoder, the picture and the log go");
    if (!*o.output) die_usage("-o: an empty directory name");

    tgs_ckpt rck;
    tgs_ckpt_init(&rck);
    if (o.resume) {
        if (tgs_ckpt_load(&rck, o.resume) < 0) die("%s", tgs_errmsg());
        options_merge(&o, &rck, o.resume);
        const int64_t *done = tgs_ckpt_expect(&rck, "train.epoch", TGS_I64, 1);
        if (!done) die("%s: %s", o.resume, tgs_errmsg());
        if (*done >= o.epochs) {
            if (!o.quiet) fprintf(stderr, "nothing to train: the run in %s has done its %ld epochs\n", o.resume, o.epochs);
            tgs_ckpt_free(&rck);
            return 0;
        }
    }
    tgs_cpu_set_threads((int)o.threads);
    tgs_trainer t;
    tgs_trainer_init(&t);
    tgs_mae_opts mopts = {.ratio = o.ratio};
    t.mae = &mopts;
    if (!(t.be = tgs_backend_by_name(o.device ? o.device : "cpu"))) die_usage("--device: %s", tgs_errmsg());
    snprintf(t.last_path, sizeof t.last_path, "%s/last.ckpt", o.output);
    snprintf(t.log_path, sizeof t.log_path, "%s/log.csv", o.output);
    snprintf(t.events_path, sizeof t.events_path, "%s/events.out.tfevents.tgs", o.output);
    if (!o.resume && access(t.last_path, F_OK) == 0)
        die("%s already holds a run (%s); continue it with --resume %s, or give another -o", o.output, t.last_path, t.last_path);

    tgs_samples src;
    if (tgs_samples_open(&src, o.input, o.seed, &tgs_stop_signal, o.quiet) < 0) die("%s", tgs_errmsg());
    if (tgs_model_parse(&t.mo, o.model) < 0) die_usage("--arch: %s", tgs_errmsg());
    int stride = tgs_model_stride(&t.mo);
    if (o.size % stride) die_usage("--size %d is not a multiple of the model's stride %d", o.size, stride);
    /* padded inputs say the norm they were made with: without --norm (given
     * or resumed) the run takes it, and every sample must then agree */
    const tgs_sample *first = tgs_samples_first(&src);
    const char *first_id = tgs_sample_id(first);
    float nm, ns;
    int has_norm = tgs_sample_norm(first, &nm, &ns), norm_set = o.set[K_NORM] || o.resume;
    if (has_norm < 0) die("%s: sample 1%s%s%s: %s", src.rd.path, first_id ? " (" : "", first_id ? first_id : "", first_id ? ")" : "", tgs_errmsg());
    if (has_norm && !norm_set) o.mean = nm, o.std = ns;
    tgs_prep_init(&t.prep, stride);
    t.prep.size = o.size, t.prep.mean = o.mean, t.prep.std = o.std;
    t.prep.norm_from = o.set[K_NORM] ? "--norm" : o.resume ? "the resumed run's --norm"
                       : has_norm ? "the first sample's 'norm'" : "the default; give --norm";
    tgs_prep_view v;
    if (tgs_prep_view_sample(&t.prep, first, 0, &v) < 0)
        die("%s: sample 1%s%s%s: %s", src.rd.path, first_id ? " (" : "", first_id ? first_id : "", first_id ? ")" : "", tgs_errmsg());
    if (o.size && v.s != o.size) die_usage("--size %d: the samples are already padded to %d", o.size, v.s);
    if (!strstr(o.model, " in=")) t.mo.in_ch = v.c;
    if (v.c != t.mo.in_ch) die("%s: sample 1: 'image' has %d channels, the model (%s) takes %d", src.rd.path, v.c, o.model, t.mo.in_ch);
    t.c = v.c, t.s = t.prep.size = o.size = v.s;
    tgs_model_format(&t.mo, t.spec, sizeof t.spec);
    snprintf(o.model, sizeof o.model, "%s", t.spec);
    if (o.val && tgs_trainer_load_val(&t, o.val) < 0) die("%s", tgs_errmsg());

    t.batch = (int)o.batch;
    tgs_optim_defaults(&t.optim, TGS_OPTIM_ADAMW);
    t.optim.weight_decay = o.wd;
    t.sched.base_lr = o.lr;
    char sched[128];
    if (o.warmup >= o.epochs) die_usage("--warmup %ld: want fewer than --epochs %ld", o.warmup, o.epochs);
    int at = snprintf(sched, sizeof sched, "cosine:%ld:1:%g", o.epochs, (double)o.lr / 100);
    if (o.warmup) snprintf(sched + at, sizeof sched - (size_t)at, ",warmup=%ld", o.warmup);
    if (tgs_sched_parse(sched, &t.sched) < 0) die("%s", tgs_errmsg());
    t.seed = o.seed;
    fmt_opt(&o, K_NORM, t.norm, sizeof t.norm);
    char opts[2048];
    options_json(&o, opts, sizeof opts);
    t.options_json = opts;
    if (tgs_outdir_make(o.output) < 0) die("-o: %s", tgs_errmsg());
    if (tgs_trainer_start(&t) < 0) die("%s", tgs_errmsg());
    if (o.resume && tgs_trainer_resume(&t, &rck, o.resume) < 0) die("%s", tgs_errmsg());
    tgs_ckpt_free(&rck);

    after_epoch a = {.dir = o.output};
    if (o.show > 0) {
        const char *from = o.val ? o.val : o.input && strcmp(o.input, "-") ? o.input : NULL;
        if (from && read_rows(&a, &t, from, (int)o.show) < 0) die("--show: %s", tgs_errmsg());
        if (!from && !o.quiet) fprintf(stderr, "%s: no recon.png: the input is a pipe and there is no --val\n", tgs_prog);
        const tgs_mae_shape *sh = &t.mae_shape;
        a.hidden = malloc((size_t)sh->npatch * (size_t)(a.n + 1));
        a.pred = malloc(sizeof *a.pred * (size_t)sh->c * (size_t)sh->p * (size_t)sh->p * (size_t)sh->npatch * (size_t)(a.n + 1));
        if (!a.hidden || !a.pred) die("out of memory");
    }
    if (!o.quiet && !o.resume) {
        const tgs_mae_shape *sh = &t.mae_shape;
        fprintf(stderr, "mae: %s, %dx%d inputs in %d patches of %dx%d, %d hidden (ratio %g)\n", t.spec, t.s, t.s, sh->npatch,
                sh->p, sh->p, sh->nhide, (double)o.ratio);
        if (t.mo.arch == TGS_ARCH_SWINUNET && !t.mo.conv_tokens)
            fprintf(stderr, "mae: note: a swinunet encoder with patch tokens learns nothing here at the sizes of this "
                            "task; tokens=conv does (man tgs-mae, BUGS)\n");
    }
    tgs_fit_opts fo = {.epochs = o.epochs, .resumed = o.resume != NULL, .validate = o.val != NULL, .quiet = o.quiet,
                       .stop = &tgs_stop_signal, .epoch_done = epoch_done, .ctx = &a};
    int rc = tgs_trainer_fit(&t, &src, &fo);
    if (rc < 0) die("%s", tgs_errmsg());
    if (rc == TGS_FIT_STOPPED) {
        int sig = tgs_stop_signal;
        tgs_trainer_say_stopped(&t, sig);
        exit(128 + sig);
    }
    if (!o.quiet) {
        fprintf(stderr, "done: %lld epochs; the encoder is %s/encoder.ckpt (tgs-train --init)\n", (long long)t.st.epoch,
                o.output);
        tgs_traffic_say(t.be);
    }
    tgs_net_free(&a.net);
    free(a.orig), free(a.hidden), free(a.pred);
    tgs_trainer_free(&t);
    tgs_samples_close(&src);
    return 0;
}
