/* tgs-refine: a second, small network that redraws a prediction from the
 * tile, the prediction and its uncertainty.
 *
 * train: prediction streams in (tgs-mcdrop's, with more than one pass or
 * flip so that they carry 'var', and the true 'mask'), made on tiles the
 * main model did NOT train on (out-of-fold); each sample becomes a 3-channel
 * u8 tile: the seismic tile, the probability (x 255) and the standard
 * deviation of the passes (x 510: 0.5, the most it can be, is 255). A small
 * U-Net learns the true mask from them with the shared training library
 * (lib/common/trainer.c): progress, log.csv, best.ckpt and last.ckpt,
 * validation with the competition metric, --device.
 *
 * apply: the same inputs through a refiner's checkpoint; the refined map
 * becomes 'prob' and the input's is kept as 'prob_in'. */
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "cli.h"
#include "err.h"
#include "nn/ckpt_params.h"
#include "nn/model.h"
#include "nn/nn.h"
#include "outfile.h"
#include "progress.h"
#include "samples.h"
#include "stream.h"
#include "json.h"
#include "train.h"
#include "trainer.h"

static const char usage[] =
    "usage: tgs-refine train -o DIR [--val FILE] [--arch SPEC] [--epochs N] [--batch N]\n"
    "                        [--lr LR] [--seed N] [--resume CKPT] [--device NAME] [--threads N] [-q] [FILE]\n"
    "       tgs-refine apply -m CKPT [--batch N] [--device NAME] [--threads N] [-o FILE] [-q] [FILE]\n"
    "train: fit a refiner on prediction streams (tgs-mcdrop's, with 'var' and the\n"
    "true 'mask') of tiles the main model did not train on: input the tile, 'prob'\n"
    "and the standard deviation of the passes; target the mask. Writes DIR/best.ckpt,\n"
    "DIR/last.ckpt and DIR/log.csv as tgs-train does.\n"
    "  -o, --output DIR  the run's directory (train); the stream (apply)\n"
    "  --val FILE        predictions of other tiles to validate on (with 'mask')\n"
    "  --arch SPEC       default \"resunet widths=8,16,32,64 blocks=1,1,1,1\"\n"
    "  --epochs N        default 12\n"
    "  --batch N         default 16\n"
    "  --lr LR           Adam's rate (default 0.001)\n"
    "  --seed N          weights and shuffles (default 0)\n"
    "  --resume CKPT     continue the run CKPT was saved from (its model, batch,\n"
    "                    rate and seed; --epochs may grow), byte for byte\n"
    "apply: refine each sample's prediction: 'prob' becomes the refiner's, the\n"
    "input's is kept as 'prob_in'.\n"
    "  -m, --model CKPT  the refiner (tgs-refine train's best.ckpt)\n"
    "common:\n"
    "  --device NAME     cpu (default) or sim\n"
    "  --threads N       CPU threads (default 0: all cores)\n"
    "  -q, --quiet       no progress bar and no per-epoch lines\n"
    "  -h, --help        this text;  -V, --version  the version\n";

#define DEFAULT_MODEL "resunet widths=8,16,32,64 blocks=1,1,1,1"
#define INPUTS "tile,prob,std" /* the metadata that marks a refiner, and its channels */

typedef struct {
    const char *cmd, *output, *input, *val, *ckpt, *device, *resume, *arch;
    char model[512];
    long epochs, batch, threads;
    double lr;
    uint64_t seed;
    int quiet;
} options;

/* ---- the refiner's input ---- */

static int plane_f32(const tgs_record *r, int h, int w) {
    return r && r->dtype == TGS_F32 && tgs_record_count(r) == (uint64_t)h * (uint64_t)w;
}

/* out: the id, a u8 3 x H x W 'image' (tile, prob x 255, std x 510) and the
 * mask when in has one. -1 and a message naming what is missing. */
static int refine_input(const tgs_sample *in, tgs_sample *out) {
    const tgs_record *im = tgs_sample_get(in, "image"), *pr = tgs_sample_get(in, "prob"), *vr = tgs_sample_get(in, "var"),
                     *mk = tgs_sample_get(in, "mask");
    if (!im || im->dtype != TGS_U8 || im->ndim != 3) return tgs_err("no u8 'image' of C x H x W (the raw tile)");
    int h = (int)im->dims[1], w = (int)im->dims[2];
    if (!plane_f32(pr, h, w)) return tgs_err("no f32 'prob' of the tile's %dx%d (a tgs-mcdrop stream?)", h, w);
    if (!plane_f32(vr, h, w)) return tgs_err("no f32 'var' of %dx%d: tgs-mcdrop with --passes or --tta gives one", h, w);
    tgs_sample_clear(out);
    const char *id = tgs_sample_id(in);
    if (id && tgs_sample_put_str(out, "id", id) < 0) return -1;
    uint32_t dims[3] = {3, (uint32_t)h, (uint32_t)w};
    tgs_record *r = tgs_sample_put(out, "image", TGS_U8, 3, dims);
    if (!r) return -1;
    size_t n = (size_t)h * (size_t)w;
    uint8_t *x = r->data;
    const float *p = pr->data, *v = vr->data;
    memcpy(x, (const uint8_t *)im->data + n * (im->dims[0] / 2), n); /* the middle channel: the tile */
    for (size_t i = 0; i < n; i++) {
        float q = p[i] < 0 ? 0 : p[i] > 1 ? 1 : p[i], sd = v[i] > 0 ? sqrtf(v[i]) * 2 : 0;
        x[n + i] = (uint8_t)lrintf(255 * q);
        x[2 * n + i] = (uint8_t)lrintf(255 * (sd > 1 ? 1 : sd));
    }
    if (mk) {
        tgs_record *m = tgs_sample_put(out, "mask", mk->dtype, mk->ndim, mk->dims);
        if (!m) return -1;
        memcpy(m->data, mk->data, mk->nbytes);
    }
    return 0;
}

/* Every sample of path as the refiner's input; need_mask for training. */
static tgs_sample *read_inputs(const char *path, size_t *n, char *name, size_t name_size, int quiet) {
    tgs_reader rd;
    if (tgs_reader_open(&rd, path) < 0) die("%s", tgs_errmsg());
    snprintf(name, name_size, "%s", rd.path);
    size_t cap = 256;
    tgs_sample *all = calloc(cap, sizeof *all), s = {0};
    if (!all) die("out of memory");
    *n = 0;
    tgs_progress bar;
    tgs_progress_start(&bar, "load", "samples", 0, quiet);
    int rc;
    while ((rc = tgs_read_sample(&rd, &s)) > 0) {
        if (*n == cap) {
            tgs_sample *p = realloc(all, sizeof *p * cap * 2);
            if (!p) die("%s: out of memory after %zu samples", rd.path, *n);
            memset(p + cap, 0, sizeof *p * cap);
            all = p, cap *= 2;
        }
        if (refine_input(&s, &all[*n]) < 0) die("%s: sample %llu: %s", rd.path, (unsigned long long)rd.nsamples, tgs_errmsg());
        if (!tgs_sample_get(&all[*n], "mask"))
            die("%s: sample %llu: no 'mask': a refiner learns from labelled predictions", rd.path, (unsigned long long)rd.nsamples);
        (*n)++;
        tgs_progress_update(&bar, *n);
    }
    if (rc < 0) die("%s", tgs_errmsg());
    tgs_progress_end(&bar);
    tgs_sample_free(&s);
    tgs_reader_close(&rd);
    return all;
}

/* ---- train ---- */

/* --resume: the run's options from its checkpoint (a refiner's), those
 * given on the command line must not differ but --epochs. */
static void resume_options(options *o, tgs_ckpt *c, int spec_given) {
    if (tgs_ckpt_load(c, o->resume) < 0) die("%s", tgs_errmsg());
    const char *js = tgs_ckpt_meta_get(c, "options");
    tgs_json_kv *kv;
    int n;
    if (!js || !strstr(js, "\"refine\":\"" INPUTS "\"")) die("%s: not a tgs-refine checkpoint", o->resume);
    if (tgs_json_flat_parse(js, strlen(js), &kv, &n) < 0) die("%s: metadata 'options': %s", o->resume, tgs_errmsg());
    for (int i = 0; i < n; i++) {
        const char *k = kv[i].key, *v = kv[i].value;
        if (!strcmp(k, "model")) { /* the stored spec has in=3: drop it, train() adds it */
            char spec[512];
            /* as written then, with today's keys: older specs lack some */
            if (tgs_model_spec_saved(v, spec, sizeof spec) < 0) die("%s: options: %s", o->resume, tgs_errmsg());
            char *in = strstr(spec, " in=3");
            if (in) memmove(in, in + 5, strlen(in + 5) + 1);
            struct tgs_model_opts a, b;
            char mine[600], theirs[600];
            snprintf(mine, sizeof mine, "%s in=3", o->model), snprintf(theirs, sizeof theirs, "%s in=3", spec);
            if (spec_given && (tgs_model_parse(&a, mine) < 0 || tgs_model_parse(&b, theirs) < 0 || memcmp(&a, &b, sizeof a)))
                die_usage("--arch: the run in %s has '%s'; a resumed run keeps its model", o->resume, v);
            snprintf(o->model, sizeof o->model, "%s", spec);
        } else if (!strcmp(k, "batch")) o->batch = tgs_parse_long(v, "batch (in the checkpoint)", 1, 4096);
        else if (!strcmp(k, "lr")) o->lr = tgs_parse_double(v, "lr (in the checkpoint)", 1e-12, 10);
        else if (!strcmp(k, "seed")) o->seed = tgs_parse_seed(v);
    }
    tgs_json_kv_free(kv, n);
}

static void train(options *o, int spec_given) {
    tgs_ckpt rcks, *rck = &rcks;
    tgs_ckpt_init(rck);
    if (o->resume) resume_options(o, rck, spec_given);
    tgs_catch_stop_signals();
    tgs_trainer t;
    tgs_trainer_init(&t);
    if (!(t.be = tgs_backend_by_name(o->device ? o->device : "cpu"))) die_usage("--device: %s", tgs_errmsg());
    snprintf(t.last_path, sizeof t.last_path, "%s/last.ckpt", o->output);
    snprintf(t.best_path, sizeof t.best_path, "%s/best.ckpt", o->output);
    snprintf(t.log_path, sizeof t.log_path, "%s/log.csv", o->output);
    snprintf(t.events_path, sizeof t.events_path, "%s/events.out.tfevents.tgs", o->output);
    if (!o->resume && access(t.last_path, F_OK) == 0)
        die("%s already holds a run (%s); continue it with --resume %s, or give another -o", o->output, t.last_path, t.last_path);
    char spec[600];
    snprintf(spec, sizeof spec, "%s in=3", o->model);
    if (strstr(o->model, " in=")) die_usage("--arch: the refiner's in= is 3 (tile, prob, std); leave it out");
    if (tgs_model_parse(&t.mo, spec) < 0) die_usage("--arch: %s", tgs_errmsg());
    tgs_model_format(&t.mo, t.spec, sizeof t.spec);
    tgs_prep_init(&t.prep, tgs_model_stride(&t.mo));
    t.prep.mean = 0, t.prep.std = 1;
    char name[512];
    size_t n;
    tgs_sample *all = read_inputs(o->input, &n, name, sizeof name, o->quiet);
    tgs_prep_view v;
    if (!n) die("%s: no samples to train on", name);
    if (tgs_prep_view_sample(&t.prep, &all[0], 1, &v) < 0) die("%s: sample 1: %s", name, tgs_errmsg());
    t.c = 3, t.s = t.prep.size = v.s;
    if (o->val) {
        size_t nv;
        char vname[512];
        tgs_sample *val = read_inputs(o->val, &nv, vname, sizeof vname, o->quiet);
        if (tgs_trainer_take_val(&t, val, nv, vname) < 0) die("%s", tgs_errmsg());
    }
    tgs_samples src;
    if (tgs_samples_from(&src, all, n, name, o->seed) < 0) die("%s", tgs_errmsg());
    t.batch = (int)o->batch;
    if (tgs_loss_mix_parse("bce=1,dice=1", t.loss) < 0) die("%s", tgs_errmsg());
    tgs_optim_defaults(&t.optim, TGS_OPTIM_ADAM);
    t.sched.base_lr = (float)o->lr;
    if (tgs_sched_parse("constant", &t.sched) < 0) die("%s", tgs_errmsg());
    t.seed = o->seed;
    snprintf(t.norm, sizeof t.norm, "0,1");
    char opts[1024];
    snprintf(opts, sizeof opts, "{\"refine\":\"%s\",\"model\":\"%s\",\"epochs\":%ld,\"batch\":%ld,\"lr\":%.9g,\"seed\":%llu}", INPUTS,
             t.spec, o->epochs, o->batch, o->lr, (unsigned long long)o->seed);
    t.options_json = opts;
    if (tgs_outdir_make(o->output) < 0) die("-o: %s", tgs_errmsg());
    if (tgs_trainer_start(&t) < 0) die("%s", tgs_errmsg());
    if (o->resume) {
        if (tgs_trainer_resume(&t, rck, o->resume) < 0) die("%s", tgs_errmsg());
        if (t.st.epoch > o->epochs) die_usage("--epochs %ld: the run in %s has done %lld already", o->epochs, o->resume, (long long)t.st.epoch);
    }
    tgs_fit_opts fo = {.epochs = o->epochs, .resumed = o->resume != NULL, .validate = o->val != NULL, .quiet = o->quiet,
                       .stop = &tgs_stop_signal};
    int rc = tgs_trainer_fit(&t, &src, &fo);
    if (rc < 0) die("%s", tgs_errmsg());
    if (rc == TGS_FIT_STOPPED) {
        fprintf(stderr, "%s: stopped in epoch %lld; saved %s\n", tgs_prog, (long long)t.st.epoch + 1, t.last_path);
        exit(128 + tgs_stop_signal);
    }
    if (!o->quiet) {
        if (o->val && t.st.best_epoch > 0)
            fprintf(stderr, "done: %lld epochs; best val mAP %.4f after epoch %lld (%s)\n", (long long)t.st.epoch,
                    t.st.best_metric, (long long)t.st.best_epoch, t.best_path);
        else fprintf(stderr, "done: %lld epochs (%s)\n", (long long)t.st.epoch, t.last_path);
        tgs_traffic_say(t.be);
    }
    tgs_trainer_free(&t);
    tgs_samples_close(&src);
    tgs_ckpt_free(rck);
}

/* ---- apply ---- */

static void apply(const options *o) {
    const struct tgs_backend *be = tgs_backend_by_name(o->device ? o->device : "cpu");
    if (!be) die_usage("--device: %s", tgs_errmsg());
    tgs_ckpt c;
    tgs_model_info info;
    if (tgs_ckpt_load(&c, o->ckpt) < 0) die("%s", tgs_errmsg());
    if (tgs_model_info_get(&c, &info) < 0) die("%s: %s", o->ckpt, tgs_errmsg());
    const char *opts = tgs_ckpt_meta_get(&c, "options");
    if (!opts || !strstr(opts, "\"refine\":\"" INPUTS "\""))
        die("%s: not a tgs-refine checkpoint (its options name no refiner inputs '%s')", o->ckpt, INPUTS);
    struct tgs_params *ps = tgs_params_new(be);
    if (!ps || tgs_model_params(ps, &info.mo, 0) < 0 || tgs_ckpt_get_params(&c, ps, 1, NULL) < 0) die("%s: %s", o->ckpt, tgs_errmsg());
    tgs_ckpt_free(&c);
    tgs_prep prep;
    tgs_prep_init(&prep, tgs_model_stride(&info.mo));
    prep.size = info.size, prep.mean = info.mean, prep.std = info.std;

    tgs_reader rd;
    if (tgs_reader_open(&rd, o->input) < 0) die("%s", tgs_errmsg());
    tgs_outfile out;
    if (tgs_outfile_open(&out, o->output) < 0) die("%s", tgs_errmsg());
    if (out.fp == stdout) tgs_refuse_tty(stdout, "a tensor stream");
    tgs_writer wr;
    tgs_writer_init(&wr, out.fp);
    int b = (int)o->batch, s = info.size;
    size_t plane = (size_t)s * (size_t)s;
    tgs_sample *batch = calloc((size_t)b, sizeof *batch), *inputs = calloc((size_t)b, sizeof *inputs);
    tgs_prep_view *views = calloc((size_t)b, sizeof *views);
    float *img = malloc(sizeof *img * plane * 3 * (size_t)b), *logit = malloc(sizeof *logit * plane * (size_t)b);
    if (!batch || !inputs || !views || !img || !logit) die("out of memory");
    tgs_net nets[2] = {0};
    tgs_progress bar;
    tgs_progress_start(&bar, "refine", "img", 0, o->quiet);
    for (;;) {
        int n = 0, rc = 0;
        while (n < b && (rc = tgs_read_sample(&rd, &batch[n])) > 0) {
            uint64_t k = rd.nsamples;
            if (refine_input(&batch[n], &inputs[n]) < 0 || tgs_prep_view_sample(&prep, &inputs[n], 0, &views[n]) < 0 ||
                (views[n].s != s && tgs_err("the tile pads to %d, the refiner takes %d", views[n].s, s)) ||
                tgs_prep_fill(&prep, &views[n], img + (size_t)n * plane * 3, NULL) < 0)
                die("%s: sample %llu: %s", rd.path, (unsigned long long)k, tgs_errmsg());
            n++;
        }
        if (rc < 0) die("%s", tgs_errmsg());
        if (n == 0) break;
        tgs_net *net = &nets[n == b ? 0 : 1];
        if (!net->g || net->n != n) {
            tgs_net_free(net);
            if (tgs_net_build(net, ps, &info.mo, TGS_NET_INFER, n, 3, s, NULL) < 0) die("%s: %s", o->ckpt, tgs_errmsg());
        }
        tgs_tensor_set(net->g, net->x, img);
        if (tgs_graph_forward(net->g) < 0) die("%s: model: %s", o->ckpt, tgs_errmsg());
        tgs_tensor_get(net->g, net->out.seg, logit);
        for (int i = 0; i < n; i++) {
            const int32_t *cr = views[i].crop;
            tgs_record *old = tgs_sample_get(&batch[i], "prob");
            tgs_record *keep = tgs_sample_put(&batch[i], "prob_in", TGS_F32, old->ndim, old->dims);
            if (!keep) die("%s", tgs_errmsg());
            old = tgs_sample_get(&batch[i], "prob"); /* the put may have moved it */
            memcpy(keep->data, old->data, old->nbytes);
            float *dst = old->data;
            for (int y = 0; y < cr[2]; y++)
                for (int x = 0; x < cr[3]; x++) {
                    float l = logit[(size_t)i * plane + (size_t)(cr[0] + y) * (size_t)s + (size_t)(cr[1] + x)];
                    float p = 1.0f / (1.0f + expf(-l));
                    if (!(p >= 0 && p <= 1)) die("%s: sample %llu: the refiner's output is %g (a damaged checkpoint?)", rd.path,
                                                 (unsigned long long)(rd.nsamples - (uint64_t)n + (uint64_t)i + 1), (double)p);
                    dst[(size_t)y * (size_t)cr[3] + (size_t)x] = p;
                }
            if (tgs_write_sample(&wr, &batch[i]) < 0) die("%s: %s", out.path, tgs_errmsg());
        }
        tgs_progress_update(&bar, rd.nsamples);
        if (rc == 0) break;
    }
    tgs_progress_end(&bar);
    if (tgs_outfile_commit(&out) < 0) die("%s", tgs_errmsg());
    if (!o->quiet) tgs_traffic_say(be);
    for (int i = 0; i < b; i++) tgs_sample_free(&batch[i]), tgs_sample_free(&inputs[i]);
    for (int i = 0; i < 2; i++) tgs_net_free(&nets[i]);
    free(batch), free(inputs), free(views), free(img), free(logit);
    tgs_prep_free(&prep);
    tgs_params_free(ps);
    tgs_reader_close(&rd);
}

int main(int argc, char **argv) {
    tgs_cli_init(argv[0]);
    options o = {.epochs = 12, .batch = 16, .lr = 1e-3};
    snprintf(o.model, sizeof o.model, "%s", DEFAULT_MODEL);
    enum { OPT_VAL = 256, OPT_EPOCHS, OPT_BATCH, OPT_LR, OPT_SEED, OPT_DEVICE, OPT_THREADS, OPT_RESUME, OPT_ARCH };
    static const struct option longopts[] = {
        {"val", required_argument, 0, OPT_VAL},       {"epochs", required_argument, 0, OPT_EPOCHS},
        {"batch", required_argument, 0, OPT_BATCH},   {"lr", required_argument, 0, OPT_LR},
        {"seed", required_argument, 0, OPT_SEED},     {"device", required_argument, 0, OPT_DEVICE},
        {"threads", required_argument, 0, OPT_THREADS}, {"model", required_argument, 0, 'm'}, {"arch", required_argument, 0, OPT_ARCH},
        {"resume", required_argument, 0, OPT_RESUME},
        TGS_COMMON_LONGOPTS};
    int c;
    while ((c = getopt_long(argc, argv, ":m:o:qhV", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_VAL: o.val = optarg; break;
        case OPT_EPOCHS: o.epochs = tgs_parse_long(optarg, "--epochs", 1, 100000); break;
        case OPT_BATCH: o.batch = tgs_parse_long(optarg, "--batch", 1, 4096); break;
        case OPT_LR: o.lr = tgs_parse_double(optarg, "--lr", 1e-12, 10); break;
        case OPT_SEED: o.seed = tgs_parse_seed(optarg); break;
        case OPT_DEVICE: o.device = optarg; break;
        case OPT_THREADS: o.threads = tgs_parse_long(optarg, "--threads", 0, 1024); break;
        case 'm': o.ckpt = optarg; break;
        case OPT_ARCH: o.arch = optarg; break;
        case OPT_RESUME: o.resume = optarg; break;
        case 'V': tgs_print_version(); printf("%s\n", tgs_cpu_describe()); exit(0); /* and its engine */
        default: tgs_common_option(c, argv, usage, &o.output, &o.quiet);
        }
    }
    if (optind >= argc) die_usage("missing command: train or apply");
    o.cmd = argv[optind++];
    if (optind < argc) o.input = argv[optind++];
    if (optind < argc) die_usage("unexpected argument '%s'", argv[optind]);
    tgs_cpu_set_threads((int)o.threads);
    if (!strcmp(o.cmd, "train")) {
        if (!o.output || !*o.output) die_usage("train: no -o DIR: where the refiner's checkpoints and log go");
        if (o.ckpt) die_usage("train: -m/--model is a checkpoint (apply's refiner); the refiner's spec is --arch SPEC");
        if (o.arch) {
            if (strlen(o.arch) >= sizeof o.model) die_usage("--arch: too long");
            snprintf(o.model, sizeof o.model, "%s", o.arch);
        }
        train(&o, o.arch != NULL);
    } else if (!strcmp(o.cmd, "apply")) {
        if (!o.ckpt) die_usage("apply: no -m CKPT: the refiner");
        if (o.val) die_usage("--val is for train");
        if (o.resume) die_usage("--resume is for train");
        if (o.arch) die_usage("--arch is for train: apply takes the refiner's from -m CKPT");
        apply(&o);
    } else {
        die_usage("unknown command '%s' (train, apply)", o.cmd);
    }
    return 0;
}
