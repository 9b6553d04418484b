/* Unit tests of the RLE codec against hand-made cases: column-major
 * numbering, the edges of the tile, and what the decoder must refuse. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "err.h"
#include "rle.h"

static int encodes_to(const uint8_t *m, int h, int w, const char *want) {
    char *out = malloc(tgs_rle_max_len(h, w));
    size_t n = tgs_rle_encode(m, h, w, out);
    int ok = strcmp(out, want) == 0 && n == strlen(want);
    if (!ok) printf("# encoded '%s', want '%s'\n", out, want);
    free(out);
    return ok;
}

static void test_encode(void) {
    /* 3 rows x 2 columns; numbering runs down columns: 1 2 3 | 4 5 6 */
    uint8_t m[6] = {0};
    CHECK(encodes_to(m, 3, 2, ""), "empty mask is the empty string");
    memset(m, 1, 6);
    CHECK(encodes_to(m, 3, 2, "1 6"), "full mask is one run");
    uint8_t col[6] = {1, 0, 1, 0, 1, 0}; /* row-major: column 0 all salt */
    CHECK(encodes_to(col, 3, 2, "1 3"), "first column is pixels 1..3");
    uint8_t diag[6] = {0, 1, 0, 0, 255, 0}; /* (0,1) -> 4, (2,0) -> 3: touching runs merge */
    CHECK(encodes_to(diag, 3, 2, "3 2"), "runs join across columns; non-zero counts as salt");
    uint8_t last[6] = {0, 0, 0, 0, 0, 1};
    CHECK(encodes_to(last, 3, 2, "6 1"), "the last pixel");
    uint8_t alt[6] = {1, 0, 0, 1, 1, 0}; /* column-major: 1 0 1 0 1 0 */
    CHECK(encodes_to(alt, 3, 2, "1 1 3 1 5 1"), "alternating pixels");
    /* a 101x101 worst case fits the bound */
    uint8_t *chk = malloc(101 * 101);
    for (int i = 0; i < 101 * 101; i++) chk[i] = (uint8_t)((i / 101 + i % 101) & 1);
    char *out = malloc(tgs_rle_max_len(101, 101));
    size_t n = tgs_rle_encode(chk, 101, 101, out);
    CHECK(n < tgs_rle_max_len(101, 101) && strlen(out) == n, "checkerboard fits the length bound");
    uint8_t *back = malloc(101 * 101);
    CHECK(tgs_rle_decode(out, 101, 101, back) == 0 && memcmp(back, chk, 101 * 101) == 0, "checkerboard round trips");
    free(chk), free(out), free(back);
}

static void expect_decode_error(const char *text, const char *want, const char *name) {
    uint8_t m[6];
    int rc = tgs_rle_decode(text, 3, 2, m);
    CHECKF(rc < 0 && strstr(tgs_errmsg(), want), name, "rc %d, message '%s', want '%s'", rc, tgs_errmsg(), want);
}

static void test_decode(void) {
    uint8_t m[6];
    uint8_t want[6] = {0, 1, 0, 0, 1, 0}; /* pixel 3 is row 2 col 0, pixel 4 row 0 col 1 */
    CHECK(tgs_rle_decode("3 2", 3, 2, m) == 0 && memcmp(m, want, 6) == 0, "decode places pixels column-major");
    CHECK(tgs_rle_decode("", 3, 2, m) == 0 && !memchr(m, 1, 6), "empty string is an empty mask");
    CHECK(tgs_rle_decode("1 1 2 1", 3, 2, m) == 0, "touching runs are accepted");
    expect_decode_error("3", "odd number", "odd count refused");
    expect_decode_error("0 2", "outside pixels", "start 0 refused");
    expect_decode_error("7 1", "outside pixels", "start past the end refused");
    expect_decode_error("5 3", "past the last pixel", "run past the end refused");
    expect_decode_error("2 0", "length 0", "zero length refused");
    expect_decode_error("1 3 2 1", "inside or before", "overlap refused");
    expect_decode_error("4 1 1 1", "inside or before", "runs out of order refused");
    expect_decode_error("1 x", "not a positive integer", "non-number refused");
    expect_decode_error("-1 2", "not a positive integer", "negative refused");
    expect_decode_error("1 99999999999", "not a positive integer", "overflow refused");
    expect_decode_error("1 2,", "not a positive integer", "trailing junk refused");
}

/* The encoding straight from its definition, to check the fast encoder. */
static void reference_encode(const uint8_t *m, int h, int w, char *out) {
    size_t len = 0;
    long start = 0;
    int in_run = 0;
    for (long i = 0; i <= (long)h * w; i++) {
        int on = i < (long)h * w && m[(i % h) * w + i / h] != 0;
        if (on && !in_run) start = i + 1;
        if (!on && in_run) len += (size_t)sprintf(out + len, "%s%ld %ld", len ? " " : "", start, i + 1 - start);
        in_run = on;
    }
    out[len] = 0;
}

static void test_fast_matches_reference(void) {
    /* random masks with random non-zero values, in shapes that exercise
     * every strip case: narrower than a 16-byte chunk (the plain walk), a
     * partial last chunk and strip, strips narrowed by the height (129:
     * 112 columns, 600: 16), a tall mask past the fast path's row limit,
     * and the TGS size */
    static const int shapes[][2] = {{1, 1}, {3, 2}, {2, 7}, {9, 8}, {5, 13}, {101, 101}, {64, 17}, {1100, 9}, {7, 300},
                                    {1, 16}, {33, 31}, {20, 65}, {129, 130}, {600, 24}, {1024, 18}, {1100, 20}};
    uint32_t seed = 12345;
    int bad = 0, tried = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int h = shapes[s][0], w = shapes[s][1];
        uint8_t *m = malloc((size_t)h * w);
        char *a = malloc(tgs_rle_max_len(h, w)), *b = malloc(tgs_rle_max_len(h, w) + 64);
        for (int trial = 0; trial < 200; trial++) {
            /* density and vertical coherence vary by trial */
            int keep = trial % 4, density = trial % 7;
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    seed = seed * 1664525u + 1013904223u;
                    uint8_t v = (seed >> 24) % 7 < (uint32_t)density ? (uint8_t)(1 + (seed >> 8) % 255) : 0;
                    if (y > 0 && keep && (seed >> 16) % 8 < (uint32_t)keep * 2) v = m[(y - 1) * w + x];
                    m[y * w + x] = v;
                }
            tgs_rle_encode(m, h, w, a);
            reference_encode(m, h, w, b);
            tried++;
            if (strcmp(a, b) != 0) {
                if (!bad) printf("# %dx%d trial %d: got '%.60s', want '%.60s'\n", h, w, trial, a, b);
                bad++;
            }
        }
        free(m), free(a), free(b);
    }
    CHECKF(bad == 0, "fast encoder equals the definition on random masks of many shapes", "%d of %d differ", bad, tried);
}

/* Patterns at the fast encoder's edges, each against the definition: the
 * extremes (empty, full, a change at every pixel), runs that cross the
 * seam between columns and between strips, in shapes either side of its
 * 16-column chunks, 64-column words and 128-column strips, heights that
 * narrow the strip (16384 / h: 129 -> 112, 500 -> 32, 1024 -> 16), and
 * past its limits (h > 1024, w < 16: the plain walk). */
static void test_fast_edges(void) {
    static const int shapes[][2] = {{1, 16},  {2, 17},   {101, 101}, {16, 64},  {3, 65},    {4, 127},
                                    {5, 128}, {6, 129},  {129, 150}, {500, 40}, {1024, 33}, {1025, 20},
                                    {101, 15}, {16, 300}, {100, 257}};
    static const char *const patterns[] = {"empty", "full", "checkerboard", "vertical stripes", "horizontal stripes",
                                           "last pixel", "first and last column", "diagonal", "bottom row",
                                           "top row, value 255"};
    enum { NPAT = sizeof patterns / sizeof *patterns };
    int bad[NPAT] = {0};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int h = shapes[s][0], w = shapes[s][1];
        uint8_t *m = malloc((size_t)h * w);
        char *a = malloc(tgs_rle_max_len(h, w)), *b = malloc(tgs_rle_max_len(h, w) + 64);
        for (int p = 0; p < NPAT; p++) {
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    int on = p == 1 || (p == 2 && (x + y) % 2) || (p == 3 && x % 2) || (p == 4 && y % 2) ||
                             (p == 5 && y == h - 1 && x == w - 1) || (p == 6 && (x == 0 || x == w - 1)) ||
                             (p == 7 && x % h == y) || (p == 8 && y == h - 1) || (p == 9 && y == 0);
                    m[(size_t)y * w + x] = on ? (p == 9 ? 255 : 1) : 0;
                }
            size_t n = tgs_rle_encode(m, h, w, a);
            reference_encode(m, h, w, b);
            if (strcmp(a, b) != 0 || n != strlen(b)) {
                if (!bad[p]) printf("# %s %dx%d: got '%.60s', want '%.60s'\n", patterns[p], h, w, a, b);
                bad[p]++;
            }
        }
        free(m), free(a), free(b);
    }
    for (int p = 0; p < NPAT; p++) {
        char name[96];
        snprintf(name, sizeof name, "fast encoder equals the definition: %s", patterns[p]);
        CHECKF(bad[p] == 0, name, "%d shapes differ", bad[p]);
    }
}

int main(void) {
    test_fast_matches_reference();
    test_fast_edges();
    test_encode();
    test_decode();
    CHECK_DONE();
}
