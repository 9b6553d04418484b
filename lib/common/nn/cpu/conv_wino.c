/* conv_wino: 3x3, stride 1, pad 1 convolutions by Winograd's F(2x2, 3x3)
 * and F(4x4, 3x3). F(2x2) first, as the comments below tell it; F(4x4) is
 * the same with 6x6 patches, 36 positions and its own transforms (further
 * down, before the GEMMs).
 *
 * Each 2x2 block of output ("a tile") comes from the 4x4 input patch
 * around it: out = A^T [ (G g G^T) .* (B^T d B) ] A. The 3x3 filter g of
 * each (k, c) pair becomes a 4x4 U = G g G^T once per call; each patch d of
 * each channel a 4x4 V = B^T d B; then for each of the 16 positions xi,
 * M[xi] (K x tiles) = U[xi] (K x C) V[xi] (C x tiles) is a plain GEMM, and
 * A^T M A gives the tile's four outputs. 16 multiplies per tile and channel
 * pair instead of 36: the GEMMs are 2.25x smaller than the direct
 * convolution's, and the transforms are only adds (and halves in G).
 *
 *   B^T = | 1  0 -1  0 |   G = | 1    0    0  |   A^T = | 1  1  1  0 |
 *         | 0  1  1  0 |       | 1/2  1/2  1/2|         | 0  1 -1 -1 |
 *         | 0 -1  1  0 |       | 1/2 -1/2  1/2|
 *         | 0  1  0 -1 |       | 0    0    1  |
 *
 * Tiles are numbered over (image, tile row, tile column) and cut into
 * chunks of P (a multiple of 24); a thread takes a contiguous run of chunks
 * and for each: transforms the chunk's patches into V [16][C][P], runs the
 * 16 GEMMs into M [16][Kb][P] with the direct path's 4 x 24 AVX2 register
 * tile, and transforms M back into the output. Every
 * output is computed by one thread in an order that does not depend on the
 * chunking, so results are the same bytes for any thread count.
 *
 * F(2x2)'s rounding differs from the direct path by a few ulps (B and A
 * only add and subtract; G halves exactly). F(4x4)'s transforms scale by
 * up to 8 and G by 1/6 and 1/24: its error is some ten times larger, near
 * 1e-6 of the output's scale, still far below what training notices. */
#include "nn/cpu/conv_wino.h"
#include "nn/cpu/conv_tiles.h"
#include "nn/cpu/ops_cpu.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define WINO_AVX2 1
#include <immintrin.h>
#else
#define WINO_AVX2 0
#endif

#define WINO_MR 4  /* output channels per register tile (tgs_cpu_direct_tile's) */
#define WINO_NR 24 /* tiles per register tile (3 vectors) */
/* floats of one thread's V and M for a chunk: about the L2 */
#define WINO_BUDGET (1 << 16)
/* chunk size cap, in register tiles: longer chunks gain nothing */
#define WINO_MAX_NR_BLOCKS 8
/* the weight gradient's: each GEMM ends in horizontal sums, which longer
 * chunks amortize; its V and Yh then live in L2 */
#define WINO_DW_BUDGET (1 << 18)
#define WINO_DW_MAX_NR_BLOCKS 16
/* input channels from which the weight gradient's GEMMs transpose V and
 * run on the forward's register tile (4 output channels x 24 input
 * channels) instead of the horizontal sums */
#define WINO_DW_WIDE 48

static int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

struct wino_plan {
    int32_t m, a;   /* output tiles m x m from input patches a x a, a = m + 2 */
    int32_t nxi;    /* a*a: the GEMMs, one per patch position */
    int32_t th, tw; /* tile rows and columns per image */
    int64_t tiles;  /* n * th * tw */
    int32_t kb;     /* K rounded up to WINO_MR */
    int32_t p;      /* tiles per chunk, a multiple of WINO_NR */
    int32_t vs;     /* V's row stride: p, and 8 more for F(4x4)'s vector loops */
    int32_t ys;     /* the weight gradient's Yh row stride: p + 8 */
    int32_t sc;     /* its S row stride: C, or C rounded up to WINO_NR when wide */
    int32_t wide;   /* its GEMMs on the forward's register tile (see wino_dw_worker) */
    int64_t nchunks;
    int64_t scratch; /* floats of the row buffers of one thread */
    int64_t ufloats; /* the transformed filters, shared, at the workspace's start */
    int64_t per_thread;
};

/* dw: the plan of the weight gradient (tgs_wino_dw3x3), whose GEMMs sum
 * over a chunk's tiles: longer chunks, and no U but per-thread sums S. */
static struct wino_plan wino_plan(int m, int dw, int n, int c, int h, int w, int k) {
    struct wino_plan q;
    q.m = m, q.a = m + 2, q.nxi = q.a * q.a;
    q.th = (h + m - 1) / m, q.tw = (w + m - 1) / m;
    q.tiles = (int64_t)n * q.th * q.tw;
    q.kb = (k + WINO_MR - 1) / WINO_MR * WINO_MR;
    int64_t blocks = (dw ? WINO_DW_BUDGET : WINO_BUDGET) / (q.nxi * (int64_t)(c + q.kb) * WINO_NR);
    blocks = imax(1, imin(dw ? WINO_DW_MAX_NR_BLOCKS : WINO_MAX_NR_BLOCKS, blocks));
    /* no longer than the tiles there are, rounded up to a register tile */
    blocks = imin(blocks, (q.tiles + WINO_NR - 1) / WINO_NR);
    q.p = (int32_t)(blocks * WINO_NR);
    q.nchunks = (q.tiles + q.p - 1) / q.p;
    q.vs = m == 2 && !dw ? q.p : q.p + 8;
    q.ys = q.p + 8;
    int64_t tw = q.tw;
    if (m == 2)
        /* 4 padded input rows of a segment (2*tw + 2 wide), their 8 even/odd
         * halves (tw + 1 each), and 2 output rows of tw (plus vector slack) */
        q.scratch = 4 * (2 * tw + 2 + 8) + 8 * (tw + 1 + 8) + 2 * (tw + 8);
    else
        /* 6 padded input rows (4*(tw + 1) wide, 32 floats of slack), their
         * 24 phases (tw + 1 each), and 16 output phases of tw */
        q.scratch = 6 * (4 * (tw + 1) + 32) + 24 * (tw + 1 + 8) + 16 * (tw + 8);
    if (dw) /* m output-gradient rows of m*tw rounded up to 8 tiles, their m*m phases */
        q.scratch = imax(q.scratch, m * (m * (tw + 8) + 8) + m * m * (tw + 16));
    q.wide = dw && c >= WINO_DW_WIDE;
    q.sc = q.wide ? (c + WINO_NR - 1) / WINO_NR * WINO_NR : c;
    q.ufloats = dw ? 0 : (q.nxi * (int64_t)q.kb * c + 15) / 16 * 16;
    q.per_thread = q.nxi * ((int64_t)c * q.vs + (int64_t)q.kb * (dw ? q.ys : q.p)) + q.scratch;
    if (dw) q.per_thread += q.nxi * (int64_t)q.kb * q.sc;
    if (q.wide) q.per_thread += (int64_t)q.p * (q.sc + q.kb); /* VT and YP */
    q.per_thread = (q.per_thread + 15) / 16 * 16;
    return q;
}

int tgs_wino_applies(int kh, int kw, int stride, int dil, int ph, int pw) {
    return WINO_AVX2 && kh == 3 && kw == 3 && stride == 1 && dil == 1 && ph == 1 && pw == 1;
}

int64_t tgs_wino_work(int m, int n, int c, int h, int w, int k, int threads) {
    struct wino_plan q = wino_plan(m, 0, n, c, h, w, k);
    return q.ufloats + (int64_t)threads * q.per_thread;
}

int64_t tgs_wino_dw_work(int m, int n, int c, int h, int w, int k, int threads) {
    return (int64_t)threads * wino_plan(m, 1, n, c, h, w, k).per_thread;
}

/* ---- the weight transform: U [nxi][kb/4][c][4] = G g G^T per (k, c);
 * with flip, g[k][c] is the forward conv's w[c][k] turned 180 degrees.
 * F(4x4, 3x3)'s G (6 x 3), from the points 0, 1, -1, 2, -2 and infinity:
 *
 *   | 1/4    0     0   |
 *   | -1/6  -1/6  -1/6 |
 *   | -1/6   1/6  -1/6 |
 *   | 1/24   1/12  1/6 |
 *   | 1/24  -1/12  1/6 |
 *   | 0      0     1   |
 * ---- */

/* t (a x n, row stride n) = G g for g (3 x n: row stride gs, column stride gc) */
static void wino_g(int m, const float *g, int gs, int gc, int n, float *t) {
    for (int j = 0; j < n; j++) {
        float g0 = g[j * gc], g1 = g[gs + j * gc], g2 = g[2 * gs + j * gc];
        if (m == 2) {
            t[0 * n + j] = g0;
            t[1 * n + j] = 0.5f * (g0 + g1 + g2);
            t[2 * n + j] = 0.5f * (g0 - g1 + g2);
            t[3 * n + j] = g2;
        } else {
            t[0 * n + j] = 0.25f * g0;
            t[1 * n + j] = -(g0 + g1 + g2) / 6;
            t[2 * n + j] = -(g0 - g1 + g2) / 6;
            t[3 * n + j] = g0 / 24 + g1 / 12 + g2 / 6;
            t[4 * n + j] = g0 / 24 - g1 / 12 + g2 / 6;
            t[5 * n + j] = g2;
        }
    }
}

struct wt_ctx {
    float *u;
    const float *w;
    int m, c, k, kb, flip;
};

static void wt_worker(void *arg, int tid, int nt) {
    const struct wt_ctx *cx = arg;
    int64_t k0, k1;
    tgs_split(cx->kb, tid, nt, &k0, &k1);
    int64_t plane = (int64_t)cx->kb * cx->c; /* floats per xi */
    int a = cx->m + 2;
    for (int64_t k = k0; k < k1; k++)
        for (int c = 0; c < cx->c; c++) {
            float g[9] = {0}, t[18], gt[36], u[36];
            if (k < cx->k)
                for (int q = 0; q < 9; q++)
                    g[q] = cx->flip ? cx->w[((int64_t)c * cx->k + k) * 9 + (8 - q)] : cx->w[(k * cx->c + c) * 9 + q];
            wino_g(cx->m, g, 3, 1, 3, t);  /* t = G g (a x 3) */
            wino_g(cx->m, t, 1, 3, a, gt); /* gt = G t^T (a x a), so u = t G^T = gt^T */
            for (int r = 0; r < a; r++)
                for (int s = 0; s < a; s++) u[a * r + s] = gt[a * s + r];
            float *dst = cx->u + ((k / WINO_MR) * cx->c + c) * WINO_MR + k % WINO_MR;
            for (int xi = 0; xi < a * a; xi++) dst[xi * plane] = u[xi];
        }
}

/* The hot loops of the transforms, 8 tiles (or 16 columns) at a time with
 * AVX2 where the build has it; each returns how far it got, the caller's
 * scalar loop does the rest. At -O2 GCC leaves such loops scalar. */
#if WINO_AVX2
/* t = B^T d down columns j < 2*n8 of the rows d0..d3, split into even
 * (e[r][i] = t_r[2i]) and odd (o[r][i] = t_r[2i+1]) columns */
__attribute__((target("avx2,fma"))) static int vertical_avx2(const float *d0, const float *d1, const float *d2,
                                                              const float *d3, float *const *e, float *const *o,
                                                              int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        int j = 2 * i;
        __m256 a0 = _mm256_loadu_ps(d0 + j), b0 = _mm256_loadu_ps(d0 + j + 8);
        __m256 a1 = _mm256_loadu_ps(d1 + j), b1 = _mm256_loadu_ps(d1 + j + 8);
        __m256 a2 = _mm256_loadu_ps(d2 + j), b2 = _mm256_loadu_ps(d2 + j + 8);
        __m256 a3 = _mm256_loadu_ps(d3 + j), b3 = _mm256_loadu_ps(d3 + j + 8);
        __m256 ta[4] = {_mm256_sub_ps(a0, a2), _mm256_add_ps(a1, a2), _mm256_sub_ps(a2, a1), _mm256_sub_ps(a1, a3)};
        __m256 tb[4] = {_mm256_sub_ps(b0, b2), _mm256_add_ps(b1, b2), _mm256_sub_ps(b2, b1), _mm256_sub_ps(b1, b3)};
        for (int r = 0; r < 4; r++) {
            /* shuffle picks evens (odds) within each 128-bit lane; the
             * permute puts the lanes back in order */
            __m256 ev = _mm256_shuffle_ps(ta[r], tb[r], 0x88), od = _mm256_shuffle_ps(ta[r], tb[r], 0xDD);
            _mm256_storeu_ps(e[r] + i, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(ev), 0xD8)));
            _mm256_storeu_ps(o[r] + i, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(od), 0xD8)));
        }
    }
    return i;
}

/* V across for one row r of t: 4 planes from e, o, n tiles */
__attribute__((target("avx2,fma"))) static int across_avx2(const float *er, const float *orr, float *v0, float *v1,
                                                            float *v2, float *v3, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e0 = _mm256_loadu_ps(er + i), e1 = _mm256_loadu_ps(er + i + 1);
        __m256 o0 = _mm256_loadu_ps(orr + i), o1 = _mm256_loadu_ps(orr + i + 1);
        _mm256_storeu_ps(v0 + i, _mm256_sub_ps(e0, e1));
        _mm256_storeu_ps(v1 + i, _mm256_add_ps(o0, e1));
        _mm256_storeu_ps(v2 + i, _mm256_sub_ps(e1, o0));
        _mm256_storeu_ps(v3 + i, _mm256_sub_ps(o0, o1));
    }
    return i;
}
#else
static int vertical_avx2(const float *d0, const float *d1, const float *d2, const float *d3, float *const *e,
                         float *const *o, int n) {
    (void)d0, (void)d1, (void)d2, (void)d3, (void)e, (void)o, (void)n;
    return 0;
}
static int across_avx2(const float *er, const float *orr, float *v0, float *v1, float *v2, float *v3, int n) {
    (void)er, (void)orr, (void)v0, (void)v1, (void)v2, (void)v3, (void)n;
    return 0;
}
#endif

/* The padded input rows iy0 .. iy0+nrows-1 of channel xc (h x w), columns
 * j0 .. j0+len-1, zero outside the image, into rows of stride rs. */
static void load_rows(float *d, int rs, int nrows, const float *xc, int h, int w, int iy0, int j0, int len) {
    for (int i = 0; i < nrows; i++) {
        float *row = d + i * rs;
        int iy = iy0 + i;
        if (iy < 0 || iy >= h) {
            memset(row, 0, (size_t)len * sizeof *row);
            continue;
        }
        const float *src = xc + (int64_t)iy * w;
        int lo = j0 < 0 ? -j0 : 0, hi = (int)imin(len, w - j0); /* row[lo..hi) from src */
        for (int j = 0; j < lo; j++) row[j] = 0;
        if (hi > lo) memcpy(row + lo, src + j0 + lo, (size_t)(hi - lo) * sizeof *row);
        for (int j = hi > lo ? hi : lo; j < len; j++) row[j] = 0;
    }
}

/* ---- the input transform of one segment: tiles tx0 .. tx0+seg-1 of tile
 * row ty of image x (C, H, W), into V[xi][c][p0 + i] (row stride P) ---- */

static void input_segment(float *v, int64_t P, int64_t p0, const float *x, int c, int h, int w, int ty, int tx0,
                          int seg, float *scratch) {
    int len = 2 * seg + 2; /* padded columns 2*tx0 .. 2*(tx0+seg)+1 */
    int rs = 2 * seg + 2 + 8, hs = seg + 1 + 8;
    float *d = scratch, *half = scratch + 4 * rs; /* half: e0 o0 e1 o1 ... */
    int64_t plane = (int64_t)c * P;
    for (int ch = 0; ch < c; ch++) {
        load_rows(d, rs, 4, x + (int64_t)ch * h * w, h, w, 2 * ty - 1, 2 * tx0 - 1, len);
        /* t = B^T d down the columns, split into even and odd columns */
        const float *d0 = d, *d1 = d + rs, *d2 = d + 2 * rs, *d3 = d + 3 * rs;
        float *e[4], *o[4];
        for (int r = 0; r < 4; r++) e[r] = half + (2 * r) * hs, o[r] = half + (2 * r + 1) * hs;
        for (int i = vertical_avx2(d0, d1, d2, d3, e, o, seg + 1); i <= seg; i++) {
            int j = 2 * i;
            e[0][i] = d0[j] - d2[j], e[1][i] = d1[j] + d2[j], e[2][i] = d2[j] - d1[j], e[3][i] = d1[j] - d3[j];
            j++;
            o[0][i] = d0[j] - d2[j], o[1][i] = d1[j] + d2[j], o[2][i] = d2[j] - d1[j], o[3][i] = d1[j] - d3[j];
        }
        /* V = t B across: tile i uses columns 2i .. 2i+3 = e[i] o[i] e[i+1] o[i+1] */
        for (int r = 0; r < 4; r++) {
            const float *er = e[r], *orr = o[r];
            float *v0 = v + (4 * r + 0) * plane + (int64_t)ch * P + p0, *v1 = v0 + plane, *v2 = v1 + plane,
                  *v3 = v2 + plane;
            for (int i = across_avx2(er, orr, v0, v1, v2, v3, seg); i < seg; i++) {
                v0[i] = er[i] - er[i + 1];
                v1[i] = orr[i] + er[i + 1];
                v2[i] = er[i + 1] - orr[i];
                v3[i] = orr[i] - orr[i + 1];
            }
        }
    }
}

#if WINO_AVX2
/* y rows of n tiles from the 16 planes m[xi*plane + i], plus bk */
__attribute__((target("avx2,fma"))) static int outrows_avx2(const float *m, int64_t plane, float bk, float *ye0,
                                                             float *yo0, float *ye1, float *yo1, int n) {
    int i = 0;
    __m256 vb = _mm256_set1_ps(bk);
    for (; i + 8 <= n; i += 8) {
        __m256 q[16];
        for (int xi = 0; xi < 16; xi++) q[xi] = _mm256_loadu_ps(m + xi * plane + i);
        __m256 s0[4], s1[4];
        for (int c = 0; c < 4; c++) {
            s0[c] = _mm256_add_ps(_mm256_add_ps(q[c], q[4 + c]), q[8 + c]);
            s1[c] = _mm256_sub_ps(_mm256_sub_ps(q[4 + c], q[8 + c]), q[12 + c]);
        }
        _mm256_storeu_ps(ye0 + i, _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(s0[0], s0[1]), s0[2]), vb));
        _mm256_storeu_ps(yo0 + i, _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(s0[1], s0[2]), s0[3]), vb));
        _mm256_storeu_ps(ye1 + i, _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(s1[0], s1[1]), s1[2]), vb));
        _mm256_storeu_ps(yo1 + i, _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(s1[1], s1[2]), s1[3]), vb));
    }
    return i;
}

/* o[2i] = [o[2i] +] ye[i], o[2i+1] = [o[2i+1] +] yo[i] for 2i+1 < n2 */
__attribute__((target("avx2,fma"))) static int interleave_avx2(float *o, const float *ye, const float *yo, int n2,
                                                                int add) {
    int j = 0;
    for (; j + 16 <= n2; j += 16) {
        __m256 e = _mm256_loadu_ps(ye + j / 2), od = _mm256_loadu_ps(yo + j / 2);
        __m256 lo = _mm256_unpacklo_ps(e, od), hi = _mm256_unpackhi_ps(e, od);
        __m256 r0 = _mm256_permute2f128_ps(lo, hi, 0x20), r1 = _mm256_permute2f128_ps(lo, hi, 0x31);
        if (add) r0 = _mm256_add_ps(r0, _mm256_loadu_ps(o + j)), r1 = _mm256_add_ps(r1, _mm256_loadu_ps(o + j + 8));
        _mm256_storeu_ps(o + j, r0), _mm256_storeu_ps(o + j + 8, r1);
    }
    return j;
}
#else
static int outrows_avx2(const float *m, int64_t plane, float bk, float *ye0, float *yo0, float *ye1, float *yo1,
                        int n) {
    (void)m, (void)plane, (void)bk, (void)ye0, (void)yo0, (void)ye1, (void)yo1, (void)n;
    return 0;
}
static int interleave_avx2(float *o, const float *ye, const float *yo, int n2, int add) {
    (void)o, (void)ye, (void)yo, (void)n2, (void)add;
    return 0;
}
#endif

/* ---- the output transform of one segment: out rows 2ty, 2ty+1 of image
 * out (K, H, W) = beta*out + A^T M A + b, from M[xi][k][p0 + i] ---- */

static void output_segment(float *out, const float *m, int64_t P, int64_t p0, int k, int kb, int h, int w, int ty,
                           int tx0, int seg, const float *b, float beta, float *scratch) {
    int hs = seg + 8;
    float *y0 = scratch, *y1 = scratch + 2 * hs; /* y0: row 2ty as even, odd; y1: row 2ty+1 */
    int64_t plane = (int64_t)kb * P;
    for (int kk = 0; kk < k; kk++) {
        const float *mk = m + (int64_t)kk * P + p0;
        float bk = b ? b[kk] : 0;
        for (int i = outrows_avx2(mk, plane, bk, y0, y0 + hs, y1, y1 + hs, seg); i < seg; i++) {
            float mm[16];
            for (int xi = 0; xi < 16; xi++) mm[xi] = mk[xi * plane + i];
            /* s = A^T M (2 x 4), then Y = s A (2 x 2) */
            float s0[4], s1[4];
            for (int q = 0; q < 4; q++) {
                s0[q] = mm[q] + mm[4 + q] + mm[8 + q];
                s1[q] = mm[4 + q] - mm[8 + q] - mm[12 + q];
            }
            y0[i] = s0[0] + s0[1] + s0[2] + bk, y0[hs + i] = s0[1] - s0[2] - s0[3] + bk;
            y1[i] = s1[0] + s1[1] + s1[2] + bk, y1[hs + i] = s1[1] - s1[2] - s1[3] + bk;
        }
        for (int r = 0; r < 2; r++) {
            int oy = 2 * ty + r;
            if (oy >= h) break;
            const float *ye = r ? y1 : y0, *yo = ye + hs;
            float *o = out + ((int64_t)kk * h + oy) * w + 2 * tx0;
            int n2 = (int)imin(2 * seg, w - 2 * tx0); /* the last tile of an odd width has one column */
            int j0 = interleave_avx2(o, ye, yo, n2, beta != 0);
            if (beta != 0)
                for (int j = j0; j < n2; j++) o[j] += (j & 1) ? yo[j >> 1] : ye[j >> 1];
            else
                for (int j = j0; j < n2; j++) o[j] = (j & 1) ? yo[j >> 1] : ye[j >> 1];
        }
    }
}

/* ---- F(4x4, 3x3): 4x4 output tiles from 6x6 input patches, 36 GEMMs.
 * 2.25 multiplies per output and channel pair against F(2x2)'s 4 and the
 * direct path's 9; the transforms cost about the same per output as
 * F(2x2)'s, so it pays on narrower layers. Its B^T and A^T:
 *
 *   B^T = | 4  0 -5  0  1  0 |    A^T = | 1  1  1  1  1  0 |
 *         | 0 -4 -4  1  1  0 |          | 0  1 -1  2 -2  0 |
 *         | 0  4 -4 -1  1  0 |          | 0  1  1  4  4  0 |
 *         | 0 -2 -1  2  1  0 |          | 0  1 -1  8 -8  1 |
 *         | 0  2 -1 -2  1  0 |
 *         | 0  4  0 -5  0  1 |
 *
 * A patch's columns 4i .. 4i+5 are, with the padded rows split into four
 * phases by column mod 4, ph0[i] ph1[i] ph2[i] ph3[i] ph0[i+1] ph1[i+1]:
 * unit-stride loads for 8 tiles at a time. Only AVX2 builds take the
 * Winograd paths (tgs_wino_applies), so F(4x4) and the weight gradient
 * have no scalar code. ---- */

#if WINO_AVX2
#define WINO_TARGET __attribute__((target("avx2,fma")))
#define V8(x) _mm256_set1_ps(x)
WINO_TARGET static inline void bt6_avx2(__m256 d0, __m256 d1, __m256 d2, __m256 d3, __m256 d4, __m256 d5,
                                        __m256 *o) {
    __m256 u = _mm256_sub_ps(d3, d1), t = _mm256_sub_ps(d4, d2);
    o[0] = _mm256_fmadd_ps(V8(4), d0, _mm256_fmadd_ps(V8(-5), d2, d4));
    o[1] = _mm256_fmadd_ps(V8(-4), _mm256_add_ps(d1, d2), _mm256_add_ps(d3, d4));
    o[2] = _mm256_fmadd_ps(V8(4), _mm256_sub_ps(d1, d2), _mm256_sub_ps(d4, d3));
    o[3] = _mm256_fmadd_ps(V8(2), u, t);
    o[4] = _mm256_fmadd_ps(V8(-2), u, t);
    o[5] = _mm256_fmadd_ps(V8(4), d1, _mm256_fmadd_ps(V8(-5), d3, d5));
}

WINO_TARGET static inline void at6_avx2(const __m256 *q, __m256 *o) {
    __m256 a = _mm256_add_ps(q[1], q[2]), b = _mm256_sub_ps(q[1], q[2]);
    __m256 c = _mm256_add_ps(q[3], q[4]), d = _mm256_sub_ps(q[3], q[4]);
    o[0] = _mm256_add_ps(_mm256_add_ps(q[0], a), c);
    o[1] = _mm256_fmadd_ps(V8(2), d, b);
    o[2] = _mm256_fmadd_ps(V8(4), c, a);
    o[3] = _mm256_add_ps(_mm256_fmadd_ps(V8(8), d, b), q[5]);
}

/* F(4x4)'s vector loops run to n rounded up to 8: the buffers they read
 * and write have the slack (input_segment4 says where), and the extra
 * lanes' values are never used. */

/* rows r[0..5] (n columns) = B^T r in place, 8 columns at a time */
WINO_TARGET static void vertical6_avx2(float *const *r, int n) {
    for (int j = 0; j < n; j += 8) {
        __m256 o[6];
        bt6_avx2(_mm256_loadu_ps(r[0] + j), _mm256_loadu_ps(r[1] + j), _mm256_loadu_ps(r[2] + j),
                 _mm256_loadu_ps(r[3] + j), _mm256_loadu_ps(r[4] + j), _mm256_loadu_ps(r[5] + j), o);
#pragma GCC unroll 6
        for (int i = 0; i < 6; i++) _mm256_storeu_ps(r[i] + j, o[i]);
    }
}

/* ph[q][i] = t[4i + q] for n groups of 4, 8 groups at a time: a 4x4
 * transpose within each 128-bit lane, then the lanes' tiles put in order */
WINO_TARGET static void deinterleave4_avx2(const float *t, float *const *ph, int n) {
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int i = 0; i < n; i += 8) {
        const float *s = t + 4 * i;
        __m256 a = _mm256_loadu_ps(s), b = _mm256_loadu_ps(s + 8);
        __m256 c = _mm256_loadu_ps(s + 16), d = _mm256_loadu_ps(s + 24);
        __m256 lab = _mm256_unpacklo_ps(a, b), hab = _mm256_unpackhi_ps(a, b);
        __m256 lcd = _mm256_unpacklo_ps(c, d), hcd = _mm256_unpackhi_ps(c, d);
        __m256 p[4] = {_mm256_shuffle_ps(lab, lcd, 0x44), _mm256_shuffle_ps(lab, lcd, 0xEE),
                       _mm256_shuffle_ps(hab, hcd, 0x44), _mm256_shuffle_ps(hab, hcd, 0xEE)};
#pragma GCC unroll 6
        for (int q = 0; q < 4; q++) _mm256_storeu_ps(ph[q] + i, _mm256_permutevar8x32_ps(p[q], order));
    }
}

/* V planes v[s][i] (stride vs) = B^T across the patch row from the phases */
WINO_TARGET static void across6_avx2(float *const *ph, float *v, int64_t vs, int n) {
    for (int i = 0; i < n; i += 8) {
        __m256 o[6];
        bt6_avx2(_mm256_loadu_ps(ph[0] + i), _mm256_loadu_ps(ph[1] + i), _mm256_loadu_ps(ph[2] + i),
                 _mm256_loadu_ps(ph[3] + i), _mm256_loadu_ps(ph[0] + i + 1), _mm256_loadu_ps(ph[1] + i + 1), o);
#pragma GCC unroll 6
        for (int s = 0; s < 6; s++) _mm256_storeu_ps(v + s * vs + i, o[s]);
    }
}

/* y[r*4 + c][i] = (A^T M A)[r][c] + bk for n tiles of the 36 planes m[xi*plane + i] */
WINO_TARGET static void outtile4_avx2(const float *m, int64_t plane, float bk, float *const *y, int n) {
    for (int i = 0; i < n; i += 8) {
        __m256 s[4][6]; /* s = A^T M */
#pragma GCC unroll 6
        for (int q = 0; q < 6; q++) {
            __m256 col[6], o[4];
    #pragma GCC unroll 6
            for (int r = 0; r < 6; r++) col[r] = _mm256_loadu_ps(m + (6 * r + q) * plane + i);
            at6_avx2(col, o);
    #pragma GCC unroll 6
            for (int r = 0; r < 4; r++) s[r][q] = o[r];
        }
#pragma GCC unroll 6
        for (int r = 0; r < 4; r++) {
            __m256 o[4];
            at6_avx2(s[r], o);
    #pragma GCC unroll 6
            for (int c = 0; c < 4; c++) _mm256_storeu_ps(y[4 * r + c] + i, _mm256_add_ps(o[c], V8(bk)));
        }
    }
}

/* o[4i + q] = [o[4i + q] +] y[q][i] for 4i + q < n4, 32 outputs at a time:
 * deinterleave4_avx2 backwards */
WINO_TARGET static int interleave4_avx2(float *o, const float *const *y, int n4, int add) {
    const __m256i order = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    int j = 0;
    for (; j + 32 <= n4; j += 32) {
        __m256 p[4];
#pragma GCC unroll 6
        for (int q = 0; q < 4; q++) p[q] = _mm256_permutevar8x32_ps(_mm256_loadu_ps(y[q] + j / 4), order);
        __m256 u0 = _mm256_unpacklo_ps(p[0], p[1]), u1 = _mm256_unpackhi_ps(p[0], p[1]);
        __m256 u2 = _mm256_unpacklo_ps(p[2], p[3]), u3 = _mm256_unpackhi_ps(p[2], p[3]);
        __m256 r[4] = {_mm256_shuffle_ps(u0, u2, 0x44), _mm256_shuffle_ps(u0, u2, 0xEE),
                       _mm256_shuffle_ps(u1, u3, 0x44), _mm256_shuffle_ps(u1, u3, 0xEE)};
#pragma GCC unroll 6
        for (int q = 0; q < 4; q++) {
            if (add) r[q] = _mm256_add_ps(r[q], _mm256_loadu_ps(o + j + 8 * q));
            _mm256_storeu_ps(o + j + 8 * q, r[q]);
        }
    }
    return j;
}
#undef V8

/* the input transform of one segment: tiles tx0 .. tx0+seg-1 of tile row
 * ty of image x (C, H, W), into V[xi][c][p0 + i] (row stride P).
 * The vector loops run past the segment: the rows have 32 floats of
 * slack, the phases 8, and V's rows 8 (wino_plan's vs); what they write
 * past the segment into V is the next segment's, written after, or past
 * the chunk's last tile, zeroed after. */
WINO_TARGET static void input_segment4(float *v, int64_t P, int64_t p0, const float *x, int c, int h, int w, int ty,
                                       int tx0, int seg, float *scratch) {
    int ng = seg + 1, len = 4 * ng; /* padded columns 4*tx0-1 ..; the patches need 4*seg + 2 of them */
    int rs = len + 32, hs = ng + 8;
    float *d = scratch, *phb = scratch + 6 * rs;
    int64_t plane = (int64_t)c * P;
    float *rows[6];
    for (int i = 0; i < 6; i++) rows[i] = d + i * rs;
    for (int ch = 0; ch < c; ch++) {
        load_rows(d, rs, 6, x + (int64_t)ch * h * w, h, w, 4 * ty - 1, 4 * tx0 - 1, len);
        vertical6_avx2(rows, len);
        for (int r = 0; r < 6; r++) {
            float *ph[4];
            for (int q = 0; q < 4; q++) ph[q] = phb + (4 * r + q) * hs;
            deinterleave4_avx2(rows[r], ph, ng);
            across6_avx2(ph, v + 6 * r * plane + (int64_t)ch * P + p0, plane, seg);
        }
    }
}

/* the output transform of one segment: out rows 4ty .. 4ty+3 of image
 * out (K, H, W) = beta*out + A^T M A + b, from M[xi][k][p0 + i]. The
 * vector loop reads up to 7 tiles past the segment (past M's end, into
 * the scratch that follows it) into y's 8 floats of slack. */
WINO_TARGET static void output_segment4(float *out, const float *m, int64_t P, int64_t p0, int k, int kb, int h,
                                        int w, int ty, int tx0, int seg, const float *b, float beta, float *scratch) {
    int hs = seg + 8;
    float *y[16];
    for (int q = 0; q < 16; q++) y[q] = scratch + q * hs;
    int64_t plane = (int64_t)kb * P;
    int n4 = (int)imin(4 * seg, w - 4 * tx0); /* the last tile of a width not a multiple of 4 is cut */
    for (int kk = 0; kk < k; kk++) {
        const float *mk = m + (int64_t)kk * P + p0;
        float bk = b ? b[kk] : 0;
        outtile4_avx2(mk, plane, bk, y, seg);
        for (int r = 0; r < 4; r++) {
            int oy = 4 * ty + r;
            if (oy >= h) break;
            const float *const *yr = (const float *const *)(y + 4 * r);
            float *o = out + ((int64_t)kk * h + oy) * w + 4 * tx0;
            int j0 = interleave4_avx2(o, yr, n4, beta != 0);
            if (beta != 0)
                for (int j = j0; j < n4; j++) o[j] += yr[j & 3][j >> 2];
            else
                for (int j = j0; j < n4; j++) o[j] = yr[j & 3][j >> 2];
        }
    }
}
#else
static void input_segment4(float *v, int64_t P, int64_t p0, const float *x, int c, int h, int w, int ty, int tx0,
                           int seg, float *scratch) {
    (void)v, (void)P, (void)p0, (void)x, (void)c, (void)h, (void)w, (void)ty, (void)tx0, (void)seg, (void)scratch;
}
static void output_segment4(float *out, const float *m, int64_t P, int64_t p0, int k, int kb, int h, int w, int ty,
                            int tx0, int seg, const float *b, float beta, float *scratch) {
    (void)out, (void)m, (void)P, (void)p0, (void)k, (void)kb, (void)h, (void)w, (void)ty, (void)tx0, (void)seg,
        (void)b, (void)beta, (void)scratch;
}
#endif /* WINO_AVX2: F(4x4) */

/* ---- the GEMMs: M[xi] (kb x P) = U[xi] (kb x C) V[xi] (C x P), each
 * register tile the direct path's kernel with a single tap ---- */

static const int32_t one_tap[1] = {0};

/* The run of tiles from tile t to the end of its tile row or to t1,
 * whichever comes first: image img, tile row ty, columns tx0 .. tx0+seg-1. */
struct segment {
    int64_t img;
    int ty, tx0, seg;
};

static struct segment segment_at(const struct wino_plan *q, int64_t t, int64_t t1) {
    int64_t per_image = (int64_t)q->th * q->tw, rem = t % per_image;
    struct segment s = {t / per_image, (int)(rem / q->tw), (int)(rem % q->tw), 0};
    s.seg = (int)imin(q->tw - s.tx0, t1 - t);
    return s;
}

/* V (row stride vs) from x (C, H, W) for the segment's tiles, at p0 */
static void input_any(const struct wino_plan *q, float *v, int64_t p0, const float *x, int c, int h, int w,
                      struct segment sg, float *scratch) {
    if (q->m == 2)
        input_segment(v, q->vs, p0, x, c, h, w, sg.ty, sg.tx0, sg.seg, scratch);
    else
        input_segment4(v, q->vs, p0, x, c, h, w, sg.ty, sg.tx0, sg.seg, scratch);
}

struct wino_ctx {
    float *out;
    const float *x, *u, *b;
    float beta;
    int n, c, h, w, k;
    struct wino_plan q;
    float *work;
};

static void wino_worker(void *arg, int tid, int nt) {
    const struct wino_ctx *cx = arg;
    const struct wino_plan *q = &cx->q;
    int64_t P = q->p, VS = q->vs, c0, c1, nxi = q->nxi;
    float *v = cx->work + tid * q->per_thread, *m = v + nxi * cx->c * VS, *scratch = m + nxi * q->kb * P;
    tgs_split(q->nchunks, tid, nt, &c0, &c1);
    for (int64_t ch = c0; ch < c1; ch++) {
        int64_t t0 = ch * P, t1 = imin(t0 + P, q->tiles);
        /* patches -> V, and zeros past the last tile */
        for (int64_t t = t0; t < t1;) {
            struct segment sg = segment_at(q, t, t1);
            const float *xi = cx->x + sg.img * cx->c * cx->h * cx->w;
            input_any(q, v, t - t0, xi, cx->c, cx->h, cx->w, sg, scratch);
            t += sg.seg;
        }
        if (t1 - t0 < P)
            for (int64_t r = 0; r < nxi * cx->c; r++)
                memset(v + r * VS + (t1 - t0), 0, (size_t)(P - (t1 - t0)) * sizeof *v);
        /* the GEMMs */
        int64_t uplane = (int64_t)q->kb * cx->c, vplane = (int64_t)cx->c * VS, mplane = (int64_t)q->kb * P;
        for (int xi = 0; xi < nxi; xi++)
            for (int64_t p = 0; p < P; p += WINO_NR)
                for (int kk = 0; kk < q->kb; kk += WINO_MR)
                    tgs_cpu_direct_tile(v + xi * vplane + p, VS, cx->c, one_tap, 1,
                                        cx->u + xi * uplane + (int64_t)kk * cx->c, m + xi * mplane + kk * P + p, P, 0);
        /* M -> the output */
        for (int64_t t = t0; t < t1;) {
            struct segment sg = segment_at(q, t, t1);
            float *o = cx->out + sg.img * cx->k * cx->h * cx->w;
            if (q->m == 2)
                output_segment(o, m, P, t - t0, cx->k, q->kb, cx->h, cx->w, sg.ty, sg.tx0, sg.seg, cx->b, cx->beta,
                               scratch);
            else
                output_segment4(o, m, P, t - t0, cx->k, q->kb, cx->h, cx->w, sg.ty, sg.tx0, sg.seg, cx->b, cx->beta,
                                scratch);
            t += sg.seg;
        }
    }
}

void tgs_wino_conv3x3(int m, float *out, const float *x, const float *w, int flip, const float *b, int n, int c,
                      int h, int wd, int k, float beta, float *work, int threads) {
    struct wino_plan q = wino_plan(m, 0, n, c, h, wd, k);
    struct wt_ctx wt = {work, w, m, c, k, q.kb, flip};
    tgs_cpu_parallel((int64_t)k * c < 4096 ? 1 : threads, wt_worker, &wt);
    struct wino_ctx cx = {out, x, work, b, beta, n, c, h, wd, k, q, work + q.ufloats};
    tgs_cpu_parallel((int)imin(threads, q.nchunks), wino_worker, &cx);
}

/* ---- the weight gradient. The forward conv is, per tile,
 * y = A^T [U .* V] A with U = G g G^T and V = B^T d B, so
 *
 *   dL/dg = G^T S G,   S = the sum over tiles of (A dy A^T) .* V:
 *
 * per position xi, S[xi] (K x C) = Yh[xi] (K x tiles) V[xi]^T (tiles x C),
 * a GEMM whose inner dimension is the tiles, run on the direct path's
 * weight-gradient kernel (its three "taps" three channels of V). V is the
 * forward's input transform; Yh = A dy A^T takes each m x m tile of dout
 * (zero past the image's edge) to a x a. Threads take runs of chunks and
 * sum into their own S; those are added in thread order, so a run is
 * bytewise reproducible for a given thread count, like the direct path's.
 *
 * F(2x2)'s A (4 x 2) and F(4x4)'s (6 x 4) are the A^T above, transposed:
 * Yh's vertical and horizontal passes below. ---- */

#if WINO_AVX2
/* ph[q][i] = t[2i + q] for n pairs, 8 at a time */
WINO_TARGET static void deinterleave2_avx2(const float *t, float *const *ph, int n) {
    for (int i = 0; i < n; i += 8) {
        __m256 a = _mm256_loadu_ps(t + 2 * i), b = _mm256_loadu_ps(t + 2 * i + 8);
        __m256 ev = _mm256_shuffle_ps(a, b, 0x88), od = _mm256_shuffle_ps(a, b, 0xDD);
        _mm256_storeu_ps(ph[0] + i, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(ev), 0xD8)));
        _mm256_storeu_ps(ph[1] + i, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(od), 0xD8)));
    }
}

/* o (a) = A y (m): F(2x2)'s A is | 1 0 | 1 1 | 1 -1 | 0 -1 | (rows);
 * F(4x4)'s | 1 0 0 0 | 1 1 1 1 | 1 -1 1 -1 | 1 2 4 8 | 1 -2 4 -8 | 0 0 0 1 | */
WINO_TARGET static inline void a_times(int m, const __m256 *y, __m256 *o) {
    if (m == 2) {
        o[0] = y[0], o[1] = _mm256_add_ps(y[0], y[1]), o[2] = _mm256_sub_ps(y[0], y[1]);
        o[3] = _mm256_sub_ps(_mm256_setzero_ps(), y[1]);
        return;
    }
    __m256 p = _mm256_add_ps(y[0], y[2]), q = _mm256_add_ps(y[1], y[3]);
    __m256 u = _mm256_fmadd_ps(_mm256_set1_ps(4), y[2], y[0]), v = _mm256_fmadd_ps(_mm256_set1_ps(4), y[3], y[1]);
    o[0] = y[0], o[1] = _mm256_add_ps(p, q), o[2] = _mm256_sub_ps(p, q);
    o[3] = _mm256_fmadd_ps(_mm256_set1_ps(2), v, u), o[4] = _mm256_fnmadd_ps(_mm256_set1_ps(2), v, u), o[5] = y[3];
}

/* yh[xi*plane + i] = (A dy A^T)[xi] for n tiles (a multiple of 8), dy's
 * row r, column q in ph[r*m + q]; inlined for each m */
WINO_TARGET static inline __attribute__((always_inline)) void yhat_avx2(int m, float *const *ph, float *yh,
                                                                         int64_t plane, int n) {
    int a = m + 2;
    for (int i = 0; i < n; i += 8) {
        __m256 t[6][4]; /* t = A dy (a x m) */
#pragma GCC unroll 4
        for (int q = 0; q < m; q++) {
            __m256 col[4] = {0}, o[6] = {0};
#pragma GCC unroll 4
            for (int r = 0; r < m; r++) col[r] = _mm256_loadu_ps(ph[r * m + q] + i);
            a_times(m, col, o);
#pragma GCC unroll 6
            for (int s = 0; s < a; s++) t[s][q] = o[s];
        }
#pragma GCC unroll 6
        for (int s = 0; s < a; s++) {
            __m256 o[6] = {0};
            a_times(m, t[s], o);
#pragma GCC unroll 6
            for (int u = 0; u < a; u++) _mm256_storeu_ps(yh + (s * a + u) * plane + i, o[u]);
        }
    }
}

/* Yh[xi][k][p0 + i] (row stride ys, plane kb*ys) for the segment's tiles
 * of dy (K, H, W). Its vector loops run to 8 tiles past the segment, as
 * input_segment4's do, into Yh's 8 floats of row slack. */
WINO_TARGET static void dout_segment(float *yh, int64_t ys, int64_t plane, int64_t p0, const float *dy, int k, int h,
                                     int w, int m, int ty, int tx0, int seg, float *scratch) {
    int segr = (seg + 7) / 8 * 8, len = m * segr, rs = len + 8, hs = segr + 8;
    float *rows = scratch, *phb = scratch + m * rs, *ph[16];
    for (int q = 0; q < m * m; q++) ph[q] = phb + q * hs;
    for (int kk = 0; kk < k; kk++) {
        load_rows(rows, rs, m, dy + (int64_t)kk * h * w, h, w, m * ty, m * tx0, len);
        for (int r = 0; r < m; r++) {
            if (m == 4)
                deinterleave4_avx2(rows + r * rs, ph + 4 * r, segr);
            else
                deinterleave2_avx2(rows + r * rs, ph + 2 * r, segr);
        }
        if (m == 4)
            yhat_avx2(4, ph, yh + kk * ys + p0, plane, segr);
        else
            yhat_avx2(2, ph, yh + kk * ys + p0, plane, segr);
    }
}
#else
static void dout_segment(float *yh, int64_t ys, int64_t plane, int64_t p0, const float *dy, int k, int h, int w,
                         int m, int ty, int tx0, int seg, float *scratch) {
    (void)yh, (void)ys, (void)plane, (void)p0, (void)dy, (void)k, (void)h, (void)w, (void)m, (void)ty, (void)tx0,
        (void)seg, (void)scratch;
}
#endif

struct wino_dw_ctx {
    const float *x, *dy;
    int n, c, h, w, k;
    struct wino_plan q;
    float *work;
    int ran; /* threads that ran, set by thread 0 */
};

static void wino_dw_worker(void *arg, int tid, int nt) {
    struct wino_dw_ctx *cx = arg;
    const struct wino_plan *q = &cx->q;
    if (tid == 0) cx->ran = nt;
    int64_t P = q->p, VS = q->vs, YS = q->ys, SC = q->sc, nxi = q->nxi, c0, c1, C = cx->c;
    float *v = cx->work + tid * q->per_thread, *yh = v + nxi * C * VS, *s = yh + nxi * q->kb * YS;
    float *vt = s + nxi * q->kb * SC, *yp = vt + (q->wide ? P * SC : 0), *scratch = yp + (q->wide ? q->kb * P : 0);
    /* Yh's rows past K stay zero, and VT's columns past C; S starts at zero */
    memset(yh, 0, (size_t)(nxi * q->kb * YS + nxi * q->kb * SC + (q->wide ? P * SC : 0)) * sizeof *yh);
    tgs_split(q->nchunks, tid, nt, &c0, &c1);
    for (int64_t ch = c0; ch < c1; ch++) {
        int64_t t0 = ch * P, t1 = imin(t0 + P, q->tiles);
        for (int64_t t = t0; t < t1;) {
            struct segment sg = segment_at(q, t, t1);
            const float *xi = cx->x + sg.img * C * cx->h * cx->w;
            input_any(q, v, t - t0, xi, cx->c, cx->h, cx->w, sg, scratch);
            dout_segment(yh, YS, q->kb * YS, t - t0, cx->dy + sg.img * cx->k * cx->h * cx->w, cx->k, cx->h, cx->w,
                         q->m, sg.ty, sg.tx0, sg.seg, scratch);
            t += sg.seg;
        }
        if (t1 - t0 < P) { /* past the last tile: zeros in both */
            size_t tail = (size_t)(P - (t1 - t0)) * sizeof *v;
            for (int64_t r = 0; r < nxi * C; r++) memset(v + r * VS + (t1 - t0), 0, tail);
            for (int64_t r = 0; r < nxi * q->kb; r++) memset(yh + r * YS + (t1 - t0), 0, tail);
        }
        for (int64_t xi = 0; xi < nxi; xi++) {
            const float *yx = yh + xi * q->kb * YS, *vx = v + xi * C * VS;
            float *sx = s + xi * q->kb * SC, sums[12];
            if (q->wide) {
                /* S[xi] (kb x SC) += Yh (kb x P) VT (P x SC): VT = V[xi]^T, and
                 * Yh packed in blocks of 4 rows as the kernel's weights [p][4] */
                for (int64_t cc = 0; cc < C; cc++)
                    for (int64_t p = 0; p < P; p++) vt[p * SC + cc] = vx[cc * VS + p];
                for (int kk = 0; kk < q->kb; kk += WINO_MR)
                    for (int64_t p = 0; p < P; p++)
                        for (int i = 0; i < WINO_MR; i++) yp[(kk + 0) * P + p * WINO_MR + i] = yx[(kk + i) * YS + p];
                for (int kk = 0; kk < q->kb; kk += WINO_MR)
                    for (int64_t cc = 0; cc < SC; cc += WINO_NR)
                        tgs_cpu_direct_tile(vt + cc, SC, (int32_t)P, one_tap, 1, yp + kk * P, sx + kk * SC + cc, SC, 1);
                continue;
            }
            for (int kk = 0; kk < q->kb; kk += WINO_MR)
                for (int cc = 0; cc < C; cc += 3) {
                    /* a short last group of channels repeats channel cc and drops it */
                    int32_t off[3] = {0, cc + 1 < C ? (int32_t)VS : 0, cc + 2 < C ? 2 * (int32_t)VS : 0};
                    tgs_cpu_dw_tile(yx + kk * YS, YS, vx + cc * VS, off, P, sums);
                    for (int i = 0; i < WINO_MR && kk + i < cx->k; i++)
                        for (int j = 0; j < 3 && cc + j < C; j++) sx[(kk + i) * SC + cc + j] += sums[i * 3 + j];
                }
        }
    }
}

void tgs_wino_dw3x3(int m, float *dw, const float *x, const float *dout, int n, int c, int h, int wd, int k,
                    float *work, int threads) {
    static const float g2[4][3] = {{1, 0, 0}, {0.5f, 0.5f, 0.5f}, {0.5f, -0.5f, 0.5f}, {0, 0, 1}};
    static const float g4[6][3] = {{1 / 4.f, 0, 0},           {-1 / 6.f, -1 / 6.f, -1 / 6.f},
                                   {-1 / 6.f, 1 / 6.f, -1 / 6.f}, {1 / 24.f, 1 / 12.f, 1 / 6.f},
                                   {1 / 24.f, -1 / 12.f, 1 / 6.f}, {0, 0, 1}};
    const float(*g)[3] = m == 2 ? g2 : g4;
    struct wino_dw_ctx cx = {x, dout, n, c, h, wd, k, wino_plan(m, 1, n, c, h, wd, k), work, 1};
    const struct wino_plan *q = &cx.q;
    tgs_cpu_parallel((int)imin(threads, q->nchunks), wino_dw_worker, &cx);
    /* S: the threads' sums, in thread order, into thread 0's */
    int64_t sfloats = q->nxi * (int64_t)q->kb * q->sc, soff = q->nxi * ((int64_t)c * q->vs + (int64_t)q->kb * q->ys);
    float *s = work + soff;
    for (int t = 1; t < cx.ran; t++) tgs_vec_acc(s, work + t * q->per_thread + soff, sfloats);
    /* dw[k][c] += G^T S[.][k][c] G (3 x 3) */
    int a = q->a;
    for (int kk = 0; kk < k; kk++)
        for (int cc = 0; cc < c; cc++) {
            float du[36], t[3][6];
            for (int xi = 0; xi < a * a; xi++) du[xi] = s[((int64_t)xi * q->kb + kk) * q->sc + cc];
            for (int i = 0; i < 3; i++)
                for (int col = 0; col < a; col++) {
                    float acc = 0;
                    for (int r = 0; r < a; r++) acc += g[r][i] * du[r * a + col];
                    t[i][col] = acc;
                }
            float *o = dw + ((int64_t)kk * c + cc) * 9;
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++) {
                    float acc = 0;
                    for (int col = 0; col < a; col++) acc += t[i][col] * g[col][j];
                    o[3 * i + j] += acc;
                }
        }
}
