/* tgs-augment: a sample stream in, training inputs out.
 *
 * Per sample the u8 image becomes f32 [C,S,S] (normalised, augmented,
 * padded or resized) and the mask f32 [1,S,S] 0/1 under the same geometry;
 * it adds "crop" (i32 [4]: y0, x0, h, w of the tile inside S x S), "norm"
 * (f32 [2]: the --norm MEAN, STD the image was made with, which the tools
 * that read it check against their model's) and "epoch" (i32 scalar) and
 * passes every other record on as it came.
 *
 * One pass in stream order streams with constant memory. --epochs N (or
 * --shuffle) holds the input's raw records in memory and writes N passes,
 * each in a fresh seeded order. A sample's random choices come from an RNG
 * seeded by (--seed, epoch, its index in the input), so the output does not
 * depend on buffering or on which other samples are there. --keep-empty P
 * drops each empty-mask sample from a pass with probability 1-P, by a coin
 * from its own stream of the same pair, so augmentations stay as they were.
 *
 * --synth FILE mixes synthetic samples (tgs-synth's tiles, stacked) into
 * every pass: the pass holds the n real samples and m = round(P/(1-P) n)
 * drawn from FILE (held in memory too) without replacement while FILE
 * lasts, shuffled together and augmented alike. The draws of a pass come
 * from a stream of their own (index 2^32-2), and the k-th synthetic slot of
 * a pass is augmented as sample index n + k, so a real sample's draws are
 * those it has without --synth; only the order changes. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "augment.h"
#include "cli.h"
#include "err.h"
#include "outfile.h"
#include "pngio.h"
#include "progress.h"
#include "rng.h"
#include "stream.h"

static const char usage[] =
    "usage: tgs-augment [--size S] [--pad MODE | --resize] [--norm MEAN,STD]\n"
    "                   [--train] [--hflip P] [--vflip P] [--affine-p P] [--scale S]\n"
    "                   [--shift F] [--brightness B] [--contrast C] [--gamma G]\n"
    "                   [--invert P] [--cutout N] [--cutout-size F] [--noise STD]\n"
    "                   [--epochs N] [--first-epoch K] [--shuffle] [--keep-empty P]\n"
    "                   [--seed N] [--synth FILE [--synth-frac P]]\n"
    "                   [--preview PNG] [--preview-count N] [--preview-channel K]\n"
    "                   [-o FILE] [-q] [STREAM]\n"
    "Turn each sample's u8 image and mask into f32 S x S training inputs,\n"
    "augmented, and add 'crop' (y0,x0,h,w of the tile), 'norm' (MEAN,STD) and\n"
    "'epoch' records.\n"
    "\n"
    "layout:\n"
    "  --size S          output side (default 128)\n"
    "  --pad MODE        reflect (default), replicate, zero or none; centred,\n"
    "                    top/left get (S-H)/2 rounded down\n"
    "  --resize          bilinear resize to S x S instead (masks nearest)\n"
    "  --norm MEAN,STD   output (x/255 - MEAN) / STD (default 0,1: x/255)\n"
    "augmentation (all off unless --train or given):\n"
    "  --train           preset: --hflip 0.5 --affine-p 0.5 --scale 0.1\n"
    "                    --shift 0.0625 --brightness 0.1 --contrast 0.1\n"
    "                    --gamma 0.1 --noise 0.01 (explicit options win)\n"
    "  --hflip P         mirror left-right with probability P\n"
    "  --vflip P         mirror top-bottom (off even with --train)\n"
    "  --affine-p P      probability of a scale/shift (default 1 when given)\n"
    "  --scale S         zoom by a factor in [1-S, 1+S]\n"
    "  --shift F         move by up to F x the tile side\n"
    "  --brightness B    add b, |b| <= B (values are 0..1)\n"
    "  --contrast C      scale about the mean by [1-C, 1+C]\n"
    "  --gamma G         x^g, g in [1/(1+G), 1+G]\n"
    "  --invert P        x -> 1-x with probability P\n"
    "  --cutout N        N rectangles set to the mean (image only)\n"
    "  --cutout-size F   their largest side, F x the tile's (default 0.25)\n"
    "  --noise STD       add Gaussian noise\n"
    "passes:\n"
    "  --epochs N        N passes, each reshuffled and freshly augmented\n"
    "                    (holds the input in memory)\n"
    "  --first-epoch K   number the passes from K (default 0), to resume\n"
    "  --shuffle         shuffle a single pass too\n"
    "  --keep-empty P    keep each sample whose mask is empty with probability P\n"
    "                    per pass (default 1): fewer empty tiles, cheaper passes\n"
    "  --seed N          random seed (default 0)\n"
    "  --synth FILE      mix samples of FILE (e.g. tgs-synth's tiles, stacked) into\n"
    "                    each pass, augmented alike; same channels and tile size\n"
    "                    as the input (holds both in memory; implies --shuffle)\n"
    "  --synth-frac P    fraction of each pass that is synthetic, 0 <= P < 1\n"
    "                    (default 0.5): round(P/(1-P) x n) samples drawn from\n"
    "                    FILE, without replacement while FILE lasts\n"
    "preview:\n"
    "  --preview PNG     draw the first samples, mask outlined, into PNG;\n"
    "                    the stream is then written only with -o\n"
    "  --preview-count N how many (default 16)\n"
    "  --preview-channel K  the image channel to draw (default: the tile)\n"
    "common:\n"
    "  -o, --output FILE write here instead of stdout (whole or not at all)\n"
    "  -q, --quiet       no progress bar\n"
    "  -h, --help        this text;  -V, --version  the version\n";

typedef struct {
    const char *input, *output, *preview, *synth;
    tgs_aug_params aug;
    long epochs, first_epoch;
    double keep_empty; /* probability an empty-mask sample is written in a pass */
    double synth_frac; /* the synthetic part of a pass, 0 <= P < 1 */
    int shuffle, quiet, preview_count, preview_channel;
    uint64_t seed;
} options;

static float prob(const char *s, const char *opt) { return (float)tgs_parse_double(s, opt, 0, 1); }

static options parse_args(int argc, char **argv) {
    options o = {.epochs = 1, .keep_empty = 1, .synth_frac = NAN, .preview_count = 16, .preview_channel = -1};
    tgs_aug_params *a = &o.aug;
    tgs_aug_params_default(a);
    /* augmentation options not given stay NAN (or -1) until the preset */
    a->hflip = a->vflip = a->affine_p = a->scale = a->shift = NAN;
    a->brightness = a->contrast = a->gamma = a->invert = a->noise = a->cutout_size = NAN;
    a->cutout = -1;
    int train = 0, pad_given = 0;
    enum {
        OPT_SIZE = 256, OPT_PAD, OPT_RESIZE, OPT_NORM, OPT_TRAIN, OPT_HFLIP, OPT_VFLIP, OPT_AFFINE_P, OPT_SCALE,
        OPT_SHIFT, OPT_BRIGHTNESS, OPT_CONTRAST, OPT_GAMMA, OPT_INVERT, OPT_CUTOUT, OPT_CUTOUT_SIZE, OPT_NOISE,
        OPT_EPOCHS, OPT_FIRST_EPOCH, OPT_SHUFFLE, OPT_KEEP_EMPTY, OPT_SEED, OPT_PREVIEW, OPT_PREVIEW_COUNT, OPT_PREVIEW_CHANNEL,
        OPT_SYNTH, OPT_SYNTH_FRAC
    };
    static const struct option longopts[] = {
        {"size", required_argument, 0, OPT_SIZE},           {"pad", required_argument, 0, OPT_PAD},
        {"resize", no_argument, 0, OPT_RESIZE},             {"norm", required_argument, 0, OPT_NORM},
        {"train", no_argument, 0, OPT_TRAIN},               {"hflip", required_argument, 0, OPT_HFLIP},
        {"vflip", required_argument, 0, OPT_VFLIP},         {"affine-p", required_argument, 0, OPT_AFFINE_P},
        {"scale", required_argument, 0, OPT_SCALE},         {"shift", required_argument, 0, OPT_SHIFT},
        {"brightness", required_argument, 0, OPT_BRIGHTNESS}, {"contrast", required_argument, 0, OPT_CONTRAST},
        {"gamma", required_argument, 0, OPT_GAMMA},         {"invert", required_argument, 0, OPT_INVERT},
        {"cutout", required_argument, 0, OPT_CUTOUT},       {"cutout-size", required_argument, 0, OPT_CUTOUT_SIZE},
        {"noise", required_argument, 0, OPT_NOISE},         {"epochs", required_argument, 0, OPT_EPOCHS},
        {"first-epoch", required_argument, 0, OPT_FIRST_EPOCH}, {"shuffle", no_argument, 0, OPT_SHUFFLE},
        {"keep-empty", required_argument, 0, OPT_KEEP_EMPTY},
        {"seed", required_argument, 0, OPT_SEED},           {"preview", required_argument, 0, OPT_PREVIEW},
        {"preview-count", required_argument, 0, OPT_PREVIEW_COUNT},
        {"preview-channel", required_argument, 0, OPT_PREVIEW_CHANNEL},
        {"synth", required_argument, 0, OPT_SYNTH},       {"synth-frac", required_argument, 0, OPT_SYNTH_FRAC},
        TGS_COMMON_LONGOPTS};
    int c;
    while ((c = getopt_long(argc, argv, ":o:qhV", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_SIZE: a->size = (int)tgs_parse_long(optarg, "--size", 1, 4096); break;
        case OPT_PAD:
            if (tgs_aug_pad_parse(optarg, &a->pad) < 0) die_usage("--pad: %s", tgs_errmsg());
            pad_given = 1;
            break;
        case OPT_RESIZE: a->resize = 1; break;
        case OPT_NORM: tgs_parse_norm(optarg, "--norm", &a->mean, &a->std); break;
        case OPT_TRAIN: train = 1; break;
        case OPT_HFLIP: a->hflip = prob(optarg, "--hflip"); break;
        case OPT_VFLIP: a->vflip = prob(optarg, "--vflip"); break;
        case OPT_AFFINE_P: a->affine_p = prob(optarg, "--affine-p"); break;
        case OPT_SCALE: a->scale = (float)tgs_parse_double(optarg, "--scale", 0, 0.9); break;
        case OPT_SHIFT: a->shift = (float)tgs_parse_double(optarg, "--shift", 0, 0.5); break;
        case OPT_BRIGHTNESS: a->brightness = (float)tgs_parse_double(optarg, "--brightness", 0, 1); break;
        case OPT_CONTRAST: a->contrast = (float)tgs_parse_double(optarg, "--contrast", 0, 1); break;
        case OPT_GAMMA: a->gamma = (float)tgs_parse_double(optarg, "--gamma", 0, 10); break;
        case OPT_INVERT: a->invert = prob(optarg, "--invert"); break;
        case OPT_CUTOUT: a->cutout = (int)tgs_parse_long(optarg, "--cutout", 0, TGS_AUG_MAX_CUTOUT); break;
        case OPT_CUTOUT_SIZE: a->cutout_size = (float)tgs_parse_double(optarg, "--cutout-size", 0.01, 1); break;
        case OPT_NOISE: a->noise = (float)tgs_parse_double(optarg, "--noise", 0, 1); break;
        case OPT_EPOCHS: o.epochs = tgs_parse_long(optarg, "--epochs", 1, 1000000); break;
        case OPT_FIRST_EPOCH: o.first_epoch = tgs_parse_long(optarg, "--first-epoch", 0, 1000000); break;
        case OPT_SHUFFLE: o.shuffle = 1; break;
        case OPT_KEEP_EMPTY: o.keep_empty = tgs_parse_double(optarg, "--keep-empty", 0, 1); break;
        case OPT_SEED: o.seed = tgs_parse_seed(optarg); break;
        case OPT_PREVIEW: o.preview = optarg; break;
        case OPT_PREVIEW_COUNT: o.preview_count = (int)tgs_parse_long(optarg, "--preview-count", 1, 256); break;
        case OPT_PREVIEW_CHANNEL: o.preview_channel = (int)tgs_parse_long(optarg, "--preview-channel", 0, 255); break;
        case OPT_SYNTH: o.synth = optarg; break;
        case OPT_SYNTH_FRAC:
            o.synth_frac = tgs_parse_double(optarg, "--synth-frac", -HUGE_VAL, HUGE_VAL);
            if (!(o.synth_frac >= 0 && o.synth_frac < 1))
                die_usage("--synth-frac: %g is out of range [0, 1)", o.synth_frac);
            break;
        default: tgs_common_option(c, argv, usage, &o.output, &o.quiet);
        }
    }
    if (optind < argc) o.input = argv[optind++];
    if (optind < argc) die_usage("unexpected argument '%s'", argv[optind]);
    if (a->resize && pad_given) die_usage("--pad and --resize both say how to reach the size; give one");
    if (!isnan(o.synth_frac) && !o.synth) die_usage("--synth-frac needs --synth FILE, the samples to mix in");
    if (isnan(o.synth_frac)) o.synth_frac = 0.5;
    if (o.synth && strcmp(o.synth, "-") == 0 && (!o.input || strcmp(o.input, "-") == 0))
        die_usage("--synth -: standard input is the input already; name a file");

    /* the preset fills what was not given; everything else is off */
#define PRESET(field, value) \
    if (isnan(a->field)) a->field = train ? (value) : 0
    PRESET(hflip, 0.5f);
    PRESET(vflip, 0.0f);
    PRESET(scale, 0.1f);
    PRESET(shift, 0.0625f);
    PRESET(brightness, 0.1f);
    PRESET(contrast, 0.1f);
    PRESET(gamma, 0.1f);
    PRESET(invert, 0.0f);
    PRESET(noise, 0.01f);
#undef PRESET
    /* a scale or shift given alone applies to every sample */
    if (isnan(a->affine_p)) a->affine_p = train ? 0.5f : (a->scale > 0 || a->shift > 0) ? 1 : 0;
    if (a->cutout < 0) a->cutout = 0;
    if (isnan(a->cutout_size)) a->cutout_size = 0.25f;
    if (tgs_aug_params_check(a) < 0) die_usage("%s", tgs_errmsg());
    return o;
}

/* What a sample must hold: a u8 image (C,H,W) or (H,W) that fits the
 * layout, and optionally a u8 0/1 mask of the same H x W. */
typedef struct {
    const tgs_record *image, *mask;
    int c, h, w;
    int32_t crop[4];
} sample_view;

static int view_sample(const tgs_sample *s, const options *o, sample_view *v) {
    static const int u8[] = {TGS_U8, 0};
    memset(v, 0, sizeof *v);
    v->image = tgs_sample_get(s, "image");
    if (!v->image) return tgs_err("no 'image' record");
    if (tgs_record_check_image(v->image, u8, &v->c, &v->h, &v->w) < 0) return -1;
    if (tgs_aug_layout(&o->aug, v->h, v->w, v->crop) < 0) return tgs_err_prefix("record 'image'");
    if (o->preview && o->preview_channel >= v->c)
        return tgs_err("--preview-channel %d: 'image' has channels 0..%d only", o->preview_channel, v->c - 1);
    v->mask = tgs_sample_get(s, "mask");
    if (v->mask) {
        int c, h, w;
        if (tgs_record_check_image(v->mask, u8, &c, &h, &w) < 0) return -1;
        if (c != 1) return tgs_err("record 'mask' has %d channels, expected 1", c);
        if (h != v->h || w != v->w) return tgs_err("record 'mask' is %dx%d, 'image' %dx%d", w, h, v->w, v->h);
        if (tgs_aug_check_mask(v->mask->data, h, w) < 0) return tgs_err_prefix("record 'mask'");
    } else if (o->keep_empty < 1) {
        return tgs_err("no 'mask' record, and --keep-empty needs one to tell empty tiles");
    }
    return 0;
}

/* The first samples drawn into RGB cells, S x S each. */
typedef struct {
    int n, cap, s;
    uint8_t *cells;
} preview;

static void preview_add(preview *pv, const options *o, const float *img, const float *mask, const sample_view *v) {
    int s = o->aug.size, k = o->preview_channel >= 0 ? o->preview_channel : v->c >= 3 ? 1 : 0;
    size_t np = (size_t)s * (size_t)s;
    uint8_t *cell = pv->cells + np * 3 * (size_t)pv->n++;
    const float *ch = img + np * (size_t)k;
    for (size_t i = 0; i < np; i++) {
        /* undo --norm, so the picture shows the augmentation, not the scaling */
        float g = (ch[i] * o->aug.std + o->aug.mean) * 255.0f + 0.5f;
        uint8_t b = (uint8_t)(g < 0 ? 0 : g > 255 ? 255 : g);
        cell[3 * i] = cell[3 * i + 1] = cell[3 * i + 2] = b;
    }
    if (mask) /* salt tinted red, its outline (salt with a non-salt 4-neighbour) pure red */
        for (int y = 0; y < s; y++)
            for (int x = 0; x < s; x++) {
                size_t i = (size_t)y * (size_t)s + (size_t)x;
                if (mask[i] < 0.5f) continue;
                int edge = (y > 0 && mask[i - (size_t)s] < 0.5f) || (y < s - 1 && mask[i + (size_t)s] < 0.5f) ||
                           (x > 0 && mask[i - 1] < 0.5f) || (x < s - 1 && mask[i + 1] < 0.5f);
                uint8_t *p = cell + 3 * i;
                if (edge) p[0] = 255, p[1] = 0, p[2] = 0;
                else p[0] = (uint8_t)(p[0] + (255 - p[0]) * 2 / 5), p[1] = (uint8_t)(p[1] * 3 / 5), p[2] = (uint8_t)(p[2] * 3 / 5);
            }
    /* the tile's border: a yellow line just outside the crop, over the padding */
    const int32_t *c = v->crop;
    for (int y = c[0] - 1; y <= c[0] + c[2]; y++)
        for (int x = c[1] - 1; x <= c[1] + c[3]; x++) {
            if (y < 0 || x < 0 || y >= s || x >= s) continue;
            if (y != c[0] - 1 && y != c[0] + c[2] && x != c[1] - 1 && x != c[1] + c[3]) continue;
            uint8_t *p = cell + 3 * ((size_t)y * (size_t)s + (size_t)x);
            p[0] = 255, p[1] = 220, p[2] = 0;
        }
}

/* The cells on a grid of up to 8 columns, 2-pixel dark gaps around each. */
static void preview_write(const preview *pv, const char *path) {
    int s = pv->s, cols = pv->n < 8 ? pv->n : 8, rows = (pv->n + cols - 1) / cols;
    int gw = cols * (s + 2) + 2, gh = rows * (s + 2) + 2;
    uint8_t *grid = malloc((size_t)gw * (size_t)gh * 3);
    if (!grid) die("out of memory for the preview");
    memset(grid, 40, (size_t)gw * (size_t)gh * 3);
    for (int k = 0; k < pv->n; k++) {
        int y0 = 2 + (k / cols) * (s + 2), x0 = 2 + (k % cols) * (s + 2);
        for (int y = 0; y < s; y++)
            memcpy(grid + 3 * ((size_t)(y0 + y) * (size_t)gw + (size_t)x0),
                   pv->cells + 3 * ((size_t)k * (size_t)s * (size_t)s + (size_t)y * (size_t)s), 3 * (size_t)s);
    }
    if (tgs_png_write_rgb8(path, grid, gw, gh) < 0) die("%s", tgs_errmsg());
    free(grid);
}

typedef struct {
    const options *o;
    tgs_writer wr;
    int write_stream;
    tgs_aug_work work;
    tgs_record img, mask, crop, norm, epoch;
    preview pv;
    const char *out_path; /* the output, for messages */
} context;

/* Whether pass epoch writes sample index: always, unless its mask is empty
 * and the coin of --keep-empty says no. The coin has its own RNG stream (top
 * bit set: never a sample's), so dropping a sample changes no other draws. */
static int keep_sample(const options *o, const sample_view *v, uint64_t index, long epoch) {
    if (o->keep_empty >= 1) return 1; /* view_sample made sure there is a mask otherwise */
    const uint8_t *m = v->mask->data;
    size_t np = (size_t)v->h * (size_t)v->w, i = 0;
    while (i < np && !m[i]) i++;
    if (i < np) return 1; /* salt */
    tgs_rng r;
    tgs_rng_seed(&r, o->seed, ((uint64_t)1 << 63) | ((uint64_t)epoch << 32) | index);
    return tgs_rng_uniform(&r) < o->keep_empty;
}

/* Augment sample s for epoch and write it: its records in order with image
 * and mask replaced, then crop, norm and epoch (any of those three it had
 * are dropped). index (from 0) picks its random stream; path and number (from
 * 1) say where it came from, for messages. */
static void emit(context *cx, const tgs_sample *s, const sample_view *v, uint64_t index, long epoch, const char *path,
                 uint64_t number) {
    const options *o = cx->o;
    int sz = o->aug.size;
    uint32_t idims[3] = {(uint32_t)v->c, (uint32_t)sz, (uint32_t)sz}, mdims[3] = {1, (uint32_t)sz, (uint32_t)sz};
    uint32_t four = 4, two = 2;
    if (tgs_record_init(&cx->img, "image", TGS_F32, 3, idims) < 0 ||
        (v->mask && tgs_record_init(&cx->mask, "mask", TGS_F32, 3, mdims) < 0) ||
        tgs_record_init(&cx->crop, "crop", TGS_I32, 1, &four) < 0 || tgs_record_init(&cx->norm, "norm", TGS_F32, 1, &two) < 0 ||
        tgs_record_init(&cx->epoch, "epoch", TGS_I32, 0, NULL) < 0)
        die("%s", tgs_errmsg());
    tgs_rng r;
    tgs_rng_seed(&r, o->seed, ((uint64_t)epoch << 32) | index);
    tgs_aug_draw d;
    tgs_aug_draw_sample(&o->aug, v->h, v->w, &r, &d);
    if (tgs_aug_apply(&o->aug, &d, &r, &cx->work, v->image->data, v->c, v->h, v->w, v->mask ? v->mask->data : NULL,
                      cx->img.data, v->mask ? cx->mask.data : NULL) < 0) {
        const char *id = tgs_sample_id(s);
        die("%s: sample %llu%s%s%s: %s", path, (unsigned long long)number, id ? " (" : "", id ? id : "", id ? ")" : "",
            tgs_errmsg());
    }
    memcpy(cx->crop.data, v->crop, sizeof v->crop);
    const float norm[2] = {o->aug.mean, o->aug.std};
    memcpy(cx->norm.data, norm, sizeof norm);
    int32_t e = (int32_t)epoch;
    memcpy(cx->epoch.data, &e, sizeof e);
    if (cx->write_stream) {
        for (int i = 0; i < s->n; i++) {
            const tgs_record *rec = &s->rec[i];
            if (rec == v->image) rec = &cx->img;
            else if (rec == v->mask) rec = &cx->mask;
            else if (strcmp(rec->name, "crop") == 0 || strcmp(rec->name, "norm") == 0 || strcmp(rec->name, "epoch") == 0)
                continue;
            if (tgs_write_record(&cx->wr, rec, 0) < 0) die("%s: %s", cx->out_path, tgs_errmsg());
        }
        if (tgs_write_record(&cx->wr, &cx->crop, 0) < 0 || tgs_write_record(&cx->wr, &cx->norm, 0) < 0 ||
            tgs_write_record(&cx->wr, &cx->epoch, TGS_FLAG_END_OF_SAMPLE) < 0)
            die("%s: %s", cx->out_path, tgs_errmsg());
        cx->wr.nsamples++;
    }
    if (o->preview && cx->pv.n < cx->pv.cap)
        preview_add(&cx->pv, o, cx->img.data, v->mask ? cx->mask.data : NULL, v);
}

/* die with the sample named, for a sample that view_sample refused */
_Noreturn static void bad_sample(const char *path, uint64_t k, const tgs_sample *s) {
    const char *id = tgs_sample_id(s);
    if (id) die("%s: sample %llu (%s): %s", path, (unsigned long long)k, id, tgs_errmsg());
    die("%s: sample %llu: %s", path, (unsigned long long)k, tgs_errmsg());
}

/* Every sample of rd, raw, each checked; a progress bar while loading. */
static tgs_sample *load_all(tgs_reader *rd, const options *o, size_t *count) {
    tgs_sample *all = NULL;
    size_t n = 0, cap = 0;
    sample_view v;
    int rc;
    tgs_progress bar;
    tgs_progress_start(&bar, "load", "samples", 0, o->quiet);
    for (;;) {
        if (n == cap) {
            cap = cap ? 2 * cap : 1024;
            tgs_sample *p = realloc(all, sizeof *p * cap);
            if (!p) die("out of memory after %zu samples", n);
            all = p;
        }
        memset(&all[n], 0, sizeof all[n]);
        if ((rc = tgs_read_sample(rd, &all[n])) < 0) die("%s", tgs_errmsg());
        if (rc == 0) break;
        if (view_sample(&all[n], o, &v) < 0) bad_sample(rd->path, n + 1, &all[n]);
        if (++n == 0xffffffffu) die("%s: more than %u samples", rd->path, 0xffffffffu - 1);
        tgs_progress_update(&bar, n);
    }
    tgs_sample_free(&all[n]);
    tgs_progress_end(&bar);
    *count = n;
    return all;
}

/* The synthetic samples must look like the input's first: the same
 * channels and tile size, and a mask if it has one. */
static void check_synth(const options *o, const tgs_sample *first, const tgs_reader *srd, const tgs_sample *syn,
                        size_t ns) {
    sample_view a, b;
    if (view_sample(first, o, &a) < 0) die("%s", tgs_errmsg()); /* checked on loading */
    for (size_t i = 0; i < ns; i++) {
        if (view_sample(&syn[i], o, &b) < 0) bad_sample(srd->path, i + 1, &syn[i]);
        if (b.c != a.c || b.h != a.h || b.w != a.w) {
            tgs_err("'image' is %d x %d x %d (C x H x W), the input's %d x %d x %d; "
                    "--synth needs the same channels and tile size",
                    b.c, b.h, b.w, a.c, a.h, a.w);
            bad_sample(srd->path, i + 1, &syn[i]);
        }
        if (a.mask && !b.mask) {
            tgs_err("no 'mask' record, and the input's samples have one");
            bad_sample(srd->path, i + 1, &syn[i]);
        }
    }
}

int main(int argc, char **argv) {
    tgs_cli_init(argv[0]);
    options o = parse_args(argc, argv);
    int hold = o.epochs > 1 || o.shuffle || o.synth;

    tgs_reader rd;
    if (tgs_reader_open(&rd, o.input) < 0) die("%s", tgs_errmsg());
    tgs_reader srd;
    if (o.synth && tgs_reader_open(&srd, o.synth) < 0) die("%s", tgs_errmsg());
    context cx = {.o = &o, .write_stream = !o.preview || o.output};
    if (o.preview) {
        size_t np = (size_t)o.aug.size * (size_t)o.aug.size;
        if (np * (size_t)o.preview_count > ((size_t)1 << 26))
            die_usage("--preview: %d cells of %dx%d is too large a picture", o.preview_count, o.aug.size, o.aug.size);
        cx.pv.cap = o.preview_count, cx.pv.s = o.aug.size;
        cx.pv.cells = malloc(np * 3 * (size_t)o.preview_count);
        if (!cx.pv.cells) die("out of memory for the preview");
    }
    tgs_outfile out = {0};
    if (cx.write_stream) {
        if (tgs_outfile_open(&out, o.output) < 0) die("%s", tgs_errmsg());
        if (out.fp == stdout) tgs_refuse_tty(stdout, "a tensor stream");
        tgs_writer_init(&cx.wr, out.fp);
        cx.out_path = out.path;
    }
    tgs_progress bar;
    sample_view v;
    int rc;
    if (!hold) {
        /* one pass in order: a sample at a time, constant memory */
        tgs_sample s = {0};
        tgs_progress_start(&bar, "augment", "samples", 0, o.quiet);
        while ((cx.write_stream || cx.pv.n < cx.pv.cap) && (rc = tgs_read_sample(&rd, &s)) != 0) {
            if (rc < 0) die("%s", tgs_errmsg());
            if (view_sample(&s, &o, &v) < 0) bad_sample(rd.path, rd.nsamples, &s);
            if (keep_sample(&o, &v, rd.nsamples - 1, o.first_epoch))
                emit(&cx, &s, &v, rd.nsamples - 1, o.first_epoch, rd.path, rd.nsamples);
            tgs_progress_update(&bar, rd.nsamples);
        }
        tgs_progress_end(&bar);
        tgs_sample_free(&s);
    } else {
        /* the raw records of every sample, checked before anything is written */
        size_t n, ns = 0, m = 0;
        tgs_sample *all = load_all(&rd, &o, &n), *syn = NULL;
        if (o.synth) {
            syn = load_all(&srd, &o, &ns);
            if (n > 0) check_synth(&o, &all[0], &srd, syn, ns);
            double want = floor(o.synth_frac / (1 - o.synth_frac) * (double)n + 0.5);
            if (want > (double)0xfffffffdu - (double)n) /* every index of a pass below 2^32-2, the draw stream's */
                die("%s: --synth-frac %g asks for %.0f synthetic samples a pass, too many", srd.path, o.synth_frac,
                    want);
            m = (size_t)want;
            if (m > 0 && ns == 0) die("%s: no samples to draw %zu synthetic samples a pass from", srd.path, m);
        }
        /* order: 0..n-1 the real samples, n+k the k-th synthetic slot, pick[k] its sample */
        uint32_t *order = malloc(sizeof *order * (n + m ? n + m : 1)), *pick = malloc(sizeof *pick * (m ? m : 1));
        uint32_t *deck = malloc(sizeof *deck * (ns ? ns : 1));
        if (!order || !pick || !deck) die("out of memory");
        tgs_progress_start(&bar, "augment", "samples", (uint64_t)(n + m) * (uint64_t)o.epochs, o.quiet);
        uint64_t done = 0;
        for (long e = o.first_epoch; e < o.first_epoch + o.epochs; e++) {
            if (!cx.write_stream && cx.pv.n == cx.pv.cap) break;
            tgs_rng r;
            if (m > 0) { /* from the epoch's draw stream (index 2^32-2): each run of ns draws a partial Fisher-Yates */
                tgs_rng_seed(&r, o.seed, ((uint64_t)e << 32) | 0xfffffffeu);
                for (size_t k = 0; k < m; k++) {
                    size_t at = k % ns;
                    if (at == 0)
                        for (size_t i = 0; i < ns; i++) deck[i] = (uint32_t)i;
                    size_t j = at + tgs_rng_below(&r, (uint32_t)(ns - at));
                    uint32_t t = deck[at];
                    deck[at] = deck[j], deck[j] = t;
                    pick[k] = deck[at];
                }
            }
            /* Fisher-Yates from the epoch's own stream (index 2^32-1, never a sample's) */
            size_t nm = n + m;
            tgs_rng_seed(&r, o.seed, ((uint64_t)e << 32) | 0xffffffffu);
            for (size_t i = 0; i < nm; i++) order[i] = (uint32_t)i;
            for (size_t i = nm; i > 1; i--) {
                uint32_t j = tgs_rng_below(&r, (uint32_t)i), t = order[i - 1];
                order[i - 1] = order[j], order[j] = t;
            }
            for (size_t i = 0; i < nm; i++) {
                if (!cx.write_stream && cx.pv.n == cx.pv.cap) break;
                uint32_t k = order[i];
                int real = k < n;
                const tgs_sample *s = real ? &all[k] : &syn[pick[k - n]];
                const char *path = real ? rd.path : srd.path;
                uint64_t number = real ? (uint64_t)k + 1 : (uint64_t)pick[k - n] + 1;
                if (view_sample(s, &o, &v) < 0) bad_sample(path, number, s);
                if (keep_sample(&o, &v, k, e)) emit(&cx, s, &v, k, e, path, number);
                tgs_progress_update(&bar, ++done);
            }
        }
        tgs_progress_end(&bar);
        for (size_t i = 0; i < n; i++) tgs_sample_free(&all[i]);
        for (size_t i = 0; i < ns; i++) tgs_sample_free(&syn[i]);
        free(all), free(syn), free(order), free(pick), free(deck);
    }

    if (o.preview) {
        if (cx.pv.n == 0) die("%s: no samples to preview", rd.path);
        preview_write(&cx.pv, o.preview);
    }
    if (cx.write_stream && tgs_outfile_commit(&out) < 0) die("%s", tgs_errmsg());
    tgs_reader_close(&rd);
    if (o.synth) tgs_reader_close(&srd);
    tgs_aug_work_free(&cx.work);
    tgs_record_free(&cx.img), tgs_record_free(&cx.mask), tgs_record_free(&cx.crop), tgs_record_free(&cx.norm),
        tgs_record_free(&cx.epoch);
    free(cx.pv.cells);
    return 0;
}
