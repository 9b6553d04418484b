/* synth: one synthetic tile and its mask (synth.h says what a tile is). */
#include "synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "rng.h"

#define NANG 256 /* a body's radius is tabulated at NANG angles */
#define MAX_BLOBS 2
#define PI_F 3.14159265f

int tgs_synth_init(tgs_synth *w, int n) {
    memset(w, 0, sizeof *w);
    size_t np = (size_t)n * (size_t)n;
    w->n = n, w->pad = n + 16, w->len = n + 2 * w->pad;
    w->trace = malloc(sizeof(float) * (size_t)w->len);
    w->refl = malloc(sizeof(float) * (size_t)w->len);
    w->dist = malloc(sizeof(float) * np), w->up = malloc(sizeof(float) * np);
    w->chaos = malloc(sizeof(float) * np), w->tmp = malloc(sizeof(float) * np);
    w->fold = malloc(sizeof(float) * (size_t)n);
    w->rgb = malloc(3 * np), w->mask = malloc(np);
    if (!w->trace || !w->refl || !w->dist || !w->up || !w->chaos || !w->tmp || !w->fold || !w->rgb || !w->mask)
        return tgs_err("out of memory for %dx%d tiles", n, n);
    return 0;
}

void tgs_synth_free(tgs_synth *w) {
    free(w->trace), free(w->refl), free(w->dist), free(w->up), free(w->chaos), free(w->tmp), free(w->fold);
    free(w->rgb), free(w->mask);
}

/* ---- ids ---- */

static uint64_t mix64(uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Tile i of set (0 train, 1 test) as 10 hex digits: a 4-round Feistel
 * network on 40 bits, keyed by the seed, is a permutation, so no two
 * tiles share an id. */
void tgs_synth_id(uint64_t seed, int set, uint64_t i, char id[11]) {
    uint64_t x = (uint64_t)set << 39 | i;
    uint32_t l = (uint32_t)(x >> 20), r = (uint32_t)(x & 0xfffff);
    for (uint64_t k = 0; k < 4; k++) {
        uint32_t f = (uint32_t)(mix64(mix64(seed + k) ^ r) & 0xfffff), t = r;
        r = l ^ f, l = t;
    }
    snprintf(id, 11, "%010llx", (unsigned long long)(((uint64_t)l << 20 | r) & 0xffffffffffull));
}

/* ---- one tile ---- */

static float uni(tgs_rng *r, float a, float b) { return a + (b - a) * tgs_rng_uniform(r); }
static float clampf(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }
/* Roughly standard normal, cheaply: the sum of four 16-bit uniforms
 * (Irwin-Hall), for the per-pixel noise where the tails do not matter. */
static float noise1(tgs_rng *r) {
    uint64_t v = tgs_rng_u64(r);
    float s = (float)(v & 0xffff) + (float)(v >> 16 & 0xffff) + (float)(v >> 32 & 0xffff) + (float)(v >> 48);
    return (s - 131070.0f) * (1.0f / 37837.2f); /* mean 4 x 32767.5; sd 65536 sqrt(4/12) */
}
/* The Ricker wavelet of unit peak at t = 0, t in units of its half-width. */
static float ricker(float t) { return (1 - 2 * t * t) * expf(-t * t); }

/* A star-shaped body: centre and radius at NANG angles (plus a wrap). */
typedef struct {
    float cx, cy, rad[NANG + 1];
} blob;

enum { BLOB_DOME, BLOB_FLANK, BLOB_FULL, BLOB_POD };

static void blob_draw(blob *b, int kind, float n, tgs_rng *r) {
    float r0;
    switch (kind) {
    case BLOB_DOME: /* rises from below the tile; its top somewhere in it */
        b->cy = n * uni(r, 0.8f, 1.6f);
        r0 = b->cy - n * uni(r, 0.05f, 0.85f);
        b->cx = n * uni(r, -0.1f, 1.1f);
        break;
    case BLOB_FLANK: { /* comes in from the left or right edge */
        r0 = n * uni(r, 0.35f, 1.0f);
        float in = n * uni(r, 0.1f, 0.6f);
        b->cx = tgs_rng_u32(r) & 1 ? in - r0 : n - in + r0;
        b->cy = n * uni(r, 0.3f, 1.3f);
        break;
    }
    case BLOB_FULL: /* covers most or all of the tile */
        r0 = n * uni(r, 0.9f, 1.6f);
        b->cx = n * uni(r, 0.3f, 0.7f);
        b->cy = n * uni(r, -0.3f, 0.3f) + r0;
        break;
    default: /* a pod inside the tile */
        r0 = n * uni(r, 0.08f, 0.3f);
        b->cx = n * uni(r, 0.15f, 0.85f);
        b->cy = n * uni(r, 0.2f, 0.85f);
    }
    /* smooth lobes (k < 6) and a rugose top (k up to 12) */
    float amp[12], ph[12];
    for (int k = 0; k < 12; k++) {
        amp[k] = k < 5 ? uni(r, 0, 0.3f) / (float)(k + 1) : uni(r, 0, 0.025f);
        ph[k] = uni(r, 0, 2 * PI_F);
    }
    for (int i = 0; i <= NANG; i++) {
        float th = 2 * PI_F * (float)i / NANG - PI_F, f = 1;
        for (int k = 0; k < 12; k++) f += amp[k] * cosf((float)(k + 1) * th + ph[k]);
        b->rad[i] = r0 * (f < 0.25f ? 0.25f : f);
    }
}

/* Radial distance of (x, y) outside the body (negative inside) and the
 * upward part of the outward direction there (1 on top, -1 at the base). */
static float blob_dist(const blob *b, float x, float y, float *up) {
    float dx = x - b->cx, dy = y - b->cy, rho = sqrtf(dx * dx + dy * dy);
    float t = (atan2f(dy, dx) + PI_F) * (NANG / (2 * PI_F));
    int i = (int)t;
    if (i < 0) i = 0;
    if (i > NANG - 1) i = NANG - 1;
    float rad = b->rad[i] + (t - (float)i) * (b->rad[i + 1] - b->rad[i]);
    *up = rho > 0 ? -dy / rho : 1;
    return rho - rad;
}

/* What a tile needs beyond its pixels; buffers grown once. */

/* The sediment's trace along the depth coordinate u: sparse reflectors
 * convolved with a Ricker wavelet of the given wavelength, unit RMS, then
 * an amplitude envelope with dim intervals (quiet shales: layered, but
 * nearly as featureless as salt) and now and then one very strong horizon
 * (bright, as a salt top is, with layers below it). */
static void make_trace(tgs_synth *w, float lambda, float sc, tgs_rng *r) {
    int len = w->len;
    for (int i = 0; i < len; i++) {
        float g = tgs_rng_normal(r);
        w->refl[i] = tgs_rng_uniform(r) < 0.12f ? g : 0.25f * g;
    }
    if (tgs_rng_uniform(r) < 0.35f) {
        int at = w->pad + (int)tgs_rng_below(r, (uint32_t)w->n);
        w->refl[at] = (tgs_rng_u32(r) & 1 ? 1 : -1) * uni(r, 3, 5);
    }
    float s = lambda / PI_F; /* the Ricker's half-width for that peak wavelength */
    int half = (int)(3 * s) + 1;
    double ss = 0;
    for (int i = 0; i < len; i++) {
        float v = 0;
        for (int k = -half; k <= half; k++)
            if (i + k >= 0 && i + k < len) v += w->refl[i + k] * ricker((float)k / s);
        w->trace[i] = v, ss += (double)v * v;
    }
    float norm = ss > 0 ? (float)(1 / sqrt(ss / len)) : 1;
    float el = uni(r, 25, 80) * sc, eph = uni(r, 0, 2 * PI_F), ea = uni(r, 0, 0.35f);
    int ndim = (int)tgs_rng_below(r, 4); /* 0..3 dim intervals */
    float d0[3] = {0}, d1[3] = {0}, dk[3] = {1, 1, 1};
    for (int k = 0; k < ndim; k++) {
        d0[k] = uni(r, -0.2f, 1.1f) * (float)w->n;
        d1[k] = d0[k] + uni(r, 8, 35) * sc;
        dk[k] = uni(r, 0.12f, 0.35f);
    }
    for (int i = 0; i < len; i++) {
        float u = (float)(i - w->pad), env = 1 + ea * sinf(2 * PI_F * u / el + eph);
        for (int k = 0; k < ndim; k++) { /* edges ramped over 3 pixels */
            float in = clampf(fminf(u - d0[k], d1[k] - u) / (3 * sc), 0, 1);
            env *= 1 - (1 - dk[k]) * in;
        }
        w->trace[i] *= norm * env;
    }
}

static float trace_at(const tgs_synth *w, float u) {
    float t = clampf(u + (float)w->pad, 0, (float)(w->len - 2));
    int i = (int)t;
    return w->trace[i] + (t - (float)i) * (w->trace[i + 1] - w->trace[i]);
}

/* White noise blurred twice by a 3x3 box, unit RMS: salt's chaotic inside. */
static void make_chaos(tgs_synth *w, tgs_rng *r) {
    int n = w->n;
    size_t np = (size_t)n * (size_t)n;
    for (size_t i = 0; i < np; i++) w->chaos[i] = noise1(r);
    for (int pass = 0; pass < 2; pass++) {
        float *src = pass ? w->tmp : w->chaos, *dst = pass ? w->chaos : w->tmp;
        for (int y = 0; y < n; y++)
            for (int x = 0; x < n; x++) {
                float v = 0;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++) {
                        int yy = y + dy < 0 ? 0 : y + dy >= n ? n - 1 : y + dy;
                        int xx = x + dx < 0 ? 0 : x + dx >= n ? n - 1 : x + dx;
                        v += src[(size_t)yy * (size_t)n + (size_t)xx];
                    }
                dst[(size_t)y * (size_t)n + (size_t)x] = v;
            }
    }
    double ss = 0;
    for (size_t i = 0; i < np; i++) ss += (double)w->chaos[i] * w->chaos[i];
    float norm = ss > 0 ? (float)(1 / sqrt(ss / (double)np)) : 1;
    for (size_t i = 0; i < np; i++) w->chaos[i] *= norm;
}

/* Draw the bodies of a salt tile into w->dist and w->up; the salt pixels'
 * count. */
static size_t draw_salt(tgs_synth *w, tgs_rng *r, int *nblob) {
    int n = w->n;
    blob b[MAX_BLOBS];
    /* dome 50%, flank 20%, full 12%, pod 18%; a second body 30% of the time */
    static const float cum[] = {0.5f, 0.7f, 0.82f};
    *nblob = tgs_rng_uniform(r) < 0.3f ? 2 : 1;
    for (int k = 0; k < *nblob; k++) {
        float c = tgs_rng_uniform(r);
        int kind = c < cum[0] ? BLOB_DOME : c < cum[1] ? BLOB_FLANK : c < cum[2] ? BLOB_FULL : BLOB_POD;
        blob_draw(&b[k], kind, (float)n, r);
    }
    size_t salt = 0;
    for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++) {
            size_t i = (size_t)y * (size_t)n + (size_t)x;
            float d = INFINITY, up = 0;
            for (int k = 0; k < *nblob; k++) {
                float u, dk = blob_dist(&b[k], (float)x + 0.5f, (float)y + 0.5f, &u);
                if (dk < d) d = dk, up = u;
            }
            w->dist[i] = d, w->up[i] = up;
            salt += d < 0;
        }
    return salt;
}

/* Tile (seed, set, index): its pixels into w->rgb, its mask (0/255) into
 * w->mask; returns the depth z, an integer in 51..959 as Kaggle's. */
int tgs_synth_tile(tgs_synth *w, uint64_t seed, int set, uint64_t index, double empty) {
    tgs_rng r;
    tgs_rng_seed(&r, seed, (uint64_t)(set + 1) << 40 | index);
    int n = w->n;
    size_t np = (size_t)n * (size_t)n;
    float sc = (float)n / 101.0f, fn = (float)n;
    int salt = tgs_rng_uniform(&r) >= empty;
    /* depth: salt tiles lean deep, empty ones shallow */
    float q = tgs_rng_uniform(&r);
    q = salt ? 1 - powf(1 - q, 1.6f) : powf(q, 1.6f);
    int z = 51 + (int)lroundf(908 * q);

    if (salt) {
        size_t min_px = np / 400 > 20 ? 20 : np / 400 + 1, got = 0;
        int nb;
        for (int tries = 0; tries < 64 && (got = draw_salt(w, &r, &nb)) < min_px; tries++) {}
        if (got < min_px) salt = 0; /* not met in practice: the pods alone make it */
    }
    if (!salt)
        for (size_t i = 0; i < np; i++) w->dist[i] = INFINITY, w->up[i] = 0;

    float lambda = (5 + 5 * q + uni(&r, 0, 3)) * sc;
    make_trace(w, lambda, sc, &r);
    if (salt) make_chaos(w, &r);
    /* structure: dip varying across the tile and with depth, a fold, a fault */
    float dip = uni(&r, -0.3f, 0.3f), bend = uni(&r, -0.5f, 0.5f), spread = uni(&r, -0.5f, 0.5f);
    float fa = uni(&r, 0, 6) * sc, fl = uni(&r, 40, 200) * sc, fph = uni(&r, 0, 2 * PI_F);
    int fault = tgs_rng_uniform(&r) < 0.5f;
    float fx = uni(&r, 0.1f, 0.9f) * fn, fy = uni(&r, 0.1f, 0.9f) * fn;
    float fth = uni(&r, 0.9f, 1.5f) * (tgs_rng_u32(&r) & 1 ? 1 : -1);
    float throw_ = uni(&r, 3, 12) * sc * (tgs_rng_u32(&r) & 1 ? 1 : -1), fnx = sinf(fth), fny = -cosf(fth);
    float drag = uni(&r, 0, 10) * sc, dragl = uni(&r, 5, 15) * sc;
    /* amplitudes: weaker with depth; salt's inside quiet, its top strong */
    float mean = clampf(128 + 14 * tgs_rng_normal(&r), 90, 170);
    float a_sed = uni(&r, 22, 45) * (1 - 0.35f * q), a_in = a_sed * uni(&r, 0.12f, 0.45f);
    float bias = a_sed * uni(&r, -0.3f, 0.3f), a_top = a_sed * uni(&r, 2.5f, 4.0f), w_top = uni(&r, 1.6f, 2.6f) * sc;
    float noise = uni(&r, 2, 9);

    for (int x = 0; x < n; x++) w->fold[x] = fa * sinf(2 * PI_F * (float)x / fl + fph);
    for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++) {
            size_t i = (size_t)y * (size_t)n + (size_t)x;
            float xc = ((float)x - fn / 2) / fn, yf = (float)y / fn, d = w->dist[i];
            float u = (float)y - fn * (dip * xc + bend * xc * xc) * (1 + spread * yf) + w->fold[x] * (0.5f + yf);
            if (fault && ((float)x - fx) * fnx + ((float)y - fy) * fny > 0) u += throw_;
            if (salt) u += drag * expf(-fmaxf(d, 0) / dragl);
            float v = a_sed * trace_at(w, u);
            if (salt) {
                float in = clampf(0.5f - d / 1.2f, 0, 1);
                v = (1 - in) * v + in * (a_in * w->chaos[i] + bias);
                float top = clampf(1.4f * w->up[i] + 0.15f, 0, 1);
                if (fabsf(d) < 4 * w_top) v += a_top * top * ricker(d / w_top);
            }
            float g = mean + v + noise * noise1(&r);
            uint8_t b = (uint8_t)lroundf(clampf(g, 0, 255));
            w->rgb[3 * i] = w->rgb[3 * i + 1] = w->rgb[3 * i + 2] = b;
            w->mask[i] = d < 0 ? 255 : 0;
        }
    return z;
}
