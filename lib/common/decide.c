/* decide: see decide.h. */
#include "decide.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "err.h"
#include "json.h"
#include "metric.h"

void tgs_decisions_default(tgs_decisions *d) { *d = (tgs_decisions){.threshold = 0.5, .salt_gate = 0, .min_area = 0}; }

int tgs_decisions_check(const tgs_decisions *d, const char *model) {
    if (!d->model[0]) return 0;
    if (!model) return tgs_err("no 'model' record, but the decisions were tuned on predictions of %s (tgs-mcdrop --tag)", d->model);
    if (strcmp(model, d->model))
        return tgs_err("predictions of %s, but the decisions were tuned on predictions of %s", model, d->model);
    return 0;
}

/* Read the decisions' text from fp; path names it in messages. */
static int decisions_read(tgs_decisions *d, FILE *fp, const char *path) {
    tgs_decisions_default(d);
    char line[512];
    int line_no = 0, seen[4] = {0}, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, fp)) {
        line_no++;
        size_t n = strlen(line);
        if (n && line[n - 1] == '\n') line[--n] = 0;
        else if (!feof(fp)) {
            rc = tgs_err("%s: line %d: longer than %zu bytes", path, line_no, sizeof line - 2);
            break;
        }
        if (!line[0] || line[0] == '#') continue;
        char key[32], val[256], extra;
        if (sscanf(line, "%31s %255s %c", key, val, &extra) != 2) {
            rc = tgs_err("%s: line %d: '%.60s' is not 'KEY VALUE'", path, line_no, line);
            break;
        }
        static const char *const keys[4] = {"threshold", "salt_gate", "min_area", "model"};
        int k = 0;
        while (k < 4 && strcmp(key, keys[k])) k++;
        if (k == 4) {
            rc = tgs_err("%s: line %d: unknown decision '%s' (threshold, salt_gate, min_area, model)", path, line_no, key);
            break;
        }
        if (seen[k]++) {
            rc = tgs_err("%s: line %d: %s given twice", path, line_no, key);
            break;
        }
        char *end;
        errno = 0;
        if (k == 3) {
            snprintf(d->model, sizeof d->model, "%s", val);
        } else if (k == 2) {
            long v = (val[0] >= '0' && val[0] <= '9') ? strtol(val, &end, 10) : -1;
            if (v < 0 || errno || *end || v > 1000000) rc = tgs_err("%s: line %d: min_area '%s' is not an integer 0..1000000", path, line_no, val);
            else d->min_area = (int)v;
        } else {
            double v = (val[0] >= '0' && val[0] <= '9') || val[0] == '.' ? strtod(val, &end) : -1;
            if (!(v >= 0 && v <= 1) || errno || *end) rc = tgs_err("%s: line %d: %s '%s' is not a number in [0, 1]", path, line_no, key, val);
            else if (k == 0) d->threshold = v;
            else d->salt_gate = v;
        }
    }
    if (rc == 0 && ferror(fp)) rc = tgs_err("%s: read error", path);
    return rc;
}

int tgs_decisions_load(tgs_decisions *d, const char *path) {
    FILE *fp = fopen(path, "r");
    if (!fp) {
        tgs_decisions_default(d);
        return tgs_err("%s:", path);
    }
    int rc = decisions_read(d, fp, path);
    fclose(fp);
    return rc;
}

int tgs_decisions_from_meta(tgs_decisions *d, const tgs_ckpt *c, const char *path) {
    tgs_decisions_default(d);
    const char *text = tgs_ckpt_meta_get(c, "decisions");
    if (!text) return tgs_err("%s: holds no decisions (tgs-train's best.ckpt does, from its validation)", path);
    char name[4200];
    snprintf(name, sizeof name, "%s: metadata 'decisions'", path);
    FILE *fp = fmemopen((void *)text, strlen(text), "r");
    if (!fp) return tgs_err("%s:", path);
    int rc = decisions_read(d, fp, name);
    fclose(fp);
    return rc;
}

int tgs_decisions_from_ckpt(tgs_decisions *d, const char *path) {
    tgs_decisions_default(d);
    tgs_ckpt c;
    int rc = tgs_ckpt_load(&c, path) < 0 ? -1 : tgs_decisions_from_meta(d, &c, path);
    tgs_ckpt_free(&c);
    return rc;
}

int tgs_decisions_write(const tgs_decisions *d, FILE *fp, const char *const *comments, int ncomments) {
    for (int i = 0; i < ncomments; i++)
        if (comments[i]) fprintf(fp, "# %s\n", comments[i]);
    char t[40], g[40];
    fprintf(fp, "threshold %s\nsalt_gate %s\nmin_area %d\n", tgs_fmt_double(t, sizeof t, d->threshold),
            tgs_fmt_double(g, sizeof g, d->salt_gate), d->min_area);
    if (d->model[0]) fprintf(fp, "model %s\n", d->model);
    return ferror(fp) ? -1 : 0;
}

/* Label the 8-connected components of bin (h x w, 0/1): label[i] is the
 * component of pixel i (-1 for background); returns their count. stack
 * holds h * w int32. */
static int label_components(const uint8_t *bin, int h, int w, int32_t *label, int32_t *stack) {
    int n = 0;
    int64_t npx = (int64_t)h * w;
    for (int64_t i = 0; i < npx; i++) label[i] = -1;
    for (int64_t start = 0; start < npx; start++) {
        if (!bin[start] || label[start] >= 0) continue;
        int64_t top = 0;
        stack[top++] = (int32_t)start;
        label[start] = n;
        while (top) {
            int32_t p = stack[--top];
            int y = p / w, x = p % w;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int yy = y + dy, xx = x + dx;
                    if ((dy || dx) && yy >= 0 && yy < h && xx >= 0 && xx < w) {
                        int32_t q = yy * w + xx;
                        if (bin[q] && label[q] < 0) label[q] = n, stack[top++] = q;
                    }
                }
        }
        n++;
    }
    return n;
}

int tgs_decide(const tgs_decisions *d, const float *prob, float salt, int h, int w, uint8_t *mask, int32_t *work) {
    int64_t npx = (int64_t)h * w;
    if (d->salt_gate > 0 && isnan(salt)) return tgs_err("a presence gate of %g needs the tile's 'salt' record", d->salt_gate);
    if (d->salt_gate > 0 && salt < d->salt_gate) {
        memset(mask, 0, (size_t)npx);
        return 0;
    }
    for (int64_t i = 0; i < npx; i++) mask[i] = (double)prob[i] > d->threshold;
    if (d->min_area <= 0) return 0;
    int32_t *label = work, *size = work + npx; /* the stack first, then the sizes */
    int n = label_components(mask, h, w, label, size);
    memset(size, 0, sizeof *size * (size_t)n);
    for (int64_t i = 0; i < npx; i++)
        if (label[i] >= 0) size[label[i]]++;
    for (int64_t i = 0; i < npx; i++)
        if (label[i] >= 0 && size[label[i]] < d->min_area) mask[i] = 0;
    return 0;
}

void tgs_tune_init(tgs_tune *tu) {
    memset(tu, 0, sizeof *tu);
    static const int areas[TGS_TUNE_NA] = {0, 10, 20, 30, 50, 75, 100, 150, 200, 300};
    for (int i = 0; i < TGS_TUNE_NT; i++) tu->t[i] = (i + 1) / 20.0;
    for (int i = 0; i < TGS_TUNE_NG; i++) tu->g[i] = i / 20.0;
    memcpy(tu->a, areas, sizeof areas);
}

int tgs_tune_add(tgs_tune *tu, const float *prob, float salt, const uint8_t *truth, int h, int w, int32_t *work) {
    int64_t npx = (int64_t)h * w, ntruth = 0;
    for (int64_t i = 0; i < npx; i++) ntruth += truth[i] != 0;
    int32_t *label = work, *stack = work + npx;
    uint8_t *bin = malloc((size_t)npx);
    int64_t *comp = malloc(sizeof *comp * 2 * (size_t)(npx + 1)); /* per component: size, inter */
    if (!bin || !comp) {
        free(bin), free(comp);
        return tgs_err("out of memory for a %dx%d tile", h, w);
    }
    int gated = !isnan(salt);
    tu->nimages++, tu->ngated += gated;
    int empty_hits = tgs_metric_hits(0, 0, ntruth); /* what a gated-out tile scores */
    for (int it = 0; it < TGS_TUNE_NT; it++) {
        for (int64_t i = 0; i < npx; i++) bin[i] = (double)prob[i] > tu->t[it];
        int n = label_components(bin, h, w, label, stack);
        memset(comp, 0, sizeof *comp * 2 * (size_t)n);
        for (int64_t i = 0; i < npx; i++)
            if (label[i] >= 0) comp[2 * label[i]]++, comp[2 * label[i] + 1] += truth[i] != 0;
        for (int ia = 0; ia < TGS_TUNE_NA; ia++) {
            int64_t npred = 0, inter = 0;
            for (int k = 0; k < n; k++)
                if (comp[2 * k] >= tu->a[ia]) npred += comp[2 * k], inter += comp[2 * k + 1];
            int hits = tgs_metric_hits(inter, npred, ntruth);
            /* a tile without 'salt' is never gated */
            for (int ig = 0; ig < TGS_TUNE_NG; ig++)
                tu->hits[it][ia][ig] += gated && ig > 0 && salt < tu->g[ig] ? empty_hits : hits;
        }
    }
    free(bin), free(comp);
    return 0;
}

double tgs_tune_map(const tgs_tune *tu, int it, int ia, int ig) {
    return tu->nimages ? (double)tu->hits[it][ia][ig] / ((double)tu->nimages * TGS_METRIC_NIOU) : NAN;
}

void tgs_tune_best(const tgs_tune *tu, int *bt, int *ba, int *bg) {
    *bt = TGS_TUNE_NT / 2, *ba = 0, *bg = 0; /* 0.5, no area, no gate */
    for (int ig = 0; ig < TGS_TUNE_NG; ig++)
        for (int ia = 0; ia < TGS_TUNE_NA; ia++)
            for (int it = 0; it < TGS_TUNE_NT; it++) {
                int64_t h = tu->hits[it][ia][ig], b = tu->hits[*bt][*ba][*bg];
                /* ascending gate and area: a later point must be strictly
                 * better, or as good with its threshold nearer 0.5 */
                if (h > b || (h == b && ig == *bg && ia == *ba && fabs(tu->t[it] - 0.5) < fabs(tu->t[*bt] - 0.5)))
                    *bt = it, *ba = ia, *bg = ig;
            }
}

void tgs_tune_decisions(const tgs_tune *tu, int it, int ia, int ig, tgs_decisions *d) {
    d->threshold = tu->t[it], d->min_area = tu->a[ia], d->salt_gate = tu->g[ig];
}
