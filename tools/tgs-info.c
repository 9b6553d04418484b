/* tgs-info: what a tensor stream holds, for humans.
 *
 * Default: per file, the number of samples and, per record name, how many
 * samples carry it, its dtype and shape, and the range and mean of its
 * values. -v: one line per sample as well. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "err.h"
#include "stream.h"

static const char usage[] =
    "usage: tgs-info [-v] [FILE...]\n"
    "Describe tensor streams (stdin when no FILE): samples, and per record name\n"
    "its count, dtype, shape and value range.\n"
    "  -v, --verbose   also one line per sample\n"
    "  -h, --help      this text;  -V, --version  the version\n";

typedef struct {
    char name[TGS_MAX_NAME + 1];
    long count;
    int dtype, ndim, mixed_dtype, mixed_shape;
    uint32_t dims[TGS_MAX_DIMS];
    double min, max, sum;
    uint64_t nvalues;
    char example[48];
} name_stats;

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
                t->min = INFINITY, t->max = -INFINITY;
                if (r->dtype == TGS_STR) snprintf(t->example, sizeof t->example, "%s", (const char *)r->data);
            }
            t->count++;
            t->mixed_dtype |= t->dtype != r->dtype;
            t->mixed_shape |= t->ndim != r->ndim || memcmp(t->dims, r->dims, sizeof(uint32_t) * (size_t)r->ndim) != 0;
            double lo = INFINITY, hi = -INFINITY, sum = 0;
            uint64_t n = r->dtype == TGS_STR ? 0 : tgs_record_count(r);
            for (uint64_t k = 0; k < n; k++) {
                double v = value_at(r, k);
                lo = v < lo ? v : lo, hi = v > hi ? v : hi, sum += v;
            }
            if (n) {
                t->min = lo < t->min ? lo : t->min, t->max = hi > t->max ? hi : t->max;
                t->sum += sum, t->nvalues += n;
            }
            if (verbose) {
                char shape[96];
                shape_str(shape, sizeof shape, r->ndim, r->dims);
                if (r->dtype == TGS_STR) printf(" %s=\"%s\"", r->name, (const char *)r->data);
                else if (n == 1) printf(" %s:%s=%g", r->name, tgs_dtype_name(r->dtype), lo);
                else printf(" %s:%s%s(%g..%g mean %.4g)", r->name, tgs_dtype_name(r->dtype), shape, lo, hi, n ? sum / (double)n : 0.0);
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
        else if (t->nvalues)
            printf("  %-12s %8ld %-5s %-16s %12.6g %12.6g %12.6g\n", t->name, t->count, dt, shape, t->min, t->max,
                   t->sum / (double)t->nvalues);
        else
            printf("  %-12s %8ld %-5s %-16s\n", t->name, t->count, dt, shape);
    }
    free(st);
    tgs_sample_free(&s);
    tgs_reader_close(&rd);
}

int main(int argc, char **argv) {
    tgs_cli_init(argv[0]);
    int verbose = 0;
    static const struct option longopts[] = {{"verbose", no_argument, 0, 'v'},
                                             {"help", no_argument, 0, 'h'},
                                             {"version", no_argument, 0, 'V'},
                                             {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, ":vhV", longopts, NULL)) != -1) {
        switch (c) {
        case 'v': verbose = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        case 'V': tgs_print_version(); return 0;
        default: tgs_bad_option(c, argv);
        }
    }
    if (optind == argc) describe(NULL, verbose);
    for (int i = optind; i < argc; i++) describe(argv[i], verbose);
    if (fflush(stdout) != 0 || ferror(stdout)) die("<stdout>: write error:");
    return 0;
}
