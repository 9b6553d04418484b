/* op_shape: the data movements a Swin-Transformer encoder needs: reshape
 * (a copy), permute (materialised contiguous), window partition and merge,
 * and the cyclic roll of shifted windows. Each backward is the inverse
 * movement, accumulating; every movement is a bijection, so threads that
 * split the destination never write the same element. */
#include "nn/cpu/ops_cpu.h"

#include <stdio.h>
#include <string.h>

/* Below this many floats per thread a loop runs on fewer threads: a share
 * of 128 KB takes a core some 10 us, a few times the wake-up of a worker. */
#define GRAIN ((int64_t)1 << 15)
/* side of the square tiles a transposing permute moves at a time: two
 * tiles of 32x32 floats fit easily in L1 */
#define TILE 32

static int threads_for(int64_t n, int max) {
    int64_t t = n / GRAIN;
    if (t > max) t = max;
    return t < 1 ? 1 : (int)t;
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* dst[0..n) = src, or += src */
static void move_run(float *restrict dst, const float *restrict src, int64_t n, int acc) {
    if (acc)
        tgs_vec_acc(dst, src, n);
    else
        memcpy(dst, src, (size_t)n * sizeof *dst);
}

/* ---- reshape ---- */

struct copy_ctx {
    float *dst;
    const float *src;
    int64_t n;
    int acc;
};

static void copy_task(void *p, int tid, int nt) {
    const struct copy_ctx *c = p;
    int64_t lo, hi;
    tgs_split(c->n, tid, nt, &lo, &hi);
    move_run(c->dst + lo, c->src + lo, hi - lo, c->acc);
}

/* out (n) = x (n): the same row-major elements under another shape */
static void reshape_forward(float *out, const float *x, int64_t n, int threads) {
    struct copy_ctx c = {out, x, n, 0};
    tgs_cpu_parallel(threads_for(n, threads), copy_task, &c);
}

/* dx (n) += dout (n) */
static void reshape_backward(float *dx, const float *dout, int64_t n, int threads) {
    struct copy_ctx c = {dx, dout, n, 1};
    tgs_cpu_parallel(threads_for(n, threads), copy_task, &c);
}

static int reshape_node_forward(struct tgs_node *n, const struct tgs_exec *x) {
    reshape_forward(n->out->data, n->src[0]->data, n->out->size, x->threads);
    return 0;
}

static int reshape_node_backward(struct tgs_node *n, const struct tgs_exec *x) {
    if (n->src[0]->grad) reshape_backward(n->src[0]->grad, n->out->grad, n->out->size, x->threads);
    return 0;
}

const struct tgs_op_impl tgs_cpu_reshape = {reshape_node_forward, reshape_node_backward, NULL, NULL};

/* ---- permute ----
 * dst = src.permute(axes), contiguous. The shape is padded in front to 4
 * dims, then dst dims that are also adjacent in src, and dims of size 1,
 * are merged away: (B,N,h,d) -> (B,h,N,d) keeps runs of d floats, which
 * move with memcpy; when src's innermost dim goes elsewhere the move is a
 * transpose, done in TILE x TILE tiles so both sides stay in cache. */

struct perm_plan {
    int nd;
    int64_t sz[TGS_NN_MAX_DIMS];  /* dst dims, outermost first */
    int64_t sst[TGS_NN_MAX_DIMS]; /* src stride of each dst dim */
    int64_t dst[TGS_NN_MAX_DIMS]; /* dst stride of each dst dim */
    int64_t n;
    /* transposes: the dst dim p that is src's innermost, the tiles along p
     * and along dst's innermost, and the dims but those two ("batch") */
    int p;
    int64_t tp, tl, nbatch;
};

static void perm_plan_init(struct perm_plan *pl, int ndim, const int32_t *ne, const int32_t *axes) {
    int64_t xs[TGS_NN_MAX_DIMS], st[TGS_NN_MAX_DIMS];
    int ax[TGS_NN_MAX_DIMS], pad = TGS_NN_MAX_DIMS - ndim;
    for (int i = 0; i < TGS_NN_MAX_DIMS; i++) {
        xs[i] = i < pad ? 1 : ne[i - pad];
        ax[i] = i < pad ? i : pad + axes[i - pad];
    }
    int64_t s = 1;
    for (int i = TGS_NN_MAX_DIMS - 1; i >= 0; i--) st[i] = s, s *= xs[i];
    pl->n = s;
    int nd = 0;
    for (int k = 0; k < TGS_NN_MAX_DIMS; k++) {
        int64_t size = xs[ax[k]], stride = st[ax[k]];
        if (size == 1) continue;
        if (nd && pl->sst[nd - 1] == stride * size) {
            pl->sz[nd - 1] *= size;
            pl->sst[nd - 1] = stride;
        } else {
            pl->sz[nd] = size;
            pl->sst[nd++] = stride;
        }
    }
    if (!nd) pl->sz[0] = 1, pl->sst[0] = 1, nd = 1;
    pl->nd = nd;
    s = 1;
    for (int k = nd - 1; k >= 0; k--) pl->dst[k] = s, s *= pl->sz[k];
    pl->p = -1;
    pl->tp = pl->tl = pl->nbatch = 1;
    if (pl->sst[nd - 1] == 1) return;
    for (int k = 0; k < nd; k++)
        if (pl->sst[k] == 1) pl->p = k;
    pl->tp = (pl->sz[pl->p] + TILE - 1) / TILE;
    pl->tl = (pl->sz[nd - 1] + TILE - 1) / TILE;
    for (int k = 0; k < nd - 1; k++)
        if (k != pl->p) pl->nbatch *= pl->sz[k];
}

struct perm_ctx {
    float *dst;
    const float *src;
    const struct perm_plan *pl;
    int acc;
};

/* dst elements [lo, hi) when src's innermost dim stays innermost: runs */
static void perm_rows(const struct perm_ctx *c, int64_t lo, int64_t hi) {
    const struct perm_plan *pl = c->pl;
    int64_t L = pl->sz[pl->nd - 1];
    for (int64_t i = lo; i < hi;) {
        int64_t r = i / L, j = i % L, len = min64(L - j, hi - i), soff = j;
        for (int d = pl->nd - 2; d >= 0; d--) {
            soff += r % pl->sz[d] * pl->sst[d];
            r /= pl->sz[d];
        }
        move_run(c->dst + i, c->src + soff, len, c->acc);
        i += len;
    }
}

/* tiles [lo, hi) of a transpose, numbered (batch, tile along p, tile
 * along dst's innermost) */
static void perm_tiles(const struct perm_ctx *c, int64_t lo, int64_t hi) {
    const struct perm_plan *pl = c->pl;
    int nd = pl->nd, p = pl->p;
    int64_t P = pl->sz[p], L = pl->sz[nd - 1], sl = pl->sst[nd - 1], dp = pl->dst[p];
    for (int64_t t = lo; t < hi; t++) {
        int64_t il = t % pl->tl, ip = t / pl->tl % pl->tp, b = t / pl->tl / pl->tp;
        int64_t soff = 0, doff = 0;
        for (int d = nd - 2; d >= 0; d--) {
            if (d == p) continue;
            int64_t k = b % pl->sz[d];
            b /= pl->sz[d];
            soff += k * pl->sst[d];
            doff += k * pl->dst[d];
        }
        int64_t i0 = ip * TILE, i1 = min64(P, i0 + TILE), j0 = il * TILE, j1 = min64(L, j0 + TILE);
        /* dst[i*dp + j] takes src[i + j*sl]: rows of dst are contiguous,
         * columns of src are; a tile keeps both in cache */
        for (int64_t i = i0; i < i1; i++) {
            float *restrict o = c->dst + doff + i * dp;
            const float *restrict s = c->src + soff + i;
            if (c->acc)
                for (int64_t j = j0; j < j1; j++) o[j] += s[j * sl];
            else
                for (int64_t j = j0; j < j1; j++) o[j] = s[j * sl];
        }
    }
}

static void perm_task(void *p, int tid, int nt) {
    const struct perm_ctx *c = p;
    int64_t lo, hi;
    if (c->pl->p < 0) {
        tgs_split(c->pl->n, tid, nt, &lo, &hi);
        perm_rows(c, lo, hi);
    } else {
        tgs_split(c->pl->nbatch * c->pl->tp * c->pl->tl, tid, nt, &lo, &hi);
        perm_tiles(c, lo, hi);
    }
}

/* dst = src.permute(axes) (or dst += it), src of shape ne[0..ndim) */
static void permute_move(float *dst, const float *src, int ndim, const int32_t *ne, const int32_t *axes, int acc,
                         int threads) {
    struct perm_plan pl;
    perm_plan_init(&pl, ndim, ne, axes);
    struct perm_ctx c = {dst, src, &pl, acc};
    int nt = threads_for(pl.n, threads);
    if (pl.p >= 0 && nt > pl.nbatch * pl.tp * pl.tl) nt = (int)(pl.nbatch * pl.tp * pl.tl);
    tgs_cpu_parallel(nt, perm_task, &c);
}

/* x (d0,..,dn) -> out (d[axes[0]],..,d[axes[n]]) */
static void permute_forward(float *out, const float *x, int ndim, const int32_t *ne, const int32_t *axes,
                            int threads) {
    permute_move(out, x, ndim, ne, axes, 0, threads);
}

/* dx (x's shape) += dout permuted back: dout's shape oe, the inverse axes */
static void permute_backward(float *dx, const float *dout, int ndim, const int32_t *oe, const int32_t *axes,
                             int threads) {
    int32_t inv[TGS_NN_MAX_DIMS];
    for (int i = 0; i < ndim; i++) inv[axes[i]] = i;
    permute_move(dx, dout, ndim, oe, inv, 1, threads);
}

static int permute_node_forward(struct tgs_node *n, const struct tgs_exec *x) {
    const struct tgs_tensor *s = n->src[0];
    permute_forward(n->out->data, s->data, s->ndim, s->ne, n->p.perm.axes, x->threads);
    return 0;
}

static int permute_node_backward(struct tgs_node *n, const struct tgs_exec *x) {
    const struct tgs_tensor *s = n->src[0];
    if (s->grad) permute_backward(s->grad, n->out->grad, s->ndim, n->out->ne, n->p.perm.axes, x->threads);
    return 0;
}

const struct tgs_op_impl tgs_cpu_permute = {permute_node_forward, permute_node_backward, NULL, NULL};

/* ---- window partition and merge ----
 * img (B,H,W,C), win (B*nW, ws*ws, C) with windows in row-major order over
 * the (H/ws, W/ws) grid, as the Swin reference's
 *   x.view(B, H/ws, ws, W/ws, ws, C).permute(0,1,3,2,4,5).reshape(-1, ws*ws, C).
 * A row of ws pixels of one window is ws*C contiguous floats on both sides,
 * so one image row y of image b moves as W/ws runs. */

struct window_ctx {
    float *dst;
    const float *src;
    int64_t B, H, W, C, ws;
    int to_win, acc; /* dst is the windows (else the image); dst += src */
};

static void window_task(void *p, int tid, int nt) {
    const struct window_ctx *c = p;
    int64_t lo, hi, nwx = c->W / c->ws, nw = c->H / c->ws * nwx, run = c->ws * c->C;
    tgs_split(c->B * c->H, tid, nt, &lo, &hi);
    for (int64_t r = lo; r < hi; r++) {
        int64_t b = r / c->H, y = r % c->H, wy = y / c->ws, iy = y % c->ws;
        for (int64_t wx = 0; wx < nwx; wx++) {
            int64_t im = (r * c->W + wx * c->ws) * c->C, wi = ((b * nw + wy * nwx + wx) * c->ws + iy) * run;
            if (c->to_win) move_run(c->dst + wi, c->src + im, run, c->acc);
            else move_run(c->dst + im, c->src + wi, run, c->acc);
        }
    }
}

/* image (B,H,W,C) <-> windows (B*nW, ws*ws, C), split over image rows */
static void window_move(float *dst, const float *src, int64_t B, int64_t H, int64_t W, int64_t C, int64_t ws,
                        int to_win, int acc, int threads) {
    struct window_ctx c = {dst, src, B, H, W, C, ws, to_win, acc};
    int nt = threads_for(B * H * W * C, threads);
    if (nt > B * H) nt = (int)(B * H);
    tgs_cpu_parallel(nt, window_task, &c);
}

/* x (B,H,W,C) -> out (B*nW, ws*ws, C) */
static void window_partition_forward(float *out, const float *x, int64_t B, int64_t H, int64_t W, int64_t C,
                                     int64_t ws, int threads) {
    window_move(out, x, B, H, W, C, ws, 1, 0, threads);
}

/* dx (B,H,W,C) += dout (B*nW, ws*ws, C) merged back */
static void window_partition_backward(float *dx, const float *dout, int64_t B, int64_t H, int64_t W, int64_t C,
                                      int64_t ws, int threads) {
    window_move(dx, dout, B, H, W, C, ws, 0, 1, threads);
}

/* x (B*nW, ws*ws, C) -> out (B,H,W,C) */
static void window_merge_forward(float *out, const float *x, int64_t B, int64_t H, int64_t W, int64_t C, int64_t ws,
                                 int threads) {
    window_move(out, x, B, H, W, C, ws, 0, 0, threads);
}

/* dx (B*nW, ws*ws, C) += dout (B,H,W,C) partitioned */
static void window_merge_backward(float *dx, const float *dout, int64_t B, int64_t H, int64_t W, int64_t C,
                                  int64_t ws, int threads) {
    window_move(dx, dout, B, H, W, C, ws, 1, 1, threads);
}

static int window_part_node_forward(struct tgs_node *n, const struct tgs_exec *x) {
    const struct tgs_tensor *s = n->src[0];
    window_partition_forward(n->out->data, s->data, s->ne[0], s->ne[1], s->ne[2], s->ne[3], n->p.win.ws,
                             x->threads);
    return 0;
}

static int window_part_node_backward(struct tgs_node *n, const struct tgs_exec *x) {
    const struct tgs_tensor *s = n->src[0];
    if (s->grad)
        window_partition_backward(s->grad, n->out->grad, s->ne[0], s->ne[1], s->ne[2], s->ne[3], n->p.win.ws,
                                  x->threads);
    return 0;
}

static int window_merge_node_forward(struct tgs_node *n, const struct tgs_exec *x) {
    const struct tgs_tensor *o = n->out;
    window_merge_forward(o->data, n->src[0]->data, o->ne[0], o->ne[1], o->ne[2], o->ne[3], n->p.win.ws, x->threads);
    return 0;
}

static int window_merge_node_backward(struct tgs_node *n, const struct tgs_exec *x) {
    const struct tgs_tensor *o = n->out;
    if (n->src[0]->grad)
        window_merge_backward(n->src[0]->grad, o->grad, o->ne[0], o->ne[1], o->ne[2], o->ne[3], n->p.win.ws,
                              x->threads);
    return 0;
}

const struct tgs_op_impl tgs_cpu_window_part = {window_part_node_forward, window_part_node_backward, NULL, NULL};
const struct tgs_op_impl tgs_cpu_window_merge = {window_merge_node_forward, window_merge_node_backward, NULL, NULL};

/* ---- roll ----
 * dst[b,i,j,:] = src[b, (i - sh) mod H, (j - sw) mod W, :], torch.roll on
 * dims (1, 2): each dst row is two contiguous runs of src's row. */

struct roll_ctx {
    float *dst;
    const float *src;
    int64_t B, H, W, C, sh, sw; /* shifts in [0, H), [0, W) */
    int acc;
};

static void roll_task(void *p, int tid, int nt) {
    const struct roll_ctx *c = p;
    int64_t lo, hi;
    tgs_split(c->B * c->H, tid, nt, &lo, &hi);
    for (int64_t r = lo; r < hi; r++) {
        int64_t b = r / c->H, i = r % c->H, si = (i - c->sh + c->H) % c->H;
        float *d = c->dst + r * c->W * c->C;
        const float *s = c->src + (b * c->H + si) * c->W * c->C;
        /* dst columns [0, sw) from src's last sw, then [sw, W) from its first */
        move_run(d, s + (c->W - c->sw) * c->C, c->sw * c->C, c->acc);
        move_run(d + c->sw * c->C, s, (c->W - c->sw) * c->C, c->acc);
    }
}

/* dst (B,H,W,C) = torch.roll(src, (sh, sw), (1, 2)), or += it */
static void roll_move(float *dst, const float *src, int64_t B, int64_t H, int64_t W, int64_t C, int64_t sh,
                      int64_t sw, int acc, int threads) {
    struct roll_ctx c = {dst, src, B, H, W, C, (sh % H + H) % H, (sw % W + W) % W, acc};
    int nt = threads_for(B * H * W * C, threads);
    if (nt > B * H) nt = (int)(B * H);
    tgs_cpu_parallel(nt, roll_task, &c);
}

/* x (B,H,W,C) -> out (B,H,W,C) rolled by (sh, sw) */
static void roll_forward(float *out, const float *x, int64_t B, int64_t H, int64_t W, int64_t C, int64_t sh,
                         int64_t sw, int threads) {
    roll_move(out, x, B, H, W, C, sh, sw, 0, threads);
}

/* dx (B,H,W,C) += dout rolled back by (-sh, -sw) */
static void roll_backward(float *dx, const float *dout, int64_t B, int64_t H, int64_t W, int64_t C, int64_t sh,
                          int64_t sw, int threads) {
    roll_move(dx, dout, B, H, W, C, -sh, -sw, 1, threads);
}

static int roll_node_forward(struct tgs_node *n, const struct tgs_exec *x) {
    const struct tgs_tensor *s = n->src[0];
    roll_forward(n->out->data, s->data, s->ne[0], s->ne[1], s->ne[2], s->ne[3], n->p.roll.sh, n->p.roll.sw,
                 x->threads);
    return 0;
}

static int roll_node_backward(struct tgs_node *n, const struct tgs_exec *x) {
    const struct tgs_tensor *s = n->src[0];
    if (s->grad)
        roll_backward(s->grad, n->out->grad, s->ne[0], s->ne[1], s->ne[2], s->ne[3], n->p.roll.sh, n->p.roll.sw,
                      x->threads);
    return 0;
}

const struct tgs_op_impl tgs_cpu_roll = {roll_node_forward, roll_node_backward, NULL, NULL};
