/* decide: the masks decisions make (threshold, minimum component area with
 * 8-connectivity, presence gate), the decisions file, and the tuning grid
 * against a direct computation with the metric's own functions. */
#include "check.h"
#include "decide.h"
#include "err.h"
#include "metric.h"
#include "rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define H 10
#define W 10

static int count(const uint8_t *m) {
    int n = 0;
    for (int i = 0; i < H * W; i++) n += m[i];
    return n;
}

static void test_decide(void) {
    float p[H * W] = {0};
    /* a diagonal pair (one component under 8-connectivity), a 3x3 block, a lone pixel */
    p[0] = 0.9f, p[11] = 0.8f;
    for (int y = 5; y < 8; y++)
        for (int x = 5; x < 8; x++) p[y * W + x] = 0.7f;
    p[3 * W + 9] = 0.6f;
    uint8_t m[H * W];
    int32_t work[2 * H * W];
    tgs_decisions d;
    tgs_decisions_default(&d);
    CHECK(tgs_decide(&d, p, NAN, H, W, m, work) == 0 && count(m) == 12, "threshold 0.5 alone: every pixel above it");
    d.threshold = 0.65;
    CHECK(tgs_decide(&d, p, NAN, H, W, m, work) == 0 && count(m) == 11 && !m[3 * W + 9], "threshold 0.65: the 0.6 pixel goes");
    d.threshold = 0.5, d.min_area = 2;
    CHECK(tgs_decide(&d, p, NAN, H, W, m, work) == 0 && count(m) == 11 && m[0] && m[11] && !m[3 * W + 9],
          "min_area 2: the diagonal pair is one component (8-connected) and stays, the lone pixel goes");
    d.min_area = 9;
    CHECK(tgs_decide(&d, p, NAN, H, W, m, work) == 0 && count(m) == 9 && m[6 * W + 6], "min_area 9: only the 3x3 block");
    d.min_area = 10;
    CHECK(tgs_decide(&d, p, NAN, H, W, m, work) == 0 && count(m) == 0, "min_area 10: nothing");
    d.min_area = 0, d.salt_gate = 0.3;
    CHECK(tgs_decide(&d, p, 0.29f, H, W, m, work) == 0 && count(m) == 0, "gate 0.3, salt 0.29: empty");
    CHECK(tgs_decide(&d, p, 0.3f, H, W, m, work) == 0 && count(m) == 12, "gate 0.3, salt 0.3: kept");
    CHECK(tgs_decide(&d, p, NAN, H, W, m, work) < 0 && strstr(tgs_errmsg(), "'salt' record"), "a gate without salt: refused");
}

static const char *write_tmp(const char *text) {
    static char path[64];
    snprintf(path, sizeof path, "/tmp/tgs-dec-XXXXXX");
    int fd = mkstemp(path);
    if (write(fd, text, strlen(text)) < 0) path[0] = 0;
    close(fd);
    return path;
}

static void test_file(void) {
    tgs_decisions d = {0.35, 0.25, 30, ""}, e;
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    const char *c[1] = {"a comment"};
    tgs_decisions_write(&d, fp, c, 1);
    fclose(fp);
    const char *p = write_tmp(buf);
    CHECKF(tgs_decisions_load(&e, p) == 0 && e.threshold == 0.35 && e.salt_gate == 0.25 && e.min_area == 30,
           "file: written and read back the same", "%s", tgs_errmsg());
    CHECK(strstr(buf, "# a comment\nthreshold 0.35\nsalt_gate 0.25\nmin_area 30\n") != NULL, "file: the text, shortest numbers");
    unlink(p);
    free(buf);
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"threshold 0.5\nthreshold 0.4\n", "line 2: threshold given twice"},
        {"thresh 0.5\n", "line 1: unknown decision 'thresh'"},
        {"threshold 1.5\n", "line 1: threshold '1.5' is not a number in [0, 1]"},
        {"min_area -3\n", "line 1: min_area '-3' is not an integer"},
        {"salt_gate nan\n", "line 1: salt_gate 'nan' is not a number"},
        {"# ok\n\nthreshold 0.5 extra\n", "line 3: 'threshold 0.5 extra' is not 'KEY VALUE'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        p = write_tmp(bad[i].text);
        char name[120];
        snprintf(name, sizeof name, "file: refused, naming the line: %s", bad[i].want);
        CHECKF(tgs_decisions_load(&e, p) < 0 && strstr(tgs_errmsg(), p) && strstr(tgs_errmsg(), bad[i].want), name, "'%s'",
               tgs_errmsg());
        unlink(p);
    }
    CHECK(tgs_decisions_load(&e, "/nonexistent/dec.txt") < 0 && strstr(tgs_errmsg(), "No such file"), "file: a missing file");
}

/* The grid's every point against tgs_decide + the metric, tile by tile. */
static void test_tune(void) {
    enum { N = 24 };
    static float prob[N][H * W];
    static uint8_t truth[N][H * W];
    float salt[N];
    tgs_rng r;
    tgs_rng_seed(&r, 9, 0);
    for (int k = 0; k < N; k++) {
        for (int i = 0; i < H * W; i++) {
            int y = i / W, x = i % W;
            truth[k][i] = k % 3 && y < 2 + k % 7 && x < 3 + k % 5; /* a third of the tiles empty */
            float noise = tgs_rng_uniform(&r);
            prob[k][i] = truth[k][i] ? 0.4f + 0.6f * noise : 0.7f * noise * noise * noise;
        }
        salt[k] = k % 3 ? 0.5f + 0.5f * tgs_rng_uniform(&r) : 0.6f * tgs_rng_uniform(&r);
    }
    tgs_tune tu;
    tgs_tune_init(&tu);
    int32_t work[2 * H * W];
    for (int k = 0; k < N; k++) tgs_tune_add(&tu, prob[k], salt[k], truth[k], H, W, work);
    int agree = 1;
    for (int it = 0; it < TGS_TUNE_NT; it++)
        for (int ia = 0; ia < TGS_TUNE_NA; ia++)
            for (int ig = 0; ig < TGS_TUNE_NG; ig++) {
                tgs_decisions d;
                tgs_tune_decisions(&tu, it, ia, ig, &d);
                int64_t hits = 0;
                for (int k = 0; k < N; k++) {
                    uint8_t m[H * W];
                    tgs_decide(&d, prob[k], salt[k], H, W, m, work);
                    tgs_counts c = tgs_mask_counts(m, truth[k], H * W);
                    hits += tgs_metric_hits(c.inter, c.npred, c.ntruth);
                }
                agree &= hits == tu.hits[it][ia][ig];
            }
    CHECK(agree, "tune: every one of the 3,800 grid points scores as tgs_decide and the metric do tile by tile");
    int bt, ba, bg;
    tgs_tune_best(&tu, &bt, &ba, &bg);
    double best = tgs_tune_map(&tu, bt, ba, bg), plain = tgs_tune_map(&tu, TGS_TUNE_NT / 2, 0, 0);
    int none_better = 1;
    for (int it = 0; it < TGS_TUNE_NT; it++)
        for (int ia = 0; ia < TGS_TUNE_NA; ia++)
            for (int ig = 0; ig < TGS_TUNE_NG; ig++) none_better &= tu.hits[it][ia][ig] <= tu.hits[bt][ba][bg];
    CHECKF(none_better && best > plain, "tune: the best point is the best, and beats 0.5 alone here", "best %g plain %g", best,
           plain);
}

int main(void) {
    test_decide();
    test_file();
    test_tune();
    CHECK_DONE();
}
