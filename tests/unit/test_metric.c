/* Unit tests of the competition metric (lib/common/metric.c) on cases
 * worked by hand: the empty cases, IoUs exactly on a threshold, a mean over
 * three images; then the many-cut accumulator against the one-cut scorer
 * on random maps, and what it must refuse. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "err.h"
#include "metric.h"
#include "rng.h"

enum { N = 101 * 101 };

/* truth: the first nt pixels; pred: the first np pixels (so inter = min). */
static void prefix_masks(uint8_t *pred, uint8_t *truth, int np, int nt) {
    memset(pred, 0, N), memset(truth, 0, N);
    memset(pred, 1, (size_t)np), memset(truth, 1, (size_t)nt);
}

static void test_empty_cases(void) {
    static uint8_t pred[N], truth[N];
    prefix_masks(pred, truth, 0, 0);
    CHECK(tgs_iou_score(pred, truth, N) == 1.0, "empty truth, empty prediction scores 1");
    CHECK(tgs_metric_iou(0, 0, 0) == 1.0, "empty truth, empty prediction has IoU 1");
    pred[N - 1] = 1;
    CHECK(tgs_iou_score(pred, truth, N) == 0.0, "empty truth, one predicted pixel scores 0");
    prefix_masks(pred, truth, N, 0);
    CHECK(tgs_iou_score(pred, truth, N) == 0.0, "empty truth, full prediction scores 0");
    prefix_masks(pred, truth, 0, 1);
    CHECK(tgs_iou_score(pred, truth, N) == 0.0, "one true pixel, empty prediction scores 0");
    CHECK(tgs_metric_iou(0, 0, 1) == 0.0, "non-empty truth, empty prediction has IoU 0");
    prefix_masks(pred, truth, 1, 1);
    CHECK(tgs_iou_score(pred, truth, N) == 1.0, "one true pixel found exactly scores 1");
    prefix_masks(pred, truth, N, N);
    CHECK(tgs_iou_score(pred, truth, N) == 1.0, "full truth, full prediction scores 1");
    /* non-zero is salt, in both */
    prefix_masks(pred, truth, 5, 5);
    pred[0] = 255, truth[1] = 7;
    CHECK(tgs_iou_score(pred, truth, N) == 1.0, "any non-zero byte is salt");
}

static void test_boundaries(void) {
    static uint8_t pred[N], truth[N];
    /* truth 20 pixels, prediction 15 of them: IoU 15/20 = 0.75 exactly. It
     * beats 0.50 0.55 0.60 0.65 0.70, not 0.75 (IoU > t): 5 of 10. */
    prefix_masks(pred, truth, 15, 20);
    CHECKF(tgs_iou_score(pred, truth, N) == 0.5, "IoU exactly 0.75 scores 0.5 (0.75 is not > 0.75)", "got %g",
           tgs_iou_score(pred, truth, N));
    /* truth 20, prediction 25 holding them: IoU 20/25 = 0.8: 6 of 10 */
    prefix_masks(pred, truth, 25, 20);
    CHECK(tgs_iou_score(pred, truth, N) == 0.6, "IoU exactly 0.8 from an over-prediction scores 0.6");
    prefix_masks(pred, truth, 10, 20);
    CHECK(tgs_iou_score(pred, truth, N) == 0.0, "IoU exactly 0.5 scores 0");
    prefix_masks(pred, truth, 11, 21); /* 11/21 = 0.524 */
    CHECK(tgs_iou_score(pred, truth, N) == 0.1, "IoU just above 0.5 scores 0.1");
    prefix_masks(pred, truth, 19, 20);
    CHECK(tgs_iou_score(pred, truth, N) == 0.9, "IoU exactly 0.95 scores 0.9");
    /* every boundary k/20: the IoU beats exactly the thresholds below it */
    int bad = 0;
    for (int k = 10; k <= 20; k++) {
        prefix_masks(pred, truth, k, 20);
        if (tgs_metric_hits(k, k, 20) != k - 10 || tgs_iou_score(pred, truth, N) != (k - 10) / 10.0) bad++;
        /* the same IoU with other counts: 3k / 60 */
        if (tgs_metric_hits(3 * k, 3 * k, 60) != k - 10) bad++;
    }
    CHECKF(bad == 0, "IoU exactly k/20 beats k - 10 thresholds, for k = 10..20", "%d wrong", bad);
    /* disjoint masks: IoU 0 */
    memset(pred, 0, N), memset(truth, 0, N);
    truth[0] = 1, pred[1] = 1;
    CHECK(tgs_iou_score(pred, truth, N) == 0.0 && tgs_metric_iou(0, 1, 1) == 0.0, "disjoint masks score 0");
}

static void test_three_image_mean(void) {
    /* Worked by hand:
     *   image A: empty truth, empty prediction              score 1
     *   image B: truth 20 px, prediction 15 of them, IoU 0.75: beats
     *            0.50..0.70, 5 of 10                          score 0.5
     *   image C: truth 10 px, prediction 6 of them, IoU 0.6: beats 0.50
     *            and 0.55 (0.6 is not > 0.6), 2 of 10          score 0.2
     *   mAP = (1 + 0.5 + 0.2) / 3 = 1.7 / 3 = 0.5666...; that is 17 hits of
     *   30. Mean IoU = (1 + 0.75 + 0.6) / 3 = 2.35 / 3 = 0.78333... */
    static uint8_t pred[N], truth[N];
    tgs_metric m;
    double cut = 0.5;
    CHECK(tgs_metric_init(&m, &cut, 1) == 0, "one-cut accumulator");
    prefix_masks(pred, truth, 0, 0);
    tgs_metric_add_mask(&m, pred, truth, N);
    prefix_masks(pred, truth, 15, 20);
    tgs_metric_add_mask(&m, pred, truth, N);
    prefix_masks(pred, truth, 6, 10);
    tgs_metric_add_mask(&m, pred, truth, N);
    CHECKF(m.nimages == 3 && m.hits[0] == 17, "three images: 17 hits of 30", "%lld images, %lld hits",
           (long long)m.nimages, (long long)m.hits[0]);
    CHECKF(tgs_metric_map(&m, 0) == 17.0 / 30.0, "three-image mAP is 1.7/3", "got %.17g", tgs_metric_map(&m, 0));
    CHECKF(fabs(tgs_metric_mean_iou(&m, 0) - 2.35 / 3) < 1e-15, "three-image mean IoU is 2.35/3", "got %.17g",
           tgs_metric_mean_iou(&m, 0));

    /* the same images as probabilities: salt where p > 0.5, so a pixel at
     * exactly 0.5 is not salt */
    static float prob[N];
    tgs_metric p;
    tgs_metric_init(&p, &cut, 1);
    int rc = 0;
    for (int i = 0; i < N; i++) prob[i] = 0.5f;
    prefix_masks(pred, truth, 0, 0);
    rc |= tgs_metric_add_prob(&p, prob, truth, N);
    for (int i = 0; i < N; i++) prob[i] = i < 15 ? 0.75f : i < 40 ? 0.5f : 0.0f;
    prefix_masks(pred, truth, 15, 20);
    rc |= tgs_metric_add_prob(&p, prob, truth, N);
    for (int i = 0; i < N; i++) prob[i] = i < 6 ? 1.0f : 0.25f;
    prefix_masks(pred, truth, 6, 10);
    rc |= tgs_metric_add_prob(&p, prob, truth, N);
    CHECKF(rc == 0 && p.hits[0] == 17 && tgs_metric_map(&p, 0) == 17.0 / 30.0,
           "the three images as probabilities (0.5 is not above 0.5) give the same mAP", "rc %d, %lld hits", rc,
           (long long)p.hits[0]);
}

/* A random probability map around a random truth blob. */
static void random_image(tgs_rng *r, float *prob, uint8_t *truth) {
    int kind = (int)tgs_rng_below(r, 5);
    int cy = (int)tgs_rng_below(r, 101), cx = (int)tgs_rng_below(r, 101), rad = (int)tgs_rng_below(r, 60);
    for (int y = 0; y < 101; y++)
        for (int x = 0; x < 101; x++) {
            int d2 = (y - cy) * (y - cy) + (x - cx) * (x - cx);
            int t = kind != 0 && d2 <= rad * rad;
            truth[y * 101 + x] = (uint8_t)t;
            float v = t ? 0.7f : 0.3f;
            v += 0.5f * (tgs_rng_uniform(r) - 0.5f);
            /* some pixels exactly on a cut, some at the ends */
            if (tgs_rng_below(r, 20) == 0) v = (float)((1 + tgs_rng_below(r, 19)) / 20.0);
            if (kind == 4) v = tgs_rng_below(r, 2) ? 1.0f : 0.0f;
            prob[y * 101 + x] = v < 0 ? 0 : v > 1 ? 1 : v;
        }
}

/* Where 1 - mAP goes, on five hand-made images (one-cut accumulator):
 *   A: truth empty, prediction empty            score 1
 *   B: truth 20 px, prediction 15 of them       score 0.5 (shape)
 *   C: truth 10 px, prediction empty            score 0   (missed)
 *   D: truth empty, prediction 3 px             score 0   (false salt)
 *   E: truth empty, prediction 1 px             score 0   (false salt)
 *   mAP = 1.5 / 5 = 0.3; lost 0.7 = missed 1/5 + false salt 2/5 + shape
 *   0.5/5, that is 0.2 + 0.4 + 0.1. Merged with a copy of itself the
 *   shares stay the same; reset forgets them. */
static void test_losses(void) {
    static uint8_t pred[N], truth[N];
    tgs_metric m, twice;
    double cut = 0.5;
    tgs_metric_init(&m, &cut, 1);
    const int np[] = {0, 15, 0, 3, 1}, nt[] = {0, 20, 10, 0, 0};
    for (int i = 0; i < 5; i++) {
        prefix_masks(pred, truth, np[i], nt[i]);
        tgs_metric_add_mask(&m, pred, truth, N);
    }
    tgs_metric_loss l = tgs_metric_losses(&m, 0);
    CHECKF(m.nsalt == 2 && m.missed[0] == 1 && m.false_alarm[0] == 2, "counts: 2 salt images, 1 missed, 2 false salt",
           "%lld, %lld, %lld", (long long)m.nsalt, (long long)m.missed[0], (long long)m.false_alarm[0]);
    CHECKF(fabs(tgs_metric_map(&m, 0) - 0.3) < 1e-15 && fabs(l.missed - 0.2) < 1e-15 && fabs(l.false_alarm - 0.4) < 1e-15 &&
               fabs(l.shape - 0.1) < 1e-15,
           "1 - mAP = 0.7 splits as missed 0.2, false salt 0.4, shape 0.1", "mAP %g: %g %g %g", tgs_metric_map(&m, 0),
           l.missed, l.false_alarm, l.shape);
    twice = m;
    tgs_metric_loss l2 = (tgs_metric_merge(&twice, &m), tgs_metric_losses(&twice, 0));
    CHECK(twice.nsalt == 4 && twice.missed[0] == 2 && twice.false_alarm[0] == 4 && l2.missed == l.missed &&
              l2.false_alarm == l.false_alarm && l2.shape == l.shape,
          "merge adds the counts; the shares stay");
    tgs_metric_reset(&m);
    l = tgs_metric_losses(&m, 0);
    CHECK(m.nsalt == 0 && m.missed[0] == 0 && m.false_alarm[0] == 0 && isnan(l.missed) && isnan(l.shape),
          "reset forgets them; no images, no shares");
}

static void test_accumulator(void) {
    tgs_metric sweep, batch, a, b;
    tgs_metric_init_sweep(&sweep);
    CHECK(sweep.ncut == TGS_METRIC_NSWEEP && sweep.cut[0] == 0.05 && sweep.cut[9] == 0.5 && sweep.cut[18] == 0.95,
          "the sweep's cuts are 0.05..0.95");
    tgs_metric_init_sweep(&batch), tgs_metric_init_sweep(&a), tgs_metric_init_sweep(&b);
    enum { NIMG = 60 };
    float *prob = malloc(sizeof *prob * N * NIMG);
    uint8_t *truth = malloc(N * NIMG);
    tgs_rng r;
    tgs_rng_seed(&r, 42, 0);
    int64_t want_hits[TGS_METRIC_NSWEEP] = {0};
    int bad = 0;
    for (int i = 0; i < NIMG; i++) {
        float *p = prob + (size_t)i * N;
        uint8_t *t = truth + (size_t)i * N;
        random_image(&r, p, t);
        if (tgs_metric_add_prob(&sweep, p, t, N) < 0) bad++;
        if (tgs_metric_add_prob(i % 2 ? &a : &b, p, t, N) < 0) bad++;
        for (int k = 0; k < TGS_METRIC_NSWEEP; k++) {
            double s = tgs_prob_score(p, t, N, sweep.cut[k]);
            want_hits[k] += (int64_t)lround(s * 10);
        }
    }
    int varied = 0;
    for (int k = 0; k < TGS_METRIC_NSWEEP; k++) {
        bad += sweep.hits[k] != want_hits[k];
        varied += want_hits[k] != want_hits[0];
    }
    CHECKF(bad == 0 && varied > 0, "19 cuts in one pass equal 19 one-cut scores, on 60 random maps", "%d differ", bad);
    CHECK(tgs_metric_add_batch(&batch, prob, truth, NIMG, N) == 0 && memcmp(batch.hits, sweep.hits, sizeof batch.hits) == 0 &&
              batch.nimages == NIMG,
          "a batch adds the same as its images one by one");
    CHECK(tgs_metric_merge(&a, &b) == 0 && memcmp(a.hits, sweep.hits, sizeof a.hits) == 0 && a.nimages == NIMG,
          "merging two halves gives the whole");
    bad = 0;
    for (int k = 0; k < TGS_METRIC_NSWEEP; k++) bad += fabs(a.iou_sum[k] - sweep.iou_sum[k]) > 1e-9;
    CHECK(bad == 0, "merged mean IoU equals the whole's");
    int best = tgs_metric_best(&sweep);
    bad = 0;
    for (int k = 0; k < TGS_METRIC_NSWEEP; k++) bad += tgs_metric_map(&sweep, k) > tgs_metric_map(&sweep, best);
    CHECK(best >= 0 && bad == 0, "best is a cut with the highest mAP");

    /* a 0/1 float map equals the mask at every cut below 1 */
    tgs_metric fm, mm;
    tgs_metric_init_sweep(&fm), tgs_metric_init_sweep(&mm);
    uint8_t *pm = malloc(N);
    for (int i = 0; i < N; i++) pm[i] = prob[i] > 0.5f, prob[i] = pm[i];
    tgs_metric_add_prob(&fm, prob, truth, N);
    tgs_metric_add_mask(&mm, pm, truth, N);
    CHECK(memcmp(fm.hits, mm.hits, sizeof fm.hits) == 0, "a 0/1 probability map scores as the mask at every cut");

    /* refusals: nothing is added */
    tgs_metric_reset(&sweep);
    CHECK(sweep.nimages == 0 && isnan(tgs_metric_map(&sweep, 0)) && tgs_metric_best(&sweep) == -1,
          "reset forgets the images; no images, no mAP");
    prob[77] = NAN;
    int rc = tgs_metric_add_prob(&sweep, prob, truth, N);
    CHECKF(rc < 0 && strstr(tgs_errmsg(), "pixel 77 holds nan") && sweep.nimages == 0, "NaN refused, naming the pixel",
           "rc %d, '%s'", rc, tgs_errmsg());
    prob[77] = 1.5f;
    rc = tgs_metric_add_prob(&sweep, prob, truth, N);
    CHECKF(rc < 0 && strstr(tgs_errmsg(), "holds 1.5, not a probability in [0, 1]") && sweep.nimages == 0,
           "1.5 refused", "rc %d, '%s'", rc, tgs_errmsg());
    prob[77] = -0.25f;
    rc = tgs_metric_add_prob(&sweep, prob, truth, N);
    CHECK(rc < 0 && sweep.nimages == 0, "-0.25 refused");
    prob[77] = 0;
    rc = tgs_metric_add_batch(&sweep, prob, truth, 1, N);
    prob[N + 3] = NAN;
    rc = tgs_metric_add_batch(&batch, prob, truth, 2, N);
    CHECKF(rc < 0 && strstr(tgs_errmsg(), "image 1: pixel 3"), "a batch names the image", "'%s'", tgs_errmsg());
    free(prob), free(truth), free(pm);
}

static void test_cuts(void) {
    tgs_metric m;
    double cuts[] = {0.7, 0.2, 0.5, 0.2, 0.0, 1.0};
    CHECK(tgs_metric_init(&m, cuts, 6) == 0 && m.ncut == 5 && m.cut[0] == 0.0 && m.cut[1] == 0.2 && m.cut[2] == 0.5 &&
              m.cut[3] == 0.7 && m.cut[4] == 1.0,
          "cuts are sorted and repeats merged");
    CHECK(tgs_metric_find(&m, 0.5) == 2 && tgs_metric_find(&m, 0.3) == -1, "find a cut");
    double bad1 = 1.01, bad2 = NAN;
    CHECK(tgs_metric_init(&m, &bad1, 1) < 0 && strstr(tgs_errmsg(), "outside [0, 1]"), "a cut above 1 refused");
    CHECK(tgs_metric_init(&m, &bad2, 1) < 0, "a NaN cut refused");
    CHECK(tgs_metric_init(&m, cuts, 0) < 0, "no cuts refused");
    tgs_metric s, t;
    tgs_metric_init_sweep(&s);
    tgs_metric_init(&t, cuts, 3);
    CHECK(tgs_metric_merge(&s, &t) < 0, "merging different cuts refused");

    /* a p = 1 pixel is salt at every cut below 1; at cut 1 nothing is */
    static float prob[N];
    static uint8_t truth[N];
    prob[0] = 1.0f, truth[0] = 1;
    double c01[] = {0.0, 1.0};
    tgs_metric_init(&m, c01, 2);
    tgs_metric_add_prob(&m, prob, truth, N);
    CHECK(m.hits[0] == 10 && m.hits[1] == 0, "cut 0: p > 0 is salt; cut 1: nothing is");

    /* ties: a flat sweep (a mask prediction) picks 0.5 */
    static uint8_t pred[N];
    tgs_metric_init_sweep(&s);
    tgs_metric_add_mask(&s, pred, truth, N);
    CHECK(tgs_metric_best(&s) == 9, "on a tie the best cut is the one nearest 0.5");
}

int main(void) {
    test_empty_cases();
    test_boundaries();
    test_three_image_mean();
    test_losses();
    test_accumulator();
    test_cuts();
    CHECK_DONE();
}
