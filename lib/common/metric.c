#include "metric.h"

#include <math.h>
#include <string.h>

#include "err.h"

int tgs_metric_hits(int64_t inter, int64_t npred, int64_t ntruth) {
    if (ntruth == 0) return npred == 0 ? TGS_METRIC_NIOU : 0;
    int64_t uni = npred + ntruth - inter;
    /* IoU > t with t = (10 + k) / 20, exactly: 20 * inter > (10 + k) * union */
    int hits = 0;
    for (int k = 0; k < TGS_METRIC_NIOU; k++) hits += 20 * inter > (10 + k) * uni;
    return hits;
}

double tgs_metric_iou(int64_t inter, int64_t npred, int64_t ntruth) {
    int64_t uni = npred + ntruth - inter;
    return uni == 0 ? 1.0 : (double)inter / (double)uni;
}

tgs_counts tgs_mask_counts(const uint8_t *pred, const uint8_t *truth, int n) {
    tgs_counts c = {0, 0, 0};
    for (int i = 0; i < n; i++) {
        int p = pred[i] != 0, t = truth[i] != 0;
        c.npred += p, c.ntruth += t, c.inter += p & t;
    }
    return c;
}

tgs_counts tgs_prob_counts(const float *prob, const uint8_t *truth, int n, double cut) {
    tgs_counts c = {0, 0, 0};
    for (int i = 0; i < n; i++) {
        int p = (double)prob[i] > cut, t = truth[i] != 0;
        c.npred += p, c.ntruth += t, c.inter += p & t;
    }
    return c;
}

double tgs_iou_score(const uint8_t *pred, const uint8_t *truth, int n) {
    tgs_counts c = tgs_mask_counts(pred, truth, n);
    return tgs_metric_hits(c.inter, c.npred, c.ntruth) / (double)TGS_METRIC_NIOU;
}

double tgs_prob_score(const float *prob, const uint8_t *truth, int n, double cut) {
    tgs_counts c = tgs_prob_counts(prob, truth, n, cut);
    return tgs_metric_hits(c.inter, c.npred, c.ntruth) / (double)TGS_METRIC_NIOU;
}

int tgs_metric_init(tgs_metric *m, const double *cuts, int ncut) {
    memset(m, 0, sizeof *m);
    if (ncut < 1 || ncut > TGS_METRIC_MAX_CUTS) return tgs_err("%d probability cuts (1 to %d)", ncut, TGS_METRIC_MAX_CUTS);
    for (int i = 0; i < ncut; i++) {
        double c = cuts[i];
        if (!(c >= 0 && c <= 1)) return tgs_err("probability cut %g is outside [0, 1]", c);
        /* insertion into the sorted list, dropping repeats */
        int j = m->ncut;
        while (j > 0 && m->cut[j - 1] > c) j--;
        if (j > 0 && m->cut[j - 1] == c) continue;
        memmove(&m->cut[j + 1], &m->cut[j], sizeof m->cut[0] * (size_t)(m->ncut - j));
        m->cut[j] = c;
        m->ncut++;
    }
    return 0;
}

void tgs_metric_init_sweep(tgs_metric *m) {
    memset(m, 0, sizeof *m);
    for (int k = 1; k <= TGS_METRIC_NSWEEP; k++) m->cut[m->ncut++] = k / 20.0;
}

int tgs_metric_find(const tgs_metric *m, double cut) {
    for (int k = 0; k < m->ncut; k++)
        if (m->cut[k] == cut) return k;
    return -1;
}

void tgs_metric_reset(tgs_metric *m) {
    m->nimages = 0;
    memset(m->hits, 0, sizeof m->hits);
    memset(m->iou_sum, 0, sizeof m->iou_sum);
    m->nsalt = 0;
    memset(m->missed, 0, sizeof m->missed);
    memset(m->false_alarm, 0, sizeof m->false_alarm);
}

/* Add one image from its counts per cut. */
static void add_counts(tgs_metric *m, const int64_t *inter, const int64_t *npred, int64_t ntruth) {
    for (int k = 0; k < m->ncut; k++) {
        m->hits[k] += tgs_metric_hits(inter[k], npred[k], ntruth);
        m->iou_sum[k] += tgs_metric_iou(inter[k], npred[k], ntruth);
        m->missed[k] += ntruth > 0 && npred[k] == 0;
        m->false_alarm[k] += ntruth == 0 && npred[k] > 0;
    }
    m->nsalt += ntruth > 0;
    m->nimages++;
}

int tgs_metric_add_prob(tgs_metric *m, const float *prob, const uint8_t *truth, int n) {
    /* Each pixel falls in bucket b = the number of cuts below it, so it is
     * salt at cuts 0..b-1; counting buckets and summing from the top gives
     * every cut's counts in one pass. */
    int64_t all[TGS_METRIC_MAX_CUTS + 1] = {0}, salt[TGS_METRIC_MAX_CUTS + 1] = {0};
    const int nc = m->ncut;
    const double *cut = m->cut;
    for (int i = 0; i < n; i++) {
        double p = prob[i];
        if (!(p >= 0 && p <= 1)) return tgs_err("pixel %d holds %g, not a probability in [0, 1]", i, p);
        int lo = 0, hi = nc;
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (p > cut[mid]) lo = mid + 1;
            else hi = mid;
        }
        all[lo]++;
        salt[lo] += truth[i] != 0;
    }
    int64_t inter[TGS_METRIC_MAX_CUTS], npred[TGS_METRIC_MAX_CUTS], ni = 0, np = 0;
    for (int k = nc - 1; k >= 0; k--) {
        ni += salt[k + 1], np += all[k + 1];
        inter[k] = ni, npred[k] = np;
    }
    add_counts(m, inter, npred, ni + salt[0]);
    return 0;
}

int tgs_metric_add_batch(tgs_metric *m, const float *prob, const uint8_t *truth, int nimages, int npix) {
    for (int b = 0; b < nimages; b++)
        if (tgs_metric_add_prob(m, prob + (size_t)b * (size_t)npix, truth + (size_t)b * (size_t)npix, npix) < 0)
            return tgs_err_prefix("image %d", b);
    return 0;
}

void tgs_metric_add_mask(tgs_metric *m, const uint8_t *pred, const uint8_t *truth, int n) {
    tgs_counts c = tgs_mask_counts(pred, truth, n);
    int64_t ik[TGS_METRIC_MAX_CUTS], pk[TGS_METRIC_MAX_CUTS];
    for (int k = 0; k < m->ncut; k++) ik[k] = c.inter, pk[k] = c.npred;
    add_counts(m, ik, pk, c.ntruth);
}

int tgs_metric_merge(tgs_metric *a, const tgs_metric *b) {
    if (a->ncut != b->ncut || memcmp(a->cut, b->cut, sizeof a->cut[0] * (size_t)a->ncut) != 0)
        return tgs_err("merging metrics with different probability cuts");
    for (int k = 0; k < a->ncut; k++) {
        a->hits[k] += b->hits[k], a->iou_sum[k] += b->iou_sum[k];
        a->missed[k] += b->missed[k], a->false_alarm[k] += b->false_alarm[k];
    }
    a->nimages += b->nimages, a->nsalt += b->nsalt;
    return 0;
}

double tgs_metric_map(const tgs_metric *m, int k) {
    if (m->nimages == 0 || k < 0 || k >= m->ncut) return NAN;
    return (double)m->hits[k] / ((double)m->nimages * TGS_METRIC_NIOU);
}

double tgs_metric_mean_iou(const tgs_metric *m, int k) {
    if (m->nimages == 0 || k < 0 || k >= m->ncut) return NAN;
    return m->iou_sum[k] / (double)m->nimages;
}

tgs_metric_loss tgs_metric_losses(const tgs_metric *m, int k) {
    if (m->nimages == 0 || k < 0 || k >= m->ncut) return (tgs_metric_loss){NAN, NAN, NAN};
    /* in hits, so the shape's share is exact: each image is worth NIOU hits */
    const double all = (double)m->nimages * TGS_METRIC_NIOU;
    int64_t missed = m->missed[k] * TGS_METRIC_NIOU, fa = m->false_alarm[k] * TGS_METRIC_NIOU;
    int64_t shape = m->nimages * TGS_METRIC_NIOU - m->hits[k] - missed - fa;
    return (tgs_metric_loss){missed / all, fa / all, shape / all};
}

int tgs_metric_best(const tgs_metric *m) {
    if (m->nimages == 0) return -1;
    int best = 0;
    for (int k = 1; k < m->ncut; k++) {
        /* hits share one denominator, so comparing them compares the mAPs exactly */
        if (m->hits[k] > m->hits[best] ||
            (m->hits[k] == m->hits[best] && fabs(m->cut[k] - 0.5) < fabs(m->cut[best] - 0.5)))
            best = k;
    }
    return best;
}
