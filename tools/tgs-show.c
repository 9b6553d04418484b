/* tgs-show: predictions as a PNG for people.
 *
 * A prediction stream in (tgs-mcdrop's: the tile's u8 'image', 'prob', and
 * where present the true 'mask' and the uncertainty 'var'); one PNG out, a
 * row per tile chosen: the image, the truth, the prediction, the
 * uncertainty as a heat map, and the errors coloured (true positive green,
 * false positive red, false negative blue), under a label with the tile's
 * id and, with a truth, its competition score and IoU. Which tiles: the
 * first N, the N worst (lowest score, then IoU), the N most uncertain
 * (highest mean 'var') or N at random (seeded). The stream is read once in
 * constant memory: the N chosen so far are kept, the rest dropped. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "err.h"
#include "metric.h"
#include "pngio.h"
#include "progress.h"
#include "rng.h"
#include "stream.h"

static const char usage[] =
    "usage: tgs-show -o PNG [-n N] [--order stream|worst|uncertain|random] [--seed S]\n"
    "                [--threshold T] [-q] [FILE]\n"
    "Draw the predictions of FILE (or stdin; tgs-mcdrop's stream) into PNG: a row\n"
    "per tile: image, truth, prediction, uncertainty ('var', as heat), errors\n"
    "(true positive green, false positive red, false negative blue), with the\n"
    "tile's id, score and IoU. Panels without their record are left dark.\n"
    "  -n N              tiles to draw (default 16, at most 256)\n"
    "  --order ORDER     stream: the first N (default); worst: the lowest score\n"
    "                    first (needs 'mask'); uncertain: the highest mean 'var'\n"
    "                    first; random: N drawn with --seed\n"
    "  --seed S          for --order random (default 0)\n"
    "  --threshold T     salt where 'prob' > T (default 0.5)\n"
    "  -o, --output PNG  the picture (whole or not at all); required\n"
    "  -q, --quiet       no progress bar\n"
    "  -h, --help        this text;  -V, --version  the version\n";

enum order { ORDER_STREAM, ORDER_WORST, ORDER_UNCERTAIN, ORDER_RANDOM };

typedef struct {
    const char *input, *output;
    long n;
    enum order order;
    uint64_t seed;
    double threshold;
    int quiet;
} options;

/* One tile as drawn: its panels already in RGB, and what ranks it. */
#define PANELS 5
typedef struct {
    char label[64];
    double key;   /* lower is drawn first */
    int h, w;
    uint8_t *rgb; /* PANELS panels of h x w x 3, side by side */
} tile;

/* ---- a 3x5 font, drawn twice its size: enough for hex ids and scores ---- */

static uint16_t glyph(int ch) {
    static const struct {
        char c;
        uint16_t rows; /* 5 rows of 3 bits, top row in the high bits */
    } font[] = {
        {'0', 075557}, {'1', 026227}, {'2', 071747}, {'3', 071717}, {'4', 055711}, {'5', 074717}, {'6', 074757},
        {'7', 071111}, {'8', 075757}, {'9', 075717}, {'a', 025755}, {'b', 065656}, {'c', 074447}, {'d', 065556},
        {'e', 074747}, {'f', 074744}, {'I', 072227}, {'o', 000757}, {'U', 055557}, {'.', 000002}, {':', 002020},
        {'=', 007070}, {'-', 000700}, {' ', 0},
    };
    if (ch >= 'A' && ch <= 'F') ch += 'a' - 'A';
    for (size_t i = 0; i < sizeof font / sizeof *font; i++)
        if (font[i].c == ch) return font[i].rows;
    return 077777; /* a box for what the font lacks */
}

/* Text at (x, y) of an RGB image of width w and height h, 2x scale. */
static void draw_text(uint8_t *img, int w, int h, int x, int y, const char *s) {
    for (; *s; s++, x += 8) {
        uint16_t g = glyph((unsigned char)*s);
        for (int r = 0; r < 5; r++)
            for (int c = 0; c < 3; c++) {
                if (!(g >> (3 * (4 - r) + (2 - c)) & 1)) continue;
                for (int dy = 0; dy < 2; dy++)
                    for (int dx = 0; dx < 2; dx++) {
                        int yy = y + 2 * r + dy, xx = x + 2 * c + dx;
                        if (yy >= 0 && yy < h && xx >= 0 && xx < w) memset(img + 3 * ((size_t)yy * (size_t)w + (size_t)xx), 230, 3);
                    }
            }
    }
}

/* "hot": black, red, yellow, white over 0..1 */
static void heat(double v, uint8_t *p) {
    v = v < 0 ? 0 : v > 1 ? 1 : v;
    double r = 3 * v, g = 3 * v - 1, b = 3 * v - 2;
    p[0] = (uint8_t)(255 * (r > 1 ? 1 : r)), p[1] = (uint8_t)(255 * (g < 0 ? 0 : g > 1 ? 1 : g)),
    p[2] = (uint8_t)(255 * (b < 0 ? 0 : b));
}

/* The 2-D view of a record of one plane (HxW or 1xHxW), or -1. */
static int plane_of(const tgs_record *r, int dtype, int *h, int *w) {
    if (!r || r->dtype != dtype) return -1;
    if (r->ndim == 2) *h = (int)r->dims[0], *w = (int)r->dims[1];
    else if (r->ndim == 3 && r->dims[0] == 1) *h = (int)r->dims[1], *w = (int)r->dims[2];
    else return -1;
    return 0;
}

/* Draw a sample's panels into t (allocated here); -1 and a message when
 * its records are not what a prediction stream holds. */
static int tile_make(const tgs_sample *s, const options *o, uint64_t index, tile *t) {
    const tgs_record *im = tgs_sample_get(s, "image"), *pr = tgs_sample_get(s, "prob"), *mk = tgs_sample_get(s, "mask"),
                     *vr = tgs_sample_get(s, "var");
    int h, w, hh, ww;
    if (plane_of(pr, TGS_F32, &h, &w) < 0) return tgs_err("no 'prob' record of f32 1xHxW (a tgs-mcdrop stream?)");
    if (!im || im->dtype != TGS_U8 || im->ndim != 3 || (int)im->dims[1] != h || (int)im->dims[2] != w)
        return tgs_err("no u8 'image' of C x %d x %d beside 'prob' (tgs-show draws raw tiles)", h, w);
    if (mk && (plane_of(mk, TGS_U8, &hh, &ww) < 0 || hh != h || ww != w)) return tgs_err("record 'mask' is not u8 1x%dx%d", h, w);
    if (vr && (plane_of(vr, TGS_F32, &hh, &ww) < 0 || hh != h || ww != w)) return tgs_err("record 'var' is not f32 1x%dx%d", h, w);
    size_t n = (size_t)h * (size_t)w;
    t->h = h, t->w = w;
    if (!(t->rgb = calloc(PANELS * n * 3, 1))) return tgs_err("out of memory");
    /* the tile itself is the middle channel of a 2.5D stack */
    const uint8_t *img = (const uint8_t *)im->data + n * (im->dims[0] / 2);
    const float *p = pr->data, *var = vr ? vr->data : NULL;
    const uint8_t *truth = mk ? mk->data : NULL;
    int64_t inter = 0, npred = 0, ntruth = 0;
    double var_sum = 0;
    for (size_t i = 0; i < n; i++) {
        int y = (int)(i / (size_t)w), x = (int)(i % (size_t)w);
        int pred = (double)p[i] > o->threshold, tr = truth && truth[i];
        uint8_t *px[PANELS];
        for (int k = 0; k < PANELS; k++) px[k] = t->rgb + 3 * ((size_t)y * (size_t)(PANELS * w) + (size_t)(k * w + x));
        memset(px[0], img[i], 3);
        if (truth) memset(px[1], tr ? 255 : 0, 3);
        memset(px[2], (uint8_t)lrintf(255 * (p[i] < 0 ? 0 : p[i] > 1 ? 1 : p[i])), 3);
        if (var) heat(var[i] / 0.25, px[3]), var_sum += var[i]; /* 0.25: the most a probability can vary */
        if (truth) {
            uint8_t *e = px[4];
            if (pred && tr) e[1] = 200;
            else if (pred) e[0] = 220;
            else if (tr) e[0] = 0, e[1] = 80, e[2] = 255;
        }
        inter += pred && tr, npred += pred, ntruth += tr;
    }
    const char *id = tgs_sample_id(s);
    char idbuf[24];
    if (!id) snprintf(idbuf, sizeof idbuf, "%llu", (unsigned long long)index), id = idbuf;
    double score = tgs_metric_hits(inter, npred, ntruth) / (double)TGS_METRIC_NIOU, iou = tgs_metric_iou(inter, npred, ntruth);
    if (truth) snprintf(t->label, sizeof t->label, "%.20s  %.1f  IoU %.2f", id, score, iou);
    else snprintf(t->label, sizeof t->label, "%.20s", id);
    switch (o->order) {
    case ORDER_WORST: t->key = truth ? score + iou * 1e-3 : INFINITY; break;
    case ORDER_UNCERTAIN: t->key = var ? -var_sum / (double)n : INFINITY; break;
    default: t->key = 0;
    }
    return 0;
}

int main(int argc, char **argv) {
    tgs_cli_init(argv[0]);
    options o = {.n = 16, .threshold = 0.5};
    enum { OPT_ORDER = 256, OPT_SEED, OPT_THRESHOLD };
    static const struct option longopts[] = {
        {"order", required_argument, 0, OPT_ORDER}, {"seed", required_argument, 0, OPT_SEED},
        {"threshold", required_argument, 0, OPT_THRESHOLD}, TGS_COMMON_LONGOPTS};
    int c;
    while ((c = getopt_long(argc, argv, ":n:o:qhV", longopts, NULL)) != -1) {
        switch (c) {
        case 'n': o.n = tgs_parse_long(optarg, "-n", 1, 256); break;
        case OPT_ORDER:
            if (!strcmp(optarg, "stream")) o.order = ORDER_STREAM;
            else if (!strcmp(optarg, "worst")) o.order = ORDER_WORST;
            else if (!strcmp(optarg, "uncertain")) o.order = ORDER_UNCERTAIN;
            else if (!strcmp(optarg, "random")) o.order = ORDER_RANDOM;
            else die_usage("--order: '%s' is not stream, worst, uncertain or random", optarg);
            break;
        case OPT_SEED: o.seed = tgs_parse_seed(optarg); break;
        case OPT_THRESHOLD: o.threshold = tgs_parse_double(optarg, "--threshold", 0, 1); break;
        default: tgs_common_option(c, argv, usage, &o.output, &o.quiet);
        }
    }
    if (optind < argc) o.input = argv[optind++];
    if (optind < argc) die_usage("unexpected argument '%s'", argv[optind]);
    if (!o.output) die_usage("no -o PNG: where the picture goes");

    tgs_reader rd;
    if (tgs_reader_open(&rd, o.input) < 0) die("%s", tgs_errmsg());
    /* the chosen: N kept, sorted by key, the last the first to go */
    tile *keep = calloc((size_t)o.n + 1, sizeof *keep);
    if (!keep) die("out of memory");
    int nk = 0;
    tgs_rng r;
    tgs_rng_seed(&r, o.seed, 0);
    tgs_sample s = {0};
    tgs_progress bar;
    tgs_progress_start(&bar, "show", "tiles", 0, o.quiet);
    int rc;
    while ((rc = tgs_read_sample(&rd, &s)) > 0) {
        uint64_t k = rd.nsamples;
        if (o.order == ORDER_STREAM && nk == o.n) continue; /* read on: a broken stream is still an error */
        if (o.order == ORDER_RANDOM && nk == o.n) { /* reservoir sampling: sample k stays with probability n/k */
            uint32_t j = tgs_rng_below(&r, (uint32_t)(k > 0xffffffffu ? 0xffffffffu : k));
            if (j >= (uint32_t)o.n) continue;
            free(keep[j].rgb);
            if (tile_make(&s, &o, k, &keep[j]) < 0) die("%s: sample %llu: %s", rd.path, (unsigned long long)k, tgs_errmsg());
            continue;
        }
        tile t = {0};
        if (tile_make(&s, &o, k, &t) < 0) die("%s: sample %llu: %s", rd.path, (unsigned long long)k, tgs_errmsg());
        if (isinf(t.key)) die("%s: sample %llu: --order %s needs its '%s' record", rd.path, (unsigned long long)k,
                              o.order == ORDER_WORST ? "worst" : "uncertain", o.order == ORDER_WORST ? "mask" : "var");
        /* insert in key order (stable: among equals, the earlier first) */
        int at = nk;
        while (at > 0 && keep[at - 1].key > t.key) keep[at] = keep[at - 1], at--;
        keep[at] = t;
        if (nk < o.n) nk++;
        else free(keep[o.n].rgb);
        tgs_progress_update(&bar, k);
    }
    if (rc < 0) die("%s", tgs_errmsg());
    tgs_progress_end(&bar);
    if (nk == 0) die("%s: no samples to draw", rd.path);

    /* rows: a label band, then the panels, 2-pixel gaps */
    int pw = keep[0].w, ph = keep[0].h, band = 12;
    for (int i = 1; i < nk; i++)
        if (keep[i].w != pw || keep[i].h != ph) die("%s: tiles of %dx%d and %dx%d; tgs-show draws one size", rd.path, keep[0].h, pw, keep[i].h, keep[i].w);
    int gw = 2 + PANELS * (pw + 2), gh = 2 + nk * (band + ph + 2);
    uint8_t *grid = malloc((size_t)gw * (size_t)gh * 3);
    if (!grid) die("out of memory for a %dx%d picture", gw, gh);
    memset(grid, 40, (size_t)gw * (size_t)gh * 3);
    for (int i = 0; i < nk; i++) {
        int y0 = 2 + i * (band + ph + 2);
        draw_text(grid, gw, gh, 4, y0 + 1, keep[i].label);
        for (int k = 0; k < PANELS; k++)
            for (int y = 0; y < ph; y++)
                memcpy(grid + 3 * ((size_t)(y0 + band + y) * (size_t)gw + (size_t)(2 + k * (pw + 2))),
                       keep[i].rgb + 3 * ((size_t)y * (size_t)(PANELS * pw) + (size_t)(k * pw)), 3 * (size_t)pw);
    }
    if (tgs_png_write_rgb8(o.output, grid, gw, gh) < 0) die("%s", tgs_errmsg());
    for (int i = 0; i < nk; i++) free(keep[i].rgb);
    free(keep), free(grid);
    tgs_sample_free(&s);
    tgs_reader_close(&rd);
    return 0;
}
