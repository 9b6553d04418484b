/* conv_wino: 3x3, stride 1, pad 1 convolutions by Winograd's F(2x2, 3x3).
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
 * The rounding differs from the direct path by a few ulps (B and A only
 * add and subtract; G halves exactly). */
#include "conv_wino.h"
#include "ops_cpu.h"

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

static int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

struct wino_plan {
    int32_t th, tw; /* tile rows and columns per image */
    int64_t tiles;  /* n * th * tw */
    int32_t kb;     /* K rounded up to WINO_MR */
    int32_t p;      /* tiles per chunk, a multiple of WINO_NR */
    int64_t nchunks;
    int64_t scratch; /* floats of the row buffers of one thread */
    int64_t ufloats; /* the transformed filters, shared, at the workspace's start */
    int64_t per_thread;
};

static struct wino_plan wino_plan(int n, int c, int h, int w, int k)
{
    struct wino_plan q;
    q.th = (h + 1) / 2, q.tw = (w + 1) / 2;
    q.tiles = (int64_t)n * q.th * q.tw;
    q.kb = (k + WINO_MR - 1) / WINO_MR * WINO_MR;
    int64_t blocks = WINO_BUDGET / (16 * (int64_t)(c + q.kb) * WINO_NR);
    blocks = imax(1, imin(WINO_MAX_NR_BLOCKS, blocks));
    /* no longer than the tiles there are, rounded up to a register tile */
    blocks = imin(blocks, (q.tiles + WINO_NR - 1) / WINO_NR);
    q.p = (int32_t)(blocks * WINO_NR);
    q.nchunks = (q.tiles + q.p - 1) / q.p;
    /* 4 padded input rows of a segment (2*tw + 2 wide), their 8 even/odd
     * halves (tw + 1 each), and 2 output rows of tw (plus vector slack) */
    q.scratch = 4 * (2 * (int64_t)q.tw + 2 + 8) + 8 * ((int64_t)q.tw + 1 + 8) + 2 * ((int64_t)q.tw + 8);
    q.ufloats = (16 * (int64_t)q.kb * c + 15) / 16 * 16;
    q.per_thread = 16 * (int64_t)(c + q.kb) * q.p + q.scratch;
    q.per_thread = (q.per_thread + 15) / 16 * 16;
    return q;
}

int tgs_wino_applies(int kh, int kw, int stride, int dil, int ph, int pw)
{
    return WINO_AVX2 && kh == 3 && kw == 3 && stride == 1 && dil == 1 && ph == 1 && pw == 1;
}

int64_t tgs_wino_work(int n, int c, int h, int w, int k, int threads)
{
    struct wino_plan q = wino_plan(n, c, h, w, k);
    return q.ufloats + (int64_t)threads * q.per_thread;
}

/* ---- the weight transform: U [16][kb/4][c][4] = G g G^T per (k, c);
 * with flip, g[k][c] is the forward conv's w[c][k] turned 180 degrees ---- */

struct wt_ctx {
    float *u;
    const float *w;
    int c, k, kb, flip;
};

static void wt_worker(void *arg, int tid, int nt)
{
    const struct wt_ctx *cx = arg;
    int64_t k0, k1;
    tgs_split(cx->kb, tid, nt, &k0, &k1);
    int64_t plane = (int64_t)cx->kb * cx->c; /* floats per xi */
    for (int64_t k = k0; k < k1; k++)
        for (int c = 0; c < cx->c; c++) {
            float g[9] = {0}, t[12], u[16];
            if (k < cx->k)
                for (int q = 0; q < 9; q++)
                    g[q] = cx->flip ? cx->w[((int64_t)c * cx->k + k) * 9 + (8 - q)] : cx->w[(k * cx->c + c) * 9 + q];
            for (int j = 0; j < 3; j++) { /* t = G g (4 x 3) */
                t[0 * 3 + j] = g[j];
                t[1 * 3 + j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
                t[2 * 3 + j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
                t[3 * 3 + j] = g[6 + j];
            }
            for (int r = 0; r < 4; r++) { /* u = t G^T (4 x 4) */
                const float *tr = t + 3 * r;
                u[4 * r + 0] = tr[0];
                u[4 * r + 1] = 0.5f * (tr[0] + tr[1] + tr[2]);
                u[4 * r + 2] = 0.5f * (tr[0] - tr[1] + tr[2]);
                u[4 * r + 3] = tr[2];
            }
            float *dst = cx->u + ((k / WINO_MR) * cx->c + c) * WINO_MR + k % WINO_MR;
            for (int xi = 0; xi < 16; xi++) dst[xi * plane] = u[xi];
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
                                                              int n)
{
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
                                                            float *v2, float *v3, int n)
{
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
                         float *const *o, int n)
{
    (void)d0, (void)d1, (void)d2, (void)d3, (void)e, (void)o, (void)n;
    return 0;
}
static int across_avx2(const float *er, const float *orr, float *v0, float *v1, float *v2, float *v3, int n)
{
    (void)er, (void)orr, (void)v0, (void)v1, (void)v2, (void)v3, (void)n;
    return 0;
}
#endif

/* ---- the input transform of one segment: tiles tx0 .. tx0+seg-1 of tile
 * row ty of image x (C, H, W), into V[xi][c][p0 + i] (row stride P) ---- */

static void input_segment(float *v, int64_t P, int64_t p0, const float *x, int c, int h, int w, int ty, int tx0,
                          int seg, float *scratch)
{
    int len = 2 * seg + 2; /* padded columns 2*tx0 .. 2*(tx0+seg)+1 */
    int rs = 2 * seg + 2 + 8, hs = seg + 1 + 8;
    float *d = scratch, *half = scratch + 4 * rs; /* half: e0 o0 e1 o1 ... */
    int64_t plane = (int64_t)c * P;
    for (int ch = 0; ch < c; ch++) {
        const float *xc = x + (int64_t)ch * h * w;
        for (int i = 0; i < 4; i++) { /* the 4 input rows, zero outside */
            float *row = d + i * rs;
            int iy = 2 * ty - 1 + i, j0 = 2 * tx0 - 1; /* input column of row[0] */
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
                                                             float *yo0, float *ye1, float *yo1, int n)
{
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
                                                                int add)
{
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
                        int n)
{
    (void)m, (void)plane, (void)bk, (void)ye0, (void)yo0, (void)ye1, (void)yo1, (void)n;
    return 0;
}
static int interleave_avx2(float *o, const float *ye, const float *yo, int n2, int add)
{
    (void)o, (void)ye, (void)yo, (void)n2, (void)add;
    return 0;
}
#endif

/* ---- the output transform of one segment: out rows 2ty, 2ty+1 of image
 * out (K, H, W) = beta*out + A^T M A + b, from M[xi][k][p0 + i] ---- */

static void output_segment(float *out, const float *m, int64_t P, int64_t p0, int k, int kb, int h, int w, int ty,
                           int tx0, int seg, const float *b, float beta, float *scratch)
{
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

/* ---- the 16 GEMMs: M[xi] (kb x P) = U[xi] (kb x C) V[xi] (C x P), each
 * register tile the direct path's kernel with a single tap ---- */

static const int32_t one_tap[1] = {0};

/* The run of tiles from tile t to the end of its tile row or to t1,
 * whichever comes first: image img, tile row ty, columns tx0 .. tx0+seg-1. */
struct segment {
    int64_t img;
    int ty, tx0, seg;
};

static struct segment segment_at(const struct wino_plan *q, int64_t t, int64_t t1)
{
    int64_t per_image = (int64_t)q->th * q->tw, rem = t % per_image;
    struct segment s = {t / per_image, (int)(rem / q->tw), (int)(rem % q->tw), 0};
    s.seg = (int)imin(q->tw - s.tx0, t1 - t);
    return s;
}

struct wino_ctx {
    float *out;
    const float *x, *u, *b;
    float beta;
    int n, c, h, w, k;
    struct wino_plan q;
    float *work;
};

static void wino_worker(void *arg, int tid, int nt)
{
    const struct wino_ctx *cx = arg;
    const struct wino_plan *q = &cx->q;
    int64_t P = q->p, c0, c1;
    float *v = cx->work + tid * q->per_thread, *m = v + 16 * (int64_t)cx->c * P, *scratch = m + 16 * (int64_t)q->kb * P;
    tgs_split(q->nchunks, tid, nt, &c0, &c1);
    for (int64_t ch = c0; ch < c1; ch++) {
        int64_t t0 = ch * P, t1 = imin(t0 + P, q->tiles);
        /* patches -> V, and zeros past the last tile */
        for (int64_t t = t0; t < t1;) {
            struct segment sg = segment_at(q, t, t1);
            input_segment(v, P, t - t0, cx->x + sg.img * cx->c * cx->h * cx->w, cx->c, cx->h, cx->w, sg.ty, sg.tx0,
                          sg.seg, scratch);
            t += sg.seg;
        }
        if (t1 - t0 < P)
            for (int64_t r = 0; r < 16 * (int64_t)cx->c; r++)
                memset(v + r * P + (t1 - t0), 0, (size_t)(P - (t1 - t0)) * sizeof *v);
        /* the GEMMs */
        int64_t uplane = (int64_t)q->kb * cx->c, vplane = (int64_t)cx->c * P, mplane = (int64_t)q->kb * P;
        for (int xi = 0; xi < 16; xi++)
            for (int64_t p = 0; p < P; p += WINO_NR)
                for (int kk = 0; kk < q->kb; kk += WINO_MR)
                    tgs_cpu_direct_tile(v + xi * vplane + p, P, cx->c, one_tap, 1,
                                        cx->u + xi * uplane + (int64_t)kk * cx->c, m + xi * mplane + kk * P + p, P, 0);
        /* M -> the output */
        for (int64_t t = t0; t < t1;) {
            struct segment sg = segment_at(q, t, t1);
            output_segment(cx->out + sg.img * cx->k * cx->h * cx->w, m, P, t - t0, cx->k, q->kb, cx->h, cx->w, sg.ty,
                           sg.tx0, sg.seg, cx->b, cx->beta, scratch);
            t += sg.seg;
        }
    }
}

void tgs_wino_conv3x3(float *out, const float *x, const float *w, int flip, const float *b, int n, int c, int h,
                      int wd, int k, float beta, float *work, int threads)
{
    struct wino_plan q = wino_plan(n, c, h, wd, k);
    struct wt_ctx wt = {work, w, c, k, q.kb, flip};
    tgs_cpu_parallel((int64_t)k * c < 4096 ? 1 : threads, wt_worker, &wt);
    struct wino_ctx cx = {out, x, work, b, beta, n, c, h, wd, k, q, work + q.ufloats};
    tgs_cpu_parallel((int)imin(threads, q.nchunks), wino_worker, &cx);
}
