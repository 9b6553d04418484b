/* tgs-mcdrop: a trained model's predictions, with their uncertainty,
 * added to each sample.
 *
 * Sample stream in (raw tiles from tgs-stack25d, or tgs-augment's padded
 * inputs), the same stream out with records added to each sample:
 * 'prob' (f32 1 x H x W, the salt probability of each pixel of the tile)
 * and 'salt' (f32 scalar, the probability that the tile holds salt, from
 * the model's presence head). Raw tiles are padded as in training (the
 * checkpoints' size and norm; a padded input's 'norm' record, when it
 * has one, must be that norm), the model runs in eval mode on batches,
 * and the padded output is cropped back to the tile.
 *
 * A prediction is the mean of the sigmoids of K = models x views x passes
 * forward passes: each checkpoint of -m; the input as it is and, with
 * --tta hflip, mirrored (the output mirrored back); --passes T with
 * dropout kept on (Monte Carlo dropout, a mask per pass from --seed). With
 * K > 1 each sample also gets 'var' (f32 1 x H x W, the per-pixel
 * variance of the K probabilities) and 'salt_var'; --entropy adds 'ent'
 * (the predictive entropy of 'prob', in nats). One model, one pass, no
 * TTA: 'prob' and 'salt' only, the bytes of one deterministic pass. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "crc32.h"
#include "cli.h"
#include "err.h"
#include "nn/ckpt_params.h"
#include "nn/dropout.h"
#include "nn/model.h"
#include "nn/nn.h"
#include "outfile.h"
#include "progress.h"
#include "stream.h"
#include "train.h"

static const char usage[] =
    "usage: tgs-mcdrop -m CKPT [-m CKPT ...] [--passes T] [--tta hflip] [--seed N] [--entropy] [--tag]\n"
    "                  [--batch N] [--device NAME] [--threads N] [-o FILE] [-q] [FILE]\n"
    "Run the models of the checkpoints (tgs-train's best.ckpt or last.ckpt) on each\n"
    "sample of FILE (or stdin) and add their prediction: 'prob' (f32 1xHxW, salt\n"
    "probability per pixel of the tile) and 'salt' (f32, probability that the tile\n"
    "has salt), the means over models, views and passes; with more than one of\n"
    "those, 'var' and 'salt_var', their variances. Every other record is passed on.\n"
    "  -m, --model CKPT  a checkpoint; several are an ensemble (same input size,\n"
    "                    norm and channels)\n"
    "  --passes T        forward passes with dropout on: Monte Carlo dropout\n"
    "                    (default 1: dropout off; T > 1 needs a model with dropout)\n"
    "  --tta hflip       also each tile mirrored left-right, mirrored back\n"
    "  --seed N          the dropout masks of the passes (default 0)\n"
    "  --entropy         add 'ent', the predictive entropy of 'prob' (nats)\n"
    "  --tag             add 'model', what made the predictions (a CRC-32 of the\n"
    "                    checkpoints, passes, flip, seed): decisions tuned on\n"
    "                    them name it, and refuse predictions of another\n"
    "  --batch N         samples per forward pass (default 16)\n"
    "  --device NAME     where the model runs: cpu (default) or sim (see tgs-train)\n"
    "  --threads N       CPU threads (default 0: all cores)\n"
    "  -o, --output FILE write here instead of stdout (whole or not at all)\n"
    "  -q, --quiet       no progress bar\n"
    "  -h, --help        this text;  -V, --version  the version\n";

#define MAX_MODELS 32

typedef struct {
    const char *ckpt[MAX_MODELS], *input, *output, *device;
    int nckpt;
    long batch, threads, passes;
    int hflip, entropy, tag, quiet;
    uint64_t seed;
} options;

static options parse_args(int argc, char **argv) {
    options o = {.batch = 16, .passes = 1};
    enum { OPT_BATCH = 256, OPT_THREADS, OPT_DEVICE, OPT_PASSES, OPT_TTA, OPT_SEED, OPT_ENTROPY, OPT_TAG };
    static const struct option longopts[] = {
        {"model", required_argument, 0, 'm'},           {"batch", required_argument, 0, OPT_BATCH},
        {"threads", required_argument, 0, OPT_THREADS}, {"device", required_argument, 0, OPT_DEVICE},
        {"passes", required_argument, 0, OPT_PASSES},   {"tta", required_argument, 0, OPT_TTA},
        {"seed", required_argument, 0, OPT_SEED},       {"entropy", no_argument, 0, OPT_ENTROPY},
        {"tag", no_argument, 0, OPT_TAG},
        TGS_COMMON_LONGOPTS};
    int c;
    while ((c = getopt_long(argc, argv, ":m:o:qhV", longopts, NULL)) != -1) {
        switch (c) {
        case 'm':
            if (o.nckpt == MAX_MODELS) die_usage("-m: more than %d checkpoints", MAX_MODELS);
            o.ckpt[o.nckpt++] = optarg;
            break;
        case OPT_BATCH: o.batch = tgs_parse_long(optarg, "--batch", 1, 4096); break;
        case OPT_THREADS: o.threads = tgs_parse_long(optarg, "--threads", 0, 1024); break;
        case OPT_DEVICE: o.device = optarg; break;
        case OPT_PASSES: o.passes = tgs_parse_long(optarg, "--passes", 1, 1024); break;
        case OPT_TTA:
            if (strcmp(optarg, "hflip") && strcmp(optarg, "none")) die_usage("--tta: '%s' is not hflip or none", optarg);
            o.hflip = optarg[0] == 'h';
            break;
        case OPT_SEED: o.seed = tgs_parse_seed(optarg); break;
        case OPT_ENTROPY: o.entropy = 1; break;
        case OPT_TAG: o.tag = 1; break;
        case 'V': tgs_print_version(); printf("%s\n", tgs_cpu_describe()); exit(0); /* and its engine */
        default: tgs_common_option(c, argv, usage, &o.output, &o.quiet);
        }
    }
    if (optind < argc) o.input = argv[optind++];
    if (optind < argc) die_usage("unexpected argument '%s'", argv[optind]);
    if (!o.nckpt) die_usage("no -m CKPT: the model to run");
    return o;
}

typedef struct {
    const char *path;
    struct tgs_params *ps;
    tgs_model_info info;
    tgs_net nets[2]; /* the full batch and the tail */
} model;

/* The net for n inputs of side s; planned to rerun its passes after the
 * first from the first dropout when there are several. */
static tgs_net *get_net(model *m, int n, int s, long batch, long passes) {
    for (int i = 0; i < 2; i++)
        if (m->nets[i].g && m->nets[i].n == n && m->nets[i].s == s) return &m->nets[i];
    int k = n == batch ? 0 : 1;
    tgs_net_free(&m->nets[k]);
    int mode = passes > 1 ? TGS_NET_INFER_MC : TGS_NET_INFER;
    if (tgs_net_build(&m->nets[k], m->ps, &m->info.mo, mode, n, m->info.mo.in_ch, s, NULL) < 0)
        die("%s: model for a batch of %d at %dx%d: %s", m->path, n, s, s, tgs_errmsg());
    return &m->nets[k];
}

static float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

/* Mirror each row of n planes of s x s in place: the input of the hflip
 * view, and its output back. */
static void hflip(float *x, size_t nplanes, int s) {
    for (size_t p = 0; p < nplanes; p++)
        for (int y = 0; y < s; y++) {
            float *row = x + (p * (size_t)s + (size_t)y) * (size_t)s;
            for (int a = 0, b = s - 1; a < b; a++, b--) {
                float t = row[a];
                row[a] = row[b], row[b] = t;
            }
        }
}

/* The K predictions of a batch, summed: sum and sq (n x S x S) the
 * probabilities and their squares, ssum and ssq (n) the presence's. */
typedef struct {
    float *img, *view, *out, *salt; /* the batch's input, a view of it, one pass's outputs */
    double *sum, *sq, *ssum, *ssq;
} work;

/* Every view and pass of model m over the n inputs of w->img (c planes
 * each, side s), added to the sums. */
static void predict(model *m, const options *o, work *w, int n, int c, int s, long batch) {
    size_t plane = (size_t)s * (size_t)s;
    tgs_net *net = get_net(m, n, s, batch, o->passes);
    struct tgs_exec *x = tgs_graph_exec(net->g);
    for (int view = 0; view < 1 + o->hflip; view++) {
        const float *in = w->img;
        if (view == 1) { /* the mirror image, its output mirrored back below */
            memcpy(w->view, w->img, sizeof *w->view * plane * (size_t)c * (size_t)n);
            hflip(w->view, (size_t)c * (size_t)n, s);
            in = w->view;
        }
        tgs_tensor_set(net->g, net->x, in);
        for (long pass = 0; pass < o->passes; pass++) {
            x->mc_dropout = o->passes > 1;
            x->step = o->passes > 1 ? tgs_drop_mix64(o->seed + TGS_DROP_GOLDEN) + (uint64_t)pass + 1 : 1;
            /* after the first pass only the dropout's part changes: rerun that */
            if (tgs_graph_forward_from(net->g, pass ? net->replay : 0) < 0) die("%s: model: %s", m->path, tgs_errmsg());
            tgs_tensor_get(net->g, net->out.seg, w->out);
            tgs_tensor_get(net->g, net->out.cls, w->salt);
            if (view == 1) hflip(w->out, (size_t)n, s);
            for (size_t i = 0; i < (size_t)n * plane; i++) {
                double p = sigmoid(w->out[i]);
                w->sum[i] += p, w->sq[i] += p * p;
            }
            for (int i = 0; i < n; i++) {
                double p = sigmoid(w->salt[i]);
                w->ssum[i] += p, w->ssq[i] += p * p;
            }
        }
    }
}

static void load_model(model *m, const char *path, const struct tgs_backend *be) {
    tgs_ckpt c;
    m->path = path;
    if (tgs_ckpt_load(&c, path) < 0) die("%s", tgs_errmsg());
    if (tgs_model_info_get(&c, &m->info) < 0) die("%s: %s", path, tgs_errmsg());
    m->ps = tgs_params_new(be);
    if (!m->ps || tgs_model_params(m->ps, &m->info.mo, 0) < 0) die("%s: model: %s", path, tgs_errmsg());
    if (tgs_ckpt_get_params(&c, m->ps, 1, NULL) < 0) die("%s: %s", path, tgs_errmsg());
    tgs_ckpt_free(&c);
}

_Noreturn static void bad_sample(const char *path, uint64_t k, const tgs_sample *s) {
    const char *id = tgs_sample_id(s);
    if (id) die("%s: sample %llu (%s): %s", path, (unsigned long long)k, id, tgs_errmsg());
    die("%s: sample %llu: %s", path, (unsigned long long)k, tgs_errmsg());
}

/* The mean of the K values summed in sum and sq, and their variance
 * (E[p^2] - E[p]^2, never below 0 from rounding). */
static void mean_var(double sum, double sq, double k, float *mean, float *var) {
    double m = sum / k, v = sq / k - m * m;
    *mean = (float)m;
    *var = (float)(v > 0 ? v : 0);
}

int main(int argc, char **argv) {
    tgs_cli_init(argv[0]);
    options o = parse_args(argc, argv);
    tgs_cpu_set_threads((int)o.threads);
    const struct tgs_backend *be = tgs_backend_by_name(o.device ? o.device : "cpu");
    if (!be) die_usage("--device: %s", tgs_errmsg());
    model *models = calloc((size_t)o.nckpt, sizeof *models);
    if (!models) die("out of memory");
    for (int k = 0; k < o.nckpt; k++) {
        model *m = &models[k];
        load_model(m, o.ckpt[k], be);
        const tgs_model_info *a = &models[0].info, *b = &m->info;
        /* an ensemble averages pixels of one input: the models must see
         * the same padded, normalised tile */
        if (b->mo.in_ch != a->mo.in_ch || b->size != a->size || b->mean != a->mean || b->std != a->std ||
            tgs_model_stride(&b->mo) != tgs_model_stride(&a->mo))
            die_usage("-m %s: takes %d channels at %d (norm %g,%g, stride %d), but %s takes %d at %d (norm %g,%g, stride %d): "
                      "an ensemble's models must see the same input", m->path, b->mo.in_ch, b->size, (double)b->mean,
                      (double)b->std, tgs_model_stride(&b->mo), models[0].path, a->mo.in_ch, a->size, (double)a->mean,
                      (double)a->std, tgs_model_stride(&a->mo));
        if (o.passes > 1 && !(b->mo.dropout > 0))
            die_usage("--passes %ld: the model of %s has no dropout (dropout=0), so its passes would all be the same",
                      o.passes, m->path);
    }
    /* --tag: the predictions' maker, for decisions tuned on them */
    char tag[128] = "";
    if (o.tag) {
        uint32_t all = 0; /* the CRC-32 of the checkpoints' CRC-32s */
        for (int k = 0; k < o.nckpt; k++) {
            FILE *fp = fopen(o.ckpt[k], "rb");
            if (!fp) die("%s:", o.ckpt[k]);
            uint32_t crc = 0;
            unsigned char buf[1 << 16];
            size_t got;
            while ((got = fread(buf, 1, sizeof buf, fp)) > 0) crc = tgs_crc32(crc, buf, got);
            if (ferror(fp)) die("%s: read error:", o.ckpt[k]);
            fclose(fp);
            unsigned char le[4] = {(unsigned char)crc, (unsigned char)(crc >> 8), (unsigned char)(crc >> 16), (unsigned char)(crc >> 24)};
            all = tgs_crc32(all, le, 4);
        }
        snprintf(tag, sizeof tag, "crc32=%08x,models=%d,passes=%ld,tta=%s,seed=%llu", (unsigned)all, o.nckpt, o.passes,
                 o.hflip ? "hflip" : "none", (unsigned long long)o.seed);
    }
    tgs_prep prep;
    tgs_prep_init(&prep, tgs_model_stride(&models[0].info.mo));
    prep.size = models[0].info.size, prep.mean = models[0].info.mean, prep.std = models[0].info.std;
    double K = (double)o.nckpt * (double)(1 + o.hflip) * (double)o.passes;

    tgs_reader rd;
    if (tgs_reader_open(&rd, o.input) < 0) die("%s", tgs_errmsg());
    tgs_outfile out;
    if (tgs_outfile_open(&out, o.output) < 0) die("%s", tgs_errmsg());
    if (out.fp == stdout) tgs_refuse_tty(stdout, "a tensor stream");
    tgs_writer wr;
    tgs_writer_init(&wr, out.fp);

    int b = (int)o.batch, c = models[0].info.mo.in_ch;
    tgs_sample *batch = calloc((size_t)b, sizeof *batch);
    tgs_prep_view *views = calloc((size_t)b, sizeof *views);
    work w = {0};
    float *tile = NULL; /* one tile's mean or variance, cropped */
    size_t cap = 0;     /* floats per input plane the buffers hold */
    tgs_progress bar;
    tgs_progress_start(&bar, "predict", "img", 0, o.quiet);
    if (!batch || !views) die("out of memory");
    for (;;) {
        int n = 0, rc = 0;
        while (n < b && (rc = tgs_read_sample(&rd, &batch[n])) > 0) {
            if (tgs_prep_view_sample(&prep, &batch[n], 0, &views[n]) < 0) bad_sample(rd.path, rd.nsamples, &batch[n]);
            if (views[n].c != c) {
                tgs_err("'image' has %d channels, the model takes %d", views[n].c, c);
                bad_sample(rd.path, rd.nsamples, &batch[n]);
            }
            if (n && views[n].s != views[0].s) {
                tgs_err("the input is %dx%d, the sample before %dx%d", views[n].s, views[n].s, views[0].s, views[0].s);
                bad_sample(rd.path, rd.nsamples, &batch[n]);
            }
            n++;
        }
        if (rc < 0) die("%s", tgs_errmsg());
        if (n == 0) break;
        int s = views[0].s;
        size_t plane = (size_t)s * (size_t)s, nb = (size_t)b;
        if (plane > cap) {
            free(w.img), free(w.view), free(w.out), free(w.salt), free(w.sum), free(w.sq), free(w.ssum), free(w.ssq), free(tile);
            w.img = malloc(sizeof *w.img * plane * (size_t)c * nb), w.view = malloc(sizeof *w.view * plane * (size_t)c * nb);
            w.out = malloc(sizeof *w.out * plane * nb), w.salt = malloc(sizeof *w.salt * nb);
            w.sum = malloc(sizeof *w.sum * plane * nb), w.sq = malloc(sizeof *w.sq * plane * nb);
            w.ssum = malloc(sizeof *w.ssum * nb), w.ssq = malloc(sizeof *w.ssq * nb);
            tile = malloc(sizeof *tile * plane);
            if (!w.img || !w.view || !w.out || !w.salt || !w.sum || !w.sq || !w.ssum || !w.ssq || !tile) die("out of memory");
            cap = plane;
        }
        uint64_t first = rd.nsamples - (uint64_t)n + 1;
        for (int i = 0; i < n; i++)
            if (tgs_prep_fill(&prep, &views[i], w.img + (size_t)i * plane * (size_t)c, NULL) < 0)
                bad_sample(rd.path, first + (uint64_t)i, &batch[i]);
        memset(w.sum, 0, sizeof *w.sum * plane * (size_t)n), memset(w.sq, 0, sizeof *w.sq * plane * (size_t)n);
        memset(w.ssum, 0, sizeof *w.ssum * (size_t)n), memset(w.ssq, 0, sizeof *w.ssq * (size_t)n);
        for (int k = 0; k < o.nckpt; k++) predict(&models[k], &o, &w, n, c, s, o.batch);
        for (int i = 0; i < n; i++) {
            const int32_t *cr = views[i].crop;
            const double *sum = w.sum + (size_t)i * plane, *sq = w.sq + (size_t)i * plane;
            uint32_t dims[3] = {1, (uint32_t)cr[2], (uint32_t)cr[3]};
            float salt, salt_var;
            mean_var(w.ssum[i], w.ssq[i], K, &salt, &salt_var);
            if (!(salt >= 0 && salt <= 1)) {
                tgs_err("the model's salt probability is %g (a damaged checkpoint?)", (double)salt);
                bad_sample(rd.path, first + (uint64_t)i, &batch[i]);
            }
            /* the tile's mean, then (K > 1) its variance, then (--entropy) the entropy */
            for (int part = 0; part < 3; part++) {
                static const char *const name[3] = {"prob", "var", "ent"};
                if ((part == 1 && K == 1) || (part == 2 && !o.entropy)) continue;
                size_t k = 0;
                for (int y = cr[0]; y < cr[0] + cr[2]; y++)
                    for (int xx = cr[1]; xx < cr[1] + cr[3]; xx++, k++) {
                        size_t j = (size_t)y * (size_t)s + (size_t)xx;
                        float mean, var;
                        mean_var(sum[j], sq[j], K, &mean, &var);
                        if (!(mean >= 0 && mean <= 1)) {
                            tgs_err("the model's output is %g at pixel %zu (a damaged checkpoint?)", (double)mean, j);
                            bad_sample(rd.path, first + (uint64_t)i, &batch[i]);
                        }
                        double p = mean, h = 0;
                        if (p > 0 && p < 1) h = -(p * log(p) + (1 - p) * log1p(-p));
                        tile[k] = part == 0 ? mean : part == 1 ? var : (float)h;
                    }
                tgs_record *r = tgs_sample_put(&batch[i], name[part], TGS_F32, 3, dims);
                if (!r) die("%s", tgs_errmsg());
                memcpy(r->data, tile, k * sizeof *tile);
            }
            if (tgs_sample_put_f32(&batch[i], "salt", salt) < 0 || (K > 1 && tgs_sample_put_f32(&batch[i], "salt_var", salt_var) < 0) ||
                (o.tag && tgs_sample_put_str(&batch[i], "model", tag) < 0))
                die("%s", tgs_errmsg());
            if (tgs_write_sample(&wr, &batch[i]) < 0) die("%s: %s", out.path, tgs_errmsg());
        }
        tgs_progress_update(&bar, rd.nsamples);
        if (rc == 0) break;
    }
    tgs_progress_end(&bar);
    if (tgs_outfile_commit(&out) < 0) die("%s", tgs_errmsg());
    if (!o.quiet) tgs_traffic_say(be);
    tgs_reader_close(&rd);
    for (int i = 0; i < b; i++) tgs_sample_free(&batch[i]);
    for (int k = 0; k < o.nckpt; k++) {
        for (int i = 0; i < 2; i++) tgs_net_free(&models[k].nets[i]);
        tgs_params_free(models[k].ps);
    }
    free(models), free(batch), free(views), free(tile);
    free(w.img), free(w.view), free(w.out), free(w.salt), free(w.sum), free(w.sq), free(w.ssum), free(w.ssq);
    tgs_prep_free(&prep);
    return 0;
}
