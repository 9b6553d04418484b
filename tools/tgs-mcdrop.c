/* tgs-mcdrop: a trained model's predictions, added to each sample.
 *
 * Sample stream in (raw tiles from tgs-stack25d, or tgs-augment's padded
 * inputs), the same stream out with two records added to each sample:
 * 'prob' (f32 1 x H x W, the salt probability of each pixel of the tile)
 * and 'salt' (f32 scalar, the probability that the tile holds salt, from
 * the model's presence head). Raw tiles are padded as in training (the
 * checkpoint's size and norm), the model runs in eval mode on batches,
 * and the padded output is cropped back to the tile.
 *
 * A prediction is the mean of the sigmoid over passes x views (predict()
 * below). Today that is one deterministic pass of one view; Monte Carlo
 * dropout is more passes with exec->mc_dropout set and a step per pass,
 * test-time flips are more views, each undone on the output. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "cli.h"
#include "err.h"
#include "nn/ckpt_params.h"
#include "nn/model.h"
#include "nn/nn.h"
#include "outfile.h"
#include "progress.h"
#include "stream.h"
#include "train.h"

static const char usage[] =
    "usage: tgs-mcdrop -m CKPT [--batch N] [--device NAME] [--threads N] [-o FILE] [-q] [FILE]\n"
    "Run the model of CKPT (tgs-train's best.ckpt or last.ckpt) on each sample of\n"
    "FILE (or stdin) and add its prediction: 'prob' (f32 1xHxW, salt probability\n"
    "per pixel of the tile) and 'salt' (f32, probability that the tile has salt).\n"
    "Every other record is passed on.\n"
    "  -m, --model CKPT  the checkpoint\n"
    "  --batch N         samples per forward pass (default 16)\n"
    "  --device NAME     where the model runs: cpu (default) or sim (see tgs-train)\n"
    "  --threads N       CPU threads (default 0: all cores)\n"
    "  -o, --output FILE write here instead of stdout (whole or not at all)\n"
    "  -q, --quiet       no progress bar\n"
    "  -h, --help        this text;  -V, --version  the version\n";

typedef struct {
    const char *ckpt, *input, *output, *device;
    long batch, threads;
    int quiet;
} options;

static options parse_args(int argc, char **argv) {
    options o = {.batch = 16};
    enum { OPT_BATCH = 256, OPT_THREADS, OPT_DEVICE };
    static const struct option longopts[] = {
        {"model", required_argument, 0, 'm'},   {"batch", required_argument, 0, OPT_BATCH},
        {"threads", required_argument, 0, OPT_THREADS}, {"device", required_argument, 0, OPT_DEVICE},
        TGS_COMMON_LONGOPTS};
    int c;
    while ((c = getopt_long(argc, argv, ":m:o:qhV", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': o.ckpt = optarg; break;
        case OPT_BATCH: o.batch = tgs_parse_long(optarg, "--batch", 1, 4096); break;
        case OPT_THREADS: o.threads = tgs_parse_long(optarg, "--threads", 0, 1024); break;
        case OPT_DEVICE: o.device = optarg; break;
        case 'V': tgs_print_version(); printf("%s\n", tgs_cpu_describe()); exit(0); /* and its engine */
        default: tgs_common_option(c, argv, usage, &o.output, &o.quiet);
        }
    }
    if (optind < argc) o.input = argv[optind++];
    if (optind < argc) die_usage("unexpected argument '%s'", argv[optind]);
    if (!o.ckpt) die_usage("no -m CKPT: the model to run");
    return o;
}

/* How predictions are made: the mean over passes x views. */
typedef struct {
    int passes; /* forward passes; above 1 only with Monte Carlo dropout */
    int views;  /* test-time views of the input; view 0 is the input as it is */
} plan;

typedef struct {
    struct tgs_params *ps;
    tgs_model_info info;
    tgs_prep prep;
    tgs_net nets[2]; /* the full batch and the tail */
    float *img, *acc, *out, *salt, *salt_acc;
} model;

static tgs_net *get_net(model *m, int n, int s, long batch) {
    for (int i = 0; i < 2; i++)
        if (m->nets[i].g && m->nets[i].n == n && m->nets[i].s == s) return &m->nets[i];
    int k = n == batch ? 0 : 1;
    tgs_net_free(&m->nets[k]);
    if (tgs_net_build(&m->nets[k], m->ps, &m->info.mo, 0, n, m->info.mo.in_ch, s, NULL) < 0)
        die("model for a batch of %d at %dx%d: %s", n, s, s, tgs_errmsg());
    return &m->nets[k];
}

static float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

/* m->acc (n x S x S) and m->salt_acc (n) get the mean probabilities of
 * the n inputs in m->img. */
static void predict(model *m, const plan *pl, tgs_net *net) {
    size_t plane = (size_t)net->s * (size_t)net->s, n = (size_t)net->n;
    memset(m->acc, 0, n * plane * sizeof *m->acc);
    memset(m->salt_acc, 0, n * sizeof *m->salt_acc);
    struct tgs_exec *x = tgs_graph_exec(net->g);
    for (int view = 0; view < pl->views; view++) {
        /* view 0: the input as it is (a flip would transform m->img here) */
        tgs_tensor_set(net->g, net->x, m->img);
        for (int pass = 0; pass < pl->passes; pass++) {
            x->mc_dropout = pl->passes > 1;
            x->step = (uint64_t)pass + 1;
            if (tgs_graph_forward(net->g) < 0) die("model: %s", tgs_errmsg());
            tgs_tensor_get(net->g, net->out.seg, m->out);
            tgs_tensor_get(net->g, net->out.cls, m->salt);
            /* (and undo the view's transform on m->out here) */
            for (size_t i = 0; i < n * plane; i++) m->acc[i] += sigmoid(m->out[i]);
            for (size_t i = 0; i < n; i++) m->salt_acc[i] += sigmoid(m->salt[i]);
        }
    }
    float k = 1.0f / (float)(pl->passes * pl->views);
    if (k != 1)
        for (size_t i = 0; i < n * plane; i++) m->acc[i] *= k;
    if (k != 1)
        for (size_t i = 0; i < n; i++) m->salt_acc[i] *= k;
}

static void load_model(model *m, const options *o, const struct tgs_backend *be) {
    tgs_ckpt c;
    if (tgs_ckpt_load(&c, o->ckpt) < 0) die("%s", tgs_errmsg());
    if (tgs_model_info_get(&c, &m->info) < 0) die("%s: %s", o->ckpt, tgs_errmsg());
    m->ps = tgs_params_new(be);
    if (!m->ps || tgs_model_params(m->ps, &m->info.mo, 0) < 0) die("%s: model: %s", o->ckpt, tgs_errmsg());
    if (tgs_ckpt_get_params(&c, m->ps, 1, NULL) < 0) die("%s: %s", o->ckpt, tgs_errmsg());
    tgs_ckpt_free(&c);
    tgs_prep_init(&m->prep, tgs_model_stride(&m->info.mo));
    m->prep.size = m->info.size, m->prep.mean = m->info.mean, m->prep.std = m->info.std;
}

_Noreturn static void bad_sample(const char *path, uint64_t k, const tgs_sample *s) {
    const char *id = tgs_sample_id(s);
    if (id) die("%s: sample %llu (%s): %s", path, (unsigned long long)k, id, tgs_errmsg());
    die("%s: sample %llu: %s", path, (unsigned long long)k, tgs_errmsg());
}

int main(int argc, char **argv) {
    tgs_cli_init(argv[0]);
    options o = parse_args(argc, argv);
    tgs_cpu_set_threads((int)o.threads);
    model m;
    memset(&m, 0, sizeof m);
    const struct tgs_backend *be = tgs_backend_by_name(o.device ? o.device : "cpu");
    if (!be) die_usage("--device: %s", tgs_errmsg());
    load_model(&m, &o, be);
    plan pl = {.passes = 1, .views = 1};

    tgs_reader rd;
    if (tgs_reader_open(&rd, o.input) < 0) die("%s", tgs_errmsg());
    tgs_outfile out;
    if (tgs_outfile_open(&out, o.output) < 0) die("%s", tgs_errmsg());
    if (out.fp == stdout) tgs_refuse_tty(stdout, "a tensor stream");
    tgs_writer wr;
    tgs_writer_init(&wr, out.fp);

    int b = (int)o.batch, c = m.info.mo.in_ch;
    tgs_sample *batch = calloc((size_t)b, sizeof *batch);
    tgs_prep_view *views = calloc((size_t)b, sizeof *views);
    size_t cap = 0; /* floats per input plane the buffers hold */
    tgs_progress bar;
    tgs_progress_start(&bar, "predict", "img", 0, o.quiet);
    if (!batch || !views) die("out of memory");
    for (;;) {
        int n = 0, rc = 0;
        while (n < b && (rc = tgs_read_sample(&rd, &batch[n])) > 0) {
            if (tgs_prep_view_sample(&m.prep, &batch[n], 0, &views[n]) < 0) bad_sample(rd.path, rd.nsamples, &batch[n]);
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
        size_t plane = (size_t)s * (size_t)s;
        if (plane > cap) {
            free(m.img), free(m.acc), free(m.out), free(m.salt), free(m.salt_acc);
            m.img = malloc(sizeof *m.img * plane * (size_t)c * (size_t)b);
            m.acc = malloc(sizeof *m.acc * plane * (size_t)b);
            m.out = malloc(sizeof *m.out * plane * (size_t)b);
            m.salt = malloc(sizeof *m.salt * (size_t)b), m.salt_acc = malloc(sizeof *m.salt_acc * (size_t)b);
            if (!m.img || !m.acc || !m.out || !m.salt || !m.salt_acc) die("out of memory");
            cap = plane;
        }
        uint64_t first = rd.nsamples - (uint64_t)n + 1;
        for (int i = 0; i < n; i++)
            if (tgs_prep_fill(&m.prep, &views[i], m.img + (size_t)i * plane * (size_t)c, NULL) < 0)
                bad_sample(rd.path, first + (uint64_t)i, &batch[i]);
        tgs_net *net = get_net(&m, n, s, o.batch);
        predict(&m, &pl, net);
        for (int i = 0; i < n; i++) {
            const int32_t *cr = views[i].crop;
            const float *p = m.acc + (size_t)i * plane;
            for (size_t k = 0; k < plane; k++)
                if (!(p[k] >= 0 && p[k] <= 1)) {
                    tgs_err("the model's output is %g at pixel %zu (a damaged checkpoint?)", (double)p[k], k);
                    bad_sample(rd.path, first + (uint64_t)i, &batch[i]);
                }
            if (!(m.salt_acc[i] >= 0 && m.salt_acc[i] <= 1)) {
                tgs_err("the model's salt probability is %g (a damaged checkpoint?)", (double)m.salt_acc[i]);
                bad_sample(rd.path, first + (uint64_t)i, &batch[i]);
            }
            uint32_t dims[3] = {1, (uint32_t)cr[2], (uint32_t)cr[3]};
            tgs_record *pr = tgs_sample_put(&batch[i], "prob", TGS_F32, 3, dims);
            if (!pr || tgs_sample_put_f32(&batch[i], "salt", m.salt_acc[i]) < 0) die("%s", tgs_errmsg());
            float *dst = pr->data;
            for (int y = 0; y < cr[2]; y++)
                memcpy(dst + (size_t)y * (size_t)cr[3], p + (size_t)(cr[0] + y) * (size_t)s + (size_t)cr[1],
                       (size_t)cr[3] * sizeof *dst);
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
    for (int i = 0; i < 2; i++) tgs_net_free(&m.nets[i]);
    free(batch), free(views);
    free(m.img), free(m.acc), free(m.out), free(m.salt), free(m.salt_acc);
    tgs_prep_free(&m.prep);
    tgs_params_free(m.ps);
    return 0;
}
