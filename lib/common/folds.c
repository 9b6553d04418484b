#include "folds.h"

#include <stdlib.h>

#include "err.h"
#include "rng.h"

typedef struct {
    double cov;
    int64_t index;
} ranked;

static int cmp_ranked(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->cov != y->cov) return x->cov < y->cov ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

static int cmp_index(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Shuffle idx[0..n) (Fisher-Yates) and deal it from fold *next on. */
static void deal(int64_t *idx, int64_t n, uint64_t seed, uint64_t stream, int k, int *next, int *fold) {
    tgs_rng r;
    tgs_rng_seed(&r, seed, stream);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)tgs_rng_below(&r, (uint32_t)(i + 1));
        int64_t t = idx[i];
        idx[i] = idx[j], idx[j] = t;
    }
    for (int64_t i = 0; i < n; i++) {
        fold[idx[i]] = *next;
        *next = (*next + 1) % k;
    }
}

int tgs_folds_assign(const double *cov, int64_t n, int k, int nbins, uint64_t seed, int *fold, int *stratum) {
    if (k < 2 || k > TGS_FOLDS_MAX_K) return tgs_err("%d folds (2 to %d)", k, TGS_FOLDS_MAX_K);
    if (nbins < 1 || nbins > TGS_FOLDS_MAX_BINS) return tgs_err("%d coverage bins (1 to %d)", nbins, TGS_FOLDS_MAX_BINS);
    if (n < 0 || n > (int64_t)UINT32_MAX) return tgs_err("%lld samples (at most %lu)", (long long)n, (unsigned long)UINT32_MAX);
    for (int64_t i = 0; i < n; i++)
        if (!(cov[i] >= 0 && cov[i] <= 1)) return tgs_err("sample %lld: coverage %g is outside [0, 1]", (long long)i, cov[i]);
    ranked *r = malloc(sizeof *r * (size_t)(n ? n : 1));
    int64_t *idx = malloc(sizeof *idx * (size_t)(n ? n : 1));
    if (!r || !idx) {
        free(r), free(idx);
        return tgs_err("out of memory");
    }
    /* stratum 0: the empty masks, in stream order */
    int64_t nempty = 0, nfull = 0;
    for (int64_t i = 0; i < n; i++) {
        if (cov[i] == 0) idx[nempty++] = i;
        else r[nfull].cov = cov[i], r[nfull++].index = i;
    }
    int next = 0;
    for (int64_t i = 0; i < nempty && stratum; i++) stratum[idx[i]] = 0;
    deal(idx, nempty, seed, 0, k, &next, fold);
    /* strata 1..nbins: rank b*nfull/nbins .. (b+1)*nfull/nbins - 1 */
    qsort(r, (size_t)nfull, sizeof *r, cmp_ranked);
    for (int b = 0; b < nbins; b++) {
        int64_t lo = b * nfull / nbins, hi = (b + 1) * nfull / nbins;
        /* the shuffle starts from stream order, as for the empty stratum */
        int64_t m = 0;
        for (int64_t i = lo; i < hi; i++) idx[m++] = r[i].index;
        qsort(idx, (size_t)m, sizeof *idx, cmp_index);
        for (int64_t i = 0; i < m && stratum; i++) stratum[idx[i]] = b + 1;
        deal(idx, m, seed, (uint64_t)b + 1, k, &next, fold);
    }
    free(r), free(idx);
    return 0;
}
