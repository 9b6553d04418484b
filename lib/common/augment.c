#include "augment.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

void tgs_aug_params_default(tgs_aug_params *p) {
    memset(p, 0, sizeof *p);
    p->size = 128;
    p->pad = TGS_AUG_PAD_REFLECT;
    p->std = 1;
    p->cutout_size = 0.25f;
}

/* a <= v <= b, false for NaN */
static int in_range(float v, float a, float b) { return v >= a && v <= b; }

int tgs_aug_params_check(const tgs_aug_params *p) {
    if (p->size < 1 || p->size > 4096) return tgs_err("size %d is out of range [1, 4096]", p->size);
    if (p->pad < TGS_AUG_PAD_REFLECT || p->pad > TGS_AUG_PAD_NONE) return tgs_err("unknown padding mode %d", (int)p->pad);
    if (!isfinite(p->mean) || !(p->std > 0) || !isfinite(p->std)) return tgs_err("normalisation needs a finite mean and std > 0");
    static const struct {
        const char *name;
        size_t off;
        float lo, hi;
    } f[] = {
        {"hflip", offsetof(tgs_aug_params, hflip), 0, 1},
        {"vflip", offsetof(tgs_aug_params, vflip), 0, 1},
        {"affine-p", offsetof(tgs_aug_params, affine_p), 0, 1},
        {"scale", offsetof(tgs_aug_params, scale), 0, 0.9f},
        {"shift", offsetof(tgs_aug_params, shift), 0, 0.5f},
        {"brightness", offsetof(tgs_aug_params, brightness), 0, 1},
        {"contrast", offsetof(tgs_aug_params, contrast), 0, 1},
        {"gamma", offsetof(tgs_aug_params, gamma), 0, 10},
        {"invert", offsetof(tgs_aug_params, invert), 0, 1},
        {"cutout-size", offsetof(tgs_aug_params, cutout_size), 0, 1},
        {"noise", offsetof(tgs_aug_params, noise), 0, 1},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        float v;
        memcpy(&v, (const char *)p + f[i].off, sizeof v);
        if (!in_range(v, f[i].lo, f[i].hi)) return tgs_err("%s %g is out of range [%g, %g]", f[i].name, v, f[i].lo, f[i].hi);
    }
    if (p->cutout < 0 || p->cutout > TGS_AUG_MAX_CUTOUT)
        return tgs_err("cutout %d is out of range [0, %d]", p->cutout, TGS_AUG_MAX_CUTOUT);
    if (p->cutout > 0 && !(p->cutout_size > 0)) return tgs_err("cutout-size must be above 0 with cutout");
    return 0;
}

static const char *const pad_names[] = {"reflect", "replicate", "zero", "none"};

int tgs_aug_pad_parse(const char *s, enum tgs_aug_pad *mode) {
    for (int i = 0; i < 4; i++)
        if (strcmp(s, pad_names[i]) == 0) {
            *mode = (enum tgs_aug_pad)i;
            return 0;
        }
    return tgs_err("'%s' is not a padding mode (reflect, replicate, zero, none)", s);
}

const char *tgs_aug_pad_name(enum tgs_aug_pad mode) {
    return mode >= TGS_AUG_PAD_REFLECT && mode <= TGS_AUG_PAD_NONE ? pad_names[mode] : "?";
}

int tgs_aug_layout(const tgs_aug_params *p, int h, int w, int32_t crop[4]) {
    int s = p->size;
    if (p->resize) {
        crop[0] = 0, crop[1] = 0, crop[2] = s, crop[3] = s;
        return 0;
    }
    if (p->pad == TGS_AUG_PAD_NONE) {
        if (h != s || w != s) return tgs_err("the tile is %dx%d; with no padding the size must be the tile's (%d)", w, h, s);
    } else if (h > s || w > s) {
        return tgs_err("the tile is %dx%d, larger than the size %d; resize instead of padding", w, h, s);
    }
    crop[0] = (s - h) / 2, crop[1] = (s - w) / 2, crop[2] = h, crop[3] = w;
    return 0;
}

void tgs_aug_draw_sample(const tgs_aug_params *p, int h, int w, tgs_rng *r, tgs_aug_draw *d) {
    memset(d, 0, sizeof *d);
    /* a fixed sequence of uniforms, one per choice, used or not */
    float u[10 + 4 * TGS_AUG_MAX_CUTOUT];
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++) u[i] = tgs_rng_uniform(r);
    d->hflip = u[0] < p->hflip;
    d->vflip = u[1] < p->vflip;
    d->affine = u[2] < p->affine_p && (p->scale > 0 || p->shift > 0);
    d->zoom = 1;
    if (d->affine) {
        d->zoom = 1 + p->scale * (2 * u[3] - 1);
        d->dy = p->shift * (float)h * (2 * u[4] - 1);
        d->dx = p->shift * (float)w * (2 * u[5] - 1);
    }
    d->brightness = p->brightness * (2 * u[6] - 1);
    d->contrast = 1 + p->contrast * (2 * u[7] - 1);
    d->gamma = p->gamma > 0 ? powf(1 + p->gamma, 2 * u[8] - 1) : 1;
    d->invert = u[9] < p->invert;
    d->ncut = p->cutout;
    for (int k = 0; k < p->cutout; k++) {
        const float *v = u + 10 + 4 * k;
        /* sides uniform in [size/2, size] of the tile's, placed inside it */
        int ch = (int)lroundf((float)h * p->cutout_size * (0.5f + 0.5f * v[0]));
        int cw = (int)lroundf((float)w * p->cutout_size * (0.5f + 0.5f * v[1]));
        ch = ch < 1 ? 1 : ch > h ? h : ch;
        cw = cw < 1 ? 1 : cw > w ? w : cw;
        int y0 = (int)(v[2] * (float)(h - ch + 1)), x0 = (int)(v[3] * (float)(w - cw + 1));
        d->cut[k][0] = y0 > h - ch ? h - ch : y0;
        d->cut[k][1] = x0 > w - cw ? w - cw : x0;
        d->cut[k][2] = ch, d->cut[k][3] = cw;
    }
}

/* ---- the pieces ---- */

int tgs_aug_fold(int i, int n, enum tgs_aug_pad mode) {
    if (i >= 0 && i < n) return i;
    if (mode == TGS_AUG_PAD_REPLICATE || n == 1) return i < 0 ? 0 : n - 1;
    /* reflect without repeating the edge: period 2(n-1) */
    int period = 2 * (n - 1);
    i %= period;
    if (i < 0) i += period;
    return i < n ? i : period - i;
}

void tgs_aug_hflip(float *x, int c, int h, int w) {
    for (int k = 0; k < c * h; k++) {
        float *row = x + (size_t)k * (size_t)w;
        for (int a = 0, b = w - 1; a < b; a++, b--) {
            float t = row[a];
            row[a] = row[b], row[b] = t;
        }
    }
}

void tgs_aug_vflip(float *x, int c, int h, int w) {
    for (int k = 0; k < c; k++) {
        float *plane = x + (size_t)k * (size_t)h * (size_t)w;
        for (int a = 0, b = h - 1; a < b; a++, b--)
            for (int j = 0; j < w; j++) {
                float t = plane[(size_t)a * w + j];
                plane[(size_t)a * w + j] = plane[(size_t)b * w + j], plane[(size_t)b * w + j] = t;
            }
    }
}

/* One output coordinate mapped to the source: src = a * o + b, as the two
 * neighbouring source indices (folded by mode) and the weight of the
 * second; for nearest, i1 = i0 and the weight is 0. */
typedef struct {
    int i0, i1;
    float t;
} axis_tap;

static axis_tap axis_map(int o, int n, double a, double b, int nearest, enum tgs_aug_pad mode) {
    double src = a * o + b;
    axis_tap tap;
    if (nearest) {
        tap.i0 = tap.i1 = tgs_aug_fold((int)floor(src + 0.5), n, mode);
        tap.t = 0;
    } else {
        double f = floor(src);
        tap.i0 = tgs_aug_fold((int)f, n, mode);
        tap.i1 = tgs_aug_fold((int)f + 1, n, mode);
        tap.t = (float)(src - f);
    }
    return tap;
}

/* out (c,oh,ow) sampled from in (c,h,w) along separable axis maps. The
 * column taps are made once per block of columns (no allocation). */
#define WARP_BLOCK 256
static void warp(const float *in, int c, int h, int w, float *out, int oh, int ow, double ay, double by, double ax,
                 double bx, int nearest, enum tgs_aug_pad mode) {
    size_t plane_in = (size_t)h * (size_t)w, plane_out = (size_t)oh * (size_t)ow;
    axis_tap cols[WARP_BLOCK];
    for (int x0 = 0; x0 < ow; x0 += WARP_BLOCK) {
        int nx = ow - x0 < WARP_BLOCK ? ow - x0 : WARP_BLOCK;
        for (int j = 0; j < nx; j++) cols[j] = axis_map(x0 + j, w, ax, bx, nearest, mode);
        for (int y = 0; y < oh; y++) {
            axis_tap ty = axis_map(y, h, ay, by, nearest, mode);
            for (int k = 0; k < c; k++) {
                const float *p = in + plane_in * (size_t)k;
                const float *r0 = p + (size_t)ty.i0 * (size_t)w, *r1 = p + (size_t)ty.i1 * (size_t)w;
                float *q = out + plane_out * (size_t)k + (size_t)y * (size_t)ow + (size_t)x0;
                if (nearest) {
                    for (int j = 0; j < nx; j++) q[j] = r0[cols[j].i0];
                    continue;
                }
                for (int j = 0; j < nx; j++) {
                    const axis_tap *tx = &cols[j];
                    float top = r0[tx->i0] + tx->t * (r0[tx->i1] - r0[tx->i0]);
                    float bot = r1[tx->i0] + tx->t * (r1[tx->i1] - r1[tx->i0]);
                    q[j] = top + ty.t * (bot - top);
                }
            }
        }
    }
}

void tgs_aug_affine(const float *in, int c, int h, int w, float zoom, float dy, float dx, int nearest, float *out) {
    /* source = centre + (dest - centre - d) / zoom */
    double cy = (h - 1) / 2.0, cx = (w - 1) / 2.0;
    warp(in, c, h, w, out, h, w, 1.0 / zoom, cy - (cy + dy) / zoom, 1.0 / zoom, cx - (cx + dx) / zoom, nearest,
         TGS_AUG_PAD_REFLECT);
}

void tgs_aug_resize(const float *in, int c, int h, int w, int nearest, float *out, int oh, int ow) {
    double sy = (double)h / oh, sx = (double)w / ow;
    warp(in, c, h, w, out, oh, ow, sy, 0.5 * sy - 0.5, sx, 0.5 * sx - 0.5, nearest, TGS_AUG_PAD_REPLICATE);
}

void tgs_aug_pad(const float *in, int c, int h, int w, int top, int left, enum tgs_aug_pad mode, float *out, int oh,
                 int ow) {
    for (int k = 0; k < c; k++) {
        const float *p = in + (size_t)k * (size_t)h * (size_t)w;
        float *q = out + (size_t)k * (size_t)oh * (size_t)ow;
        for (int y = 0; y < oh; y++) {
            float *row = q + (size_t)y * (size_t)ow;
            int sy = y - top;
            if (mode == TGS_AUG_PAD_ZERO || mode == TGS_AUG_PAD_NONE) {
                if (sy < 0 || sy >= h) {
                    memset(row, 0, sizeof(float) * (size_t)ow);
                    continue;
                }
                memset(row, 0, sizeof(float) * (size_t)left);
                memcpy(row + left, p + (size_t)sy * (size_t)w, sizeof(float) * (size_t)w);
                memset(row + left + w, 0, sizeof(float) * (size_t)(ow - left - w));
                continue;
            }
            const float *src = p + (size_t)tgs_aug_fold(sy, h, mode) * (size_t)w;
            for (int x = 0; x < left; x++) row[x] = src[tgs_aug_fold(x - left, w, mode)];
            memcpy(row + left, src, sizeof(float) * (size_t)w);
            for (int x = left + w; x < ow; x++) row[x] = src[tgs_aug_fold(x - left, w, mode)];
        }
    }
}

static float plane_mean(const float *p, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += p[i];
    return n ? (float)(s / (double)n) : 0;
}

/* x^g on 0..1 from a table of GAMMA_N + 1 points, linearly interpolated:
 * an eighth of the powf calls of a 3 x 101 x 101 tile, and within 1e-4 of
 * powf for the gammas augmentation uses (0.8..1.3; tests/unit checks). */
#define GAMMA_N 4096
static void gamma_table(float g, float *t) {
    for (int i = 0; i <= GAMMA_N; i++) t[i] = powf((float)i / GAMMA_N, g);
}

static float gamma_lookup(const float *t, float v) {
    float f = v * GAMMA_N;
    int i = (int)f;
    if (i >= GAMMA_N) return t[GAMMA_N];
    return t[i] + (f - (float)i) * (t[i + 1] - t[i]);
}

void tgs_aug_intensity(float *x, int c, int h, int w, const tgs_aug_draw *d) {
    size_t n = (size_t)h * (size_t)w;
    int shade = d->brightness != 0 || d->contrast != 1 || d->gamma != 1;
    static _Thread_local float table[GAMMA_N + 1];
    if (d->gamma != 1) gamma_table(d->gamma, table);
    if (shade)
        for (int k = 0; k < c; k++) {
            float *p = x + n * (size_t)k;
            float b = d->brightness, m = plane_mean(p, n) + b, ct = d->contrast;
            for (size_t i = 0; i < n; i++) {
                float v = m + ct * (p[i] + b - m);
                p[i] = v < 0 ? 0 : v > 1 ? 1 : v;
            }
            if (d->gamma != 1)
                for (size_t i = 0; i < n; i++) p[i] = gamma_lookup(table, p[i]);
        }
    if (d->invert)
        for (size_t i = 0; i < n * (size_t)c; i++) x[i] = 1 - x[i];
}

void tgs_aug_cutout(float *x, int c, int h, int w, const tgs_aug_draw *d) {
    if (d->ncut == 0) return;
    size_t n = (size_t)h * (size_t)w;
    for (int k = 0; k < c; k++) {
        float *p = x + n * (size_t)k;
        float m = plane_mean(p, n);
        for (int j = 0; j < d->ncut; j++) {
            const int *r = d->cut[j];
            for (int y = r[0]; y < r[0] + r[2] && y < h; y++)
                for (int i = r[1]; i < r[1] + r[3] && i < w; i++) p[(size_t)y * (size_t)w + (size_t)i] = m;
        }
    }
}

void tgs_aug_noise(float *x, uint64_t n, float std, tgs_rng *r) {
    if (!(std > 0)) return;
    /* Box-Muller, both outputs of each pair used */
    for (uint64_t i = 0; i < n; i += 2) {
        uint64_t u = tgs_rng_u64(r);
        float u1 = ((float)(u >> 40) + 1.0f) * (1.0f / 16777216.0f); /* (0, 1] */
        float u2 = (float)((u >> 8) & 0xffffff) * (1.0f / 16777216.0f);
        float rad = std * sqrtf(-2.0f * logf(u1)), a = 6.2831853f * u2;
        x[i] += rad * cosf(a);
        if (i + 1 < n) x[i + 1] += rad * sinf(a);
    }
}

/* ---- the whole sample ---- */

/* Grow a pair of buffers together to n floats each. */
static int reserve2(float **p, float **q, uint64_t *cap, uint64_t n) {
    if (n <= *cap) return 0;
    float *x = realloc(*p, sizeof(float) * n);
    if (!x) return tgs_err("out of memory");
    *p = x;
    x = realloc(*q, sizeof(float) * n);
    if (!x) return tgs_err("out of memory");
    *q = x, *cap = n;
    return 0;
}

int tgs_aug_check_mask(const uint8_t *mask, int h, int w) {
    size_t n = (size_t)h * (size_t)w;
    for (size_t i = 0; i < n; i++)
        if (mask[i] > 1)
            return tgs_err("holds %d at y=%zu x=%zu, expected 0 or 1", mask[i], i / (size_t)w, i % (size_t)w);
    return 0;
}

int tgs_aug_apply(const tgs_aug_params *p, const tgs_aug_draw *d, tgs_rng *r, tgs_aug_work *wk, const uint8_t *img,
                  int c, int h, int w, const uint8_t *mask, float *out_img, float *out_mask) {
    int32_t crop[4];
    if (tgs_aug_layout(p, h, w, crop) < 0) return -1;
    if (mask && tgs_aug_check_mask(mask, h, w) < 0) return tgs_err_prefix("mask");
    size_t n = (size_t)h * (size_t)w, nc = n * (size_t)c;
    if (reserve2(&wk->a, &wk->b, &wk->cap_img, nc) < 0 || reserve2(&wk->ma, &wk->mb, &wk->cap_mask, n) < 0) return -1;

    float *a = wk->a, *b = wk->b, *ma = wk->ma, *mb = wk->mb, lut[256];
    for (int v = 0; v < 256; v++) lut[v] = (float)v / 255.0f;
    for (size_t i = 0; i < nc; i++) a[i] = lut[img[i]];
    if (mask)
        for (size_t i = 0; i < n; i++) ma[i] = (float)mask[i];

    if (d->hflip) {
        tgs_aug_hflip(a, c, h, w);
        if (mask) tgs_aug_hflip(ma, 1, h, w);
    }
    if (d->vflip) {
        tgs_aug_vflip(a, c, h, w);
        if (mask) tgs_aug_vflip(ma, 1, h, w);
    }
    if (d->affine && (d->zoom != 1 || d->dy != 0 || d->dx != 0)) {
        tgs_aug_affine(a, c, h, w, d->zoom, d->dy, d->dx, 0, b);
        float *t = a;
        a = b, b = t;
        if (mask) {
            tgs_aug_affine(ma, 1, h, w, d->zoom, d->dy, d->dx, 1, mb);
            t = ma, ma = mb, mb = t;
        }
    }
    tgs_aug_intensity(a, c, h, w, d);
    tgs_aug_cutout(a, c, h, w, d);
    tgs_aug_noise(a, nc, p->noise, r);
    if (p->mean != 0 || p->std != 1) {
        float m = p->mean, s = p->std;
        for (size_t i = 0; i < nc; i++) a[i] = (a[i] - m) / s;
    }

    int s = p->size;
    if (p->resize) {
        tgs_aug_resize(a, c, h, w, 0, out_img, s, s);
        if (mask) tgs_aug_resize(ma, 1, h, w, 1, out_mask, s, s);
    } else {
        tgs_aug_pad(a, c, h, w, crop[0], crop[1], p->pad, out_img, s, s);
        if (mask) tgs_aug_pad(ma, 1, h, w, crop[0], crop[1], p->pad, out_mask, s, s);
    }
    return 0;
}

void tgs_aug_work_free(tgs_aug_work *wk) {
    free(wk->a), free(wk->b), free(wk->ma), free(wk->mb);
    memset(wk, 0, sizeof *wk);
}
