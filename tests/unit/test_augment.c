/* Unit tests of the augmentation transforms (lib/common/augment.c): index
 * folding, padding values checked by hand, flips, the affine and resize
 * maps, intensity changes, the draws, and a whole sample under identity
 * settings. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "augment.h"
#include "check.h"
#include "err.h"

/* the value a bouncing walk reaches: reflect without repeating the edge */
static int reflect_ref(int i, int n) {
    int k = 0, dir = 1;
    if (n == 1) return 0;
    for (int s = 0; s < (i < 0 ? -i : i); s++) {
        int step = i < 0 ? -dir : dir;
        if (k + step < 0 || k + step >= n) dir = -dir, step = -step;
        k += step;
    }
    return k;
}

static void test_fold(void) {
    CHECK(tgs_aug_fold(-1, 5, TGS_AUG_PAD_REFLECT) == 1 && tgs_aug_fold(-2, 5, TGS_AUG_PAD_REFLECT) == 2 &&
              tgs_aug_fold(5, 5, TGS_AUG_PAD_REFLECT) == 3 && tgs_aug_fold(6, 5, TGS_AUG_PAD_REFLECT) == 2,
          "reflect: -1 -> 1, -2 -> 2, 5 -> 3, 6 -> 2 (no edge repeat)");
    CHECK(tgs_aug_fold(-3, 5, TGS_AUG_PAD_REPLICATE) == 0 && tgs_aug_fold(7, 5, TGS_AUG_PAD_REPLICATE) == 4 &&
              tgs_aug_fold(2, 5, TGS_AUG_PAD_REPLICATE) == 2,
          "replicate clamps to the edge");
    int ok = 1;
    for (int n = 1; n <= 7; n++)
        for (int i = -40; i <= 40; i++) ok &= tgs_aug_fold(i, n, TGS_AUG_PAD_REFLECT) == reflect_ref(i, n);
    CHECK(ok, "reflect agrees with a bouncing walk for pads longer than the tile");
}

static void test_pad(void) {
    /* a 2 x 3 tile into 5 x 7 at (1, 2):
     *   a b c      values 1 2 3
     *   d e f             4 5 6 */
    const float in[6] = {1, 2, 3, 4, 5, 6};
    float out[35];
    tgs_aug_pad(in, 1, 2, 3, 1, 2, TGS_AUG_PAD_ZERO, out, 5, 7);
    CHECK(out[0] == 0 && out[1 * 7 + 2] == 1 && out[1 * 7 + 4] == 3 && out[2 * 7 + 3] == 5 && out[2 * 7 + 5] == 0 &&
              out[4 * 7 + 6] == 0 && out[1 * 7 + 1] == 0,
          "zero padding: tile in place, 0 around");
    tgs_aug_pad(in, 1, 2, 3, 1, 2, TGS_AUG_PAD_REPLICATE, out, 5, 7);
    /* row -1 -> row 0, rows 2, 3 -> row 1; cols -2, -1 -> 0, cols 3, 4 -> 2 */
    CHECK(out[0] == 1 && out[1] == 1 && out[6] == 3 && out[4 * 7 + 0] == 4 && out[4 * 7 + 6] == 6 &&
              out[2 * 7 + 5] == 6 && out[3 * 7 + 3] == 5,
          "replicate padding: corners and edges repeat the border");
    tgs_aug_pad(in, 1, 2, 3, 1, 2, TGS_AUG_PAD_REFLECT, out, 5, 7);
    /* rows: -1 -> 1, 2 -> 0, 3 -> 1; cols: -2 -> 2, -1 -> 1, 3 -> 1, 4 -> 0
     * so output row 0 is tile row 1 read at cols 2 1 0 1 2 1 0: 6 5 4 5 6 5 4 */
    static const float row0[7] = {6, 5, 4, 5, 6, 5, 4}, row3[7] = {3, 2, 1, 2, 3, 2, 1};
    CHECK(memcmp(out, row0, sizeof row0) == 0 && memcmp(out + 21, row3, sizeof row3) == 0 && out[28 + 2] == 4,
          "reflect padding: 6 5 4 5 6 5 4 above, 3 2 1 2 3 2 1 below");
    /* 101 -> 128: 13 above and left, 14 below and right */
    tgs_aug_params p;
    tgs_aug_params_default(&p);
    int32_t crop[4];
    CHECK(tgs_aug_layout(&p, 101, 101, crop) == 0 && crop[0] == 13 && crop[1] == 13 && crop[2] == 101 && crop[3] == 101,
          "101 in 128: crop 13,13,101,101");
    p.pad = TGS_AUG_PAD_NONE;
    CHECKF(tgs_aug_layout(&p, 101, 101, crop) < 0 && strstr(tgs_errmsg(), "size must be the tile's"),
           "no padding refuses a tile that is not S x S", "'%s'", tgs_errmsg());
    p.pad = TGS_AUG_PAD_ZERO, p.size = 64;
    CHECK(tgs_aug_layout(&p, 101, 101, crop) < 0, "padding refuses a tile larger than S");
    p.resize = 1;
    CHECK(tgs_aug_layout(&p, 101, 101, crop) == 0 && crop[0] == 0 && crop[2] == 64 && crop[3] == 64,
          "resize: the crop is the whole output");
}

static void test_flips(void) {
    float x[2 * 3 * 4], y[2 * 3 * 4];
    for (int i = 0; i < 24; i++) x[i] = y[i] = (float)(i * 7 % 11);
    tgs_aug_hflip(y, 2, 3, 4);
    CHECK(y[0] == x[3] && y[3] == x[0] && y[13] == x[14], "hflip mirrors each row");
    tgs_aug_hflip(y, 2, 3, 4);
    CHECK(memcmp(x, y, sizeof x) == 0, "hflip twice is the identity");
    tgs_aug_vflip(y, 2, 3, 4);
    CHECK(y[0] == x[8] && y[12 + 9] == x[12 + 1] && y[4] == x[4], "vflip mirrors each column, middle row stays");
    tgs_aug_vflip(y, 2, 3, 4);
    CHECK(memcmp(x, y, sizeof x) == 0, "vflip twice is the identity");
    float odd[5] = {1, 2, 3, 4, 5};
    tgs_aug_hflip(odd, 1, 1, 5);
    CHECK(odd[0] == 5 && odd[2] == 3 && odd[4] == 1, "hflip of an odd width keeps the middle");
}

static void test_affine(void) {
    enum { H = 9, W = 11 };
    float in[2 * H * W], out[2 * H * W];
    for (int i = 0; i < 2 * H * W; i++) in[i] = (float)((i * 37) % 101) / 101.0f;
    tgs_aug_affine(in, 2, H, W, 1, 0, 0, 0, out);
    CHECK(memcmp(in, out, sizeof in) == 0, "affine with zoom 1 and no shift is exact");
    /* a shift of dx = 2: out(y, x) = in(y, x - 2), reflected at the left */
    tgs_aug_affine(in, 2, H, W, 1, 0, 2, 0, out);
    int ok = 1;
    for (int k = 0; k < 2; k++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                ok &= out[(k * H + y) * W + x] == in[(k * H + y) * W + tgs_aug_fold(x - 2, W, TGS_AUG_PAD_REFLECT)];
    CHECK(ok, "an integer shift moves pixels exactly, reflecting at the border");
    /* a half-pixel shift is the mean of neighbours */
    tgs_aug_affine(in, 1, H, W, 1, 0, 0.5f, 0, out);
    CHECK(fabsf(out[4 * W + 5] - 0.5f * (in[4 * W + 4] + in[4 * W + 5])) < 1e-6f, "a half-pixel shift averages neighbours");
    /* nearest keeps a 0/1 mask 0/1, and a 2x zoom doubles a blob about the centre */
    float m[H * W] = {0}, mo[H * W];
    m[4 * W + 5] = 1; /* the centre pixel (cy = 4, cx = 5) */
    tgs_aug_affine(m, 1, H, W, 3, 0, 0, 1, mo);
    int binary = 1, ones = 0;
    for (int i = 0; i < H * W; i++) binary &= mo[i] == 0 || mo[i] == 1, ones += mo[i] == 1;
    CHECKF(binary && ones == 9 && mo[3 * W + 4] == 1 && mo[5 * W + 6] == 1, "nearest zoom x3 of the centre pixel is a 3x3 block",
           "binary %d ones %d", binary, ones);
}

static void test_resize(void) {
    const float in[4] = {0, 1, 2, 3};
    float out[16];
    tgs_aug_resize(in, 1, 2, 2, 0, out, 4, 4);
    /* align_corners=False: rows map to -0.25, 0.25, 0.75, 1.25 (clamped) */
    static const float want[16] = {0, 0.25f, 0.75f, 1, 0.5f, 0.75f, 1.25f, 1.5f, 1.5f, 1.75f, 2.25f, 2.5f, 2, 2.25f, 2.75f, 3};
    int ok = 1;
    for (int i = 0; i < 16; i++) ok &= fabsf(out[i] - want[i]) < 1e-6f;
    CHECK(ok, "bilinear 2x2 -> 4x4 matches PyTorch's align_corners=False");
    tgs_aug_resize(in, 1, 2, 2, 1, out, 4, 4);
    CHECK(out[0] == 0 && out[1] == 0 && out[2] == 1 && out[15] == 3 && out[8] == 2, "nearest 2x2 -> 4x4 repeats pixels");
    float big[5 * 5], same[5 * 5];
    for (int i = 0; i < 25; i++) big[i] = (float)i;
    tgs_aug_resize(big, 1, 5, 5, 0, same, 5, 5);
    CHECK(memcmp(big, same, sizeof big) == 0, "resize to the same size is exact");
}

static void test_intensity(void) {
    enum { N = 64 };
    float x[N], y[N];
    for (int i = 0; i < N; i++) x[i] = 0.2f + 0.6f * (float)i / N;
    tgs_aug_draw d = {.zoom = 1, .contrast = 1, .gamma = 1};
    memcpy(y, x, sizeof x);
    tgs_aug_intensity(y, 1, 8, 8, &d);
    CHECK(memcmp(x, y, sizeof x) == 0, "identity draw leaves values alone");
    d.brightness = 0.1f;
    tgs_aug_intensity(y, 1, 8, 8, &d);
    int ok = 1;
    for (int i = 0; i < N; i++) ok &= fabsf(y[i] - (x[i] + 0.1f)) < 1e-6f;
    CHECK(ok, "brightness adds");
    d.brightness = 0, d.contrast = 1.2f;
    memcpy(y, x, sizeof x);
    tgs_aug_intensity(y, 1, 8, 8, &d);
    double mx = 0, my = 0;
    for (int i = 0; i < N; i++) mx += x[i], my += y[i];
    CHECK(fabs(mx - my) < 1e-4 && y[N - 1] - y[0] > x[N - 1] - x[0], "contrast keeps the mean and widens the range");
    d.contrast = 1, d.invert = 1;
    memcpy(y, x, sizeof x);
    tgs_aug_intensity(y, 1, 8, 8, &d);
    ok = 1;
    for (int i = 0; i < N; i++) ok &= y[i] == 1 - x[i];
    CHECK(ok, "invert is 1 - x");
    d.invert = 0, d.brightness = 0.9f;
    memcpy(y, x, sizeof x);
    tgs_aug_intensity(y, 1, 8, 8, &d);
    CHECK(y[N - 1] == 1, "values are clamped to 0..1");
    d.brightness = 0;
    double worst = 0;
    for (float g = 0.8f; g <= 1.3f; g += 0.05f) {
        d.gamma = g;
        float z[N];
        for (int i = 0; i < N; i++) z[i] = (float)i / (N - 1);
        tgs_aug_intensity(z, 1, 8, 8, &d);
        for (int i = 0; i < N; i++) worst = fmax(worst, fabs(z[i] - pow((double)i / (N - 1), g)));
    }
    CHECKF(worst < 1e-4, "gamma is x^g (table within 1e-4 for g in 0.8..1.3)", "worst %g", worst);
}

static void test_draw(void) {
    tgs_aug_params p;
    tgs_aug_params_default(&p);
    tgs_rng r;
    tgs_aug_draw d;
    tgs_rng_seed(&r, 1, 2);
    tgs_aug_draw_sample(&p, 101, 101, &r, &d);
    CHECK(!d.hflip && !d.vflip && !d.affine && !d.invert && d.brightness == 0 && d.contrast == 1 && d.gamma == 1 && d.ncut == 0,
          "default parameters draw the identity");
    p.hflip = 1, p.scale = 0.2f, p.shift = 0.1f, p.affine_p = 1, p.cutout = 3, p.cutout_size = 0.3f;
    int ok = 1, range = 1;
    for (int s = 0; s < 1000; s++) {
        tgs_rng_seed(&r, 7, (uint64_t)s);
        tgs_aug_draw_sample(&p, 101, 90, &r, &d);
        ok &= d.hflip && d.affine;
        range &= d.zoom >= 0.8f && d.zoom <= 1.2f && fabsf(d.dy) <= 10.1f && fabsf(d.dx) <= 9.0f;
        for (int k = 0; k < d.ncut; k++)
            range &= d.cut[k][0] >= 0 && d.cut[k][1] >= 0 && d.cut[k][0] + d.cut[k][2] <= 101 &&
                     d.cut[k][1] + d.cut[k][3] <= 90 && d.cut[k][2] >= 1 && d.cut[k][2] <= 31 && d.cut[k][3] <= 27;
    }
    CHECK(ok, "probability 1 always applies");
    CHECK(range, "zoom, shift and cutout rectangles stay in their ranges");
    /* switching cutout on leaves the other draws as they were */
    tgs_aug_draw a, b;
    p.cutout = 0;
    tgs_rng_seed(&r, 3, 4);
    tgs_aug_draw_sample(&p, 101, 101, &r, &a);
    uint64_t next_a = tgs_rng_u64(&r);
    p.cutout = 5;
    tgs_rng_seed(&r, 3, 4);
    tgs_aug_draw_sample(&p, 101, 101, &r, &b);
    CHECK(a.zoom == b.zoom && a.dx == b.dx && a.hflip == b.hflip && next_a == tgs_rng_u64(&r),
          "draws use a fixed count of numbers whatever is on");
    p.gamma = -1;
    CHECKF(tgs_aug_params_check(&p) < 0 && strstr(tgs_errmsg(), "gamma"), "a negative gamma is refused by name", "'%s'",
           tgs_errmsg());
    enum tgs_aug_pad m;
    CHECK(tgs_aug_pad_parse("replicate", &m) == 0 && m == TGS_AUG_PAD_REPLICATE && tgs_aug_pad_parse("wrap", &m) < 0,
          "pad modes parse; unknown ones are refused");
}

static void test_noise(void) {
    enum { N = 100001 };
    float *x = calloc(N, sizeof *x);
    tgs_rng r;
    tgs_rng_seed(&r, 5, 5);
    tgs_aug_noise(x, N, 0.5f, &r);
    double s = 0, q = 0;
    for (int i = 0; i < N; i++) s += x[i], q += (double)x[i] * x[i];
    s /= N, q = q / N - s * s;
    CHECKF(fabs(s) < 0.01 && fabs(sqrt(q) - 0.5) < 0.01 && x[N - 1] != 0, "noise has mean 0 and the std asked, odd counts filled",
           "mean %g std %g", s, sqrt(q));
    free(x);
}

static void test_apply(void) {
    enum { C = 3, H = 101, W = 101, S = 128 };
    uint8_t *img = malloc(C * H * W), *mask = malloc(H * W);
    float *out = malloc(sizeof(float) * C * S * S), *mout = malloc(sizeof(float) * S * S);
    for (int i = 0; i < C * H * W; i++) img[i] = (uint8_t)(i * 31 % 256);
    for (int i = 0; i < H * W; i++) mask[i] = (uint8_t)((i % W) < 30);
    tgs_aug_params p;
    tgs_aug_params_default(&p);
    p.size = H, p.pad = TGS_AUG_PAD_NONE;
    tgs_aug_work wk = {0};
    tgs_aug_draw d;
    tgs_rng r;
    tgs_rng_seed(&r, 0, 0);
    tgs_aug_draw_sample(&p, H, W, &r, &d);
    int rc = tgs_aug_apply(&p, &d, &r, &wk, img, C, H, W, mask, out, mout);
    int ok = rc == 0;
    for (int i = 0; i < C * H * W; i++) ok &= out[i] == (float)img[i] / 255.0f;
    for (int i = 0; i < H * W; i++) ok &= mout[i] == (float)mask[i];
    CHECK(ok, "identity settings give x/255 and the mask exactly");

    /* padded to 128: the crop holds the tile exactly; mean/std normalise */
    p.size = S, p.pad = TGS_AUG_PAD_REFLECT, p.mean = 0.5f, p.std = 0.25f, p.hflip = 1;
    tgs_aug_draw_sample(&p, H, W, &r, &d);
    ok = tgs_aug_apply(&p, &d, &r, &wk, img, C, H, W, mask, out, mout) == 0;
    for (int k = 0; k < C; k++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                float want = ((float)img[(k * H + y) * W + (W - 1 - x)] / 255.0f - 0.5f) / 0.25f;
                ok &= out[((size_t)k * S + 13 + y) * S + 13 + x] == want;
            }
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) ok &= mout[(13 + y) * S + 13 + x] == (float)mask[y * W + (W - 1 - x)];
    CHECK(ok, "hflip + padding + norm: the crop is the flipped, normalised tile; the mask flips with it");

    mask[77] = 255;
    CHECKF(tgs_aug_apply(&p, &d, &r, &wk, img, C, H, W, mask, out, mout) < 0 && strstr(tgs_errmsg(), "mask: holds 255"),
           "a mask value other than 0/1 is refused", "'%s'", tgs_errmsg());
    tgs_aug_work_free(&wk);
    free(img), free(mask), free(out), free(mout);
}

int main(void) {
    test_fold();
    test_pad();
    test_flips();
    test_affine();
    test_resize();
    test_intensity();
    test_draw();
    test_noise();
    test_apply();
    CHECK_DONE();
}
