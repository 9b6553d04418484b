/* augment: per-sample transforms that turn a u8 tile into a training input.
 *
 * A tile is C x H x W (images: u8 in, f32 out; masks: 1 x H x W, 0/1). One
 * sample goes through, in this order:
 *   1. u8 -> f32 in 0..1 (x / 255); the mask to 0.0 / 1.0;
 *   2. geometry on the H x W tile, the same for image and mask: horizontal
 *      flip, vertical flip, then scale/shift (bilinear for the image,
 *      nearest for the mask; what comes from outside the tile is filled by
 *      reflection, so there are no empty corners);
 *   3. intensity on the image only: brightness, contrast, clamp to 0..1,
 *      gamma, invert, cutout, Gaussian noise;
 *   4. normalisation (v - mean) / std;
 *   5. layout to S x S: centred padding (top = (S - H) / 2 rounded down,
 *      bottom the rest; the same for left/right), or a resize.
 * The random choices of a sample are drawn up front (tgs_aug_draw) from an
 * RNG the caller seeds, so a sample's result depends only on that seed.
 * Shapes in comments are (C,H,W), row-major. */
#ifndef TGS_AUGMENT_H
#define TGS_AUGMENT_H

#include <stdint.h>

#include "rng.h"

enum tgs_aug_pad {
    TGS_AUG_PAD_REFLECT,   /* d c b | a b c d | c b a (no edge repeat; numpy "reflect") */
    TGS_AUG_PAD_REPLICATE, /* a a a | a b c d | d d d */
    TGS_AUG_PAD_ZERO,      /* 0 0 0 | a b c d | 0 0 0 (0 in the output's units) */
    TGS_AUG_PAD_NONE,      /* the tile must already be S x S */
};

#define TGS_AUG_MAX_CUTOUT 16

typedef struct {
    int size;              /* S: the output is S x S */
    enum tgs_aug_pad pad;  /* how to get from H x W to S x S ... */
    int resize;            /* ... or, when set, bilinear resize (masks nearest) */
    float mean, std;       /* normalisation of the 0..1 values; std > 0 */
    float hflip, vflip;    /* probabilities */
    float affine_p;        /* probability of the scale/shift */
    float scale, shift;    /* zoom in [1-scale, 1+scale]; shift up to shift*side */
    float brightness;      /* add b, |b| <= brightness */
    float contrast;        /* scale around the channel mean by [1-c, 1+c] */
    float gamma;           /* x^g, g log-uniform in [1/(1+gamma), 1+gamma] */
    float invert;          /* probability of x -> 1 - x */
    int cutout;            /* rectangles per sample, 0..TGS_AUG_MAX_CUTOUT */
    float cutout_size;     /* their largest side, as a fraction of the tile's */
    float noise;           /* std of additive Gaussian noise */
} tgs_aug_params;

/* One sample's random choices. */
typedef struct {
    int hflip, vflip, invert;
    int affine;              /* 0: no scale/shift */
    float zoom, dy, dx;      /* source = centre + (dest - centre - d) / zoom */
    float brightness, contrast, gamma;
    int ncut;
    int cut[TGS_AUG_MAX_CUTOUT][4]; /* y0, x0, h, w inside the tile */
} tgs_aug_draw;

/* Buffers for tgs_aug_apply, grown as tiles need; zero-initialise. */
typedef struct {
    float *a, *b, *ma, *mb;
    uint64_t cap_img, cap_mask;
} tgs_aug_work;

/* Parameters with everything off: S = 128, reflect padding, mean 0, std 1. */
void tgs_aug_params_default(tgs_aug_params *p);
/* Check ranges; -1 with a message naming the parameter. */
int tgs_aug_params_check(const tgs_aug_params *p);
int tgs_aug_pad_parse(const char *s, enum tgs_aug_pad *mode);
const char *tgs_aug_pad_name(enum tgs_aug_pad mode);

/* Where an H x W tile lands in the S x S output: crop = y0, x0, h, w (the
 * whole output with a resize). -1 when the tile cannot be laid out (larger
 * than S with padding, or not S x S with no padding). */
int tgs_aug_layout(const tgs_aug_params *p, int h, int w, int32_t crop[4]);

/* Draw a sample's choices for an h x w tile. Always consumes the same
 * numbers from r (whatever is switched on), so turning one augmentation on
 * leaves the others' draws unchanged; noise is drawn later, in apply. */
void tgs_aug_draw_sample(const tgs_aug_params *p, int h, int w, tgs_rng *r, tgs_aug_draw *d);

/* The whole transform of one sample. img: u8 (c,h,w); mask: u8 (1,h,w) of
 * 0/1, or NULL. out_img: f32 (c,S,S); out_mask: f32 (1,S,S) when mask is
 * given. r supplies the noise. -1 on a mask value other than 0/1, a tile
 * that cannot be laid out, or no memory. */
int tgs_aug_apply(const tgs_aug_params *p, const tgs_aug_draw *d, tgs_rng *r, tgs_aug_work *wk, const uint8_t *img,
                  int c, int h, int w, const uint8_t *mask, float *out_img, float *out_mask);
void tgs_aug_work_free(tgs_aug_work *wk);
/* -1 unless every value of the h x w mask is 0 or 1 (the message says
 * where, e.g. "holds 255 at y=3 x=7, expected 0 or 1"). */
int tgs_aug_check_mask(const uint8_t *mask, int h, int w);

/* ---- the pieces, each usable alone ---- */

/* Index i folded into 0..n-1 by the mode (REFLECT or REPLICATE). */
int tgs_aug_fold(int i, int n, enum tgs_aug_pad mode);
/* In place: x (c,h,w) mirrored left-right / top-bottom. */
void tgs_aug_hflip(float *x, int c, int h, int w);
void tgs_aug_vflip(float *x, int c, int h, int w);
/* out (c,h,w) = in (c,h,w) zoomed by zoom about the centre and moved by
 * (dy, dx) pixels; reflect fill; bilinear, or nearest when nearest != 0. */
void tgs_aug_affine(const float *in, int c, int h, int w, float zoom, float dy, float dx, int nearest, float *out);
/* out (c,oh,ow) = in (c,h,w) placed at (top, left), the rest filled by the
 * mode (ZERO fills 0). Needs oh >= h + top, ow >= w + left. */
void tgs_aug_pad(const float *in, int c, int h, int w, int top, int left, enum tgs_aug_pad mode, float *out, int oh,
                 int ow);
/* out (c,oh,ow) = in (c,h,w) resized, pixel centres aligned (PyTorch's
 * align_corners=False): bilinear, or nearest when nearest != 0. */
void tgs_aug_resize(const float *in, int c, int h, int w, int nearest, float *out, int oh, int ow);
/* In place on x (c,h,w) in 0..1: brightness, contrast about each channel's
 * mean, clamp to 0..1, gamma, invert; as d says. */
void tgs_aug_intensity(float *x, int c, int h, int w, const tgs_aug_draw *d);
/* In place: d's rectangles set to each channel's mean (taken before). */
void tgs_aug_cutout(float *x, int c, int h, int w, const tgs_aug_draw *d);
/* In place: add N(0, std^2) to every value. */
void tgs_aug_noise(float *x, uint64_t n, float std, tgs_rng *r);

#endif
