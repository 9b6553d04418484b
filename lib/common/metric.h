/* metric: the competition's score, mean precision over IoU thresholds.
 *
 * Per image: the IoU of the predicted and true salt masks; the image scores
 * the fraction of the ten IoU thresholds t = 0.50, 0.55, ..., 0.95 that the
 * IoU is strictly above. The comparison is exact, in integers
 * (20 * inter > (10 + k) * union for t = (10 + k) / 20), so an IoU of
 * exactly 0.75 passes 0.70 but not 0.75. An empty truth scores 1 with an
 * empty prediction and 0 with any predicted pixel; a non-empty truth with an
 * empty prediction has IoU 0 and scores 0. The metric is the mean of the
 * image scores (../shared/data/tgs/README.md; man/tgs-eval.1).
 *
 * A mask pixel is salt where it is non-zero; a probability is salt where it
 * is strictly greater than the cut (p > cut, compared in double precision,
 * as tgs-rle encode does). Masks are row-major, n pixels, any shape. */
#ifndef TGS_METRIC_H
#define TGS_METRIC_H

#include <stdint.h>

#define TGS_METRIC_NIOU 10     /* IoU thresholds 0.50, 0.55, ..., 0.95 */
#define TGS_METRIC_MAX_CUTS 64 /* probability cuts one accumulator holds */
#define TGS_METRIC_NSWEEP 19   /* the sweep's cuts 0.05, 0.10, ..., 0.95 */

/* How many of the ten IoU thresholds an image passes (0..10), from its
 * pixel counts: inter = |pred & truth|, npred = |pred|, ntruth = |truth|.
 * Its score is this over TGS_METRIC_NIOU. */
int tgs_metric_hits(int64_t inter, int64_t npred, int64_t ntruth);
/* The IoU from the same counts; 1 when both masks are empty. */
double tgs_metric_iou(int64_t inter, int64_t npred, int64_t ntruth);

/* One image's pixel counts: inter = |pred & truth|, npred = |pred|,
 * ntruth = |truth|; a mask predicts salt where non-zero, a probability map
 * where p > cut. */
typedef struct {
    int64_t inter, npred, ntruth;
} tgs_counts;
tgs_counts tgs_mask_counts(const uint8_t *pred, const uint8_t *truth, int n);
tgs_counts tgs_prob_counts(const float *prob, const uint8_t *truth, int n, double cut);

/* One image's score (0, 0.1, ..., 1) for a mask prediction. */
double tgs_iou_score(const uint8_t *pred, const uint8_t *truth, int n);
/* ... for a probability map cut at cut. Values are not checked: a NaN is
 * not salt (use the accumulator below to refuse bad values). */
double tgs_prob_score(const float *prob, const uint8_t *truth, int n, double cut);

/* The mean score over many images at several cuts at once (one pass over
 * each image's pixels whatever the number of cuts), and the mean IoU:
 *
 *     tgs_metric m;
 *     tgs_metric_init_sweep(&m);                      // or _init(&m, cuts, n)
 *     for each image: tgs_metric_add_prob(&m, prob, mask, 101 * 101);
 *     int k = tgs_metric_best(&m);
 *     printf("mAP %.4f at %.2f\n", tgs_metric_map(&m, k), m.cut[k]);
 *
 * Scores are counted in integers, so the mean is exact to the last bit
 * however many images are added and in whatever order. */
typedef struct {
    int ncut;
    double cut[TGS_METRIC_MAX_CUTS];      /* ascending, no repeats */
    int64_t nimages;
    int64_t hits[TGS_METRIC_MAX_CUTS];    /* sum over images of tgs_metric_hits */
    double iou_sum[TGS_METRIC_MAX_CUTS];  /* sum over images of the IoU */
    /* Where the score is lost, per cut: images with salt predicted empty
     * (each scores 0), and images without salt given any salt pixel (each
     * scores 0). What is left of 1 - mAP is lost on the shape of the salt
     * found. nsalt counts the images whose truth holds salt. */
    int64_t nsalt;
    int64_t missed[TGS_METRIC_MAX_CUTS];
    int64_t false_alarm[TGS_METRIC_MAX_CUTS];
} tgs_metric;

/* Cuts in any order, each in [0, 1]; repeats are merged, so m->ncut may be
 * less than ncut. Returns 0, or -1 for no cuts, too many, or one out of
 * range (NaN included). */
int tgs_metric_init(tgs_metric *m, const double *cuts, int ncut);
/* The sweep's 19 cuts k / 20, k = 1..19, each the double nearest it. */
void tgs_metric_init_sweep(tgs_metric *m);
/* The index of cut in m->cut, or -1 if it is not one of them. */
int tgs_metric_find(const tgs_metric *m, double cut);
/* Forget the images added, keep the cuts (once per validation epoch). */
void tgs_metric_reset(tgs_metric *m);

/* Score one image of n pixels at every cut and add it. prob holds values
 * in [0, 1]; truth is non-zero for salt. A NaN or a value outside [0, 1]
 * is refused: -1, "pixel I holds V, not a probability in [0, 1]", nothing
 * added. */
int tgs_metric_add_prob(tgs_metric *m, const float *prob, const uint8_t *truth, int n);
/* The same for nimages images of npix pixels each, one after another in
 * prob and truth (a network's (B,1,H,W) output and its masks). On a bad
 * value the message also names the image (from 0); the images before it
 * stay added. */
int tgs_metric_add_batch(tgs_metric *m, const float *prob, const uint8_t *truth, int nimages, int npix);
/* Add a mask prediction (non-zero = salt): the same score at every cut. */
void tgs_metric_add_mask(tgs_metric *m, const uint8_t *pred, const uint8_t *truth, int n);
/* Add b's images to a; both must have the same cuts (per-worker or
 * per-group accumulators). Returns 0, or -1 when the cuts differ. */
int tgs_metric_merge(tgs_metric *a, const tgs_metric *b);

/* The mean score (the mAP) and the mean IoU at cut index k; NaN when no
 * image was added. */
double tgs_metric_map(const tgs_metric *m, int k);
double tgs_metric_mean_iou(const tgs_metric *m, int k);
/* 1 - mAP split three ways at cut index k, each a share of all images:
 * salt tiles predicted empty, empty tiles given salt, and the rest (the
 * shape of the salt found). NaN when no image was added. */
typedef struct {
    double missed, false_alarm, shape;
} tgs_metric_loss;
tgs_metric_loss tgs_metric_losses(const tgs_metric *m, int k);
/* The index of the cut with the highest mAP; on a tie the cut nearest 0.5,
 * then the lower one. -1 when no image was added. */
int tgs_metric_best(const tgs_metric *m);

#endif
