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

int main(void) {
    test_encode();
    test_decode();
    CHECK_DONE();
}
