/* op_conv: the convolutions, conv2d and the 2x2 stride-2 transposed conv
 * (linear and matmul are in op_matmul.c): the CPU kernels and their op
 * tables (the graph builders are nn/op_conv.c).
 *
 * conv2d has three paths. 3x3 pad-1 stride-1 convs with many channels
 * take Winograd F(4x4,3x3) or F(2x2,3x3) (conv_wino.c: 4x and 2.25x
 * fewer multiplies; see conv_use_wino for where each pays). Other
 * stride-1 convs on rows of 12 or more take direct AVX2 kernels (below,
 * "the direct path"): no column matrix, ~90% of what sgemm reaches on
 * this machine's cores. The rest (strides, narrow deep layers, 1x1, CPUs
 * without AVX2) take im2col + sgemm over tiles of output rows, whole
 * images grouped when they are small, so the column buffer stays about
 * 1 MB per thread whatever the layer. The weight gradient takes Winograd only in the test modes 3 and 4
 * (tgs_cpu_conv_direct): measured on this machine it won on some layers
 * and lost on others by more than the noise, so the direct path keeps it.
 *
 * Threads split the batch by images (by output rows when there are fewer
 * images than threads); each has its own slice of the workspace. The
 * weight gradient is summed per thread into its own partial, and the
 * partials added in thread order, so a run is bytewise reproducible for a
 * given thread count. The input gradient of a stride-1 conv is itself a
 * conv of dout with the flipped, transposed weights, which runs on the
 * forward code (on sgemm: a GEMM whose inner dimension is K*kh*kw, not K,
 * and no col2im); other strides go through col2im. */
#include "nn/cpu/ops_cpu.h"
#include "nn/cpu/conv_tiles.h"
#include "nn/cpu/conv_wino.h"
#include "err.h"

#include <string.h>

/* Floats of one thread's im2col tile: 1 MB keeps the GEMMs a few hundred
 * columns wide for the deepest layers (1/4 to 4 MB measured the same). */
#define CONV_COL_BUDGET (1 << 18)
#define CONV_MAX_THREADS 64

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* ceil(a / b) for b > 0 and any a */
static int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

/* ======================================================================
 * conv2d
 * ====================================================================== */

/* A convolution as the im2col code sees it: the input gradient pass runs
 * the same code on dout with other pads, so pads are per axis here. */
struct conv_geom {
    int32_t n, c, h, w;  /* input (N,C,H,W) */
    int32_t k, kh, kw;   /* output channels, kernel */
    int32_t stride, ph, pw, dil;
    int32_t ho, wo;      /* output (N,K,Ho,Wo) */
};

/* Tiles of a pass: whole groups of `imgs` images when one image's columns
 * are small, else up to `rows` output rows of one image. cols: the most
 * columns a tile has. */
struct conv_tiling {
    int32_t imgs, rows;
    int64_t cols;
};

static int64_t geom_ckk(const struct conv_geom *g) { return (int64_t)g->c * g->kh * g->kw; }
static int geom_is_1x1(const struct conv_geom *g) {
    return g->kh == 1 && g->kw == 1 && g->stride == 1 && g->ph == 0 && g->pw == 0;
}

static struct conv_tiling conv_tiling(const struct conv_geom *g) {
    struct conv_tiling t;
    int64_t ckk = geom_ckk(g), howo = (int64_t)g->ho * g->wo;
    if (geom_is_1x1(g)) {
        /* no column buffer: the GEMMs read x in place, one image each */
        t.imgs = 1, t.rows = g->ho, t.cols = howo;
        return t;
    }
    t.rows = (int32_t)min64(g->ho, max64(1, CONV_COL_BUDGET / (ckk * g->wo)));
    t.imgs = t.rows == g->ho ? (int32_t)min64(g->n, max64(1, CONV_COL_BUDGET / (ckk * howo))) : 1;
    t.cols = t.imgs > 1 ? t.imgs * howo : (int64_t)t.rows * g->wo;
    return t;
}

/* One tile: images [n0, n0 + m), output rows [r0, r0 + r) of each (r = Ho
 * when m > 1). Its P = m*r*Wo columns are ordered (image, row, col). */
struct conv_tile {
    int32_t n0, m, r0, r;
};

/* Walk the tiles of the flattened output rows [u, end) (u counts n*Ho +
 * oh): whole images grouped when the range allows, else row tiles that
 * never cross an image. Returns 0 when done. */
static int conv_next_tile(const struct conv_geom *g, const struct conv_tiling *tl, int64_t *u, int64_t end,
                          struct conv_tile *t) {
    if (*u >= end) return 0;
    int32_t n = (int32_t)(*u / g->ho), oh = (int32_t)(*u % g->ho);
    if (oh == 0 && tl->imgs > 1 && *u + g->ho <= end) {
        t->n0 = n, t->r0 = 0, t->r = g->ho;
        t->m = (int32_t)min64(tl->imgs, (end - *u) / g->ho);
        *u += (int64_t)t->m * g->ho;
    } else {
        t->n0 = n, t->m = 1, t->r0 = oh;
        t->r = (int32_t)min64(min64(tl->rows, g->ho - oh), end - *u);
        *u += t->r;
    }
    return 1;
}

/* The flattened output rows thread tid takes: whole images when there are
 * at least as many images as threads (or when the pass needs images to
 * itself: col2im's overlapping writes), else an even share of rows. */
static void conv_thread_rows(const struct conv_geom *g, int tid, int nt, int whole_images, int64_t *lo, int64_t *hi) {
    if (g->n >= nt || whole_images) {
        int64_t a, b;
        tgs_split(g->n, tid, nt, &a, &b);
        *lo = a * g->ho, *hi = b * g->ho;
    } else {
        tgs_split((int64_t)g->n * g->ho, tid, nt, lo, hi);
    }
}

/* col (C*kh*kw, P) for tile t of x (N,C,H,W): col[(c,i,j), p] =
 * x[n, c, oh*s - ph + i*dil, ow*s - pw + j*dil], zero outside. The inner
 * loops run along output columns: a memcpy for stride 1. */
static void im2col(float *col, const float *x, const struct conv_geom *g, const struct conv_tile *t) {
    int64_t hw = (int64_t)g->h * g->w, rwo = (int64_t)t->r * g->wo, P = t->m * rwo;
    int s = g->stride;
    for (int32_t c = 0; c < g->c; c++) {
        for (int32_t i = 0; i < g->kh; i++) {
            for (int32_t j = 0; j < g->kw; j++) {
                float *row = col + ((int64_t)(c * g->kh + i) * g->kw + j) * P;
                int32_t off = j * g->dil - g->pw; /* iw = ow*s + off */
                int32_t lo = (int32_t)min64(g->wo, max64(0, ceil_div(-off, s)));
                int32_t hi = (int32_t)max64(lo, min64(g->wo, ceil_div((int64_t)g->w - off, s)));
                for (int32_t mi = 0; mi < t->m; mi++) {
                    const float *xc = x + ((int64_t)(t->n0 + mi) * g->c + c) * hw;
                    for (int32_t oh = t->r0; oh < t->r0 + t->r; oh++) {
                        float *d = row + mi * rwo + (int64_t)(oh - t->r0) * g->wo;
                        int32_t ih = oh * s - g->ph + i * g->dil;
                        if (ih < 0 || ih >= g->h) {
                            memset(d, 0, (size_t)g->wo * sizeof *d);
                            continue;
                        }
                        const float *src = xc + (int64_t)ih * g->w;
                        for (int32_t ow = 0; ow < lo; ow++) d[ow] = 0;
                        if (s == 1) {
                            memcpy(d + lo, src + lo + off, (size_t)(hi - lo) * sizeof *d);
                        } else {
                            for (int32_t ow = lo; ow < hi; ow++) d[ow] = src[(int64_t)ow * s + off];
                        }
                        for (int32_t ow = hi; ow < g->wo; ow++) d[ow] = 0;
                    }
                }
            }
        }
    }
}

/* The adjoint of im2col: dx (N,C,H,W) += col scattered back. Tiles of one
 * image overlap in dx, so a thread must own whole images. */
static void col2im(float *dx, const float *col, const struct conv_geom *g, const struct conv_tile *t) {
    int64_t hw = (int64_t)g->h * g->w, rwo = (int64_t)t->r * g->wo, P = t->m * rwo;
    int s = g->stride;
    for (int32_t c = 0; c < g->c; c++) {
        for (int32_t i = 0; i < g->kh; i++) {
            for (int32_t j = 0; j < g->kw; j++) {
                const float *row = col + ((int64_t)(c * g->kh + i) * g->kw + j) * P;
                int32_t off = j * g->dil - g->pw;
                int32_t lo = (int32_t)min64(g->wo, max64(0, ceil_div(-off, s)));
                int32_t hi = (int32_t)max64(lo, min64(g->wo, ceil_div((int64_t)g->w - off, s)));
                for (int32_t mi = 0; mi < t->m; mi++) {
                    float *xc = dx + ((int64_t)(t->n0 + mi) * g->c + c) * hw;
                    for (int32_t oh = t->r0; oh < t->r0 + t->r; oh++) {
                        int32_t ih = oh * s - g->ph + i * g->dil;
                        if (ih < 0 || ih >= g->h) continue;
                        const float *d = row + mi * rwo + (int64_t)(oh - t->r0) * g->wo;
                        float *dst = xc + (int64_t)ih * g->w;
                        if (s == 1) {
                            float *dd = dst + off;
                            for (int32_t ow = lo; ow < hi; ow++) dd[ow] += d[ow];
                        } else {
                            for (int32_t ow = lo; ow < hi; ow++) dst[(int64_t)ow * s + off] += d[ow];
                        }
                    }
                }
            }
        }
    }
}

/* ---- the direct path: stride-1 convs without im2col ----
 * A row tile of the input is copied once into a zero-bordered buffer xp
 * (C, rows + dil*(kh-1), Wp = W + 2pw). Output positions are counted in
 * that padded width, p = oh*Wp + ow, so the input of tap (c,i,j) for any
 * run of positions is one contiguous stretch of xp at p + i*dil*Wp + j*dil,
 * across row ends; the Wp - Wo positions at each row end are computed and
 * dropped (why the path is kept for rows of 12 and more). A register tile
 * of 4 output channels x 24 positions takes 3 loads and 4 broadcasts per
 * 12 FMAs and never leaves the registers over a block of channels: no
 * column matrix, no GEMM packing. dw is the same walk as dot products of
 * dout (copied into the padded width, zeros in the dropped columns) with
 * the shifted xp. AVX2 + FMA, chosen at run time; without them, and for
 * other shapes, the im2col + sgemm path. */

#if defined(__x86_64__) && defined(__GNUC__)
#define CONV_DIRECT 1
#include <immintrin.h>
#else
#define CONV_DIRECT 0
#endif

#define DIRECT_MR 4        /* output channels per register tile */
#define DIRECT_NR 24       /* positions per register tile (3 vectors) */
#define DIRECT_MAX_TAPS 64 /* kernels up to 8x8 */
/* floats of one thread's xp + output rows: the kernels stream through
 * them, so L2 need not hold them; whole images up to 16x16x384 */
#define DIRECT_BUDGET (1 << 18)
/* floats of the packed weights of one channel block, read once per tile */
#define DIRECT_WBLOCK (1 << 15)
/* positions of dout per dw sweep: 4 rows of it stay in L1 */
#define DIRECT_DW_CHUNK 1024

static int direct_cpu = -1; /* AVX2 and FMA: -1 not yet asked */
static int direct_mode = 1;

/* For the tests, which run the cases on every path: mode 0 turns the
 * direct and Winograd paths off, 1 back on (the default), 2 takes the
 * direct path for every shape it can compute, however narrow, and never
 * Winograd; 3 takes Winograd F(2x2) wherever it applies, 4 F(4x4); -1
 * only asks. Modes other than 0 count only where the CPU has AVX2 and
 * FMA. Returns the mode in force before. */
int tgs_cpu_conv_direct(int mode) {
    if (direct_cpu < 0) {
#if CONV_DIRECT
        __builtin_cpu_init();
        direct_cpu = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
        direct_cpu = 0;
#endif
    }
    int was = direct_cpu ? direct_mode : 0;
    if (mode >= 0 && mode <= 4) direct_mode = mode;
    return was;
}

/* 3x3 pad 1 stride 1 convs (most of a U-Net's work) by Winograd: the
 * output tile's side (2 or 4), or 0 for another path. F(2x2,3x3) has
 * 2.25x fewer multiplies than the direct path (conv_wino.c), but its
 * transforms cost per input channel (and per output channel) what the
 * direct path spends per channel pair. So by default only where C*K is
 * large and the GEMMs' inner dimension C is not short: measured with
 * bench/conv_bench on the resunet layers (one core), 48->48 and up, 72->24
 * and 180->12 ran 1.1-1.6x faster on F(2x2); 3->12, 12->12, 36->12 and
 * the 12->180 input-gradient conv of the hypercolumn head slower; 24->24
 * even.
 * F(4x4,3x3) cuts the GEMMs another 1.8x for transforms of about the same
 * cost per output, but its vector loops work in 8 tiles of 4 columns: on
 * rows of 28 and more with 24+ input channels it beat both (CPU time per
 * layer, one core: 32->32 at 56, 64->64 at 28, 96->32 at 56 and 192->64
 * at 28 ran 1.2-2.0x faster than the direct path); on the 14 and 7 rows of
 * the deep layers F(2x2) keeps them. A few input channels fanned out to
 * many also go to F(4x4): the direct path sums only 9*C products per
 * output there. The w12 hypercolumn head's input gradient, 12 channels to
 * 180 at 112, is such a conv: with it on F(4x4) the head's backward took
 * 216 ms against 255 (one core, batch 16, five alternating runs, 5 of 5
 * faster); 12->12 lost on F(4x4), 12->36 and 16->48 were even. */
static int conv_use_wino(const struct conv_geom *g) {
    int mode = tgs_cpu_conv_direct(-1);
    if (mode != 1 && mode != 3 && mode != 4) return 0;
    if (!tgs_wino_applies(g->kh, g->kw, g->stride, g->dil, g->ph, g->pw)) return 0;
    if (mode == 3 || mode == 4) return mode == 3 ? 2 : 4;
    if (g->w >= 28 && (g->c >= 24 || (g->c >= 12 && g->k >= 8 * g->c))) return 4;
    return g->c >= 24 && (int64_t)g->c * g->k >= 1024 ? 2 : 0;
}

/* The weight gradient by Winograd: the tile side, or 0 */
static int conv_use_wino_dw(const struct conv_geom *g) {
    int mode = tgs_cpu_conv_direct(-1);
    if (mode != 3 && mode != 4) return 0;
    if (!tgs_wino_applies(g->kh, g->kw, g->stride, g->dil, g->ph, g->pw)) return 0;
    return mode == 3 ? 2 : 4;
}

static int conv_use_direct(const struct conv_geom *g) {
    int mode = tgs_cpu_conv_direct(-1);
    if (!mode || g->stride != 1 || g->ph < 0 || g->pw < 0 || geom_is_1x1(g)) return 0;
    if (g->kh * g->kw > DIRECT_MAX_TAPS) return 0;
    return mode == 2 || g->wo >= 12;
}

struct direct_plan {
    int32_t wp;          /* padded row width */
    int32_t rows;        /* output rows per tile */
    int32_t kb;          /* output channels rounded up to DIRECT_MR */
    int32_t cb;          /* input channels per block */
    int64_t cs;          /* xp channel stride: (rows + dil*(kh-1)) * wp */
    int64_t xp_floats;   /* xp with its slack */
    int64_t ldo;         /* output row stride: rows*wp rounded up to DIRECT_NR */
    int32_t taps;
    int32_t off[DIRECT_MAX_TAPS];
};

static struct direct_plan direct_plan(const struct conv_geom *g) {
    struct direct_plan d;
    d.wp = g->w + 2 * g->pw;
    d.kb = (g->k + DIRECT_MR - 1) / DIRECT_MR * DIRECT_MR;
    int64_t per_row = (int64_t)(g->c + d.kb) * d.wp;
    int64_t most = min64(g->ho, max64(1, DIRECT_BUDGET / per_row)), ntiles = (g->ho + most - 1) / most;
    d.rows = (int32_t)((g->ho + ntiles - 1) / ntiles); /* even tiles: no sliver of a row or two */
    d.taps = g->kh * g->kw;
    d.cb = (int32_t)min64(g->c, max64(1, DIRECT_WBLOCK / ((int64_t)d.kb * d.taps)));
    d.cs = (int64_t)(d.rows + g->dil * (g->kh - 1)) * d.wp;
    /* reads run past the last channel by up to a tile plus the widest tap */
    d.xp_floats = g->c * d.cs + 2 * DIRECT_NR + (int64_t)g->dil * (g->kw - 1);
    d.ldo = ((int64_t)d.rows * d.wp + DIRECT_NR - 1) / DIRECT_NR * DIRECT_NR;
    for (int32_t i = 0; i < g->kh; i++)
        for (int32_t j = 0; j < g->kw; j++) d.off[i * g->kw + j] = (i * d.wp + j) * g->dil;
    return d;
}

/* The weights of conv g rearranged, split between threads by output
 * channel. flip: w is the forward conv's (K',C',kh,kw) and g its
 * input-gradient conv, whose weight is w'[c'][k'][tap] =
 * w[k'][c'][taps-1-tap]. packed: for the direct kernels, wp[kb][c][tap][4]
 * (zeros past K), so a tile's 4 broadcasts read 16 consecutive bytes;
 * else plain (K,C,kh,kw). */
struct wpack_ctx {
    float *dst;
    const float *w;
    const struct conv_geom *g;
    int flip, packed;
};

static void wpack_worker(void *arg, int tid, int nt) {
    const struct wpack_ctx *cx = arg;
    const struct conv_geom *g = cx->g;
    int32_t taps = g->kh * g->kw;
    int64_t kn = cx->packed ? (g->k + DIRECT_MR - 1) / DIRECT_MR * DIRECT_MR : g->k, k0, k1;
    tgs_split(kn, tid, nt, &k0, &k1);
    for (int64_t k = k0; k < k1; k++)
        for (int32_t c = 0; c < g->c; c++)
            for (int32_t q = 0; q < taps; q++) {
                float v = 0;
                if (k < g->k)
                    v = cx->flip ? cx->w[((int64_t)c * g->k + k) * taps + (taps - 1 - q)]
                                 : cx->w[((int64_t)k * g->c + c) * taps + q];
                if (cx->packed)
                    cx->dst[(((k / DIRECT_MR) * g->c + c) * taps + q) * DIRECT_MR + k % DIRECT_MR] = v;
                else
                    cx->dst[(k * g->c + c) * taps + q] = v;
            }
}

static void conv_pack_weights(float *dst, const float *w, const struct conv_geom *g, int flip, int packed,
                              int threads) {
    struct wpack_ctx cx = {dst, w, g, flip, packed};
    tgs_cpu_parallel((int64_t)g->k * g->c * g->kh * g->kw < (1 << 16) ? 1 : threads, wpack_worker, &cx);
}

/* xp for output rows [r0, r0 + rows) of image x (C,H,W): input rows
 * r0 - ph .. with ph, pw zero borders; the slack past the end zeroed. */
static void direct_fill_xp(float *xp, const float *x, const struct conv_geom *g, const struct direct_plan *d,
                           int32_t r0, int32_t rows) {
    int32_t rin = rows + g->dil * (g->kh - 1);
    for (int32_t c = 0; c < g->c; c++) {
        const float *xc = x + (int64_t)c * g->h * g->w;
        float *pc = xp + c * d->cs;
        for (int32_t t = 0; t < rin; t++) {
            float *row = pc + (int64_t)t * d->wp;
            int32_t ih = r0 - g->ph + t;
            if (ih < 0 || ih >= g->h) {
                memset(row, 0, (size_t)d->wp * sizeof *row);
                continue;
            }
            for (int32_t q = 0; q < g->pw; q++) row[q] = 0, row[d->wp - 1 - q] = 0;
            memcpy(row + g->pw, xc + (int64_t)ih * g->w, (size_t)g->w * sizeof *row);
        }
    }
    memset(xp + g->c * d->cs, 0, (size_t)(d->xp_floats - g->c * d->cs) * sizeof *xp);
}

#if CONV_DIRECT
/* tgs_cpu_direct_tile (conv_tiles.c) for 3x3 kernels, the taps unrolled:
 * off gives the row step (off[3]) and the column step (off[1]) */
__attribute__((target("avx2,fma"))) static void direct_tile3x3(const float *x, int64_t cs, int32_t cn,
                                                                const int32_t *off, const float *w, float *acc,
                                                                int64_t ld, int load) {
    __m256 a00, a01, a02, a10, a11, a12, a20, a21, a22, a30, a31, a32;
    if (load) {
        a00 = _mm256_loadu_ps(acc), a01 = _mm256_loadu_ps(acc + 8), a02 = _mm256_loadu_ps(acc + 16);
        a10 = _mm256_loadu_ps(acc + ld), a11 = _mm256_loadu_ps(acc + ld + 8), a12 = _mm256_loadu_ps(acc + ld + 16);
        a20 = _mm256_loadu_ps(acc + 2 * ld), a21 = _mm256_loadu_ps(acc + 2 * ld + 8);
        a22 = _mm256_loadu_ps(acc + 2 * ld + 16);
        a30 = _mm256_loadu_ps(acc + 3 * ld), a31 = _mm256_loadu_ps(acc + 3 * ld + 8);
        a32 = _mm256_loadu_ps(acc + 3 * ld + 16);
    } else {
        a00 = a01 = a02 = a10 = a11 = a12 = a20 = a21 = a22 = a30 = a31 = a32 = _mm256_setzero_ps();
    }
    const int64_t rs = off[3], dj = off[1];
#define TAP(ptr, wq)                                                                                              \
    do {                                                                                                          \
        const float *s_ = (ptr);                                                                                  \
        __m256 x0 = _mm256_loadu_ps(s_), x1 = _mm256_loadu_ps(s_ + 8), x2 = _mm256_loadu_ps(s_ + 16);             \
        __m256 b = _mm256_broadcast_ss((wq));                                                                     \
        a00 = _mm256_fmadd_ps(b, x0, a00), a01 = _mm256_fmadd_ps(b, x1, a01), a02 = _mm256_fmadd_ps(b, x2, a02);  \
        b = _mm256_broadcast_ss((wq) + 1);                                                                        \
        a10 = _mm256_fmadd_ps(b, x0, a10), a11 = _mm256_fmadd_ps(b, x1, a11), a12 = _mm256_fmadd_ps(b, x2, a12);  \
        b = _mm256_broadcast_ss((wq) + 2);                                                                        \
        a20 = _mm256_fmadd_ps(b, x0, a20), a21 = _mm256_fmadd_ps(b, x1, a21), a22 = _mm256_fmadd_ps(b, x2, a22);  \
        b = _mm256_broadcast_ss((wq) + 3);                                                                        \
        a30 = _mm256_fmadd_ps(b, x0, a30), a31 = _mm256_fmadd_ps(b, x1, a31), a32 = _mm256_fmadd_ps(b, x2, a32);  \
    } while (0)
    for (int32_t c = 0; c < cn; c++, x += cs, w += 9 * DIRECT_MR) {
        const float *r0 = x, *r1 = x + rs, *r2 = x + 2 * rs;
        TAP(r0, w);
        TAP(r0 + dj, w + 4);
        TAP(r0 + 2 * dj, w + 8);
        TAP(r1, w + 12);
        TAP(r1 + dj, w + 16);
        TAP(r1 + 2 * dj, w + 20);
        TAP(r2, w + 24);
        TAP(r2 + dj, w + 28);
        TAP(r2 + 2 * dj, w + 32);
    }
#undef TAP
    _mm256_storeu_ps(acc, a00), _mm256_storeu_ps(acc + 8, a01), _mm256_storeu_ps(acc + 16, a02);
    _mm256_storeu_ps(acc + ld, a10), _mm256_storeu_ps(acc + ld + 8, a11), _mm256_storeu_ps(acc + ld + 16, a12);
    _mm256_storeu_ps(acc + 2 * ld, a20), _mm256_storeu_ps(acc + 2 * ld + 8, a21);
    _mm256_storeu_ps(acc + 2 * ld + 16, a22);
    _mm256_storeu_ps(acc + 3 * ld, a30), _mm256_storeu_ps(acc + 3 * ld + 8, a31);
    _mm256_storeu_ps(acc + 3 * ld + 16, a32);
}

/* o[q] = [o[q] +] s[q] + b for q < n */
__attribute__((target("avx2,fma"))) static void direct_row_out(float *o, const float *s, int32_t n, float b,
                                                                int add) {
    __m256 vb = _mm256_set1_ps(b);
    int32_t q = 0;
    if (add)
        for (; q + 8 <= n; q += 8)
            _mm256_storeu_ps(o + q, _mm256_add_ps(_mm256_loadu_ps(o + q), _mm256_add_ps(_mm256_loadu_ps(s + q), vb)));
    else
        for (; q + 8 <= n; q += 8) _mm256_storeu_ps(o + q, _mm256_add_ps(_mm256_loadu_ps(s + q), vb));
    for (; q < n; q++) o[q] = (add ? o[q] : 0) + (s[q] + b);
}
#else
static void direct_row_out(float *o, const float *s, int32_t n, float b, int add) {
    for (int32_t q = 0; q < n; q++) o[q] = (add ? o[q] : 0) + (s[q] + b);
}
static void direct_tile3x3(const float *x, int64_t cs, int32_t cn, const int32_t *off, const float *w, float *acc,
                           int64_t ld, int load) {
    (void)x, (void)cs, (void)cn, (void)off, (void)w, (void)acc, (void)ld, (void)load;
}
#endif

struct direct_ctx {
    float *out;
    const float *x, *wp, *b, *dout;
    float beta;
    const struct conv_geom *g;
    struct direct_plan d;
    float *work;
    int64_t per_thread;
    int ran;
};

/* out rows [r0, r0 + rows) of image n = beta*out + conv + b, from ob
 * (kb rows of ldo floats, in the padded width) */
static void direct_fwd_worker(void *arg, int tid, int nt) {
    const struct direct_ctx *cx = arg;
    const struct conv_geom *g = cx->g;
    const struct direct_plan *d = &cx->d;
    float *xp = cx->work + tid * cx->per_thread, *ob = xp + d->xp_floats;
    int64_t howo = (int64_t)g->ho * g->wo, u, end;
    conv_thread_rows(g, tid, nt, 0, &u, &end);
    while (u < end) {
        int32_t n = (int32_t)(u / g->ho), r0 = (int32_t)(u % g->ho);
        int32_t rows = (int32_t)min64(min64(d->rows, g->ho - r0), end - u);
        u += rows;
        direct_fill_xp(xp, cx->x + (int64_t)n * g->c * g->h * g->w, g, d, r0, rows);
        int64_t np = (int64_t)rows * d->wp;
        for (int32_t c0 = 0; c0 < g->c; c0 += d->cb) {
            int32_t cn = (int32_t)min64(d->cb, g->c - c0);
            for (int64_t p = 0; p < np; p += DIRECT_NR)
                for (int32_t k = 0; k < d->kb; k += DIRECT_MR) {
                    const float *wk = cx->wp + ((int64_t)k * g->c + (int64_t)c0 * DIRECT_MR) * d->taps;
                    if (d->taps == 9 && g->kh == 3)
                        direct_tile3x3(xp + c0 * d->cs + p, d->cs, cn, d->off, wk, ob + k * d->ldo + p, d->ldo,
                                       c0 > 0);
                    else
                        tgs_cpu_direct_tile(xp + c0 * d->cs + p, d->cs, cn, d->off, d->taps, wk, ob + k * d->ldo + p,
                                    d->ldo, c0 > 0);
                }
        }
        for (int32_t k = 0; k < g->k; k++) {
            float bk = cx->b ? cx->b[k] : 0;
            float *o = cx->out + ((int64_t)n * g->k + k) * howo + (int64_t)r0 * g->wo;
            const float *s = ob + k * d->ldo;
            for (int32_t r = 0; r < rows; r++, o += g->wo, s += d->wp)
                direct_row_out(o, s, g->wo, bk, cx->beta != 0);
        }
    }
}

static int64_t direct_fwd_per_thread(const struct conv_geom *g) {
    struct direct_plan d = direct_plan(g);
    return d.xp_floats + d.kb * d.ldo;
}

static int64_t direct_wpack_floats(const struct conv_geom *g) {
    int64_t kb = (g->k + DIRECT_MR - 1) / DIRECT_MR * DIRECT_MR;
    return (kb * g->c * g->kh * g->kw + 15) / 16 * 16;
}

/* out = beta*out + conv(x, w) + b on the direct path; w (K,C,kh,kw), or
 * with flip the forward conv's weights for this input-gradient conv */
static void conv_direct_forward(float *out, const float *x, const float *w, int flip, const float *b,
                                const struct conv_geom *g, float beta, float *work, int threads) {
    conv_pack_weights(work, w, g, flip, 1, threads);
    int64_t shared = direct_wpack_floats(g);
    struct direct_ctx cx = {out, x, work, b, NULL, beta, g, direct_plan(g), work + shared, direct_fwd_per_thread(g),
                            1};
    tgs_cpu_parallel(threads, direct_fwd_worker, &cx);
}

/* dw_t (K, C, taps) = sum over the thread's rows of dout x dot products;
 * per thread: xp, dout rows in the padded width (kb rows of ldo), dw_t */
static void direct_dw_worker(void *arg, int tid, int nt) {
    const struct direct_ctx *cx = arg;
    const struct conv_geom *g = cx->g;
    const struct direct_plan *d = &cx->d;
    if (tid == 0) ((struct direct_ctx *)arg)->ran = nt;
    float *xp = cx->work + tid * cx->per_thread, *dp = xp + d->xp_floats, *dwp = dp + d->kb * d->ldo;
    int64_t howo = (int64_t)g->ho * g->wo, u, end, taps = d->taps, nw = (int64_t)g->k * g->c * taps;
    memset(dwp, 0, (size_t)nw * sizeof *dwp);
    /* taps in threes; a short last group repeats tap 0 and drops it */
    int32_t off3[DIRECT_MAX_TAPS + 2];
    for (int32_t q = 0; q < taps + 2; q++) off3[q] = q < taps ? d->off[q] : d->off[0];
    conv_thread_rows(g, tid, nt, 0, &u, &end);
    while (u < end) {
        int32_t n = (int32_t)(u / g->ho), r0 = (int32_t)(u % g->ho);
        int32_t rows = (int32_t)min64(min64(d->rows, g->ho - r0), end - u);
        u += rows;
        direct_fill_xp(xp, cx->x + (int64_t)n * g->c * g->h * g->w, g, d, r0, rows);
        int64_t np = (int64_t)rows * d->wp, len = (np + 7) / 8 * 8;
        for (int32_t k = 0; k < d->kb; k++) {
            float *row = dp + k * d->ldo;
            memset(row, 0, (size_t)d->ldo * sizeof *row);
            if (k >= g->k) continue;
            const float *s = cx->dout + ((int64_t)n * g->k + k) * howo + (int64_t)r0 * g->wo;
            for (int32_t r = 0; r < rows; r++)
                memcpy(row + (int64_t)r * d->wp, s + (int64_t)r * g->wo, (size_t)g->wo * sizeof *row);
        }
        float sums[12];
        int64_t nch = (len + DIRECT_DW_CHUNK - 1) / DIRECT_DW_CHUNK, chunk = (len / nch + 7) / 8 * 8;
        for (int64_t p0 = 0; p0 < len; p0 += chunk) {
            int64_t pl = min64(chunk, len - p0);
            for (int32_t k = 0; k < d->kb; k += DIRECT_MR)
                for (int32_t c = 0; c < g->c; c++)
                    for (int32_t q = 0; q < taps; q += 3) {
                        tgs_cpu_dw_tile(dp + k * d->ldo + p0, d->ldo, xp + c * d->cs + p0, off3 + q, pl, sums);
                        for (int32_t kk = 0; kk < DIRECT_MR && k + kk < g->k; kk++)
                            for (int32_t t = 0; t < 3 && q + t < taps; t++)
                                dwp[((int64_t)(k + kk) * g->c + c) * taps + q + t] += sums[kk * 3 + t];
                    }
        }
    }
}

static int64_t direct_dw_per_thread(const struct conv_geom *g) {
    struct direct_plan d = direct_plan(g);
    return d.xp_floats + d.kb * d.ldo + (int64_t)g->k * g->c * d.taps;
}

/* ---- the im2col + sgemm path ----
 * forward: out (N,K,Ho,Wo) = beta*out + conv(x (N,C,H,W), w (K,C,kh,kw)) + b */

struct conv_fwd_ctx {
    float *out;
    const float *x, *w, *b;
    float beta;
    const struct conv_geom *g;
    struct conv_tiling tl;
    float *work;
    int64_t per_thread;
};

static void conv_fwd_worker(void *arg, int tid, int nt) {
    const struct conv_fwd_ctx *cx = arg;
    const struct conv_geom *g = cx->g;
    float *col = cx->work + tid * cx->per_thread;
    int64_t howo = (int64_t)g->ho * g->wo, hw = (int64_t)g->h * g->w, ckk = geom_ckk(g);
    int one = geom_is_1x1(g);
    int64_t u, end;
    conv_thread_rows(g, tid, nt, 0, &u, &end);
    struct conv_tile t;
    while (conv_next_tile(g, &cx->tl, &u, end, &t)) {
        int64_t rwo = (int64_t)t.r * g->wo, P = t.m * rwo;
        if (!one) im2col(col, cx->x, g, &t);
        for (int32_t mi = 0; mi < t.m; mi++) {
            float *o = cx->out + (int64_t)(t.n0 + mi) * g->k * howo + (int64_t)t.r0 * g->wo;
            if (one)
                tgs_sgemm(0, 0, g->k, (int)rwo, (int)ckk, 1, cx->w, (int)ckk,
                          cx->x + (int64_t)(t.n0 + mi) * g->c * hw + (int64_t)t.r0 * g->w, (int)hw, cx->beta, o,
                          (int)howo);
            else
                tgs_sgemm(0, 0, g->k, (int)rwo, (int)ckk, 1, cx->w, (int)ckk, col + mi * rwo, (int)P, cx->beta, o,
                          (int)howo);
            if (cx->b)
                for (int32_t k = 0; k < g->k; k++) {
                    float bk = cx->b[k], *ok = o + (int64_t)k * howo;
                    for (int64_t p = 0; p < rwo; p++) ok[p] += bk;
                }
        }
    }
}

static int64_t conv_fwd_per_thread(const struct conv_geom *g) {
    return geom_is_1x1(g) ? 0 : geom_ckk(g) * conv_tiling(g).cols;
}

/* Threads that fit the workspace: the plan sized it for tgs_cpu_threads()
 * at plan time; fewer are used if the count grew since. */
static int conv_fit_threads(const struct tgs_exec *x, int64_t per_thread, int64_t shared) {
    int nt = x->threads < 1 ? 1 : x->threads > CONV_MAX_THREADS ? CONV_MAX_THREADS : x->threads;
    if (per_thread > 0) {
        int64_t fit = (x->work_floats - shared) / per_thread;
        if (fit < nt) nt = (int)fit;
    } else if (shared > x->work_floats) {
        nt = 0;
    }
    return nt;
}

/* the im2col + sgemm path of conv2d_forward */
static void conv_gemm_forward(float *out, const float *x, const float *w, const float *b, const struct conv_geom *g,
                              float beta, float *work, int threads) {
    struct conv_fwd_ctx cx = {out, x, w, b, beta, g, conv_tiling(g), work, conv_fwd_per_thread(g)};
    tgs_cpu_parallel(threads, conv_fwd_worker, &cx);
}

/* backward, pass A (by images, or rows when the images are fewer than the
 * threads and no col2im runs): per tile, im2col of x; dw_t (K, C*kh*kw) +=
 * dout_tile (K,P) col^T; for strides > 1 also col = w^T dout_tile and
 * col2im into dx. db by channel ranges. Then dw += dw_0 + dw_1 + ... in
 * thread order. For stride 1, dx is a forward pass of its own (beta = 1). */

struct conv_bwd_ctx {
    float *dx, *dw, *db;
    const float *dout, *x, *w;
    const struct conv_geom *g;
    struct conv_tiling tl;
    int col2im_dx;
    float *work;
    int64_t per_thread, col_floats, pack_floats;
    int ran; /* threads the pool gave the pass, set by thread 0 */
};

/* db (K) += the sum of dout (N,K,plane) over images and the plane, for this
 * thread's share of K: each channel's sum is one thread's, in image order,
 * so the bytes do not depend on the thread count. */
static void bias_grad(float *db, const float *dout, int32_t n_img, int32_t nk, int64_t plane, int tid, int nt) {
    int64_t k0, k1;
    tgs_split(nk, tid, nt, &k0, &k1);
    for (int64_t k = k0; k < k1; k++) {
        double s = 0;
        for (int32_t n = 0; n < n_img; n++) {
            const float *d = dout + ((int64_t)n * nk + k) * plane;
            float part = 0;
            for (int64_t p = 0; p < plane; p++) part += d[p];
            s += part;
        }
        db[k] += (float)s;
    }
}
static void conv_bwd_worker(void *arg, int tid, int nt) {
    const struct conv_bwd_ctx *cx = arg;
    const struct conv_geom *g = cx->g;
    if (tid == 0) ((struct conv_bwd_ctx *)arg)->ran = nt;
    int64_t howo = (int64_t)g->ho * g->wo, hw = (int64_t)g->h * g->w, ckk = geom_ckk(g);
    if (cx->db) bias_grad(cx->db, cx->dout, g->n, g->k, howo, tid, nt);
    if (!cx->dw && !cx->col2im_dx) return;
    float *col = cx->work + tid * cx->per_thread;
    float *pack = col + cx->col_floats;
    float *dwp = pack + cx->pack_floats;
    int one = geom_is_1x1(g);
    float beta = 0;
    int64_t u, end;
    conv_thread_rows(g, tid, nt, cx->col2im_dx, &u, &end);
    struct conv_tile t;
    while (conv_next_tile(g, &cx->tl, &u, end, &t)) {
        int64_t rwo = (int64_t)t.r * g->wo, P = t.m * rwo;
        const float *dt = cx->dout + (int64_t)t.n0 * g->k * howo + (int64_t)t.r0 * g->wo;
        int64_t ldd = howo;
        if (t.m > 1) {
            /* the tile's dout as one (K, P) matrix, images side by side */
            for (int32_t k = 0; k < g->k; k++)
                for (int32_t mi = 0; mi < t.m; mi++)
                    memcpy(pack + k * P + mi * howo, cx->dout + ((int64_t)(t.n0 + mi) * g->k + k) * howo,
                           (size_t)howo * sizeof *pack);
            dt = pack, ldd = P;
        }
        if (cx->dw) {
            if (one) {
                /* 1x1: x itself is the column matrix, one image per tile */
                const float *xt = cx->x + (int64_t)t.n0 * g->c * hw + (int64_t)t.r0 * g->w;
                tgs_sgemm(0, 1, g->k, (int)ckk, (int)rwo, 1, dt, (int)ldd, xt, (int)hw, beta, dwp, (int)ckk);
            } else {
                im2col(col, cx->x, g, &t);
                tgs_sgemm(0, 1, g->k, (int)ckk, (int)P, 1, dt, (int)ldd, col, (int)P, beta, dwp, (int)ckk);
            }
            beta = 1;
        }
        if (cx->col2im_dx) {
            tgs_sgemm(1, 0, (int)ckk, (int)P, g->k, 1, cx->w, (int)ckk, dt, (int)ldd, 0, col, (int)P);
            col2im(cx->dx, col, g, &t);
        }
    }
    if (cx->dw && beta == 0) memset(dwp, 0, (size_t)(g->k * ckk) * sizeof *dwp);
}

struct conv_reduce_ctx {
    float *dst;
    const float *parts;
    int64_t n, stride;
    int nparts;
};

/* dst[i] += parts[0][i] + parts[1][i] + ... in part order, split by i */
static void reduce_worker(void *arg, int tid, int nt) {
    const struct conv_reduce_ctx *cx = arg;
    int64_t lo, hi;
    tgs_split(cx->n, tid, nt, &lo, &hi);
    for (int64_t i = lo; i < hi; i++) {
        float s = cx->parts[i];
        for (int p = 1; p < cx->nparts; p++) s += cx->parts[p * cx->stride + i];
        cx->dst[i] += s;
    }
}

/* The geometry of the input gradient as a conv: dout (N,K,Ho,Wo) with w'
 * (C,K,kh,kw), w'[c,k,i,j] = w[k,c,kh-1-i,kw-1-j], pads dil*(k-1) - pad
 * (negative pads crop; im2col bounds-checks), giving (N,C,H,W). Stride 1. */
static struct conv_geom conv_dx_geom(const struct conv_geom *g) {
    struct conv_geom d = {g->n, g->k, g->ho, g->wo, g->c, g->kh, g->kw, 1,
                          g->dil * (g->kh - 1) - g->ph, g->dil * (g->kw - 1) - g->pw, g->dil, g->h, g->w};
    return d;
}

static int64_t conv_bwd_per_thread(const struct conv_geom *g, int64_t *col_floats, int64_t *pack_floats) {
    struct conv_tiling tl = conv_tiling(g);
    *col_floats = geom_is_1x1(g) ? 0 : geom_ckk(g) * tl.cols;
    *pack_floats = tl.imgs > 1 ? (int64_t)g->k * tl.cols : 0;
    return *col_floats + *pack_floats + (int64_t)g->k * geom_ckk(g);
}

/* dw and db from the thread's partials and channel ranges (pass A) */
static void conv_dw_pass(float *dw, float *db, const float *dout, const float *x, const struct conv_geom *g,
                         int direct, float *work, int threads) {
    int64_t nw = (int64_t)g->k * geom_ckk(g);
    int wm = conv_use_wino_dw(g);
    if (wm && dw) {
        tgs_wino_dw3x3(wm, dw, x, dout, g->n, g->c, g->h, g->w, g->k, work, threads);
        dw = NULL; /* done; db below */
    } else if (direct && dw) {
        struct direct_ctx cx = {NULL, x, NULL, NULL, dout, 0, g, direct_plan(g), work, direct_dw_per_thread(g), 1};
        tgs_cpu_parallel(threads, direct_dw_worker, &cx);
        struct conv_reduce_ctx rc = {dw, work + cx.per_thread - nw, nw, cx.per_thread, cx.ran};
        tgs_cpu_parallel(threads, reduce_worker, &rc);
        dw = NULL; /* done; db below */
    }
    if (!dw && !db) return;
    struct conv_bwd_ctx cx = {NULL, dw, db, dout, x, NULL, g, conv_tiling(g), 0, work, 0, 0, 0, 1};
    cx.per_thread = conv_bwd_per_thread(g, &cx.col_floats, &cx.pack_floats);
    tgs_cpu_parallel(threads, conv_bwd_worker, &cx);
    if (dw) {
        struct conv_reduce_ctx rc = {dw, work + cx.col_floats + cx.pack_floats, nw, cx.per_thread, cx.ran};
        tgs_cpu_parallel(threads, reduce_worker, &rc);
    }
}

// x is (N,C,H,W), w is (K,C,kh,kw), b is (K) or NULL, out is (N,K,Ho,Wo)
// = conv(x, w) + b. work: conv_work_for(g, 0, threads) floats.
static void conv2d_forward(float *out, const float *x, const float *w, const float *b, const struct conv_geom *g,
                           float *work, int threads) {
    int wm = conv_use_wino(g);
    if (wm)
        tgs_wino_conv3x3(wm, out, x, w, 0, b, g->n, g->c, g->h, g->w, g->k, 0, work, threads);
    else if (conv_use_direct(g))
        conv_direct_forward(out, x, w, 0, b, g, 0, work, threads);
    else
        conv_gemm_forward(out, x, w, b, g, 0, work, threads);
}

// x is (N,C,H,W), w is (K,C,kh,kw), dout is (N,K,Ho,Wo); dx, dw, db
// (each may be NULL) accumulate. work: conv_work_for(g, 1, threads).
// Stride 1: dw (and db) in one pass over x, then dx as a conv of dout.
// Other strides: one pass; its tiles' columns give dw, then are
// overwritten by w^T dout and scattered into dx by col2im.
static void conv2d_backward(float *dx, float *dw, float *db, const float *dout, const float *x, const float *w,
                            const struct conv_geom *g, float *work, int threads) {
    if (g->stride != 1 && dx) {
        struct conv_bwd_ctx cx = {dx, dw, db, dout, x, w, g, conv_tiling(g), 1, work, 0, 0, 0, 1};
        cx.per_thread = conv_bwd_per_thread(g, &cx.col_floats, &cx.pack_floats);
        tgs_cpu_parallel(threads, conv_bwd_worker, &cx);
        if (dw) {
            struct conv_reduce_ctx rc = {dw, work + cx.col_floats + cx.pack_floats, (int64_t)g->k * geom_ckk(g),
                                         cx.per_thread, cx.ran};
            tgs_cpu_parallel(threads, reduce_worker, &rc);
        }
        return;
    }
    conv_dw_pass(dw, db, dout, x, g, conv_use_direct(g), work, threads);
    if (!dx) return;
    struct conv_geom d = conv_dx_geom(g);
    int wm = conv_use_wino(&d);
    if (wm) {
        tgs_wino_conv3x3(wm, dx, dout, w, 1, NULL, d.n, d.c, d.h, d.w, d.k, 1, work, threads);
        return;
    }
    if (conv_use_direct(&d)) {
        conv_direct_forward(dx, dout, w, 1, NULL, &d, 1, work, threads);
        return;
    }
    /* w' (C, K, kh, kw), then the threads' columns */
    conv_pack_weights(work, w, &d, 1, 0, threads);
    conv_gemm_forward(dx, dout, work, NULL, &d, 1, work + (int64_t)g->c * g->k * g->kh * g->kw, threads);
}

/* Workspace of the forward (train = 0) or of the backward for nt threads,
 * on the path each pass takes now, or (mode 2) the larger of both paths:
 * what the plan reserves, so that switching paths in tests stays safe. */
static int64_t conv_work_mode(const struct conv_geom *g, int train, int nt, int direct) {
    if (!train) {
        if (direct && conv_use_wino(g)) return tgs_wino_work(conv_use_wino(g), g->n, g->c, g->h, g->w, g->k, nt);
        if (direct && conv_use_direct(g)) return direct_wpack_floats(g) + nt * direct_fwd_per_thread(g);
        return nt * conv_fwd_per_thread(g);
    }
    int64_t cf, pf, w = nt * conv_bwd_per_thread(g, &cf, &pf);
    if (g->stride != 1) return w;
    if (direct && conv_use_direct(g)) w = nt * direct_dw_per_thread(g);
    if (direct && conv_use_wino_dw(g))
        w = max64(w, tgs_wino_dw_work(conv_use_wino_dw(g), g->n, g->c, g->h, g->w, g->k, nt));
    struct conv_geom d = conv_dx_geom(g);
    if (direct && conv_use_wino(&d)) return max64(w, tgs_wino_work(conv_use_wino(&d), d.n, d.c, d.h, d.w, d.k, nt));
    if (direct && conv_use_direct(&d))
        return max64(w, direct_wpack_floats(&d) + nt * direct_fwd_per_thread(&d));
    return max64(w, (int64_t)g->c * g->k * g->kh * g->kw + nt * conv_fwd_per_thread(&d));
}

static int64_t conv_work_for(const struct conv_geom *g, int train, int nt) {
    return conv_work_mode(g, train, nt, 1);
}

static int64_t conv_work_plan(const struct conv_geom *g, int train, int nt) {
    int64_t w = max64(conv_work_mode(g, 0, nt, 0), conv_work_mode(g, 0, nt, 1));
    if (train) w = max64(w, max64(conv_work_mode(g, 1, nt, 0), conv_work_mode(g, 1, nt, 1)));
    /* and what the other direct-family path would take, mode 1 choosing
     * one of them: the tests switch modes on a planned graph */
    struct conv_geom d = conv_dx_geom(g);
    if (tgs_wino_applies(g->kh, g->kw, g->stride, g->dil, g->ph, g->pw))
        for (int m = 2; m <= 4; m += 2) {
            w = max64(w, tgs_wino_work(m, g->n, g->c, g->h, g->w, g->k, nt));
            if (train) w = max64(w, tgs_wino_work(m, d.n, d.c, d.h, d.w, d.k, nt));
            if (train) w = max64(w, tgs_wino_dw_work(m, g->n, g->c, g->h, g->w, g->k, nt));
        }
    if (g->stride == 1 && g->ph >= 0 && g->pw >= 0 && !geom_is_1x1(g) && g->kh * g->kw <= DIRECT_MAX_TAPS) {
        w = max64(w, direct_wpack_floats(g) + nt * direct_fwd_per_thread(g));
        if (train) w = max64(w, max64(nt * direct_dw_per_thread(g), direct_wpack_floats(&d) + nt * direct_fwd_per_thread(&d)));
    }
    return w;
}

/* the most threads (up to x->threads) whose workspace fits */
static int conv_threads(const struct conv_geom *g, const struct tgs_exec *x, int train) {
    int nt = x->threads < 1 ? 1 : x->threads > CONV_MAX_THREADS ? CONV_MAX_THREADS : x->threads;
    while (nt > 1 && conv_work_for(g, train, nt) > x->work_floats) nt--;
    return conv_work_for(g, train, nt) <= x->work_floats ? nt : 0;
}

static struct conv_geom conv_node_geom(const struct tgs_node *n) {
    const struct tgs_tensor *x = n->src[0], *w = n->src[1], *o = n->out;
    const struct tgs_conv_params *p = &n->p.conv;
    struct conv_geom g = {x->ne[0], x->ne[1], x->ne[2], x->ne[3], w->ne[0], w->ne[2], w->ne[3],
                          p->stride, p->pad, p->pad, p->dil, o->ne[2], o->ne[3]};
    return g;
}

static int conv2d_node_forward(struct tgs_node *n, const struct tgs_exec *x) {
    struct conv_geom g = conv_node_geom(n);
    int nt = conv_threads(&g, x, 0);
    if (nt < 1) return tgs_err("conv2d: workspace too small");
    conv2d_forward(n->out->data, n->src[0]->data, n->src[1]->data, n->nsrc > 2 ? n->src[2]->data : NULL, &g,
                   x->work, nt);
    return 0;
}

static int conv2d_node_backward(struct tgs_node *n, const struct tgs_exec *x) {
    struct conv_geom g = conv_node_geom(n);
    int nt = conv_threads(&g, x, 1);
    if (nt < 1) return tgs_err("conv2d: workspace too small");
    conv2d_backward(n->src[0]->grad, n->src[1]->grad, n->nsrc > 2 ? n->src[2]->grad : NULL, n->out->grad,
                    n->src[0]->data, n->src[1]->data, &g, x->work, nt);
    return 0;
}

static int64_t conv2d_work(const struct tgs_node *n) {
    struct conv_geom g = conv_node_geom(n);
    return conv_work_plan(&g, n->out->grad != NULL, tgs_cpu_threads());
}

const struct tgs_op_impl tgs_cpu_conv2d = {conv2d_node_forward, conv2d_node_backward, NULL, conv2d_work};

/* ======================================================================
 * convt2x2: out[n,k,2h+i,2w+j] = b[k] + sum_c x[n,c,h,w] w[c,k,i,j]
 * As a GEMM per tile of input rows: Y (4K, P) = w^T (4K, C) x_tile (C, P),
 * Y[(k,i,j), (h,w)] scattered to out. The 2x2 stride-2 windows do not
 * overlap, so tiles write disjoint parts of out and of dx.
 * ====================================================================== */

struct convt_geom {
    int32_t n, c, h, w, k;
    int32_t rows; /* input rows per tile */
};

static struct convt_geom convt_node_geom(const struct tgs_node *n) {
    const struct tgs_tensor *x = n->src[0], *w = n->src[1];
    struct convt_geom g = {x->ne[0], x->ne[1], x->ne[2], x->ne[3], w->ne[1], 1};
    g.rows = (int32_t)min64(g.h, max64(1, CONV_COL_BUDGET / (4 * (int64_t)g.k * g.w)));
    return g;
}

struct convt_ctx {
    float *out, *dx, *dw, *db;
    const float *x, *w, *b, *dout;
    const struct convt_geom *g;
    float *work;
    int64_t per_thread;
    int ran; /* threads the pool gave the pass, set by thread 0 */
};

static void convt_fwd_worker(void *arg, int tid, int nt) {
    const struct convt_ctx *cx = arg;
    const struct convt_geom *g = cx->g;
    float *y = cx->work + tid * cx->per_thread;
    int64_t hw = (int64_t)g->h * g->w, ohw = 4 * hw, lo, hi;
    tgs_split((int64_t)g->n * g->h, tid, nt, &lo, &hi);
    for (int64_t u = lo; u < hi;) {
        int32_t n = (int32_t)(u / g->h), h0 = (int32_t)(u % g->h);
        int32_t r = (int32_t)min64(min64(g->rows, g->h - h0), hi - u);
        int64_t P = (int64_t)r * g->w;
        u += r;
        tgs_sgemm(1, 0, 4 * g->k, (int)P, g->c, 1, cx->w, 4 * g->k, cx->x + (int64_t)n * g->c * hw + (int64_t)h0 * g->w,
                  (int)hw, 0, y, (int)P);
        for (int32_t k = 0; k < g->k; k++) {
            float bk = cx->b ? cx->b[k] : 0;
            float *o = cx->out + ((int64_t)n * g->k + k) * ohw;
            const float *y00 = y + (4 * k) * P, *y01 = y00 + P, *y10 = y01 + P, *y11 = y10 + P;
            for (int32_t hr = 0; hr < r; hr++) {
                float *o0 = o + (int64_t)(2 * (h0 + hr)) * 2 * g->w, *o1 = o0 + 2 * g->w;
                int64_t q = (int64_t)hr * g->w;
                for (int32_t ww = 0; ww < g->w; ww++) {
                    o0[2 * ww] = y00[q + ww] + bk;
                    o0[2 * ww + 1] = y01[q + ww] + bk;
                    o1[2 * ww] = y10[q + ww] + bk;
                    o1[2 * ww + 1] = y11[q + ww] + bk;
                }
            }
        }
    }
}

// x is (N,C,H,W), w is (C,K,2,2), b is (K) or NULL, out is (N,K,2H,2W)
static void convt2x2_forward(float *out, const float *x, const float *w, const float *b, const struct convt_geom *g,
                             float *work, int threads) {
    struct convt_ctx cx = {out, NULL, NULL, NULL, x, w, b, NULL, g, work, 4 * (int64_t)g->k * g->rows * g->w, 1};
    tgs_cpu_parallel(threads, convt_fwd_worker, &cx);
}

static void convt_bwd_worker(void *arg, int tid, int nt) {
    const struct convt_ctx *cx = arg;
    const struct convt_geom *g = cx->g;
    if (tid == 0) ((struct convt_ctx *)arg)->ran = nt;
    int64_t hw = (int64_t)g->h * g->w, ohw = 4 * hw, k4 = 4 * (int64_t)g->k, lo, hi;
    float *dy = cx->work + tid * cx->per_thread, *dwp = dy + k4 * g->rows * g->w;
    if (cx->db) bias_grad(cx->db, cx->dout, g->n, g->k, ohw, tid, nt);
    if (!cx->dx && !cx->dw) return;
    float beta = 0;
    tgs_split((int64_t)g->n * g->h, tid, nt, &lo, &hi);
    for (int64_t u = lo; u < hi;) {
        int32_t n = (int32_t)(u / g->h), h0 = (int32_t)(u % g->h);
        int32_t r = (int32_t)min64(min64(g->rows, g->h - h0), hi - u);
        int64_t P = (int64_t)r * g->w;
        u += r;
        /* dY (4K, P): the tile's dout gathered as forward scattered it */
        for (int32_t k = 0; k < g->k; k++) {
            const float *d = cx->dout + ((int64_t)n * g->k + k) * ohw;
            float *y00 = dy + (4 * k) * P, *y01 = y00 + P, *y10 = y01 + P, *y11 = y10 + P;
            for (int32_t hr = 0; hr < r; hr++) {
                const float *d0 = d + (int64_t)(2 * (h0 + hr)) * 2 * g->w, *d1 = d0 + 2 * g->w;
                int64_t q = (int64_t)hr * g->w;
                for (int32_t ww = 0; ww < g->w; ww++) {
                    y00[q + ww] = d0[2 * ww];
                    y01[q + ww] = d0[2 * ww + 1];
                    y10[q + ww] = d1[2 * ww];
                    y11[q + ww] = d1[2 * ww + 1];
                }
            }
        }
        int64_t xo = (int64_t)n * g->c * hw + (int64_t)h0 * g->w;
        if (cx->dx)
            tgs_sgemm(0, 0, g->c, (int)P, (int)k4, 1, cx->w, (int)k4, dy, (int)P, 1, cx->dx + xo, (int)hw);
        if (cx->dw) {
            tgs_sgemm(0, 1, g->c, (int)k4, (int)P, 1, cx->x + xo, (int)hw, dy, (int)P, beta, dwp, (int)k4);
            beta = 1;
        }
    }
    if (cx->dw && beta == 0) memset(dwp, 0, (size_t)(g->c * k4) * sizeof *dwp);
}

// x is (N,C,H,W), w is (C,K,2,2), dout is (N,K,2H,2W); dx, dw, db (each
// may be NULL) accumulate
static void convt2x2_backward(float *dx, float *dw, float *db, const float *dout, const float *x, const float *w,
                              const struct convt_geom *g, float *work, int threads) {
    int64_t k4 = 4 * (int64_t)g->k;
    struct convt_ctx cx = {NULL, dx, dw, db, x, w, NULL, dout, g, work, k4 * g->rows * g->w + g->c * k4, 1};
    tgs_cpu_parallel(threads, convt_bwd_worker, &cx);
    if (dw) {
        struct conv_reduce_ctx rc = {dw, work + k4 * g->rows * g->w, g->c * k4, cx.per_thread, cx.ran};
        tgs_cpu_parallel(threads, reduce_worker, &rc);
    }
}

static int64_t convt_per_thread(const struct convt_geom *g, int train) {
    int64_t k4 = 4 * (int64_t)g->k;
    return k4 * g->rows * g->w + (train ? g->c * k4 : 0);
}

static int convt2x2_node_forward(struct tgs_node *n, const struct tgs_exec *x) {
    struct convt_geom g = convt_node_geom(n);
    int nt = conv_fit_threads(x, convt_per_thread(&g, 0), 0);
    if (nt < 1) return tgs_err("convt2x2: workspace too small");
    convt2x2_forward(n->out->data, n->src[0]->data, n->src[1]->data, n->nsrc > 2 ? n->src[2]->data : NULL, &g,
                     x->work, nt);
    return 0;
}

static int convt2x2_node_backward(struct tgs_node *n, const struct tgs_exec *x) {
    struct convt_geom g = convt_node_geom(n);
    int nt = conv_fit_threads(x, convt_per_thread(&g, 1), 0);
    if (nt < 1) return tgs_err("convt2x2: workspace too small");
    convt2x2_backward(n->src[0]->grad, n->src[1]->grad, n->nsrc > 2 ? n->src[2]->grad : NULL, n->out->grad,
                      n->src[0]->data, n->src[1]->data, &g, x->work, nt);
    return 0;
}

static int64_t convt2x2_work(const struct tgs_node *n) {
    struct convt_geom g = convt_node_geom(n);
    return tgs_cpu_threads() * convt_per_thread(&g, n->out->grad != NULL);
}

const struct tgs_op_impl tgs_cpu_convt2x2 = {convt2x2_node_forward, convt2x2_node_backward, NULL, convt2x2_work};
