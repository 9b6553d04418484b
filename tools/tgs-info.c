/* tgs-info: what a tensor stream or a checkpoint holds, for humans.
 *
 * Default: per file, the number of samples and, per record name, how many
 * samples carry it, its dtype and shape, and the range and mean of its
 * finite values, with a count of the NaN and infinite ones when there are
 * any. -v: one line per sample as well.
 *
 * A FILE that is a checkpoint (safetensors: a little-endian u64 header
 * length, then the header's '{') is described as one: the model it holds,
 * the input it expects (channels, side, normalisation), where it came
 * from, the decisions it carries, its values; -v: every metadata key and
 * tensor. A checkpoint is told apart by its first 9 bytes, so only a named
 * file can be one; standard input is always a stream. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoint.h"
#include "cli.h"
#include "decide.h"
#include "err.h"
#include "nn/model.h"
#include "stream.h"
#include "train.h"

static const char usage[] =
    "usage: tgs-info [-v] [FILE...]\n"
    "Describe tensor streams (stdin when no FILE): samples, and per record name\n"
    "its count, dtype, shape and value range. A FILE that is a checkpoint\n"
    "(tgs-train, tgs-mae, tgs-refine: safetensors) is described as one: its\n"
    "model, the input it expects, its origin, decisions and values.\n"
    "  -v, --verbose   also one line per sample; for a checkpoint, every\n"
    "                  metadata key and tensor\n"
    "  -h, --help      this text;  -V, --version  the version\n";

/* Range and mean over the finite values; NaN and infinities are counted
 * apart, so one NaN neither hides the range nor turns it into inf..-inf. */
typedef struct {
    double min, max, sum;
    uint64_t nfinite, nnan, npinf, nninf;
} value_stats;

typedef struct {
    char name[TGS_MAX_NAME + 1];
    long count;
    int dtype, ndim, mixed_dtype, mixed_shape;
    uint32_t dims[TGS_MAX_DIMS];
    value_stats v;
    char example[48];
} name_stats;

static void stats_init(value_stats *v) {
    memset(v, 0, sizeof *v);
    v->min = INFINITY, v->max = -INFINITY;
}

static void stats_add(value_stats *v, double x) {
    if (isnan(x)) {
        v->nnan++;
    } else if (isinf(x)) {
        if (x > 0) v->npinf++;
        else v->nninf++;
    } else {
        v->min = x < v->min ? x : v->min, v->max = x > v->max ? x : v->max;
        v->sum += x, v->nfinite++;
    }
}

static void stats_merge(value_stats *to, const value_stats *v) {
    to->min = v->min < to->min ? v->min : to->min, to->max = v->max > to->max ? v->max : to->max;
    to->sum += v->sum, to->nfinite += v->nfinite;
    to->nnan += v->nnan, to->npinf += v->npinf, to->nninf += v->nninf;
}

/* The non-finite counts as "3 nan, 1 +inf"; "" when there are none. */
static const char *nonfinite_str(char *buf, size_t n, const value_stats *v) {
    const uint64_t count[3] = {v->nnan, v->npinf, v->nninf};
    const char *what[3] = {"nan", "+inf", "-inf"};
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < 3 && len < n; i++)
        if (count[i]) len += (size_t)snprintf(buf + len, n - len, "%s%llu %s", len ? ", " : "", (unsigned long long)count[i], what[i]);
    return buf;
}

static double value_at(const tgs_record *r, uint64_t i) {
    switch (r->dtype) {
    case TGS_U8: return ((const uint8_t *)r->data)[i];
    case TGS_U16: return ((const uint16_t *)r->data)[i];
    case TGS_I32: return ((const int32_t *)r->data)[i];
    case TGS_I64: return (double)((const int64_t *)r->data)[i];
    case TGS_F32: return ((const float *)r->data)[i];
    case TGS_F64: return ((const double *)r->data)[i];
    }
    return NAN;
}

static void shape_str(char *buf, size_t n, int ndim, const uint32_t *dims) {
    size_t len = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && len < n; i++) len += (size_t)snprintf(buf + len, n - len, i ? ",%u" : "%u", dims[i]);
    if (len < n) snprintf(buf + len, n - len, "]");
}

static void describe(const char *path, int verbose) {
    tgs_reader rd;
    if (tgs_reader_open(&rd, path) < 0) die("%s", tgs_errmsg());
    name_stats *st = NULL;
    int nst = 0, cap = 0;
    tgs_sample s = {0};
    int rc;
    while ((rc = tgs_read_sample(&rd, &s)) > 0) {
        if (verbose) printf("%llu", (unsigned long long)rd.nsamples);
        for (int i = 0; i < s.n; i++) {
            const tgs_record *r = &s.rec[i];
            name_stats *t = NULL;
            for (int k = 0; k < nst; k++)
                if (strcmp(st[k].name, r->name) == 0) t = &st[k];
            if (!t) {
                if (nst == cap) {
                    cap = cap ? 2 * cap : 16;
                    name_stats *p = realloc(st, sizeof *p * (size_t)cap);
                    if (!p) die("out of memory");
                    st = p;
                }
                t = &st[nst++];
                memset(t, 0, sizeof *t);
                strcpy(t->name, r->name);
                t->dtype = r->dtype, t->ndim = r->ndim;
                memcpy(t->dims, r->dims, sizeof t->dims);
                stats_init(&t->v);
                if (r->dtype == TGS_STR) {
                    snprintf(t->example, sizeof t->example, "%s", (const char *)r->data);
                    /* cut short at a character, not inside one */
                    size_t len = strlen(t->example);
                    while (!tgs_utf8_valid(t->example, len, NULL)) t->example[--len] = 0;
                }
            }
            t->count++;
            t->mixed_dtype |= t->dtype != r->dtype;
            t->mixed_shape |= t->ndim != r->ndim || memcmp(t->dims, r->dims, sizeof(uint32_t) * (size_t)r->ndim) != 0;
            value_stats v;
            stats_init(&v);
            uint64_t n = r->dtype == TGS_STR ? 0 : tgs_record_count(r);
            for (uint64_t k = 0; k < n; k++) stats_add(&v, value_at(r, k));
            stats_merge(&t->v, &v);
            if (verbose) {
                char shape[96], odd[96];
                shape_str(shape, sizeof shape, r->ndim, r->dims);
                nonfinite_str(odd, sizeof odd, &v);
                const char *dt = tgs_dtype_name(r->dtype);
                if (r->dtype == TGS_STR) printf(" %s=\"%s\"", r->name, (const char *)r->data);
                else if (n == 1) printf(" %s:%s=%g", r->name, dt, value_at(r, 0));
                else if (n == 0) printf(" %s:%s%s", r->name, dt, shape);
                else if (v.nfinite == 0) printf(" %s:%s%s(%s)", r->name, dt, shape, odd);
                else printf(" %s:%s%s(%g..%g mean %.4g%s%s)", r->name, dt, shape, v.min, v.max, v.sum / (double)v.nfinite, *odd ? "; " : "", odd);
            }
        }
        if (verbose) putchar('\n');
    }
    if (rc < 0) die("%s", tgs_errmsg());
    printf("%s: %llu samples, %llu records, %llu bytes\n", rd.path, (unsigned long long)rd.nsamples,
           (unsigned long long)rd.nrecords, (unsigned long long)rd.offset);
    if (nst) printf("  %-12s %8s %-5s %-16s %12s %12s %12s\n", "record", "samples", "dtype", "shape", "min", "max", "mean");
    for (int k = 0; k < nst; k++) {
        name_stats *t = &st[k];
        char shape[96];
        if (t->mixed_shape) snprintf(shape, sizeof shape, "(varies)");
        else shape_str(shape, sizeof shape, t->ndim, t->dims);
        const char *dt = t->mixed_dtype ? "mixed" : tgs_dtype_name(t->dtype);
        if (t->dtype == TGS_STR && !t->mixed_dtype)
            printf("  %-12s %8ld %-5s %-16s e.g. \"%s\"\n", t->name, t->count, dt, shape, t->example);
        else if (t->v.nfinite + t->v.nnan + t->v.npinf + t->v.nninf == 0)
            printf("  %-12s %8ld %-5s %-16s\n", t->name, t->count, dt, shape);
        else {
            char odd[96];
            printf("  %-12s %8ld %-5s %-16s", t->name, t->count, dt, shape);
            if (t->v.nfinite) printf(" %12.6g %12.6g %12.6g", t->v.min, t->v.max, t->v.sum / (double)t->v.nfinite);
            else printf(" %12s %12s %12s", "-", "-", "-"); /* no finite value to range over */
            if (*nonfinite_str(odd, sizeof odd, &t->v)) printf("  (%s)", odd);
            putchar('\n');
        }
    }
    free(st);
    tgs_sample_free(&s);
    tgs_reader_close(&rd);
}

/* 1 when path starts as a safetensors file does: a u64 header length
 * below the format's cap, then '{'. 0 otherwise (or unreadable: the
 * stream reader then says why). */
static int is_checkpoint(const char *path) {
    /* only a regular file: reading the start of a pipe or FIFO would take
     * it from the stream reader */
    struct stat st;
    if (!strcmp(path, "-") || stat(path, &st) < 0 || !S_ISREG(st.st_mode)) return 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) return 0;
    unsigned char h[9];
    int ok = fread(h, 1, 9, fp) == 9;
    fclose(fp);
    if (!ok || h[8] != '{') return 0;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | h[i];
    return n >= 2 && n <= TGS_CKPT_MAX_HEADER;
}

/* The prefix of a tensor name that marks training state rather than the
 * model: the optimizer's moments, the live weights under an average, the
 * step counters (lib/common/train.c). */
static int is_training_state(const char *name) { return !strncmp(name, "train.", 6) || !strncmp(name, "optim.", 6); }

/* Which tool wrote c: tgs-mae's encoder says so ("pretrained"); the
 * runs' own checkpoints tell by a key of their options ("mae", "refine"). */
static const char *origin(const tgs_ckpt *c) {
    const char *pre = tgs_ckpt_meta_get(c, "pretrained"), *opts = tgs_ckpt_meta_get(c, "options");
    if (pre) return !strcmp(pre, "tgs-mae") ? "tgs-mae, the encoder for tgs-train --init" : pre;
    tgs_json_kv *kv;
    int n;
    const char *who = "tgs-train";
    if (opts && tgs_json_flat_parse(opts, strlen(opts), &kv, &n) == 0) {
        for (int i = 0; i < n; i++) {
            if (!strcmp(kv[i].key, "mae")) who = "tgs-mae, a run to --resume";
            if (!strcmp(kv[i].key, "refine")) who = "tgs-refine, a refiner for tgs-refine apply";
        }
        tgs_json_kv_free(kv, n);
    }
    return who;
}

static void describe_checkpoint(const char *path, int verbose) {
    tgs_ckpt c;
    if (tgs_ckpt_load(&c, path) < 0) die("%s", tgs_errmsg());
    uint64_t nvalues[2] = {0, 0}, nbytes = 0;
    int ntensors[2] = {0, 0};
    for (int i = 0; i < c.n; i++) {
        int st = is_training_state(c.t[i].name);
        int64_t count = 1;
        for (int d = 0; d < c.t[i].ndim; d++) count *= c.t[i].shape[d];
        nvalues[st] += (uint64_t)count, ntensors[st]++, nbytes += c.t[i].nbytes;
    }
    const char *format = tgs_ckpt_meta_get(&c, "format");
    int tgs = format && !strcmp(format, "tgs");
    const char *version = tgs_ckpt_meta_get(&c, "tgs_version");
    printf("%s: %s checkpoint%s%s%s, %d tensors, %llu bytes\n", path, tgs ? "tgs" : "safetensors", version ? " (tgs " : "",
           version ? version : "", version ? ")" : "", c.n, (unsigned long long)nbytes);
    printf("  %-10s %llu values in %d tensors", "model", (unsigned long long)nvalues[0], ntensors[0]);
    if (ntensors[1]) printf("; training state: %llu values in %d tensors (resumable)", (unsigned long long)nvalues[1], ntensors[1]);
    putchar('\n');
    if (tgs) {
        tgs_model_info info;
        if (tgs_model_info_get(&c, &info) < 0) die("%s: %s", path, tgs_errmsg());
        char spec[1024];
        if (tgs_model_spec_saved(tgs_ckpt_meta_get(&c, "arch"), spec, sizeof spec) < 0) die("%s: %s", path, tgs_errmsg());
        printf("  %-10s %s\n", "arch", spec);
        char m[40], sd[40];
        printf("  %-10s %d channel%s", "input", info.mo.in_ch, info.mo.in_ch == 1 ? "" : "s");
        if (info.size) printf(", trained at %dx%d", info.size, info.size);
        printf(", normalised (x - %s) / %s\n", tgs_fmt_double(m, sizeof m, info.mean), tgs_fmt_double(sd, sizeof sd, info.std));
        const char *epoch = tgs_ckpt_meta_get(&c, "epoch");
        const char *metric = tgs_ckpt_meta_get(&c, "metric"), *step = tgs_ckpt_meta_get(&c, "step");
        printf("  %-10s %s", "from", origin(&c));
        if (epoch) printf(", epoch %s", epoch);
        if (step) printf(", step %s", step);
        if (metric) printf(", validation mAP %.4f", atof(metric));
        putchar('\n');
        if (tgs_ckpt_meta_get(&c, "decisions")) {
            tgs_decisions d;
            if (tgs_decisions_from_meta(&d, &c, path) < 0) die("%s", tgs_errmsg());
            char t[40], g[40];
            printf("  %-10s threshold %s, salt_gate %s, min_area %d%s%s\n", "decisions", tgs_fmt_double(t, sizeof t, d.threshold),
                   tgs_fmt_double(g, sizeof g, d.salt_gate), d.min_area, d.model[0] ? ", tuned on predictions of " : "", d.model);
        }
    }
    if (verbose) {
        for (int i = 0; i < c.nmeta; i++) {
            /* one line each: a multi-line value (decisions) with its newlines shown as \\n */
            printf("  meta %s = ", c.meta[i].key);
            for (const char *p = c.meta[i].value; *p; p++)
                if (*p == '\n') fputs(p[1] ? "\\n" : "", stdout);
                else putchar(*p);
            putchar('\n');
        }
        for (int i = 0; i < c.n; i++) {
            char shape[160];
            tgs_ckpt_shape_str(shape, sizeof shape, c.t[i].ndim, c.t[i].shape);
            printf("  tensor %s %s %s\n", c.t[i].name, tgs_ckpt_dtype_name(c.t[i].dtype), shape);
        }
    }
    tgs_ckpt_free(&c);
}

int main(int argc, char **argv) {
    tgs_cli_init(argv[0]);
    int verbose = 0;
    static const struct option longopts[] = {{"verbose", no_argument, 0, 'v'}, TGS_HELP_LONGOPTS};
    int c;
    while ((c = getopt_long(argc, argv, ":vhV", longopts, NULL)) != -1) {
        switch (c) {
        case 'v': verbose = 1; break;
        default: tgs_common_option(c, argv, usage, NULL, NULL);
        }
    }
    if (optind == argc) describe(NULL, verbose);
    for (int i = optind; i < argc; i++) {
        if (is_checkpoint(argv[i])) describe_checkpoint(argv[i], verbose);
        else describe(argv[i], verbose);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) die("<stdout>: write error:");
    return 0;
}
