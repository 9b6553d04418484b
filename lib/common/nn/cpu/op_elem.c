/* op_elem: elementwise ops of two tensors (add and mul, b broadcast along
 * its size-1 dims), scaling by a constant, and concatenation along dim 1.
 *
 * add and concat are on the hot path (residual adds, U-Net skip
 * concatenations of up to 16x48x128x128 floats): their loops are split
 * over threads by element ranges and their innermost loops are contiguous
 * runs (memcpy for concat), whatever the broadcast pattern. */
#include "nn/cpu/ops_cpu.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Below this many floats per thread a loop runs on fewer threads: a share
 * of 128 KB takes a core some 10 us, a few times the wake-up of a worker. */
#define GRAIN ((int64_t)1 << 15)
/* The reduction of a broadcast b's gradient splits over b's elements when b
 * has at least this many per thread, else each thread sums into its own
 * copy of b in the workspace and the copies are added in thread order. */
#define SPLIT_B_MIN 16

static int threads_for(int64_t n, int max) {
    int64_t t = n / GRAIN;
    if (t > max) t = max;
    return t < 1 ? 1 : (int)t;
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* ---- broadcasting ----
 * a's dims collapsed into at most 4 runs, alternating between runs where b
 * is full (b's index follows a's) and runs where b is broadcast (b's stride
 * is 0). Dims of size 1 in a belong to neither. (N,C,H,W) with b
 * (N,C,1,1) becomes (N*C, H*W) with b strides (1, 0); with b (1,C,1,1) it
 * becomes (N, C, H*W) with b strides (0, 1, 0). */
struct bcast {
    int nd;
    int64_t sz[TGS_NN_MAX_DIMS];  /* run sizes, outermost first */
    int64_t ost[TGS_NN_MAX_DIMS]; /* strides in a (and out, dout) */
    int64_t bst[TGS_NN_MAX_DIMS]; /* strides in b; 0 along broadcast runs */
    int64_t n, nb;                /* elements of a and of b */
};

static void bcast_init(struct bcast *bc, const struct tgs_tensor *a, const struct tgs_tensor *b) {
    int kind[TGS_NN_MAX_DIMS]; /* 1: b broadcast along the run */
    int nd = 0;
    for (int i = 0; i < TGS_NN_MAX_DIMS; i++) {
        if (a->ne[i] == 1) continue;
        int k = b->ne[i] == 1;
        if (nd && kind[nd - 1] == k) {
            bc->sz[nd - 1] *= a->ne[i];
        } else {
            kind[nd] = k;
            bc->sz[nd++] = a->ne[i];
        }
    }
    if (!nd) kind[0] = 0, bc->sz[0] = 1, nd = 1;
    int64_t os = 1, bs = 1;
    for (int i = nd - 1; i >= 0; i--) {
        bc->ost[i] = os;
        os *= bc->sz[i];
        bc->bst[i] = kind[i] ? 0 : bs;
        if (!kind[i]) bs *= bc->sz[i];
    }
    bc->nd = nd;
    bc->n = os;
    bc->nb = bs;
}

/* b's offset for row r of a, a row being one run of the innermost dim */
static int64_t bcast_boff(const struct bcast *bc, int64_t r) {
    int64_t off = 0;
    for (int d = bc->nd - 2; d >= 0; d--) {
        off += r % bc->sz[d] * bc->bst[d];
        r /= bc->sz[d];
    }
    return off;
}

/* dout's offsets of b's element e (among b's full runs, all of them when
 * `inner` is set, else all but the innermost) and of index r among the
 * broadcast runs (all but the innermost) */
static int64_t bcast_off_full(const struct bcast *bc, int64_t e, int inner) {
    int64_t off = 0;
    for (int d = bc->nd - (inner ? 1 : 2); d >= 0; d--) {
        if (!bc->bst[d]) continue;
        off += e % bc->sz[d] * bc->ost[d];
        e /= bc->sz[d];
    }
    return off;
}

static int64_t bcast_off_bcast(const struct bcast *bc, int64_t r) {
    int64_t off = 0;
    for (int d = bc->nd - 2; d >= 0; d--) {
        if (bc->bst[d]) continue;
        off += r % bc->sz[d] * bc->ost[d];
        r /= bc->sz[d];
    }
    return off;
}

/* Elements of the broadcast runs but the innermost: how many runs of dout
 * each b element (or b row, when the innermost run is full) sums. */
static int64_t bcast_nrows_bcast(const struct bcast *bc) {
    int64_t n = 1;
    for (int d = 0; d < bc->nd - 1; d++)
        if (!bc->bst[d]) n *= bc->sz[d];
    return n;
}

/* The loops below, in blocks of 8 with a scalar tail: GCC's -O2 vectorizes
 * only loops whose vector code needs no scalar remainder, and a block of a
 * constant 8 is one. */
static void vec_add(float *restrict o, const float *restrict x, const float *restrict y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) o[i + k] = x[i + k] + y[i + k];
    for (; i < n; i++) o[i] = x[i] + y[i];
}

static void vec_mul(float *restrict o, const float *restrict x, const float *restrict y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) o[i + k] = x[i + k] * y[i + k];
    for (; i < n; i++) o[i] = x[i] * y[i];
}

/* o += x * y */
static void vec_mul_acc(float *restrict o, const float *restrict x, const float *restrict y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) o[i + k] += x[i + k] * y[i + k];
    for (; i < n; i++) o[i] += x[i] * y[i];
}

static void vec_adds(float *restrict o, const float *restrict x, float s, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) o[i + k] = x[i + k] + s;
    for (; i < n; i++) o[i] = x[i] + s;
}

static void vec_muls(float *restrict o, const float *restrict x, float s, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) o[i + k] = x[i + k] * s;
    for (; i < n; i++) o[i] = x[i] * s;
}

/* o += x * s */
static void vec_muls_acc(float *restrict o, const float *restrict x, float s, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) o[i + k] += x[i + k] * s;
    for (; i < n; i++) o[i] += x[i] * s;
}

/* Sum of p[0..n), or of p[i] * q[i], in a fixed order: eight float lanes
 * over blocks of SUM_BLOCK (vector adds, at most 64 terms a lane), the
 * blocks added in double, so long runs (a bias's gradient sums N*H*W
 * terms) lose no more than a block's float rounding. */
#define SUM_BLOCK 512

static double sum_run(const float *p, const float *q, int64_t n) {
    double s = 0;
    int64_t i = 0;
    while (i + 8 <= n) {
        float acc[8] = {0};
        int64_t end = min64(n, i + SUM_BLOCK);
        if (q)
            for (; i + 8 <= end; i += 8)
                for (int k = 0; k < 8; k++) acc[k] += p[i + k] * q[i + k];
        else
            for (; i + 8 <= end; i += 8)
                for (int k = 0; k < 8; k++) acc[k] += p[i + k];
        s += ((double)(acc[0] + acc[1]) + (acc[2] + acc[3])) + ((double)(acc[4] + acc[5]) + (acc[6] + acc[7]));
    }
    for (; i < n; i++) s += q ? (double)p[i] * q[i] : p[i];
    return s;
}

enum bin_op {
    BIN_ADD,     /* out = a + b */
    BIN_MUL,     /* out = a * b */
    BIN_MUL_ACC, /* out += a * b (mul's backward to a: da += dout * b) */
};

/* out[i] = a[i] op b[.] for out elements [lo, hi), a row at a time */
static void binary_range(float *out, const float *a, const float *b, const struct bcast *bc, enum bin_op op,
                         int64_t lo, int64_t hi) {
    int64_t L = bc->sz[bc->nd - 1];
    int inner_full = bc->bst[bc->nd - 1] != 0;
    int64_t r = lo / L, j = lo % L;
    for (int64_t i = lo; i < hi; r++, j = 0) {
        int64_t len = min64(L - j, hi - i), boff = bcast_boff(bc, r);
        if (inner_full) {
            const float *y = b + boff + j;
            switch (op) {
            case BIN_ADD: vec_add(out + i, a + i, y, len); break;
            case BIN_MUL: vec_mul(out + i, a + i, y, len); break;
            case BIN_MUL_ACC: vec_mul_acc(out + i, a + i, y, len); break;
            }
        } else {
            switch (op) {
            case BIN_ADD: vec_adds(out + i, a + i, b[boff], len); break;
            case BIN_MUL: vec_muls(out + i, a + i, b[boff], len); break;
            case BIN_MUL_ACC: vec_muls_acc(out + i, a + i, b[boff], len); break;
            }
        }
        i += len;
    }
}

/* db[e] += sum over the broadcast runs of dout (times a when a is given),
 * for b's elements [lo, hi). Each element's sum runs in the same order
 * whichever thread takes it. */
static void reduce_split_b(float *db, const float *dout, const float *a, const struct bcast *bc, int64_t lo,
                           int64_t hi) {
    int64_t L = bc->sz[bc->nd - 1], nr = bcast_nrows_bcast(bc);
    if (bc->bst[bc->nd - 1]) {
        /* innermost run full: b's rows of L add up rows of dout */
        for (int64_t e = lo; e < hi;) {
            int64_t br = e / L, j0 = e % L, j1 = min64(L, j0 + (hi - e));
            int64_t base = bcast_off_full(bc, br, 0);
            float *d = db + br * L + j0;
            for (int64_t r = 0; r < nr; r++) {
                int64_t o = base + bcast_off_bcast(bc, r) + j0;
                if (a) vec_mul_acc(d, dout + o, a + o, j1 - j0);
                else tgs_vec_acc(d, dout + o, j1 - j0);
            }
            e += j1 - j0;
        }
    } else {
        /* innermost run broadcast: each b element sums runs of L */
        for (int64_t e = lo; e < hi; e++) {
            int64_t base = bcast_off_full(bc, e, 1);
            double s = 0;
            for (int64_t r = 0; r < nr; r++) {
                int64_t o = base + bcast_off_bcast(bc, r);
                s += sum_run(dout + o, a ? a + o : NULL, L);
            }
            db[e] += (float)s;
        }
    }
}

/* part[.] += dout (times a) for dout's elements [lo, hi): a thread's share
 * when b is too small to split; part is the thread's zeroed copy of b */
static void reduce_partial(float *part, const float *dout, const float *a, const struct bcast *bc, int64_t lo,
                           int64_t hi) {
    int64_t L = bc->sz[bc->nd - 1];
    int inner_full = bc->bst[bc->nd - 1] != 0;
    int64_t r = lo / L, j = lo % L;
    for (int64_t i = lo; i < hi; r++, j = 0) {
        int64_t len = min64(L - j, hi - i), boff = bcast_boff(bc, r);
        if (inner_full) {
            if (a) vec_mul_acc(part + boff + j, dout + i, a + i, len);
            else tgs_vec_acc(part + boff + j, dout + i, len);
        } else {
            part[boff] += (float)sum_run(dout + i, a ? a + i : NULL, len);
        }
        i += len;
    }
}

/* ---- add and mul ---- */

struct binary_ctx {
    float *out;
    const float *a, *b;
    const struct bcast *bc;
    enum bin_op op;
};

static void binary_task(void *p, int tid, int nt) {
    const struct binary_ctx *c = p;
    int64_t lo, hi;
    tgs_split(c->bc->n, tid, nt, &lo, &hi);
    binary_range(c->out, c->a, c->b, c->bc, c->op, lo, hi);
}

/* out, a are (N,C,H,W) (any shape of up to 4 dims); b has a's shape or 1
 * along any of its dims, as bc describes. out = a + b or a * b. */
static void binary_forward(float *out, const float *a, const float *b, const struct bcast *bc, enum bin_op op,
                           int threads) {
    struct binary_ctx c = {out, a, b, bc, op};
    tgs_cpu_parallel(threads_for(bc->n, threads), binary_task, &c);
}

struct accum_ctx {
    float *dst, *dst2;
    const float *src;
    int64_t n;
};

static void accum_task(void *p, int tid, int nt) {
    const struct accum_ctx *c = p;
    int64_t lo, hi;
    tgs_split(c->n, tid, nt, &lo, &hi);
    /* a block at a time, so src is read from memory once for both */
    for (int64_t i = lo; i < hi; i += 4096) {
        int64_t len = min64(4096, hi - i);
        tgs_vec_acc(c->dst + i, c->src + i, len);
        if (c->dst2) tgs_vec_acc(c->dst2 + i, c->src + i, len);
    }
}

/* dst (n) += src (n), and dst2 (n) += src when dst2 is not NULL (add's
 * backward to a and b of the same shape) */
static void accumulate(float *dst, float *dst2, const float *src, int64_t n, int threads) {
    struct accum_ctx c = {dst, dst2, src, n};
    tgs_cpu_parallel(threads_for(n, threads), accum_task, &c);
}

struct reduce_ctx {
    float *db, *work;
    const float *dout, *a;
    const struct bcast *bc;
    int used; /* threads the pool ran (it may run fewer than asked) */
};

static void reduce_split_task(void *p, int tid, int nt) {
    const struct reduce_ctx *c = p;
    int64_t lo, hi;
    tgs_split(c->bc->nb, tid, nt, &lo, &hi);
    reduce_split_b(c->db, c->dout, c->a, c->bc, lo, hi);
}

static void reduce_partial_task(void *p, int tid, int nt) {
    struct reduce_ctx *c = p;
    int64_t lo, hi;
    float *part = c->work + tid * c->bc->nb;
    if (tid == 0) c->used = nt;
    memset(part, 0, (size_t)c->bc->nb * sizeof *part);
    tgs_split(c->bc->n, tid, nt, &lo, &hi);
    reduce_partial(part, c->dout, c->a, c->bc, lo, hi);
}

/* Threads the reduction into b's gradient runs on, and whether it takes
 * per-thread copies of b (then work holds threads * nb floats). */
static int reduce_threads(const struct bcast *bc, int threads, int *partial) {
    int nt = threads_for(bc->n, threads);
    *partial = nt > 1 && bc->nb < (int64_t)SPLIT_B_MIN * nt;
    return nt;
}

/* dout (N,C,H,W) as bc's a; db (b's shape) += dout summed over the
 * broadcast dims, each term times a[i] when a is given (mul's gradient). */
static void reduce_to_b(float *db, const float *dout, const float *a, const struct bcast *bc, float *work,
                        int64_t work_floats, int threads) {
    int partial, nt = reduce_threads(bc, threads, &partial);
    struct reduce_ctx c = {db, work, dout, a, bc, 0};
    if (partial && work_floats >= nt * bc->nb) {
        tgs_cpu_parallel(nt, reduce_partial_task, &c);
        for (int t = 0; t < c.used; t++) /* thread order: the same bytes every run */
            for (int64_t e = 0; e < bc->nb; e++) db[e] += work[t * bc->nb + e];
        return;
    }
    if (nt > bc->nb) nt = (int)bc->nb;
    tgs_cpu_parallel(nt, reduce_split_task, &c);
}

static int64_t binary_work_floats(const struct tgs_node *n) {
    if (!(n->src[1]->flags & TGS_TENSOR_GRAD)) return 0;
    struct bcast bc;
    bcast_init(&bc, n->src[0], n->src[1]);
    int partial, nt = reduce_threads(&bc, tgs_cpu_threads(), &partial);
    return partial ? nt * bc.nb : 0;
}

static int add_node_forward(struct tgs_node *n, const struct tgs_exec *x) {
    struct bcast bc;
    bcast_init(&bc, n->src[0], n->src[1]);
    binary_forward(n->out->data, n->src[0]->data, n->src[1]->data, &bc, BIN_ADD, x->threads);
    return 0;
}

/* da (N,C,H,W) += dout; db (b's shape) += dout summed over b's broadcast
 * dims. a == b is allowed: both land in the same buffer, one after the
 * other. */
static int add_node_backward(struct tgs_node *n, const struct tgs_exec *x) {
    struct tgs_tensor *a = n->src[0], *b = n->src[1];
    struct bcast bc;
    bcast_init(&bc, a, b);
    if (a->grad && b->grad && b->size == a->size && a->grad != b->grad) {
        accumulate(a->grad, b->grad, n->out->grad, a->size, x->threads);
        return 0;
    }
    if (a->grad) accumulate(a->grad, NULL, n->out->grad, a->size, x->threads);
    if (b->grad) reduce_to_b(b->grad, n->out->grad, NULL, &bc, x->work, x->work_floats, x->threads);
    return 0;
}

static int mul_node_forward(struct tgs_node *n, const struct tgs_exec *x) {
    struct bcast bc;
    bcast_init(&bc, n->src[0], n->src[1]);
    binary_forward(n->out->data, n->src[0]->data, n->src[1]->data, &bc, BIN_MUL, x->threads);
    return 0;
}

/* da += dout * b (b broadcast); db += sum over b's broadcast dims of
 * dout * a. For x * x both go to x's gradient, one after the other. */
static int mul_node_backward(struct tgs_node *n, const struct tgs_exec *x) {
    struct tgs_tensor *a = n->src[0], *b = n->src[1];
    struct bcast bc;
    bcast_init(&bc, a, b);
    if (a->grad) binary_forward(a->grad, n->out->grad, b->data, &bc, BIN_MUL_ACC, x->threads);
    if (b->grad) reduce_to_b(b->grad, n->out->grad, a->data, &bc, x->work, x->work_floats, x->threads);
    return 0;
}

const struct tgs_op_impl tgs_cpu_add = {add_node_forward, add_node_backward, NULL, binary_work_floats};
const struct tgs_op_impl tgs_cpu_mul = {mul_node_forward, mul_node_backward, NULL, binary_work_floats};

/* ---- scale ---- */

struct scale_ctx {
    float *out;
    const float *in;
    float s;
    int64_t n;
    int acc;
};

static void scale_task(void *p, int tid, int nt) {
    const struct scale_ctx *c = p;
    int64_t lo, hi;
    tgs_split(c->n, tid, nt, &lo, &hi);
    if (c->acc) vec_muls_acc(c->out + lo, c->in + lo, c->s, hi - lo);
    else vec_muls(c->out + lo, c->in + lo, c->s, hi - lo);
}

/* out (n) = s * a (n) */
static void scale_forward(float *out, const float *a, float s, int64_t n, int threads) {
    struct scale_ctx c = {out, a, s, n, 0};
    tgs_cpu_parallel(threads_for(n, threads), scale_task, &c);
}

/* da (n) += s * dout (n) */
static void scale_backward(float *da, const float *dout, float s, int64_t n, int threads) {
    struct scale_ctx c = {da, dout, s, n, 1};
    tgs_cpu_parallel(threads_for(n, threads), scale_task, &c);
}

static int scale_node_forward(struct tgs_node *n, const struct tgs_exec *x) {
    scale_forward(n->out->data, n->src[0]->data, n->p.scale.s, n->out->size, x->threads);
    return 0;
}

static int scale_node_backward(struct tgs_node *n, const struct tgs_exec *x) {
    if (n->src[0]->grad) scale_backward(n->src[0]->grad, n->out->grad, n->p.scale.s, n->out->size, x->threads);
    return 0;
}

const struct tgs_op_impl tgs_cpu_scale = {scale_node_forward, scale_node_backward, NULL, NULL};

/* ---- concat ----
 * Seen as (N, C*inner) rows: out's row n is a's row n then b's row n, so
 * every move is one contiguous run (ca = C1*H*W, cb = C2*H*W floats). */

struct concat_ctx {
    float *out, *da, *db;
    const float *a, *b, *dout;
    int64_t N, ca, cb;
    int pass; /* backward: 1 for da, 2 for db, 3 for both */
};

static void concat_task(void *p, int tid, int nt) {
    const struct concat_ctx *c = p;
    int64_t row = c->ca + c->cb, lo, hi;
    tgs_split(c->N * row, tid, nt, &lo, &hi);
    for (int64_t i = lo; i < hi;) {
        int64_t n = i / row, off = i % row, len;
        if (off < c->ca) {
            len = min64(c->ca - off, hi - i);
            memcpy(c->out + i, c->a + n * c->ca + off, (size_t)len * sizeof(float));
        } else {
            off -= c->ca;
            len = min64(c->cb - off, hi - i);
            memcpy(c->out + i, c->b + n * c->cb + off, (size_t)len * sizeof(float));
        }
        i += len;
    }
}

/* d (N, C*inner) rows of cs floats += dout's columns [coff, coff + cs) of
 * rows of `row` floats, for d's elements [lo, hi) */
static void concat_back_range(float *d, const float *dout, int64_t cs, int64_t coff, int64_t row, int64_t lo,
                              int64_t hi) {
    for (int64_t i = lo; i < hi;) {
        int64_t n = i / cs, off = i % cs, len = min64(cs - off, hi - i);
        tgs_vec_acc(d + i, dout + n * row + coff + off, len);
        i += len;
    }
}

static void concat_back_task(void *p, int tid, int nt) {
    const struct concat_ctx *c = p;
    int64_t lo, hi;
    if (c->pass & 1) {
        tgs_split(c->N * c->ca, tid, nt, &lo, &hi);
        concat_back_range(c->da, c->dout, c->ca, 0, c->ca + c->cb, lo, hi);
    }
    if (c->pass & 2) {
        tgs_split(c->N * c->cb, tid, nt, &lo, &hi);
        concat_back_range(c->db, c->dout, c->cb, c->ca, c->ca + c->cb, lo, hi);
    }
}

/* a (N,C1,H,W), b (N,C2,H,W) -> out (N,C1+C2,H,W); ca = C1*H*W, cb = C2*H*W
 * (H = W = 1 for 2-D (N,C)) */
static void concat_forward(float *out, const float *a, const float *b, int64_t N, int64_t ca, int64_t cb,
                           int threads) {
    struct concat_ctx c = {.out = out, .a = a, .b = b, .N = N, .ca = ca, .cb = cb};
    tgs_cpu_parallel(threads_for(N * (ca + cb), threads), concat_task, &c);
}

/* da (N,C1,H,W) += dout[:, :C1]; db (N,C2,H,W) += dout[:, C1:]; either may
 * be NULL. When da == db (concat of x with itself) the two run one after
 * the other. */
static void concat_backward(float *da, float *db, const float *dout, int64_t N, int64_t ca, int64_t cb,
                            int threads) {
    struct concat_ctx c = {.da = da, .db = db, .dout = dout, .N = N, .ca = ca, .cb = cb};
    int nt = threads_for(N * (ca + cb), threads);
    if (da && db && da != db) {
        c.pass = 3;
        tgs_cpu_parallel(nt, concat_back_task, &c);
        return;
    }
    if (da) {
        c.pass = 1;
        tgs_cpu_parallel(nt, concat_back_task, &c);
    }
    if (db) {
        c.pass = 2;
        tgs_cpu_parallel(nt, concat_back_task, &c);
    }
}

static int64_t concat_inner(const struct tgs_tensor *t) {
    int64_t inner = 1;
    for (int i = 2; i < t->ndim; i++) inner *= t->ne[i];
    return inner;
}

static int concat_node_forward(struct tgs_node *n, const struct tgs_exec *x) {
    const struct tgs_tensor *a = n->src[0], *b = n->src[1];
    int64_t inner = concat_inner(a);
    concat_forward(n->out->data, a->data, b->data, a->ne[0], a->ne[1] * inner, b->ne[1] * inner, x->threads);
    return 0;
}

static int concat_node_backward(struct tgs_node *n, const struct tgs_exec *x) {
    const struct tgs_tensor *a = n->src[0], *b = n->src[1];
    int64_t inner = concat_inner(a);
    concat_backward(a->grad, b->grad, n->out->grad, a->ne[0], a->ne[1] * inner, b->ne[1] * inner, x->threads);
    return 0;
}

const struct tgs_op_impl tgs_cpu_concat = {concat_node_forward, concat_node_backward, NULL, NULL};
