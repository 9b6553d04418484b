/* op_attn: attn_bias, what Swin's window attention adds to q k^T / sqrt(d)
 * before the softmax: the relative position bias B[rel(i,j), head] of
 * tokens i, j of a ws x ws window, and, for shifted windows, -100 between
 * tokens of different regions of the rolled image (Swin's attn_mask).
 *
 * scores and out (BW, heads, N, N), N = ws*ws, windows in the order of
 * window_partition over (B, h/ws, w/ws); table (T, heads), T = (2tw-1)^2,
 * tw >= ws. Token i sits at (i / ws, i % ws) in its window; rel(i,j) =
 * (yi - yj + tw-1) * (2tw-1) + (xi - xj + tw-1), Swin's
 * relative_position_index when tw = ws. The regions are Swin's img_mask: the rolled
 * image's rows split at h-ws and h-shift, its columns likewise, 3 x 3 ids.
 *
 * Forward splits the (window, head) blocks over threads. Backward: dscores
 * += dout likewise; dtable sums dout over windows and token pairs per
 * entry in one fixed order per head, in double, threads taking whole heads:
 * the bytes do not depend on the thread count. */
#include "nn/cpu/ops_cpu.h"

/* below this many floats one thread does it all */
#define PAR_MIN 32768
/* tokens of a window at most: the builder refuses windows over 32 */
#define MAX_N (32 * 32)

struct ab_dims {
    int64_t BW, heads, N, T;
    int ws, shift, h, w, nwx, nw, tw;
};

static struct ab_dims ab_dims_of(const struct tgs_node *n) {
    const struct tgs_attn_bias_params *p = &n->p.ab;
    struct ab_dims d = {n->out->ne[0], n->out->ne[1], n->out->ne[2], (2 * p->tw - 1) * (2 * p->tw - 1),
                        p->ws, p->shift, p->h, p->w, p->w / p->ws, (p->h / p->ws) * (p->w / p->ws), p->tw};
    return d;
}

/* Swin's img_mask id of image pixel (y, x): 3 x 3 regions, 0 when unshifted */
static int region(const struct ab_dims *d, int y, int x) {
    if (!d->shift) return 0;
    int ry = y < d->h - d->ws ? 0 : y < d->h - d->shift ? 1 : 2;
    int rx = x < d->w - d->ws ? 0 : x < d->w - d->shift ? 1 : 2;
    return ry * 3 + rx;
}

/* region ids of the N tokens of window bw */
static void window_regions(const struct ab_dims *d, int64_t bw, int *reg) {
    int wi = (int)(bw % d->nw), y0 = wi / d->nwx * d->ws, x0 = wi % d->nwx * d->ws;
    for (int i = 0; i < d->N; i++) reg[i] = region(d, y0 + i / d->ws, x0 + i % d->ws);
}

static int64_t rel_index(const struct ab_dims *d, int i, int j) {
    int ws = d->ws, tw = d->tw;
    return (int64_t)(i / ws - j / ws + tw - 1) * (2 * tw - 1) + (i % ws - j % ws + tw - 1);
}

struct ab_job {
    struct ab_dims d;
    float *out;
    const float *in, *table;
    const int32_t *rel; /* (N, N) rel(i,j), filled once per call */
    double *acc;        /* backward: T doubles per head */
    float *dtable;
};

/* out[bw,h] = s[bw,h] + table[rel, h] + mask, blocks [lo, hi) of (bw, h) */
static void attn_bias_forward(const struct ab_job *j, int64_t lo, int64_t hi) {
    const struct ab_dims *d = &j->d;
    int reg[MAX_N];
    int64_t last = -1;
    for (int64_t b = lo; b < hi; b++) {
        int64_t bw = b / d->heads, h = b % d->heads;
        if (bw != last) window_regions(d, bw, reg), last = bw;
        const float *s = j->in + b * d->N * d->N;
        float *o = j->out + b * d->N * d->N;
        for (int q = 0; q < d->N; q++)
            for (int k = 0; k < d->N; k++)
                o[q * d->N + k] =
                    s[q * d->N + k] + j->table[j->rel[q * d->N + k] * d->heads + h] + (reg[q] != reg[k] ? -100.0f : 0.0f);
    }
}

/* dtable[:, h] += sum of dout over windows and token pairs, heads [lo, hi) */
static void attn_bias_backward_table(const struct ab_job *j, int64_t lo, int64_t hi) {
    const struct ab_dims *d = &j->d;
    for (int64_t h = lo; h < hi; h++) {
        double *acc = j->acc + h * d->T;
        for (int64_t t = 0; t < d->T; t++) acc[t] = 0;
        for (int64_t bw = 0; bw < d->BW; bw++) {
            const float *g = j->in + (bw * d->heads + h) * d->N * d->N;
            for (int64_t e = 0; e < d->N * d->N; e++) acc[j->rel[e]] += g[e];
        }
        for (int64_t t = 0; t < d->T; t++) j->dtable[t * d->heads + h] += (float)acc[t];
    }
}

static void fwd_task(void *p, int tid, int nt) {
    const struct ab_job *j = p;
    int64_t lo, hi;
    tgs_split(j->d.BW * j->d.heads, tid, nt, &lo, &hi);
    attn_bias_forward(j, lo, hi);
}

static void dscores_task(void *p, int tid, int nt) {
    const struct ab_job *j = p;
    int64_t lo, hi, blk = j->d.N * j->d.N;
    tgs_split(j->d.BW * j->d.heads, tid, nt, &lo, &hi);
    tgs_vec_acc(j->out + lo * blk, j->in + lo * blk, (hi - lo) * blk);
}

static void dtable_task(void *p, int tid, int nt) {
    const struct ab_job *j = p;
    int64_t lo, hi;
    tgs_split(j->d.heads, tid, nt, &lo, &hi);
    attn_bias_backward_table(j, lo, hi);
}

static int threads_for(const struct tgs_exec *x, int64_t n, int64_t items) {
    int64_t t = n >= PAR_MIN ? x->threads : 1;
    return (int)(t < items ? t : items);
}

/* the workspace: T doubles per head (backward), then rel as N*N int32 */
static int32_t *rel_fill(const struct ab_dims *d, const struct tgs_exec *x) {
    int32_t *rel = (int32_t *)(x->work + 2 * d->T * d->heads);
    for (int q = 0; q < d->N; q++)
        for (int k = 0; k < d->N; k++) rel[q * d->N + k] = (int32_t)rel_index(d, q, k);
    return rel;
}

static int attn_bias_node_forward(struct tgs_node *n, const struct tgs_exec *x) {
    struct ab_job j = {ab_dims_of(n), n->out->data, n->src[0]->data, n->src[1]->data, NULL, NULL, NULL};
    j.rel = rel_fill(&j.d, x);
    tgs_cpu_parallel(threads_for(x, n->out->size, j.d.BW * j.d.heads), fwd_task, &j);
    return 0;
}

static int attn_bias_node_backward(struct tgs_node *n, const struct tgs_exec *x) {
    struct ab_job j = {ab_dims_of(n), n->src[0]->grad, n->out->grad, NULL, NULL, (double *)x->work, n->src[1]->grad};
    j.rel = rel_fill(&j.d, x);
    if (j.out) tgs_cpu_parallel(threads_for(x, n->out->size, j.d.BW * j.d.heads), dscores_task, &j);
    if (j.dtable) tgs_cpu_parallel(threads_for(x, n->out->size, j.d.heads), dtable_task, &j);
    return 0;
}

/* the per-head sums of the table's gradient, in double, and rel */
static int64_t attn_bias_work_floats(const struct tgs_node *n) {
    return 2 * n->src[1]->size + (int64_t)n->out->ne[2] * n->out->ne[3];
}

const struct tgs_op_impl tgs_cpu_attn_bias = {attn_bias_node_forward, attn_bias_node_backward, NULL,
                                              attn_bias_work_floats};
