/* decide: from a tile's salt probabilities to its mask, as decisions tuned
 * on validation tiles say, and the tuning itself.
 *
 * Three decisions, applied in this order:
 *   threshold  a pixel is salt where prob > threshold (as tgs-rle encode);
 *   min_area   8-connected salt components of fewer pixels are dropped
 *              (specks a model leaves on empty tiles and at edges);
 *   salt_gate  the whole mask is empty where the tile's presence
 *              probability (the 'salt' record) is below the gate.
 * 0 turns min_area and the gate off. Predictions tagged by tgs-mcdrop --tag
 * carry a 'model' record; the file then names it ("model ...") and its
 * readers refuse predictions of another (tgs_decisions_check). A decisions file is text, a line per
 * decision ("threshold 0.45"), '#' comments, each key at most once;
 * tgs-eval --tune writes one, tgs-rle encode and tgs-eval --decisions read
 * it. The tiles it is tuned on must not be the ones it is scored on. */
#ifndef TGS_DECIDE_H
#define TGS_DECIDE_H

#include <stdint.h>
#include <stdio.h>

#include "checkpoint.h"

typedef struct {
    double threshold;
    double salt_gate;
    int min_area;
    char model[256]; /* the 'model' record of the predictions tuned on (tgs-mcdrop --tag); "" when untagged */
} tgs_decisions;

/* threshold 0.5, no gate, no minimum area: the plain cut. */
void tgs_decisions_default(tgs_decisions *d);
/* Read path; -1 and a message naming the file and line on anything wrong. */
int tgs_decisions_load(tgs_decisions *d, const char *path);
/* The decisions a checkpoint carries (metadata 'decisions', the same text:
 * tgs-train's best.ckpt holds the threshold of its best validation); -1
 * and a message when it holds none or they are malformed. */
int tgs_decisions_from_ckpt(tgs_decisions *d, const char *path);
/* The same from a checkpoint already loaded; path names it in messages. */
int tgs_decisions_from_meta(tgs_decisions *d, const tgs_ckpt *c, const char *path);
/* The file's text, after comment lines (each string one line, may be NULL). */
int tgs_decisions_write(const tgs_decisions *d, FILE *fp, const char *const *comments, int ncomments);

/* 0 when a sample's 'model' record (NULL: none) fits the decisions: the
 * same as the file's, or the file names none; else -1 and a message. */
int tgs_decisions_check(const tgs_decisions *d, const char *model);

/* The h x w mask (0/1) of prob and the tile's salt probability (NaN when
 * the stream has none: a gate above 0 is then an error, -1). work holds
 * 2 * h * w int32. */
int tgs_decide(const tgs_decisions *d, const float *prob, float salt, int h, int w, uint8_t *mask, int32_t *work);

/* The tuning grid: 19 thresholds 0.05..0.95, 10 minimum areas 0..300,
 * 20 gates 0 and 0.05..0.95; the competition's hits of every combination
 * summed over the tiles added, so that a stream is read once. */
#define TGS_TUNE_NT 19
#define TGS_TUNE_NA 10
#define TGS_TUNE_NG 20
typedef struct {
    double t[TGS_TUNE_NT], g[TGS_TUNE_NG];
    int a[TGS_TUNE_NA];
    int64_t nimages, ngated; /* tiles, and tiles with a 'salt' (the gates need it) */
    int64_t hits[TGS_TUNE_NT][TGS_TUNE_NA][TGS_TUNE_NG];
} tgs_tune;

void tgs_tune_init(tgs_tune *tu);
/* One labelled tile: prob and truth (0/1) h x w, salt NaN when absent.
 * work as tgs_decide's. */
int tgs_tune_add(tgs_tune *tu, const float *prob, float salt, const uint8_t *truth, int h, int w, int32_t *work);
/* The mAP of grid point (it, ia, ig). */
double tgs_tune_map(const tgs_tune *tu, int it, int ia, int ig);
/* The best grid point: the highest mAP; among equals, no gate before a
 * gate, a smaller area, the threshold nearest 0.5. */
void tgs_tune_best(const tgs_tune *tu, int *it, int *ia, int *ig);
void tgs_tune_decisions(const tgs_tune *tu, int it, int ia, int ig, tgs_decisions *d);

#endif
