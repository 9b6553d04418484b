/* tgs-eval: score predictions with the competition metric.
 *
 * Sample stream in (each sample with a prediction, 'prob', and the truth,
 * 'mask'); out, as text or one JSON object: the mAP (the mean over images
 * of the fraction of IoU thresholds 0.50..0.95 beaten), the mean IoU, both
 * per coverage bin of the true mask, and with --sweep the mAP at each
 * probability threshold 0.05..0.95, and where the score is lost (salt
 * missed whole, salt on empty tiles, shape). lib/common/metric.c does the
 * scoring.
 * All input is read before anything is written. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "err.h"
#include "metric.h"
#include "outfile.h"
#include "pngio.h"
#include "progress.h"
#include "stream.h"
#include "tiles.h"
#include "decide.h"

static const char usage[] =
    "usage: tgs-eval [--prob NAME] [--mask NAME] [--threshold T] [--sweep] [--json]\n"
    "                [--per-image FILE] [--decisions FILE | -m CKPT | --tune FILE] [--reliability PNG]\n"
    "                [-o FILE] [-q] [FILE]\n"
    "Score each sample's prediction against its true mask with the competition\n"
    "metric (IoU thresholds 0.50..0.95): the mAP, the mean IoU and the number of\n"
    "images, overall and per coverage bin of the true mask (empty, small <= 10%,\n"
    "medium <= 50%, large); and where 1 - mAP goes: salt images predicted empty,\n"
    "empty images given salt, and the shape of the salt found.\n"
    "  --prob NAME      the prediction (default 'prob'): f32 probabilities in\n"
    "                   [0,1], 1xHxW or HxW, or a u8 mask of 0 and 1\n"
    "  --mask NAME      the truth (default 'mask'): u8 or f32, 0 and 1\n"
    "  --threshold T    salt where the probability is > T (default 0.5)\n"
    "  --sweep          also the mAP at T = 0.05, 0.10, ..., 0.95, and the best T\n"
    "  --json           one JSON object instead of text\n"
    "  --per-image FILE also one line per image to FILE, tab-separated: id, bin,\n"
    "                   true and predicted salt pixels, IoU and score at T\n"
    "  --decisions FILE score the masks these decisions make (tgs-eval --tune):\n"
    "                   a threshold, a minimum component area, a presence gate\n"
    "  -m, --model CKPT the decisions CKPT carries (tgs-train's best.ckpt: the\n"
    "                   threshold of its best validation), as --decisions\n"
    "  --tune FILE      choose the decisions that score best on these tiles and\n"
    "                   write them to FILE, for tiles that are NOT these ones\n"
    "  --reliability PNG  the reliability diagram of the probabilities (observed\n"
    "                   salt frequency per bin of predicted probability), and\n"
    "                   the expected calibration error in the report\n"
    "  -o, --output FILE  write here instead of stdout (whole or not at all)\n"
    "  -q, --quiet      no progress bar\n"
    "  -h, --help       this text;  -V, --version  the version\n";

typedef struct {
    const char *prob, *mask, *output, *input, *per_image, *decisions_path, *tune, *reliability, *ckpt;
    double threshold;
    int sweep, json, quiet;
    tgs_decisions decisions;
} options;

/* Coverage bins of the true mask; the limits are fractions of the pixels. */
enum { BIN_EMPTY, BIN_SMALL, BIN_MEDIUM, BIN_LARGE, NBIN };
static const char *const bin_name[NBIN] = {"empty", "small", "medium", "large"};
static const char *const bin_range[NBIN] = {"0", "(0%, 10%]", "(10%, 50%]", "(50%, 100%]"};

static int coverage_bin(int64_t salt, int64_t npix) {
    if (salt == 0) return BIN_EMPTY;
    if (10 * salt <= npix) return BIN_SMALL;
    if (2 * salt <= npix) return BIN_MEDIUM;
    return BIN_LARGE;
}

/* The truth as 0/1 bytes (a u8 record is used in place); refuses values
 * other than 0 and 1. Gives the number of salt pixels. */
static int truth_mask(const tgs_record *r, size_t n, uint8_t *buf, const uint8_t **mask, int64_t *salt) {
    int64_t s = 0;
    if (r->dtype == TGS_U8) {
        const uint8_t *m = r->data;
        for (size_t i = 0; i < n; i++) {
            if (m[i] > 1) return tgs_err("record '%s' holds %d at pixel %zu; a mask holds 0 and 1", r->name, m[i], i);
            s += m[i];
        }
        *mask = m;
    } else {
        const float *v = r->data;
        for (size_t i = 0; i < n; i++) {
            if (v[i] != 0 && v[i] != 1)
                return tgs_err("record '%s' holds %g at pixel %zu; a mask holds 0 and 1", r->name, v[i], i);
            buf[i] = v[i] == 1;
            s += v[i] == 1;
        }
        *mask = buf;
    }
    *salt = s;
    return 0;
}

/* One record's shape as an image of one channel. */
static int one_channel(const tgs_record *r, const int *dtypes, int *h, int *w) {
    int c;
    if (tgs_record_check_image(r, dtypes, &c, h, w) < 0) return -1;
    if (c != 1) return tgs_err("record '%s' has %d channels, expected 1", r->name, c);
    return 0;
}

/* One line of --per-image: the image's counts at the threshold t. */
static void per_image_line(FILE *fp, const char *id, uint64_t index, int bin, const tgs_record *pr, const uint8_t *decided,
                           const uint8_t *truth, size_t n, double t) {
    tgs_counts c = decided ? tgs_mask_counts(decided, truth, (int)n)
                   : pr->dtype == TGS_U8 ? tgs_mask_counts(pr->data, truth, (int)n)
                                         : tgs_prob_counts(pr->data, truth, (int)n, t);
    if (id) fprintf(fp, "%s", id);
    else fprintf(fp, "%llu", (unsigned long long)index);
    fprintf(fp, "\t%s\t%lld\t%lld\t%.6f\t%.1f\n", bin_name[bin], (long long)c.ntruth, (long long)c.npred,
            tgs_metric_iou(c.inter, c.npred, c.ntruth),
            tgs_metric_hits(c.inter, c.npred, c.ntruth) / (double)TGS_METRIC_NIOU);
}

/* Score every sample of the input into bins[], one accumulator per bin;
 * with per_image, a line per image to it. */
/* Calibration: per bin of predicted probability (20 of 0.05), the pixels,
 * the sum of their probabilities and of their truths. */
#define RBINS 20
typedef struct {
    double n[RBINS], p[RBINS], y[RBINS];
} calibration;

static void calibration_add(calibration *cal, const float *p, const uint8_t *truth, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int b = (int)(p[i] * RBINS);
        if (b >= RBINS) b = RBINS - 1;
        if (b < 0) b = 0;
        cal->n[b]++, cal->p[b] += p[i], cal->y[b] += truth[i] != 0;
    }
}

/* The expected calibration error: the pixel-weighted mean over bins of
 * |mean probability - observed frequency|. */
static double calibration_ece(const calibration *cal) {
    double total = 0, e = 0;
    for (int b = 0; b < RBINS; b++) total += cal->n[b];
    for (int b = 0; b < RBINS; b++)
        if (cal->n[b] > 0) e += cal->n[b] / total * fabs(cal->p[b] / cal->n[b] - cal->y[b] / cal->n[b]);
    return e;
}

/* The diagram, 220 x 220: a bar per bin up to its observed frequency, a
 * dot at (mean probability, frequency), the diagonal of perfect
 * calibration. */
static void calibration_draw(const calibration *cal, const char *path) {
    enum { M = 10, S = 200, W = S + 2 * M };
    uint8_t *img = malloc(3 * W * W);
    if (!img) die("out of memory");
    memset(img, 30, 3 * W * W);
#define PX(x, y) (img + 3 * ((size_t)(M + S - 1 - (y)) * W + (size_t)(M + (x))))
    for (int b = 0; b < RBINS; b++) {
        if (cal->n[b] <= 0) continue;
        int h = (int)lrint(cal->y[b] / cal->n[b] * (S - 1));
        for (int x = b * S / RBINS + 1; x < (b + 1) * S / RBINS - 1; x++)
            for (int y = 0; y <= h; y++) PX(x, y)[0] = 60, PX(x, y)[1] = 110, PX(x, y)[2] = 200;
    }
    for (int i = 0; i < S; i++) memset(PX(i, i), 160, 3);
    for (int b = 0; b < RBINS; b++) {
        if (cal->n[b] <= 0) continue;
        int cx = (int)lrint(cal->p[b] / cal->n[b] * (S - 1)), cy = (int)lrint(cal->y[b] / cal->n[b] * (S - 1));
        for (int dy = -2; dy <= 2; dy++)
            for (int dx = -2; dx <= 2; dx++)
                if (cx + dx >= 0 && cx + dx < S && cy + dy >= 0 && cy + dy < S) PX(cx + dx, cy + dy)[0] = 255, PX(cx + dx, cy + dy)[1] = 160, PX(cx + dx, cy + dy)[2] = 0;
    }
#undef PX
    if (tgs_png_write_rgb8(path, img, W, W) < 0) die("%s", tgs_errmsg());
    free(img);
}

static void score_stream(const options *o, tgs_metric *bins, FILE *per_image, char *path, size_t pathlen, tgs_tune *tune,
                         calibration *cal, char *tune_model, size_t tune_model_size) {
    tgs_reader rd;
    if (tgs_reader_open(&rd, o->input) < 0) die("%s", tgs_errmsg());
    snprintf(path, pathlen, "%s", rd.path);
    static const int prob_types[] = {TGS_F32, TGS_U8, 0}, mask_types[] = {TGS_U8, TGS_F32, 0};
    tgs_sample s = {0};
    /* the truth as bytes, when it is f32; the decided mask and its work */
    uint8_t *buf = NULL, *decided = NULL;
    int32_t *work = NULL;
    size_t buf_cap = 0;
    /* a tile scored twice would weigh twice in the mAP */
    tgs_id_log ids = {0};
    tgs_progress bar;
    tgs_progress_start(&bar, "eval", "images", 0, o->quiet);
    int rc;
    while ((rc = tgs_read_sample(&rd, &s)) > 0) {
        char at[800];
        const char *id = tgs_sample_id(&s);
        if (id) snprintf(at, sizeof at, "%s: sample %llu (%.200s)", rd.path, (unsigned long long)rd.nsamples, id);
        else snprintf(at, sizeof at, "%s: sample %llu", rd.path, (unsigned long long)rd.nsamples);
        if (id && tgs_id_log_add(&ids, id, (long)rd.nsamples) < 0) die("%s: %s", at, tgs_errmsg());
        const tgs_record *pr = tgs_sample_get(&s, o->prob), *mr = tgs_sample_get(&s, o->mask);
        if (!pr) die("%s: no '%s' record", at, o->prob);
        if (!mr) die("%s: no '%s' record", at, o->mask);
        int ph, pw, mh, mw;
        if (one_channel(pr, prob_types, &ph, &pw) < 0 || one_channel(mr, mask_types, &mh, &mw) < 0)
            die("%s: %s", at, tgs_errmsg());
        if (ph != mh || pw != mw) die("%s: '%s' is %dx%d but '%s' is %dx%d", at, pr->name, ph, pw, mr->name, mh, mw);
        size_t n = (size_t)ph * (size_t)pw;
        if (n > buf_cap) {
            free(buf), free(decided), free(work);
            buf = malloc(n), decided = malloc(n), work = malloc(sizeof *work * 2 * n);
            if (!buf || !decided || !work) die("out of memory");
            buf_cap = n;
        }
        const uint8_t *truth = NULL;
        int64_t salt = 0;
        if (truth_mask(mr, n, buf, &truth, &salt) < 0) die("%s: %s", at, tgs_errmsg());
        int bin = coverage_bin(salt, (int64_t)n);
        tgs_metric *m = &bins[bin];
        /* the presence probability, for a gate */
        const tgs_record *sr = tgs_sample_get(&s, "salt");
        float presence = NAN;
        if (sr && (sr->dtype != TGS_F32 || tgs_record_count(sr) != 1)) die("%s: record 'salt' is not an f32 scalar", at);
        if (sr) memcpy(&presence, sr->data, sizeof presence);
        /* what made the predictions (tgs-mcdrop --tag): decisions are tied to it */
        const tgs_record *model = tgs_sample_get(&s, "model");
        const char *made_by = model && model->dtype == TGS_STR ? (const char *)model->data : NULL;
        if (o->decisions_path && tgs_decisions_check(&o->decisions, made_by) < 0) die("%s: %s: %s", at, o->decisions_path, tgs_errmsg());
        if (tune) {
            if (rd.nsamples == 1 && made_by) snprintf(tune_model, tune_model_size, "%s", made_by);
            if (strcmp(made_by ? made_by : "", tune_model))
                die("%s: predictions of %s, the samples before of %s: tune on one model's predictions", at, made_by ? made_by : "an untagged model",
                    tune_model[0] ? tune_model : "an untagged model");
        }
        if ((o->decisions_path || tune) && pr->dtype != TGS_F32)
            die("%s: record '%s' is %s; decisions are made on f32 probabilities", at, pr->name, tgs_dtype_name(pr->dtype));
        if (pr->dtype == TGS_U8) {
            const uint8_t *p = pr->data;
            for (size_t i = 0; i < n; i++)
                if (p[i] > 1)
                    die("%s: record '%s' holds %d at pixel %zu; a u8 prediction is a mask of 0 and 1", at, pr->name, p[i], i);
            tgs_metric_add_mask(m, p, truth, (int)n);
        } else if (o->decisions_path) { /* scored as the decisions make the mask */
            const float *p = pr->data;
            for (size_t i = 0; i < n; i++)
                if (!(p[i] >= 0 && p[i] <= 1)) die("%s: record '%s' holds %g at pixel %zu", at, pr->name, (double)p[i], i);
            if (tgs_decide(&o->decisions, p, presence, ph, pw, decided, work) < 0) die("%s: %s: %s", at, o->decisions_path, tgs_errmsg());
            tgs_metric_add_mask(m, decided, truth, (int)n);
        } else if (tgs_metric_add_prob(m, pr->data, truth, (int)n) < 0) {
            die("%s: record '%s': %s", at, pr->name, tgs_errmsg());
        }
        if (tune && tgs_tune_add(tune, pr->data, presence, truth, ph, pw, work) < 0) die("%s: %s", at, tgs_errmsg());
        if (cal && pr->dtype == TGS_F32) calibration_add(cal, pr->data, truth, n);
        if (per_image)
            per_image_line(per_image, id, rd.nsamples, bin, pr, o->decisions_path && pr->dtype == TGS_F32 ? decided : NULL, truth, n,
                           o->threshold);
        tgs_progress_update(&bar, rd.nsamples);
    }
    if (rc < 0) die("%s", tgs_errmsg());
    tgs_progress_end(&bar);
    if (rd.nsamples == 0) die("%s: empty stream, no images to score", rd.path);
    if (tgs_id_log_check(&ids, rd.path, "sample") < 0) die("%s", tgs_errmsg());
    tgs_id_log_free(&ids);
    free(buf), free(decided), free(work);
    tgs_sample_free(&s);
    tgs_reader_close(&rd);
}

/* A number for JSON: the shortest of %.15g and %.17g that reads back the
 * same; NaN (a bin without images) is null. */
static void json_num(FILE *fp, double v) {
    if (!isfinite(v)) {
        fputs("null", fp);
        return;
    }
    char b[40];
    snprintf(b, sizeof b, "%.15g", v);
    if (strtod(b, NULL) != v) snprintf(b, sizeof b, "%.17g", v);
    fputs(b, fp);
}

static void json_str(FILE *fp, const char *s) {
    putc('"', fp);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(fp, "\\%c", c);
        else if (c < 0x20) fprintf(fp, "\\u%04x", c);
        else putc(c, fp);
    }
    putc('"', fp);
}

static void write_json(FILE *fp, const options *o, const char *path, const tgs_metric *all, const tgs_metric *bins, int kt) {
    fputs("{\"file\":", fp);
    json_str(fp, path);
    fprintf(fp, ",\"images\":%lld,\"threshold\":", (long long)all->nimages);
    json_num(fp, o->threshold);
    fputs(",\"map\":", fp);
    json_num(fp, tgs_metric_map(all, kt));
    fputs(",\"mean_iou\":", fp);
    json_num(fp, tgs_metric_mean_iou(all, kt));
    fputs(",\"bins\":[", fp);
    for (int b = 0; b < NBIN; b++) {
        fprintf(fp, "%s{\"bin\":\"%s\",\"coverage\":\"%s\",\"images\":%lld,\"map\":", b ? "," : "", bin_name[b],
                bin_range[b], (long long)bins[b].nimages);
        json_num(fp, tgs_metric_map(&bins[b], kt));
        fputs(",\"mean_iou\":", fp);
        json_num(fp, tgs_metric_mean_iou(&bins[b], kt));
        putc('}', fp);
    }
    putc(']', fp);
    tgs_metric_loss l = tgs_metric_losses(all, kt);
    fputs(",\"lost\":{\"missed\":", fp);
    json_num(fp, l.missed);
    fprintf(fp, ",\"missed_images\":%lld,\"salt_images\":%lld,\"false_salt\":", (long long)all->missed[kt],
            (long long)all->nsalt);
    json_num(fp, l.false_alarm);
    fprintf(fp, ",\"false_salt_images\":%lld,\"empty_images\":%lld,\"shape\":", (long long)all->false_alarm[kt],
            (long long)(all->nimages - all->nsalt));
    json_num(fp, l.shape);
    putc('}', fp);
    if (o->sweep) {
        fputs(",\"sweep\":[", fp);
        for (int k = 1; k <= TGS_METRIC_NSWEEP; k++) {
            int i = tgs_metric_find(all, k / 20.0);
            fputs(k > 1 ? ",{\"threshold\":" : "{\"threshold\":", fp);
            json_num(fp, all->cut[i]);
            fputs(",\"map\":", fp);
            json_num(fp, tgs_metric_map(all, i));
            fputs(",\"mean_iou\":", fp);
            json_num(fp, tgs_metric_mean_iou(all, i));
            putc('}', fp);
        }
        int best = tgs_metric_best(all);
        fputs("],\"best\":{\"threshold\":", fp);
        json_num(fp, all->cut[best]);
        fputs(",\"map\":", fp);
        json_num(fp, tgs_metric_map(all, best));
        fputs(",\"mean_iou\":", fp);
        json_num(fp, tgs_metric_mean_iou(all, best));
        putc('}', fp);
    }
    fputs("}\n", fp);
}

static void fixed6(FILE *fp, double v) {
    if (isfinite(v)) fprintf(fp, "  %8.6f", v);
    else fprintf(fp, "  %8s", "-");
}

static void write_text(FILE *fp, const options *o, const tgs_metric *all, const tgs_metric *bins, int kt) {
    fprintf(fp, "images     %lld\n", (long long)all->nimages);
    fprintf(fp, "threshold  %g\n", o->threshold);
    fprintf(fp, "mAP        %.6f\n", tgs_metric_map(all, kt));
    fprintf(fp, "mean IoU   %.6f\n", tgs_metric_mean_iou(all, kt));
    fprintf(fp, "\n%-7s %-12s %6s  %8s  %8s\n", "bin", "coverage", "images", "mAP", "mean IoU");
    for (int b = 0; b < NBIN; b++) {
        fprintf(fp, "%-7s %-12s %6lld", bin_name[b], bin_range[b], (long long)bins[b].nimages);
        fixed6(fp, tgs_metric_map(&bins[b], kt));
        fixed6(fp, tgs_metric_mean_iou(&bins[b], kt));
        putc('\n', fp);
    }
    tgs_metric_loss l = tgs_metric_losses(all, kt);
    fprintf(fp, "\n%-10s  %8s\n", "lost", "of mAP");
    fprintf(fp, "%-10s  %8.6f  %lld of %lld salt images predicted empty\n", "missed", l.missed,
            (long long)all->missed[kt], (long long)all->nsalt);
    fprintf(fp, "%-10s  %8.6f  %lld of %lld empty images given salt\n", "false salt", l.false_alarm,
            (long long)all->false_alarm[kt], (long long)(all->nimages - all->nsalt));
    fprintf(fp, "%-10s  %8.6f  IoU short of the thresholds on the salt found\n", "shape", l.shape);
    if (!o->sweep) return;
    fprintf(fp, "\n%-9s  %8s  %8s\n", "threshold", "mAP", "mean IoU");
    for (int k = 1; k <= TGS_METRIC_NSWEEP; k++) {
        int i = tgs_metric_find(all, k / 20.0);
        fprintf(fp, "%-9.2f", all->cut[i]);
        fixed6(fp, tgs_metric_map(all, i));
        fixed6(fp, tgs_metric_mean_iou(all, i));
        putc('\n', fp);
    }
    int best = tgs_metric_best(all);
    fprintf(fp, "best       %.2f  mAP %.6f\n", all->cut[best], tgs_metric_map(all, best));
}

int main(int argc, char **argv) {
    tgs_cli_init(argv[0]);
    options o = {.prob = "prob", .mask = "mask", .threshold = 0.5};
    enum { OPT_PROB = 256, OPT_MASK, OPT_THRESHOLD, OPT_SWEEP, OPT_JSON, OPT_PER_IMAGE, OPT_DECISIONS, OPT_TUNE, OPT_RELIABILITY };
    static const struct option longopts[] = {
        {"prob", required_argument, 0, OPT_PROB},   {"mask", required_argument, 0, OPT_MASK},
        {"threshold", required_argument, 0, OPT_THRESHOLD}, {"sweep", no_argument, 0, OPT_SWEEP},
        {"json", no_argument, 0, OPT_JSON},         {"per-image", required_argument, 0, OPT_PER_IMAGE},
        {"decisions", required_argument, 0, OPT_DECISIONS}, {"tune", required_argument, 0, OPT_TUNE},
        {"reliability", required_argument, 0, OPT_RELIABILITY}, {"model", required_argument, 0, 'm'},
        TGS_COMMON_LONGOPTS};
    int c;
    while ((c = getopt_long(argc, argv, ":m:o:qhV", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_PROB: o.prob = optarg; break;
        case OPT_MASK: o.mask = optarg; break;
        case OPT_THRESHOLD: o.threshold = tgs_parse_double(optarg, "--threshold", 0, 1); break;
        case OPT_SWEEP: o.sweep = 1; break;
        case OPT_JSON: o.json = 1; break;
        case OPT_PER_IMAGE: o.per_image = optarg; break;
        case OPT_DECISIONS: o.decisions_path = optarg; break;
        case 'm': o.ckpt = optarg; break;
        case OPT_TUNE: o.tune = optarg; break;
        case OPT_RELIABILITY: o.reliability = optarg; break;
        default: tgs_common_option(c, argv, usage, &o.output, &o.quiet);
        }
    }
    if (optind < argc) o.input = argv[optind++];
    if (optind < argc) die_usage("unexpected argument '%s'", argv[optind]);
    int out_is_stdout = !o.output || !strcmp(o.output, "-");
    if (o.per_image && (!strcmp(o.per_image, "-") ? out_is_stdout : o.output && !strcmp(o.per_image, o.output)))
        die_usage("--per-image and the report would both go to %s; give -o another file", out_is_stdout ? "stdout" : o.output);

    if (o.decisions_path && o.ckpt) die_usage("--decisions and -m both give the decisions; give one");
    if (o.ckpt) {
        if (tgs_decisions_from_ckpt(&o.decisions, o.ckpt) < 0) die("%s", tgs_errmsg());
        o.decisions_path = o.ckpt; /* from here on as a decisions file, for messages */
    }
    if (o.decisions_path && o.tune) die_usage("--decisions and --tune: tune on some tiles, apply to others");
    if (o.decisions_path && o.sweep) die_usage("--decisions fixes the threshold; --sweep is for plain probabilities");
    if (o.decisions_path) {
        if (!o.ckpt && tgs_decisions_load(&o.decisions, o.decisions_path) < 0) die("%s", tgs_errmsg());
        o.threshold = o.decisions.threshold; /* what the report says */
    }
    tgs_tune tune;
    if (o.tune) tgs_tune_init(&tune);
    /* the cuts: the threshold, and the sweep's when asked for */
    double cuts[TGS_METRIC_NSWEEP + 1];
    int ncut = 0;
    cuts[ncut++] = o.threshold;
    if (o.sweep)
        for (int k = 1; k <= TGS_METRIC_NSWEEP; k++) cuts[ncut++] = k / 20.0;
    tgs_metric bins[NBIN], all;
    for (int b = 0; b < NBIN; b++)
        if (tgs_metric_init(&bins[b], cuts, ncut) < 0) die("%s", tgs_errmsg());

    /* the per-image file is written as the stream is read, to a temporary
     * name that only becomes FILE once everything is read */
    tgs_outfile per_image = {0};
    if (o.per_image) {
        if (tgs_outfile_open(&per_image, o.per_image) < 0) die("%s", tgs_errmsg());
        fputs("id\tbin\tsalt_px\tpred_px\tiou\tscore\n", per_image.fp);
    }
    char path[512];
    calibration cal = {0};
    tgs_decisions tuned;
    tgs_decisions_default(&tuned);
    score_stream(&o, bins, o.per_image ? per_image.fp : NULL, path, sizeof path, o.tune ? &tune : NULL,
                 o.reliability ? &cal : NULL, tuned.model, sizeof tuned.model);
    if (o.reliability) calibration_draw(&cal, o.reliability);
    if (o.per_image && tgs_outfile_commit(&per_image) < 0) die("%s", tgs_errmsg());
    all = bins[0];
    for (int b = 1; b < NBIN; b++)
        if (tgs_metric_merge(&all, &bins[b]) < 0) die("%s", tgs_errmsg());
    int kt = tgs_metric_find(&all, o.threshold);

    int bt = 0, ba = 0, bg = 0;
    if (o.tune) { /* the decisions file, before the report that quotes it */
        tgs_tune_best(&tune, &bt, &ba, &bg);
        tgs_tune_decisions(&tune, bt, ba, bg, &tuned);
        char c1[700], c2[200];
        snprintf(c1, sizeof c1, "tuned by tgs-eval --tune on %s: %lld tiles", path, (long long)tune.nimages);
        snprintf(c2, sizeof c2, "mAP %.6f there (0.5 alone: %.6f); apply to other tiles", tgs_tune_map(&tune, bt, ba, bg),
                 tgs_tune_map(&tune, TGS_TUNE_NT / 2, 0, 0));
        const char *comments[2] = {c1, c2};
        tgs_outfile df;
        if (tgs_outfile_open(&df, o.tune) < 0) die("%s", tgs_errmsg());
        if (tgs_decisions_write(&tuned, df.fp, comments, 2) < 0 || tgs_outfile_commit(&df) < 0) die("%s: write error", o.tune);
    }
    tgs_outfile out;
    if (tgs_outfile_open(&out, o.output) < 0) die("%s", tgs_errmsg());
    if (o.json) write_json(out.fp, &o, path, &all, bins, kt);
    else write_text(out.fp, &o, &all, bins, kt);
    if (o.reliability && !o.json)
        fprintf(out.fp, "\ncalibration  ECE %.6f over %d bins of 0.05 -> %s\n", calibration_ece(&cal), RBINS, o.reliability);
    if (o.tune && !o.json)
        fprintf(out.fp, "\ntuned      threshold %.2f, min_area %d, salt_gate %.2f%s: mAP %.6f (0.5 alone %.6f) -> %s\n",
                tuned.threshold, tuned.min_area, tuned.salt_gate, tune.ngated < tune.nimages ? " (no 'salt' on some tiles)" : "",
                tgs_tune_map(&tune, bt, ba, bg), tgs_tune_map(&tune, TGS_TUNE_NT / 2, 0, 0), o.tune);
    if (tgs_outfile_commit(&out) < 0) die("%s", tgs_errmsg());
    return 0;
}
