/* tgs-fold: one fold of a K-fold split, stratified by salt coverage.
 *
 * Sample stream in; out, the samples of fold I (the validation part) or,
 * with --complement, of every other fold (the training part), each sample's
 * bytes copied unchanged, in stream order. lib/common/folds.c makes the
 * split. The input is parsed once: from a regular file the tool keeps only
 * each sample's offset, length and coverage and copies the chosen byte
 * ranges afterwards; from a pipe it holds the stream in memory. Nothing is
 * written until all the input has been read and checked, ids included: a
 * tile that comes twice could land in a fold and in its complement, a
 * train/validation leak. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "err.h"
#include "folds.h"
#include "outfile.h"
#include "progress.h"
#include "stream.h"
#include "tiles.h"

static const char usage[] =
    "usage: tgs-fold -k K -i I [--complement] [--seed S] [--bins B] [--mask NAME]\n"
    "                [-o FILE] [-q] [FILE]\n"
    "Split a sample stream into K folds stratified by the salt coverage of each\n"
    "sample's mask (the empty masks, then B quantile bins of the others), and\n"
    "write fold I, the validation part, or with --complement the other folds,\n"
    "the training part: each sample unchanged, in stream order.\n"
    "  -k, --folds K      number of folds, 2..1000\n"
    "  -i, --fold I       the fold to write, 0..K-1\n"
    "  --complement       write every fold but I instead\n"
    "  --seed S           seed of the shuffle within each stratum (default 0)\n"
    "  --bins B           coverage bins of the non-empty masks, 1..1000 (default 5)\n"
    "  --mask NAME        the record that gives the coverage (default 'mask')\n"
    "  -o, --output FILE  write here instead of stdout (whole or not at all)\n"
    "  -q, --quiet        no progress bar\n"
    "  -h, --help         this text;  -V, --version  the version\n";

typedef struct {
    const char *mask, *output, *input;
    int k, fold, bins, complement, quiet;
    uint64_t seed;
} options;

typedef struct {
    uint64_t start, len; /* the sample's bytes in the input */
} span;

typedef struct {
    span *at;
    double *cov;
    int64_t n, cap;
    char *buf; /* the whole input, when it is not a regular file */
    size_t buf_len;
    FILE *fp; /* the input, for copying spans out of a regular file */
    char path[512];
} input;

/* Read all of fp into memory. */
static void slurp(FILE *fp, const char *path, char **buf, size_t *len) {
    size_t cap = 1 << 20, n = 0;
    char *p = malloc(cap);
    if (!p) die("out of memory");
    for (;;) {
        if (n == cap) {
            char *q = cap > SIZE_MAX / 2 ? NULL : realloc(p, cap *= 2);
            if (!q) die("%s: out of memory holding the stream", path);
            p = q;
        }
        size_t got = fread(p + n, 1, cap - n, fp);
        n += got;
        if (got == 0) break;
    }
    if (ferror(fp)) die("%s: read error:", path);
    *buf = p, *len = n;
}

/* The fraction of non-zero pixels of a 1 x H x W (or H x W) mask record. */
static int coverage(const tgs_record *r, double *cov) {
    static const int ok[] = {TGS_U8, TGS_F32, 0};
    int c, h, w;
    if (tgs_record_check_image(r, ok, &c, &h, &w) < 0) return -1;
    if (c != 1) return tgs_err("record '%s' has %d channels, expected 1", r->name, c);
    size_t n = (size_t)h * (size_t)w, salt = 0;
    if (r->dtype == TGS_U8)
        for (size_t i = 0; i < n; i++) salt += ((const uint8_t *)r->data)[i] != 0;
    else
        for (size_t i = 0; i < n; i++) salt += ((const float *)r->data)[i] != 0;
    *cov = (double)salt / (double)n;
    return 0;
}

/* Parse the input once, keeping each sample's span and coverage. */
static void read_input(const options *o, input *in) {
    const char *name = o->input && strcmp(o->input, "-") != 0 ? o->input : NULL;
    FILE *fp = name ? fopen(name, "rb") : stdin;
    if (!fp) die("%s:", name);
    snprintf(in->path, sizeof in->path, "%s", name ? name : "<stdin>");
    struct stat st;
    off_t base = -1;
    if (fstat(fileno(fp), &st) == 0 && S_ISREG(st.st_mode)) base = ftello(fp); /* stdin may start mid-file */
    FILE *src = fp;
    if (base < 0) {
        base = 0;
        slurp(fp, in->path, &in->buf, &in->buf_len);
        if (in->buf_len == 0) die("%s: empty stream, nothing to split", in->path);
        if (!(src = fmemopen(in->buf, in->buf_len, "rb"))) die("%s:", in->path);
    }
    tgs_reader rd;
    tgs_reader_from_fp(&rd, src, in->path);
    tgs_sample s = {0};
    tgs_progress bar;
    tgs_progress_start(&bar, "fold", "samples", 0, o->quiet);
    uint64_t before = 0;
    tgs_id_log ids = {0};
    int rc;
    while ((rc = tgs_read_sample(&rd, &s)) > 0) {
        const char *id = tgs_sample_id(&s);
        char at[800];
        if (id) snprintf(at, sizeof at, "%s: sample %llu (%.200s)", in->path, (unsigned long long)rd.nsamples, id);
        else snprintf(at, sizeof at, "%s: sample %llu", in->path, (unsigned long long)rd.nsamples);
        if (id && tgs_id_log_add(&ids, id, (long)rd.nsamples) < 0) die("%s: %s", at, tgs_errmsg());
        const tgs_record *m = tgs_sample_get(&s, o->mask);
        if (!m) die("%s: no '%s' record", at, o->mask);
        if (in->n == in->cap) {
            in->cap = in->cap ? 2 * in->cap : 4096;
            span *a = realloc(in->at, sizeof *a * (size_t)in->cap);
            if (a) in->at = a;
            double *c = realloc(in->cov, sizeof *c * (size_t)in->cap);
            if (c) in->cov = c;
            if (!a || !c) die("out of memory");
        }
        if (coverage(m, &in->cov[in->n]) < 0) die("%s: %s", at, tgs_errmsg());
        in->at[in->n].start = (uint64_t)base + before;
        in->at[in->n].len = rd.offset - before;
        in->n++;
        before = rd.offset;
        tgs_progress_update(&bar, rd.nsamples);
    }
    if (rc < 0) die("%s", tgs_errmsg());
    tgs_progress_end(&bar);
    if (in->n == 0) die("%s: empty stream, nothing to split", in->path);
    if (tgs_id_log_check(&ids, in->path, "sample") < 0) die("%s", tgs_errmsg());
    tgs_id_log_free(&ids);
    tgs_sample_free(&s);
    if (src != fp) fclose(src);
    in->fp = fp;
}

/* Copy one sample's bytes from the input to out. */
static void copy_span(const input *in, span sp, FILE *out, const char *outpath, char *tmp, size_t tmp_len) {
    if (in->buf) {
        if (fwrite(in->buf + sp.start, 1, sp.len, out) != sp.len) die("%s: write error:", outpath);
        return;
    }
    int fd = fileno(in->fp);
    while (sp.len > 0) {
        size_t want = sp.len < tmp_len ? (size_t)sp.len : tmp_len;
        ssize_t got = pread(fd, tmp, want, (off_t)sp.start);
        if (got < 0) die("%s: read error:", in->path);
        if (got == 0) die("%s: shorter than when it was read (changed meanwhile?)", in->path);
        if (fwrite(tmp, 1, (size_t)got, out) != (size_t)got) die("%s: write error:", outpath);
        sp.start += (uint64_t)got, sp.len -= (uint64_t)got;
    }
}

int main(int argc, char **argv) {
    tgs_cli_init(argv[0]);
    options o = {.mask = "mask", .k = -1, .fold = -1, .bins = 5};
    enum { OPT_COMPLEMENT = 256, OPT_SEED, OPT_BINS, OPT_MASK };
    static const struct option longopts[] = {
        {"folds", required_argument, 0, 'k'},       {"fold", required_argument, 0, 'i'},
        {"complement", no_argument, 0, OPT_COMPLEMENT}, {"seed", required_argument, 0, OPT_SEED},
        {"bins", required_argument, 0, OPT_BINS},   {"mask", required_argument, 0, OPT_MASK},
        TGS_COMMON_LONGOPTS};
    int c;
    const char *fold_arg = NULL;
    while ((c = getopt_long(argc, argv, ":k:i:o:qhV", longopts, NULL)) != -1) {
        switch (c) {
        case 'k': o.k = (int)tgs_parse_long(optarg, "-k", 2, TGS_FOLDS_MAX_K); break;
        case 'i': fold_arg = optarg; break;
        case OPT_COMPLEMENT: o.complement = 1; break;
        case OPT_SEED: o.seed = tgs_parse_seed(optarg); break;
        case OPT_BINS: o.bins = (int)tgs_parse_long(optarg, "--bins", 1, TGS_FOLDS_MAX_BINS); break;
        case OPT_MASK: o.mask = optarg; break;
        default: tgs_common_option(c, argv, usage, &o.output, &o.quiet);
        }
    }
    if (optind < argc) o.input = argv[optind++];
    if (optind < argc) die_usage("unexpected argument '%s'", argv[optind]);
    if (o.k < 0) die_usage("-k K, the number of folds, is required");
    if (!fold_arg) die_usage("-i I, the fold to write, is required");
    /* checked after the loop, so the message names K whatever the order */
    o.fold = (int)tgs_parse_long(fold_arg, "-i", 0, TGS_FOLDS_MAX_K - 1);
    if (o.fold >= o.k) die_usage("-i %d: there is no such fold; -k %d makes folds 0..%d", o.fold, o.k, o.k - 1);

    input in = {0};
    read_input(&o, &in);
    int *fold = malloc(sizeof *fold * (size_t)in.n);
    if (!fold) die("out of memory");
    if (tgs_folds_assign(in.cov, in.n, o.k, o.bins, o.seed, fold, NULL) < 0) die("%s", tgs_errmsg());

    tgs_outfile out;
    if (tgs_outfile_open(&out, o.output) < 0) die("%s", tgs_errmsg());
    if (out.fp == stdout) tgs_refuse_tty(stdout, "a tensor stream");
    size_t tmp_len = 1 << 20;
    char *tmp = in.buf ? NULL : malloc(tmp_len);
    if (!in.buf && !tmp) die("out of memory");
    for (int64_t i = 0; i < in.n; i++)
        if ((fold[i] == o.fold) != o.complement) copy_span(&in, in.at[i], out.fp, out.path, tmp, tmp_len);
    if (tgs_outfile_commit(&out) < 0) die("%s", tgs_errmsg());

    if (in.fp != stdin) fclose(in.fp);
    free(tmp), free(fold), free(in.at), free(in.cov), free(in.buf);
    return 0;
}
