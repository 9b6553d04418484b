/* tgs-rle: masks to Kaggle's submission CSV and back.
 *
 *   encode: sample stream in (each with an id and a mask or probability
 *           record; at least one, unless --allow-empty), "id,rle_mask"
 *           CSV out;
 *   decode: CSV in, a sample stream (id, mask) or a folder of PNGs out.
 * Both read all their input before writing, so bad input leaves no output. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "csv.h"
#include "err.h"
#include "outfile.h"
#include "pngio.h"
#include "progress.h"
#include "rle.h"
#include "stream.h"
#include "tiles.h"
#include "decide.h"

static const char usage[] =
    "usage: tgs-rle encode [--threshold T] [--min-area A] [--salt-gate G] [--decisions FILE | -m CKPT]\n"
    "                      [--prob NAME] [--allow-empty] [-o FILE] [STREAM]\n"
    "       tgs-rle decode [--size S] [--png DIR] [-o FILE] [CSV]\n"
    "encode: write each sample's mask as Kaggle's id,rle_mask CSV.\n"
    "  --prob NAME     the record to encode, as tgs-eval --prob names it (default:\n"
    "                  'prob' if the sample has one, else 'mask'); u8/u16/i32 are\n"
    "                  salt where non-zero,\n"
    "                  f32/f64 where greater than the threshold\n"
    "  --threshold T   probability threshold in [0,1] (default 0.5)\n"
    "  --min-area A    drop 8-connected salt components of fewer than A pixels\n"
    "  --salt-gate G   an empty mask where the sample's 'salt' is below G\n"
    "  --decisions FILE  the three from FILE, as tgs-eval tuned them; an option\n"
    "                  given as well overrides the file's\n"
    "  -m, --model CKPT  the decisions CKPT carries (tgs-train's best.ckpt: the\n"
    "                  threshold of its best validation), as --decisions\n"
    "  --allow-empty   a stream of no samples gives the header alone (without\n"
    "                  it, no samples is an error: a failed predictor upstream)\n"
    "decode: read an id,rle_mask CSV and write one sample (id, mask) per row.\n"
    "  --size S        mask side (default 101; WxH for other shapes)\n"
    "  --png DIR       write DIR/<id>.png (8-bit, 0 or 255) instead of a stream\n"
    "common:\n"
    "  -o, --output FILE  write here instead of stdout (whole or not at all)\n"
    "  -q, --quiet        no progress bar\n"
    "  -h, --help         this text;  -V, --version  the version\n";

typedef struct {
    const char *record, *output, *png_dir, *input, *decisions_path, *ckpt;
    double threshold;
    int w, h, quiet, allow_empty;
    tgs_decisions d; /* threshold, min_area, salt_gate */
} options;

/* A growable text buffer: encode builds the whole CSV before writing it. */
typedef struct {
    char *p;
    size_t len, cap;
} text;

static int text_reserve(text *t, size_t more) {
    if (t->len + more + 1 <= t->cap) return 0;
    size_t cap = t->cap ? t->cap : 1 << 16;
    while (cap < t->len + more + 1) cap *= 2;
    char *p = realloc(t->p, cap);
    if (!p) return tgs_err("out of memory for a CSV of %zu bytes", cap);
    t->p = p, t->cap = cap;
    return 0;
}

/* The h x w mask of a mask or probability record: salt where an integer is
 * non-zero or a float is above the threshold. A u8 record is used as it is
 * (the encoder reads non-zero as salt); other dtypes become 0/1 in *buf. */
static int record_to_mask(const tgs_record *r, double threshold, uint8_t **buf, size_t *cap, const uint8_t **mask,
                          int *h, int *w) {
    static const int ok[] = {TGS_U8, TGS_U16, TGS_I32, TGS_F32, TGS_F64, 0};
    int c;
    if (tgs_record_check_image(r, ok, &c, h, w) < 0) return -1;
    if (c != 1) return tgs_err("record '%s' has %d channels, expected 1", r->name, c);
    if (r->dtype == TGS_U8) {
        *mask = r->data;
        return 0;
    }
    size_t n = (size_t)*h * (size_t)*w;
    if (n > *cap) {
        uint8_t *p = realloc(*buf, n);
        if (!p) return tgs_err("out of memory");
        *buf = p, *cap = n;
    }
    uint8_t *m = *buf;
    *mask = m;
    switch (r->dtype) {
    case TGS_U16:
        for (size_t i = 0; i < n; i++) m[i] = ((const uint16_t *)r->data)[i] != 0;
        break;
    case TGS_I32:
        for (size_t i = 0; i < n; i++) m[i] = ((const int32_t *)r->data)[i] != 0;
        break;
    case TGS_F32:
        for (size_t i = 0; i < n; i++) {
            float v = ((const float *)r->data)[i];
            if (!isfinite(v)) return tgs_err("record '%s' holds %g at pixel %zu", r->name, v, i);
            m[i] = v > threshold;
        }
        break;
    case TGS_F64:
        for (size_t i = 0; i < n; i++) {
            double v = ((const double *)r->data)[i];
            if (!isfinite(v)) return tgs_err("record '%s' holds %g at pixel %zu", r->name, v, i);
            m[i] = v > threshold;
        }
        break;
    }
    return 0;
}

static void encode(const options *o) {
    tgs_reader rd;
    if (tgs_reader_open(&rd, o->input) < 0) die("%s", tgs_errmsg());
    tgs_sample s = {0};
    text csv = {0};
    uint8_t *buf = NULL, *decided = NULL; /* 0/1 masks made from non-u8 records; and decided */
    int32_t *work = NULL;
    size_t buf_cap = 0, dec_cap = 0;
    tgs_id_log ids = {0};
    char *rle = NULL;
    size_t rle_cap = 0;
    tgs_progress bar;
    tgs_progress_start(&bar, "encode", "masks", 0, o->quiet);
    if (text_reserve(&csv, 16) < 0) die("%s", tgs_errmsg());
    csv.len = (size_t)sprintf(csv.p, "id,rle_mask\n");
    int rc;
    while ((rc = tgs_read_sample(&rd, &s)) > 0) {
        long k = (long)rd.nsamples;
        const char *id = tgs_sample_id(&s);
        if (!id) die("%s: sample %ld: no 'id' record", rd.path, k);
        if (!tgs_id_valid(id)) die("%s: sample %ld: id '%s' cannot go in a CSV", rd.path, k, id);
        const tgs_record *r = o->record ? tgs_sample_get(&s, o->record) : tgs_sample_get(&s, "prob");
        if (!o->record && !r) r = tgs_sample_get(&s, "mask");
        if (!r) die("%s: sample %ld (%s): no '%s' record", rd.path, k, id, o->record ? o->record : "prob' or 'mask");
        int h, w;
        const uint8_t *mask = NULL;
        if (record_to_mask(r, o->d.threshold, &buf, &buf_cap, &mask, &h, &w) < 0)
            die("%s: sample %ld (%s): %s", rd.path, k, id, tgs_errmsg());
        const tgs_record *model = tgs_sample_get(&s, "model");
        if (tgs_decisions_check(&o->d, model && model->dtype == TGS_STR ? (const char *)model->data : NULL) < 0)
            die("%s: sample %ld (%s): %s: %s", rd.path, k, id, o->decisions_path, tgs_errmsg());
        if (o->d.min_area > 0 || o->d.salt_gate > 0) { /* decisions beyond the cut, on the probabilities */
            if (r->dtype != TGS_F32) die("%s: sample %ld (%s): --min-area and --salt-gate work on f32 probabilities, not '%s' (%s)",
                                         rd.path, k, id, r->name, tgs_dtype_name(r->dtype));
            const tgs_record *sr = tgs_sample_get(&s, "salt");
            float presence = NAN;
            if (sr && sr->dtype == TGS_F32 && tgs_record_count(sr) == 1) memcpy(&presence, sr->data, sizeof presence);
            size_t npx = (size_t)h * (size_t)w;
            if (npx > dec_cap) {
                free(decided), free(work);
                decided = malloc(npx), work = malloc(sizeof *work * 2 * npx);
                if (!decided || !work) die("%s: sample %ld (%s): out of memory", rd.path, k, id);
                dec_cap = npx;
            }
            if (tgs_decide(&o->d, r->data, presence, h, w, decided, work) < 0) die("%s: sample %ld (%s): %s", rd.path, k, id, tgs_errmsg());
            mask = decided;
        }
        size_t need = tgs_rle_max_len(h, w);
        if (need > rle_cap) {
            char *p = realloc(rle, need);
            if (!p) die("%s: sample %ld (%s): out of memory for a %dx%d mask's text", rd.path, k, id, w, h);
            rle = p, rle_cap = need;
        }
        size_t len = tgs_rle_encode(mask, h, w, rle);
        size_t idlen = strlen(id);
        if (text_reserve(&csv, idlen + len + 2) < 0) die("%s: sample %ld (%s): %s", rd.path, k, id, tgs_errmsg());
        memcpy(csv.p + csv.len, id, idlen);
        csv.p[csv.len + idlen] = ',';
        memcpy(csv.p + csv.len + idlen + 1, rle, len);
        csv.len += idlen + len + 2;
        csv.p[csv.len - 1] = '\n';
        if (tgs_id_log_add(&ids, id, k) < 0) die("%s: sample %ld (%s): %s", rd.path, k, id, tgs_errmsg());
        tgs_progress_update(&bar, (uint64_t)k);
    }
    if (rc < 0) die("%s", tgs_errmsg());
    tgs_progress_end(&bar);
    if (tgs_id_log_check(&ids, rd.path, "sample") < 0) die("%s", tgs_errmsg());
    /* an empty stream is most often a stage upstream that failed after
     * writing nothing; a header-only submission must be asked for */
    if (rd.nsamples == 0 && !o->allow_empty)
        die("%s: no samples to encode (an empty submission? --allow-empty writes the header alone)", rd.path);

    tgs_outfile out;
    if (tgs_outfile_open(&out, o->output) < 0) die("%s", tgs_errmsg());
    if (fwrite(csv.p, 1, csv.len, out.fp) != csv.len) die("%s: write error:", out.path);
    if (tgs_outfile_commit(&out) < 0) die("%s", tgs_errmsg());

    tgs_id_log_free(&ids);
    free(csv.p), free(buf), free(rle), free(decided), free(work);
    tgs_sample_free(&s);
    tgs_reader_close(&rd);
}

static void decode(const options *o) {
    tgs_csv c;
    if (tgs_csv_open(&c, o->input) < 0) die("%s", tgs_errmsg());
    static const char *const header[] = {"id", "rle_mask"};
    if (tgs_csv_expect_header(&c, header, 2) < 0) die("%s", tgs_errmsg());
    size_t npx = (size_t)o->w * (size_t)o->h;
    uint8_t *masks = NULL; /* ids.n masks of h x w, in the CSV's order */
    size_t cap = 0;        /* masks there is room for */
    tgs_id_log ids = {0};  /* and their ids, in the same order */
    int rc;
    while ((rc = tgs_csv_next(&c)) > 0) {
        if (c.nfield != 2) die("%s: line %ld: %d fields, expected 2 (id,rle_mask)", c.path, c.line, c.nfield);
        if (!tgs_id_valid(c.field[0])) die("%s: line %ld: '%s' is not a valid tile id", c.path, c.line, c.field[0]);
        size_t have = (size_t)ids.n;
        if (have == cap) {
            /* room for 1 MiB of masks, then double: a few rows of a large
             * --size cost what they hold, not thousands of masks */
            size_t want = cap ? 2 * cap : npx < (1 << 20) ? (1 << 20) / npx : 1;
            uint8_t *p = want > SIZE_MAX / npx ? NULL : realloc(masks, npx * want);
            if (!p) die("%s: line %ld: out of memory for the %dx%d masks", c.path, c.line, o->w, o->h);
            masks = p, cap = want;
        }
        if (tgs_rle_decode(c.field[1], o->h, o->w, masks + npx * have) < 0)
            die("%s: line %ld (%s): %s", c.path, c.line, c.field[0], tgs_errmsg());
        if (tgs_id_log_add(&ids, c.field[0], c.line) < 0) die("%s: line %ld: %s", c.path, c.line, tgs_errmsg());
    }
    if (rc < 0) die("%s", tgs_errmsg());
    if (tgs_id_log_check(&ids, c.path, "line") < 0) die("%s", tgs_errmsg());
    long n = ids.n; /* 0 for a CSV of just the header: an empty stream, or no PNGs */

    tgs_progress bar;
    tgs_progress_start(&bar, "decode", "masks", (uint64_t)n, o->quiet);
    if (o->png_dir) {
        if (tgs_outdir_make(o->png_dir) < 0) die("--png: %s", tgs_errmsg());
        uint8_t *gray = malloc(npx);
        if (!gray) die("%s: out of memory for a %dx%d PNG", o->png_dir, o->w, o->h);
        for (long i = 0; i < n; i++) {
            char path[4096];
            if ((size_t)snprintf(path, sizeof path, "%s/%s.png", o->png_dir, ids.at[i].id) >= sizeof path) die("%s: path too long", o->png_dir);
            for (size_t k = 0; k < npx; k++) gray[k] = masks[npx * (size_t)i + k] ? 255 : 0;
            if (tgs_png_write_gray8(path, gray, o->w, o->h) < 0) die("%s", tgs_errmsg());
            tgs_progress_update(&bar, (uint64_t)i + 1);
        }
        free(gray);
    } else {
        tgs_outfile out;
        if (tgs_outfile_open(&out, o->output) < 0) die("%s", tgs_errmsg());
        if (out.fp == stdout) tgs_refuse_tty(stdout, "a tensor stream");
        tgs_writer wr;
        tgs_writer_init(&wr, out.fp);
        tgs_sample s = {0};
        uint32_t dims[3] = {1, (uint32_t)o->h, (uint32_t)o->w};
        for (long i = 0; i < n; i++) {
            tgs_sample_clear(&s);
            tgs_record *m;
            if (tgs_sample_put_str(&s, "id", ids.at[i].id) < 0 || !(m = tgs_sample_put(&s, "mask", TGS_U8, 3, dims)))
                die("%s", tgs_errmsg());
            memcpy(m->data, masks + npx * (size_t)i, npx);
            if (tgs_write_sample(&wr, &s) < 0) die("%s: %s", out.path, tgs_errmsg());
            tgs_progress_update(&bar, (uint64_t)i + 1);
        }
        if (tgs_outfile_commit(&out) < 0) die("%s", tgs_errmsg());
        tgs_sample_free(&s);
    }
    tgs_progress_end(&bar);
    tgs_id_log_free(&ids);
    free(masks);
    tgs_csv_close(&c);
}

int main(int argc, char **argv) {
    tgs_cli_init(argv[0]);
    options o = {.threshold = -1, .w = 101, .h = 101};
    long min_area = -1;
    double gate = -1;
    enum { OPT_THRESHOLD = 256, OPT_RECORD, OPT_SIZE, OPT_PNG, OPT_MIN_AREA, OPT_GATE, OPT_DECISIONS, OPT_ALLOW_EMPTY };
    static const struct option longopts[] = {
        {"threshold", required_argument, 0, OPT_THRESHOLD}, {"prob", required_argument, 0, OPT_RECORD},
        {"size", required_argument, 0, OPT_SIZE},           {"png", required_argument, 0, OPT_PNG},
        {"min-area", required_argument, 0, OPT_MIN_AREA},   {"salt-gate", required_argument, 0, OPT_GATE},
        {"decisions", required_argument, 0, OPT_DECISIONS}, {"allow-empty", no_argument, 0, OPT_ALLOW_EMPTY},
        {"model", required_argument, 0, 'm'},               TGS_COMMON_LONGOPTS};
    int c;
    while ((c = getopt_long(argc, argv, ":m:o:qhV", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_THRESHOLD: o.threshold = tgs_parse_double(optarg, "--threshold", 0, 1); /* as tgs-eval */ break;
        case OPT_RECORD: o.record = optarg; break;
        case OPT_SIZE: tgs_parse_size(optarg, "--size", &o.w, &o.h); break;
        case OPT_PNG: o.png_dir = optarg; break;
        case OPT_MIN_AREA: min_area = tgs_parse_long(optarg, "--min-area", 0, 1000000); break;
        case OPT_GATE: gate = tgs_parse_double(optarg, "--salt-gate", 0, 1); break;
        case OPT_DECISIONS: o.decisions_path = optarg; break;
        case 'm': o.ckpt = optarg; break;
        case OPT_ALLOW_EMPTY: o.allow_empty = 1; break;
        default: tgs_common_option(c, argv, usage, &o.output, &o.quiet);
        }
    }
    if (optind >= argc) die_usage("missing command: encode or decode");
    const char *cmd = argv[optind++];
    if (optind < argc) o.input = argv[optind++];
    if (optind < argc) die_usage("unexpected argument '%s'", argv[optind]);
    /* the decisions: the file's, then each option given over it */
    tgs_decisions_default(&o.d);
    if (o.decisions_path && o.ckpt) die_usage("--decisions and -m both give the decisions; give one");
    if (o.decisions_path && tgs_decisions_load(&o.d, o.decisions_path) < 0) die("%s", tgs_errmsg());
    if (o.ckpt && strcmp(cmd, "encode") == 0) {
        if (tgs_decisions_from_ckpt(&o.d, o.ckpt) < 0) die("%s", tgs_errmsg());
        o.decisions_path = o.ckpt; /* for messages */
    }
    if (o.threshold >= 0) o.d.threshold = o.threshold;
    if (min_area >= 0) o.d.min_area = (int)min_area;
    if (gate >= 0) o.d.salt_gate = gate;
    if (strcmp(cmd, "encode") == 0) {
        if (o.png_dir) die_usage("--png is for decode");
        encode(&o);
    } else if (strcmp(cmd, "decode") == 0) {
        if (o.record) die_usage("--prob is for encode");
        if (o.allow_empty) die_usage("--allow-empty is for encode (decode takes a header-only CSV as it is)");
        if (o.decisions_path || o.ckpt || o.threshold >= 0 || min_area >= 0 || gate >= 0)
            die_usage("--threshold, --min-area, --salt-gate, --decisions and -m are for encode");
        if (o.png_dir && o.output) die_usage("--png and -o both name the output; give one");
        decode(&o);
    } else {
        die_usage("unknown command '%s' (encode, decode)", cmd);
    }
    return 0;
}
