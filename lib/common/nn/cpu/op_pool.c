/* op_pool: 2x2 max pooling, k x k average pooling, global average pooling,
 * bilinear x2 upsampling, and upcat (inputs upsampled and concatenated, a
 * U-Net's decoder and hypercolumn), all on (N,C,H,W) images.
 *
 * Every kernel works on one (n, c) plane at a time and the planes are
 * split between threads; each plane's output (or input gradient) is
 * written by exactly one thread, in a fixed order, so results do not depend
 * on the thread count. Backward passes gather rather than scatter. */
#include "nn/cpu/ops_cpu.h"

#include <string.h>

/* The maxpool and upsampling kernels interleave and de-interleave pairs of
 * floats, which -O2 does not vectorise by itself; SSE2 (every x86-64 has
 * it) does them four at a time, and the plain loops below handle the rows'
 * remainders and other machines, with the same arithmetic. */
#if defined(__SSE2__)
#include <emmintrin.h>
#define POOL_SSE2 1
/* lanes 0, 2 of lo then of hi, and lanes 1, 3: pairs split */
static inline __m128 evens(__m128 lo, __m128 hi) { return _mm_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0)); }
static inline __m128 odds(__m128 lo, __m128 hi) { return _mm_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1)); }
#else
#define POOL_SSE2 0
#endif

/* below this many elements one thread does it all */
#define PAR_MIN 32768

static int pool_threads(const struct tgs_exec *x, int64_t n) { return n >= PAR_MIN ? x->threads : 1; }

/* What every pooling kernel gets: one plane of x (H,W) and of out (OH,OW). */
struct plane {
    const float *x, *dy;
    float *y, *dx;
    int64_t H, W, OH, OW;
};

/* ---- 2x2 max pooling, stride 2 ----
 * x (N,C,H,W) -> out (N,C,H/2,W/2), floor: an odd last row or column is
 * dropped. A window (a, b; c, d) gives its max, and its gradient goes to
 * the first of a, b, c, d equal to the max, as torch's scan in that order
 * replacing only on > does. A window holding a NaN gives NaN (torch
 * propagates it too) and passes its gradient to d. Backward recomputes the
 * position from x rather than saving indices: one more read of x costs less
 * than writing and reading an index per output. No branches: on random
 * data they would mispredict half the time. */

static inline float max2(float u, float v) { return u > v ? u : v; }

static inline float maxpool_window(float a, float b, float c, float d) {
    float m = max2(max2(b, a), max2(d, c)); /* the operand order of _mm_max_ps below */
    return ((a != a) | (b != b) | (c != c) | (d != d)) ? a + b + c + d : m;
}

static void maxpool2_forward(const struct plane *p) {
    for (int64_t oh = 0; oh < p->OH; oh++) {
        const float *restrict r0 = p->x + 2 * oh * p->W, *restrict r1 = r0 + p->W;
        float *restrict y = p->y + oh * p->OW;
        int64_t ow = 0;
#if POOL_SSE2
        /* four windows: two vectors of each row, split into even and odd */
        for (; ow + 4 <= p->OW; ow += 4) {
            __m128 u0 = _mm_loadu_ps(r0 + 2 * ow), u1 = _mm_loadu_ps(r0 + 2 * ow + 4);
            __m128 v0 = _mm_loadu_ps(r1 + 2 * ow), v1 = _mm_loadu_ps(r1 + 2 * ow + 4);
            __m128 a = evens(u0, u1), b = odds(u0, u1), c = evens(v0, v1), d = odds(v0, v1);
            __m128 m = _mm_max_ps(_mm_max_ps(b, a), _mm_max_ps(d, c));
            __m128 nan = _mm_or_ps(_mm_cmpunord_ps(a, b), _mm_cmpunord_ps(c, d));
            __m128 sum = _mm_add_ps(_mm_add_ps(a, b), _mm_add_ps(c, d));
            _mm_storeu_ps(y + ow, _mm_or_ps(_mm_and_ps(nan, sum), _mm_andnot_ps(nan, m)));
        }
#endif
        for (; ow < p->OW; ow++) y[ow] = maxpool_window(r0[2 * ow], r0[2 * ow + 1], r1[2 * ow], r1[2 * ow + 1]);
    }
}

static void maxpool2_backward(const struct plane *p) {
    for (int64_t oh = 0; oh < p->OH; oh++) {
        const float *restrict r0 = p->x + 2 * oh * p->W, *restrict r1 = r0 + p->W, *restrict dy = p->dy + oh * p->OW;
        float *restrict d0 = p->dx + 2 * oh * p->W, *restrict d1 = d0 + p->W;
        int64_t ow = 0;
#if POOL_SSE2
        for (; ow + 4 <= p->OW; ow += 4) {
            __m128 u0 = _mm_loadu_ps(r0 + 2 * ow), u1 = _mm_loadu_ps(r0 + 2 * ow + 4);
            __m128 v0 = _mm_loadu_ps(r1 + 2 * ow), v1 = _mm_loadu_ps(r1 + 2 * ow + 4);
            __m128 a = evens(u0, u1), b = odds(u0, u1), c = evens(v0, v1), d = odds(v0, v1);
            __m128 m = _mm_max_ps(_mm_max_ps(b, a), _mm_max_ps(d, c));
            /* first equal: a; else b; else c; else (NaN too) d */
            __m128 ea = _mm_cmpeq_ps(a, m), eb = _mm_andnot_ps(ea, _mm_cmpeq_ps(b, m));
            __m128 seen = _mm_or_ps(ea, eb), ec = _mm_andnot_ps(seen, _mm_cmpeq_ps(c, m));
            __m128 ed = _mm_andnot_ps(_mm_or_ps(seen, ec), _mm_castsi128_ps(_mm_set1_epi32(-1)));
            __m128 g = _mm_loadu_ps(dy + ow);
            __m128 ga = _mm_and_ps(ea, g), gb = _mm_and_ps(eb, g), gc = _mm_and_ps(ec, g), gd = _mm_and_ps(ed, g);
            float *q0 = d0 + 2 * ow, *q1 = d1 + 2 * ow;
            _mm_storeu_ps(q0, _mm_add_ps(_mm_loadu_ps(q0), _mm_unpacklo_ps(ga, gb)));
            _mm_storeu_ps(q0 + 4, _mm_add_ps(_mm_loadu_ps(q0 + 4), _mm_unpackhi_ps(ga, gb)));
            _mm_storeu_ps(q1, _mm_add_ps(_mm_loadu_ps(q1), _mm_unpacklo_ps(gc, gd)));
            _mm_storeu_ps(q1 + 4, _mm_add_ps(_mm_loadu_ps(q1 + 4), _mm_unpackhi_ps(gc, gd)));
        }
#endif
        for (; ow < p->OW; ow++) {
            int64_t j = 2 * ow;
            float a = r0[j], b = r0[j + 1], c = r1[j], d = r1[j + 1], m = maxpool_window(a, b, c, d), g = dy[ow];
            int at = a == m ? 0 : b == m ? 1 : c == m ? 2 : 3;
            d0[j] += at == 0 ? g : 0;
            d0[j + 1] += at == 1 ? g : 0;
            d1[j] += at == 2 ? g : 0;
            d1[j + 1] += at == 3 ? g : 0;
        }
    }
}

/* ---- k x k average pooling, stride k ----
 * x (N,C,H,W) -> out (N,C,H/k,W/k), floor; rows and columns past the last
 * whole window get no gradient. */

static void avgpool_forward(const struct plane *p, int k) {
    float inv = 1.0f / (float)(k * k);
    for (int64_t oh = 0; oh < p->OH; oh++) {
        float *y = p->y + oh * p->OW;
        for (int64_t ow = 0; ow < p->OW; ow++) {
            float s = 0;
            for (int i = 0; i < k; i++) {
                const float *r = p->x + (oh * k + i) * p->W + ow * k;
                for (int jj = 0; jj < k; jj++) s += r[jj];
            }
            y[ow] = s * inv;
        }
    }
}

static void avgpool_backward(const struct plane *p, int k) {
    float inv = 1.0f / (float)(k * k);
    for (int64_t oh = 0; oh < p->OH; oh++) {
        const float *dy = p->dy + oh * p->OW;
        for (int i = 0; i < k; i++) {
            float *d = p->dx + (oh * k + i) * p->W;
            for (int64_t ow = 0; ow < p->OW; ow++) {
                float g = dy[ow] * inv;
                for (int jj = 0; jj < k; jj++) d[ow * k + jj] += g;
            }
        }
    }
}

/* ---- global average pooling ----
 * x (N,C,H,W) -> out (N,C): the mean of each plane, summed in blocks of
 * eight float lanes that go into a double. */

static void gap_forward(const struct plane *p) {
    int64_t S = p->H * p->W, i = 0;
    double s = 0;
    while (i < S) {
        int64_t end = i + 512 < S ? i + 512 : S;
        float acc[8] = {0}, t = 0;
        for (; i + 8 <= end; i += 8)
            for (int k = 0; k < 8; k++) acc[k] += p->x[i + k];
        for (; i < end; i++) t += p->x[i];
        for (int k = 0; k < 8; k++) t += acc[k];
        s += t;
    }
    p->y[0] = (float)(s / (double)S);
}

static void gap_backward(const struct plane *p) {
    int64_t S = p->H * p->W;
    float g = p->dy[0] / (float)S;
    for (int64_t i = 0; i < S; i++) p->dx[i] += g;
}

/* ---- bilinear x2 upsampling, align_corners=False ----
 * x (N,C,H,W) -> out (N,C,2H,2W). In 1-D, torch's source position of
 * output o is max((o + 0.5) / 2 - 0.5, 0), which gives
 *   out[2k]   = 0.25 x[k-1] + 0.75 x[k]     (x[-1] read as x[0])
 *   out[2k+1] = 0.75 x[k]   + 0.25 x[k+1]   (x[H] read as x[H-1])
 * i.e. the edge is clamped; 2-D is that along rows and along columns. The
 * transpose gathers four outputs per input:
 *   dx[i] = 0.25 dy[2i-1] + 0.75 dy[2i] + 0.75 dy[2i+1] + 0.25 dy[2i+2]
 * with dy's index clamped to [0, 2H-1] (which gives the edges' weights of
 * 1 = 0.25 + 0.75). tmp: 6W floats of the thread's workspace. */

/* o[j] = u * a[j] + v * b[j], j < n: forward's vertical blend */
static void blend2(float *restrict o, const float *a, const float *b, int64_t n, float u, float v) {
    int64_t j = 0;
#if POOL_SSE2
    __m128 U = _mm_set1_ps(u), V = _mm_set1_ps(v);
    for (; j + 4 <= n; j += 4)
        _mm_storeu_ps(o + j, _mm_add_ps(_mm_mul_ps(U, _mm_loadu_ps(a + j)), _mm_mul_ps(V, _mm_loadu_ps(b + j))));
#endif
    for (; j < n; j++) o[j] = u * a[j] + v * b[j];
}

/* o[j] = u * a[j] + v * b[j] + w * c[j] + z * d[j], j < n: backward's */
static void blend4(float *restrict o, const float *a, const float *b, const float *c, const float *d, int64_t n,
                   float u, float v, float w, float z) {
    int64_t j = 0;
#if POOL_SSE2
    __m128 U = _mm_set1_ps(u), V = _mm_set1_ps(v), Wv = _mm_set1_ps(w), Z = _mm_set1_ps(z);
    for (; j + 4 <= n; j += 4) {
        __m128 s0 = _mm_add_ps(_mm_mul_ps(U, _mm_loadu_ps(a + j)), _mm_mul_ps(V, _mm_loadu_ps(b + j)));
        __m128 s1 = _mm_add_ps(_mm_mul_ps(Wv, _mm_loadu_ps(c + j)), _mm_mul_ps(Z, _mm_loadu_ps(d + j)));
        _mm_storeu_ps(o + j, _mm_add_ps(s0, s1));
    }
#endif
    for (; j < n; j++) o[j] = (u * a[j] + v * b[j]) + (w * c[j] + z * d[j]);
}

/* out (2n) from in (n) along a row */
static void up_row(float *restrict out, const float *restrict in, int64_t n) {
    if (n == 1) {
        out[0] = out[1] = in[0];
        return;
    }
    out[0] = in[0];
    int64_t k = 0;
#if POOL_SSE2
    /* out[2k+1..2k+8] from in[k..k+4]: the two blends, interleaved */
    const __m128 q1 = _mm_set1_ps(0.25f), q3 = _mm_set1_ps(0.75f);
    for (; k + 5 <= n; k += 4) {
        __m128 a = _mm_loadu_ps(in + k), b = _mm_loadu_ps(in + k + 1);
        __m128 odd = _mm_add_ps(_mm_mul_ps(q3, a), _mm_mul_ps(q1, b));
        __m128 even = _mm_add_ps(_mm_mul_ps(q1, a), _mm_mul_ps(q3, b));
        _mm_storeu_ps(out + 2 * k + 1, _mm_unpacklo_ps(odd, even));
        _mm_storeu_ps(out + 2 * k + 5, _mm_unpackhi_ps(odd, even));
    }
#endif
    for (; k + 1 < n; k++) {
        out[2 * k + 1] = 0.75f * in[k] + 0.25f * in[k + 1];
        out[2 * k + 2] = 0.25f * in[k] + 0.75f * in[k + 1];
    }
    out[2 * n - 1] = in[n - 1];
}

/* rows first, then columns: the column blends are contiguous and make all
 * of the output; the row blends, which interleave, make half of it */
static void upsample2_forward(const struct plane *p, float *tmp) {
    int64_t H = p->H, W = p->W, OW = 2 * W;
    float *hm = tmp, *h0 = tmp + OW, *hp = tmp + 2 * OW; /* rows k-1, k, k+1 upsampled along the row */
    up_row(h0, p->x, W);
    memcpy(hm, h0, OW * sizeof *hm);
    for (int64_t k = 0; k < H; k++) {
        if (k + 1 < H) up_row(hp, p->x + (k + 1) * W, W);
        else memcpy(hp, h0, OW * sizeof *hp);
        blend2(p->y + 2 * k * OW, hm, h0, OW, 0.25f, 0.75f);
        blend2(p->y + (2 * k + 1) * OW, h0, hp, OW, 0.75f, 0.25f);
        float *t = hm;
        hm = h0, h0 = hp, hp = t;
    }
}

/* dx (n) += the transpose of up_row applied to g (2n) */
static void up_row_t(float *restrict dx, const float *restrict g, int64_t n) {
    if (n == 1) {
        dx[0] += g[0] + g[1];
        return;
    }
    dx[0] += g[0] + 0.75f * g[1] + 0.25f * g[2];
    int64_t i = 1;
#if POOL_SSE2
    /* dx[i..i+3] from g[2i-1..2i+6]: its even and odd lanes, and the same
     * two vectors on */
    const __m128 q1 = _mm_set1_ps(0.25f), q3 = _mm_set1_ps(0.75f);
    for (; i + 5 <= n; i += 4) {
        __m128 l0 = _mm_loadu_ps(g + 2 * i - 1), l1 = _mm_loadu_ps(g + 2 * i + 3);
        __m128 m0 = _mm_loadu_ps(g + 2 * i + 1), m1 = _mm_loadu_ps(g + 2 * i + 5);
        __m128 gm = evens(l0, l1), g0 = odds(l0, l1), g1 = evens(m0, m1), gp = odds(m0, m1);
        __m128 s = _mm_add_ps(_mm_add_ps(_mm_mul_ps(q1, gm), _mm_mul_ps(q3, g0)),
                              _mm_add_ps(_mm_mul_ps(q3, g1), _mm_mul_ps(q1, gp)));
        _mm_storeu_ps(dx + i, _mm_add_ps(_mm_loadu_ps(dx + i), s));
    }
#endif
    for (; i + 1 < n; i++)
        dx[i] += (0.25f * g[2 * i - 1] + 0.75f * g[2 * i]) + (0.75f * g[2 * i + 1] + 0.25f * g[2 * i + 2]);
    dx[n - 1] += 0.25f * g[2 * n - 3] + 0.75f * g[2 * n - 2] + g[2 * n - 1];
}

static void upsample2_backward(const struct plane *p, float *tmp) {
    int64_t H = p->H, W = p->W, OH = 2 * H, OW = 2 * W;
    for (int64_t i = 0; i < H; i++) {
        int64_t rm = 2 * i - 1 < 0 ? 0 : 2 * i - 1, rp = 2 * i + 2 < OH ? 2 * i + 2 : OH - 1;
        const float *gm = p->dy + rm * OW, *g0 = p->dy + 2 * i * OW, *g1 = g0 + OW, *gp = p->dy + rp * OW;
        blend4(tmp, gm, g0, g1, gp, OW, 0.25f, 0.75f, 0.75f, 0.25f);
        up_row_t(p->dx + i * W, tmp, W);
    }
}

/* ---- the node adapters: one job per op and direction, planes split ---- */

struct pool_job {
    const struct tgs_node *n;
    const struct tgs_exec *x;
    int backward;
};

static void pool_run(void *ctx, int tid, int nt) {
    const struct pool_job *j = ctx;
    const struct tgs_node *n = j->n;
    const struct tgs_tensor *xt = n->src[0], *yt = n->out;
    struct plane p = {.H = xt->ne[2], .W = xt->ne[3]};
    p.OH = yt->ndim == 4 ? yt->ne[2] : 1;
    p.OW = yt->ndim == 4 ? yt->ne[3] : 1;
    int64_t in_plane = p.H * p.W, out_plane = p.OH * p.OW, lo, hi;
    tgs_split((int64_t)xt->ne[0] * xt->ne[1], tid, nt, &lo, &hi);
    float *tmp = j->x->work + tid * 6 * p.W;
    for (int64_t q = lo; q < hi; q++) {
        p.x = xt->data + q * in_plane;
        if (j->backward) {
            p.dx = xt->grad + q * in_plane;
            p.dy = yt->grad + q * out_plane;
        } else {
            p.y = yt->data + q * out_plane;
        }
        switch (n->op) {
        case TGS_OP_MAXPOOL2: j->backward ? maxpool2_backward(&p) : maxpool2_forward(&p); break;
        case TGS_OP_AVGPOOL: j->backward ? avgpool_backward(&p, n->p.pool.k) : avgpool_forward(&p, n->p.pool.k); break;
        case TGS_OP_GAP: j->backward ? gap_backward(&p) : gap_forward(&p); break;
        case TGS_OP_UPSAMPLE2: j->backward ? upsample2_backward(&p, tmp) : upsample2_forward(&p, tmp); break;
        default: break;
        }
    }
}

static int pool_forward_node(struct tgs_node *n, const struct tgs_exec *x) {
    struct pool_job j = {n, x, 0};
    int64_t big = n->src[0]->size > n->out->size ? n->src[0]->size : n->out->size;
    tgs_cpu_parallel(pool_threads(x, big), pool_run, &j);
    return 0;
}

static int pool_backward_node(struct tgs_node *n, const struct tgs_exec *x) {
    if (!n->src[0]->grad) return 0;
    struct pool_job j = {n, x, 1};
    int64_t big = n->src[0]->size > n->out->size ? n->src[0]->size : n->out->size;
    tgs_cpu_parallel(pool_threads(x, big), pool_run, &j);
    return 0;
}

/* upsampling's temporary rows: 3 x 2W floats per thread */
static int64_t upsample2_work_floats(const struct tgs_node *n) {
    return (int64_t)tgs_cpu_threads() * 6 * n->src[0]->ne[3];
}

const struct tgs_op_impl tgs_cpu_maxpool2 = {pool_forward_node, pool_backward_node, NULL, NULL};
const struct tgs_op_impl tgs_cpu_avgpool = {pool_forward_node, pool_backward_node, NULL, NULL};
const struct tgs_op_impl tgs_cpu_gap = {pool_forward_node, pool_backward_node, NULL, NULL};
const struct tgs_op_impl tgs_cpu_upsample2 = {pool_forward_node, pool_backward_node, NULL, upsample2_work_floats};

/* ---- upcat: inputs upsampled, then concatenated along channels ----
 * Input i's planes go up its chain of steps[i] bilinear x2 steps with the
 * kernels above, through two scratch planes, and the last step writes
 * straight into the input's channels of the output: the same bytes as a
 * chain of upsample2 nodes and a concat, without their tensors and
 * copies. Backward runs each chain in reverse into zeroed scratch and adds
 * into the input's gradient, as those nodes would. Inputs go one after the
 * other, their planes split between threads, so an input given twice is
 * still written by one thread at a time. */

/* per thread: two planes of at most (H/2)(W/2), and up to 3W row floats */
static int64_t upcat_thread_floats(int64_t H, int64_t W) { return 2 * (H / 2) * (W / 2) + 3 * W + 16; }

struct upcat_job {
    const struct tgs_node *n;
    const struct tgs_exec *x;
    int src, backward;
    int64_t coff; /* the input's first channel in out */
};

static void upcat_run(void *ctx, int tid, int nt) {
    const struct upcat_job *j = ctx;
    const struct tgs_tensor *xt = j->n->src[j->src], *yt = j->n->out;
    int s = j->n->p.upcat.steps[j->src];
    int64_t H = yt->ne[2], W = yt->ne[3], C = xt->ne[1], Ct = yt->ne[1], h0 = H >> s, w0 = W >> s, lo, hi;
    float *scratch = j->x->work + tid * upcat_thread_floats(H, W);
    float *buf[2] = {scratch, scratch + (H / 2) * (W / 2)}, *rows = scratch + 2 * (H / 2) * (W / 2);
    tgs_split((int64_t)xt->ne[0] * C, tid, nt, &lo, &hi);
    for (int64_t q = lo; q < hi; q++) {
        int64_t o = ((q / C) * Ct + j->coff + q % C) * H * W; /* the output plane */
        if (!j->backward) {
            const float *in = xt->data + q * h0 * w0;
            if (s == 0) memcpy(yt->data + o, in, (size_t)(H * W) * sizeof(float));
            for (int t = 0; t < s; t++) { /* step t: (h0 << t) -> (h0 << (t + 1)) */
                float *dst = t == s - 1 ? yt->data + o : buf[t & 1];
                struct plane p = {.x = in, .y = dst, .H = h0 << t, .W = w0 << t};
                upsample2_forward(&p, rows);
                in = dst;
            }
        } else {
            const float *g = yt->grad + o;
            float *dx = xt->grad + q * h0 * w0;
            if (s == 0) tgs_vec_acc(dx, g, H * W);
            for (int t = s - 1; t >= 0; t--) {
                float *dst = t == 0 ? dx : buf[t & 1];
                if (t > 0) memset(dst, 0, (size_t)((h0 << t) * (w0 << t)) * sizeof(float));
                struct plane p = {.dy = g, .dx = dst, .H = h0 << t, .W = w0 << t};
                upsample2_backward(&p, rows);
                g = dst;
            }
        }
    }
}

static int upcat_node_run(struct tgs_node *n, const struct tgs_exec *x, int backward) {
    int64_t coff = 0;
    for (int i = 0; i < n->nsrc; i++) {
        const struct tgs_tensor *xt = n->src[i];
        if (!backward || xt->grad) {
            struct upcat_job j = {n, x, i, backward, coff};
            int64_t big = (int64_t)xt->ne[0] * xt->ne[1] * n->out->ne[2] * n->out->ne[3];
            tgs_cpu_parallel(pool_threads(x, big), upcat_run, &j);
        }
        coff += xt->ne[1];
    }
    return 0;
}

static int upcat_forward_node(struct tgs_node *n, const struct tgs_exec *x) { return upcat_node_run(n, x, 0); }
static int upcat_backward_node(struct tgs_node *n, const struct tgs_exec *x) { return upcat_node_run(n, x, 1); }

static int64_t upcat_work_floats(const struct tgs_node *n) {
    for (int i = 0; i < n->nsrc; i++)
        if (n->p.upcat.steps[i] > 0) return tgs_cpu_threads() * upcat_thread_floats(n->out->ne[2], n->out->ne[3]);
    return 0;
}

const struct tgs_op_impl tgs_cpu_upcat = {upcat_forward_node, upcat_backward_node, NULL, upcat_work_floats};
