/* folds: K-fold cross-validation splits stratified by salt coverage.
 *
 * The samples are grouped into strata: the empty masks (coverage 0) are one
 * stratum; the others are ranked by coverage (ties in stream order) and cut
 * into nbins quantile bins of equal size (sizes differ by at most 1), the
 * lowest coverages first. Each stratum, in stream order, is shuffled with
 * tgs_rng (the user's seed; stream = the stratum's number, 0 for the empty
 * one) and dealt round-robin into the folds; the deal goes on across strata
 * (stratum s starts at the fold after the one stratum s-1 ended on), so the
 * folds' sizes, and each stratum's count in every fold, differ by at most 1.
 * The same coverages, k, nbins and seed give the same folds on every
 * machine. */
#ifndef TGS_FOLDS_H
#define TGS_FOLDS_H

#include <stdint.h>

#define TGS_FOLDS_MAX_K 1000
#define TGS_FOLDS_MAX_BINS 1000

/* cov[i]: sample i's salt coverage, in [0, 1] (0: an empty mask). Writes
 * fold[i] in 0..k-1 and, when stratum is not NULL, stratum[i]: 0 for the
 * empty masks, 1..nbins for the coverage bins. Returns 0, or -1 for k
 * outside 2..TGS_FOLDS_MAX_K, nbins outside 1..TGS_FOLDS_MAX_BINS, a
 * coverage outside [0, 1] or no memory. */
int tgs_folds_assign(const double *cov, int64_t n, int k, int nbins, uint64_t seed, int *fold, int *stratum);

#endif
