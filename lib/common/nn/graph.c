/* graph: building a static graph of ops, planning its memory, running it
 * forward and backward on a backend. See nn.h for the model of use. */
#include "nn/nn.h"
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "progress.h" /* tgs_now, for exec.profile */

#define ALIGN_FLOATS 16

struct interval {
    int64_t size;    /* floats, rounded up to ALIGN_FLOATS */
    int start, end;  /* inclusive, in the pass's own clock */
    int64_t offset;  /* assigned by place() */
    int tensor;
};

struct tgs_graph {
    struct tgs_params *ps;
    const struct tgs_backend *be;
    struct tgs_tensor **t; /* graph-owned tensors: inputs and node outputs */
    int nt, tcap;
    struct tgs_node **node;
    int nn, ncap;
    char err[512];
    int planned;
    int mode;
    int replay; /* nodes from here on can be rerun alone (tgs_graph_forward_from); nn: none */
    /* per tensor id */
    /* last node reading it in forward order, -1 if none; in the backward
     * pass that node is the first to write its gradient */
    int *last_use;
    float *act, *gradbuf, *saved, *work;
    int64_t act_floats, grad_floats, saved_floats, work_floats;
    struct tgs_exec exec;
};

const char *tgs_shape_str(const struct tgs_tensor *t, char *buf, size_t cap) {
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; i < t->ndim && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%d", i ? "," : "(", (int)t->ne[i]);
    if (k < cap) snprintf(buf + k, cap - k, ")");
    return buf;
}

struct tgs_graph *tgs_graph_new(struct tgs_params *ps) {
    struct tgs_graph *g = calloc(1, sizeof *g);
    if (!g) {
        tgs_err("out of memory");
        return NULL;
    }
    g->ps = ps;
    g->be = tgs_params_backend(ps);
    g->exec.threads = 1;
    g->exec.be = g->be;
    g->replay = -1; /* unset: the whole graph, set at planning */
    return g;
}

static void graph_release(struct tgs_graph *g) {
    if (g->act) g->be->free(g->act);
    if (g->gradbuf) g->be->free(g->gradbuf);
    if (g->saved) g->be->free(g->saved);
    if (g->work) g->be->free(g->work);
    g->act = g->gradbuf = g->saved = g->work = NULL;
    free(g->last_use);
    g->last_use = NULL;
}

void tgs_graph_free(struct tgs_graph *g) {
    if (!g) return;
    graph_release(g);
    for (int i = 0; i < g->nt; i++) {
        free((char *)g->t[i]->name);
        free(g->t[i]);
    }
    for (int i = 0; i < g->nn; i++) free(g->node[i]);
    free(g->t);
    free(g->node);
    free(g);
}

const char *tgs_graph_error(const struct tgs_graph *g) { return g->err[0] ? g->err : NULL; }
const struct tgs_backend *tgs_graph_backend(const struct tgs_graph *g) { return g->be; }
struct tgs_exec *tgs_graph_exec(struct tgs_graph *g) { return &g->exec; }
int tgs_graph_nnodes(const struct tgs_graph *g) { return g->nn; }
struct tgs_node *tgs_graph_node(struct tgs_graph *g, int i) { return i >= 0 && i < g->nn ? g->node[i] : NULL; }

void *tgs_graph_fail(struct tgs_graph *g, const char *fmt, ...) {
    if (!g->err[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(g->err, sizeof g->err, fmt, ap);
        va_end(ap);
    }
    return NULL;
}

static struct tgs_tensor *new_tensor(struct tgs_graph *g, const char *name, int ndim, const int32_t *ne) {
    if (g->planned) return tgs_graph_fail(g, "graph: built on after it was planned");
    if (ndim < 1 || ndim > TGS_NN_MAX_DIMS) return tgs_graph_fail(g, "graph: tensor with %d dims", ndim);
    if (g->nt == g->tcap) {
        int cap = g->tcap ? 2 * g->tcap : 64;
        struct tgs_tensor **nt = realloc(g->t, cap * sizeof *nt);
        if (!nt) return tgs_graph_fail(g, "graph: out of memory");
        g->t = nt;
        g->tcap = cap;
    }
    struct tgs_tensor *t = calloc(1, sizeof *t);
    if (!t) return tgs_graph_fail(g, "graph: out of memory");
    t->ndim = ndim;
    t->size = 1;
    for (int i = 0; i < TGS_NN_MAX_DIMS; i++) {
        t->ne[i] = i < ndim ? ne[i] : 1;
        if (t->ne[i] < 1) {
            free(t);
            return tgs_graph_fail(g, "graph: %s: dimension %d is %d", name ? name : "tensor", i, (int)ne[i]);
        }
        t->size *= t->ne[i];
    }
    if (name && !(t->name = strdup(name))) {
        free(t);
        return tgs_graph_fail(g, "graph: out of memory");
    }
    t->id = g->nt;
    t->producer = -1;
    g->t[g->nt++] = t;
    return t;
}

struct tgs_tensor *tgs_input(struct tgs_graph *g, const char *name, int ndim, const int32_t *ne) {
    struct tgs_tensor *t = new_tensor(g, name, ndim, ne);
    if (t) t->flags |= TGS_TENSOR_INPUT;
    return t;
}

struct tgs_tensor *tgs_param(struct tgs_graph *g, const char *name, int ndim, const int32_t *ne,
                             enum tgs_init init, int64_t fan_in) {
    if (g->err[0]) return NULL;
    struct tgs_tensor *t = tgs_params_get(g->ps, name, ndim, ne, TGS_TENSOR_PARAM, init, fan_in);
    if (!t) return tgs_graph_fail(g, "%s", tgs_errmsg());
    return t;
}

struct tgs_tensor *tgs_buffer(struct tgs_graph *g, const char *name, int ndim, const int32_t *ne, enum tgs_init init) {
    if (g->err[0]) return NULL;
    struct tgs_tensor *t = tgs_params_get(g->ps, name, ndim, ne, TGS_TENSOR_BUFFER, init, 0);
    if (!t) return tgs_graph_fail(g, "%s", tgs_errmsg());
    return t;
}

void tgs_requires_grad(struct tgs_tensor *t) {
    if (t) t->flags |= TGS_TENSOR_GRAD;
}

void tgs_keep(struct tgs_tensor *t) {
    if (t) t->flags |= TGS_TENSOR_KEEP;
}

struct tgs_node *tgs_graph_add_node(struct tgs_graph *g, enum tgs_op op, int nsrc, struct tgs_tensor **src,
                                    int ndim, const int32_t *ne) {
    if (g->err[0]) return NULL;
    if (nsrc > TGS_NN_MAX_SRC) return tgs_graph_fail(g, "%s: %d inputs", tgs_op_name(op), nsrc);
    uint32_t grad = 0;
    for (int i = 0; i < nsrc; i++) {
        if (!src[i]) return tgs_graph_fail(g, "%s: input %d missing", tgs_op_name(op), i);
        grad |= src[i]->flags & TGS_TENSOR_GRAD;
    }
    if (g->nn == g->ncap) {
        int cap = g->ncap ? 2 * g->ncap : 64;
        struct tgs_node **nn = realloc(g->node, cap * sizeof *nn);
        if (!nn) return tgs_graph_fail(g, "graph: out of memory");
        g->node = nn;
        g->ncap = cap;
    }
    struct tgs_node *n = calloc(1, sizeof *n);
    if (!n) return tgs_graph_fail(g, "graph: out of memory");
    struct tgs_tensor *out = new_tensor(g, NULL, ndim, ne);
    if (!out) {
        free(n);
        return NULL;
    }
    out->flags |= grad;
    out->producer = g->nn;
    n->op = op;
    n->nsrc = nsrc;
    for (int i = 0; i < nsrc; i++) n->src[i] = src[i];
    n->out = out;
    n->index = g->nn;
    g->node[g->nn++] = n;
    return n;
}

/* ---- planning ---- */

static int64_t round_up(int64_t n) { return (n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS; }

static int by_size_desc(const void *a, const void *b) {
    const struct interval *x = a, *y = b;
    if (x->size != y->size) return x->size < y->size ? 1 : -1;
    return x->tensor - y->tensor; /* stable, so plans are reproducible */
}

/* Give each interval an offset so that intervals alive at the same time
 * never overlap in memory: largest first, each at the lowest offset that
 * fits between those already placed (the greedy of ggml-alloc and of
 * TFLite's arena planner). Returns the arena size in floats. */
static int64_t place(struct interval *iv, int n, int reuse) {
    qsort(iv, n, sizeof *iv, by_size_desc);
    if (!reuse) {
        int64_t total = 0;
        for (int i = 0; i < n; i++) iv[i].offset = total, total += iv[i].size;
        return total;
    }
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        int64_t off = 0;
        for (int moved = 1; moved;) {
            moved = 0;
            for (int j = 0; j < i; j++) {
                if (iv[j].end < iv[i].start || iv[i].end < iv[j].start) continue;
                if (off < iv[j].offset + iv[j].size && iv[j].offset < off + iv[i].size) {
                    off = iv[j].offset + iv[j].size;
                    moved = 1;
                }
            }
        }
        iv[i].offset = off;
        if (off + iv[i].size > total) total = off + iv[i].size;
    }
    return total;
}

static void *alloc_floats(const struct tgs_backend *be, int64_t n) {
    return be->alloc((size_t)(n > 0 ? n : 1) * sizeof(float));
}

int tgs_graph_plan(struct tgs_graph *g, int mode) {
    if (g->err[0]) return tgs_err("%s", g->err);
    if (g->planned) return tgs_err("graph: planned twice");
    if (tgs_params_alloc(g->ps, 0) < 0) return -1;
    int reuse = !(mode & TGS_PLAN_NO_REUSE);
    mode &= ~TGS_PLAN_NO_REUSE;
    g->mode = mode;
    int nt = g->nt, nn = g->nn;
    g->last_use = malloc((nt ? nt : 1) * sizeof *g->last_use);
    struct interval *iv = malloc((nt ? nt : 1) * sizeof *iv);
    if (!g->last_use || !iv) {
        free(iv);
        return tgs_err("graph: out of memory");
    }
    for (int i = 0; i < nt; i++) g->last_use[i] = -1;
    for (int k = 0; k < nn; k++) {
        struct tgs_node *n = g->node[k];
        const struct tgs_op_impl *impl = g->be->ops[n->op];
        if (!impl || !impl->forward) {
            free(iv);
            return tgs_err("graph: op %s has no %s implementation", tgs_op_name(n->op), g->be->name);
        }
        for (int i = 0; i < n->nsrc; i++)
            if (n->src[i]->id >= 0) g->last_use[n->src[i]->id] = k;
    }

    /* Activations. Inputs live throughout; in training every output is
     * kept for the backward pass; in inference an output lives from its
     * node to its last reader, graph outputs and kept tensors to the end,
     * and so does one made before the replay point and read after it: a
     * rerun of the tail reads it again. */
    if (g->replay < 0 || g->replay > nn) g->replay = nn;
    int m = 0;
    for (int i = 0; i < nt; i++) {
        struct tgs_tensor *t = g->t[i];
        int start = t->producer < 0 ? 0 : t->producer;
        int replayed = t->producer < g->replay && g->last_use[i] >= g->replay;
        int end = (mode == TGS_PLAN_TRAIN || t->producer < 0 || g->last_use[i] < 0 || (t->flags & TGS_TENSOR_KEEP) ||
                   replayed)
                      ? nn
                      : g->last_use[i];
        iv[m++] = (struct interval){round_up(t->size), start, end, 0, i};
    }
    g->act_floats = place(iv, m, reuse);
    g->act = alloc_floats(g->be, g->act_floats);
    if (!g->act) goto oom;
    for (int i = 0; i < m; i++) g->t[iv[i].tensor]->data = g->act + iv[i].offset;

    /* Gradients of activations, in the backward clock r = nn - 1 - k: a
     * gradient is first written by the backward of its last reader and
     * last read by the backward of its producer. Graph outputs are live
     * from the seed (r = -1); leaves that want a gradient, and kept
     * tensors, to the end. */
    m = 0;
    if (mode == TGS_PLAN_TRAIN) {
        for (int i = 0; i < nt; i++) {
            struct tgs_tensor *t = g->t[i];
            if (!(t->flags & TGS_TENSOR_GRAD)) continue;
            int start = g->last_use[i] < 0 ? -1 : nn - 1 - g->last_use[i];
            int end = t->producer < 0 || (t->flags & TGS_TENSOR_KEEP) ? nn : nn - 1 - t->producer;
            iv[m++] = (struct interval){round_up(t->size), start, end, 0, i};
        }
        g->grad_floats = place(iv, m, reuse);
        g->gradbuf = alloc_floats(g->be, g->grad_floats);
        if (!g->gradbuf) goto oom;
        for (int i = 0; i < m; i++) g->t[iv[i].tensor]->grad = g->gradbuf + iv[i].offset;
    }

    /* What ops save for backward, and the one shared workspace. */
    int64_t saved = 0, work = 0;
    for (int k = 0; k < nn; k++) {
        struct tgs_node *n = g->node[k];
        const struct tgs_op_impl *impl = g->be->ops[n->op];
        n->saved_floats = impl->saved_floats ? round_up(impl->saved_floats(n)) : 0;
        saved += n->saved_floats;
        int64_t w = impl->work_floats ? impl->work_floats(n) : 0;
        if (w > work) work = w;
    }
    g->saved_floats = saved;
    g->work_floats = work;
    g->saved = alloc_floats(g->be, saved);
    g->work = alloc_floats(g->be, work);
    if (!g->saved || !g->work) goto oom;
    saved = 0;
    for (int k = 0; k < nn; k++) {
        g->node[k]->saved = g->node[k]->saved_floats ? g->saved + saved : NULL;
        saved += g->node[k]->saved_floats;
    }
    g->exec.work = g->work;
    g->exec.work_floats = work;
    g->exec.train = mode == TGS_PLAN_TRAIN;
    g->exec.threads = g->be->threads ? g->be->threads() : 1;
    free(iv);
    g->planned = 1;
    return 0;
oom:
    free(iv);
    graph_release(g);
    return tgs_err("graph: out of memory (activations %lld, gradients %lld floats)", (long long)g->act_floats,
                   (long long)g->grad_floats);
}

void tgs_graph_memory(const struct tgs_graph *g, int64_t bytes[4]) {
    bytes[0] = g->act_floats * 4;
    bytes[1] = g->grad_floats * 4;
    bytes[2] = g->saved_floats * 4;
    bytes[3] = g->work_floats * 4;
}

/* ---- running ---- */

int tgs_graph_forward(struct tgs_graph *g) { return tgs_graph_forward_from(g, 0); }

int tgs_graph_first_random(const struct tgs_graph *g) {
    for (int k = 0; k < g->nn; k++)
        if (g->node[k]->op == TGS_OP_DROPOUT || g->node[k]->op == TGS_OP_DROPOUT2D) return k;
    return g->nn;
}

int tgs_graph_replay_from(struct tgs_graph *g, int k) {
    if (g->planned) return tgs_err("graph: the replay point must be set before planning");
    if (k < 0 || k > g->nn) return tgs_err("graph: replay from node %d of %d", k, g->nn);
    g->replay = k;
    return 0;
}

int tgs_graph_forward_from(struct tgs_graph *g, int k0) {
    if (!g->planned) return tgs_err("graph: run before it was planned");
    /* only the planned point: a tensor made between it and a later k0 and
     * read after k0 may have lent its memory on */
    if (k0 != 0 && k0 != g->replay)
        return tgs_err("graph: rerun from node %d, but it was planned to rerun from %d on", k0, g->replay);
    double *prof = g->exec.profile, t = prof ? tgs_now() : 0;
    for (int k = k0; k < g->nn; k++) {
        struct tgs_node *n = g->node[k];
        if (g->be->ops[n->op]->forward(n, &g->exec) < 0) return -1;
        if (prof) {
            double u = tgs_now();
            prof[n->op] += u - t, t = u;
        }
    }
    return 0;
}

static int run_backward(struct tgs_graph *g) {
    double *prof = g->exec.profile, t = prof ? tgs_now() : 0;
    for (int k = g->nn - 1; k >= 0; k--) {
        struct tgs_node *n = g->node[k];
        if (!(n->out->flags & TGS_TENSOR_GRAD)) continue;
        for (int i = 0; i < n->nsrc; i++) {
            struct tgs_tensor *s = n->src[i];
            if (s->id >= 0 && (s->flags & TGS_TENSOR_GRAD) && g->last_use[s->id] == k) g->be->zero(s->grad, s->size);
        }
        if (prof) {
            double u = tgs_now();
            prof[2 * TGS_OP_COUNT] += u - t, t = u;
        }
        const struct tgs_op_impl *impl = g->be->ops[n->op];
        if (!impl->backward) return tgs_err("graph: op %s has no backward on %s", tgs_op_name(n->op), g->be->name);
        if (impl->backward(n, &g->exec) < 0) return -1;
        if (prof) {
            double u = tgs_now();
            prof[TGS_OP_COUNT + n->op] += u - t, t = u;
        }
    }
    return 0;
}

/* Outputs other than the seeded one get a zero gradient. */
static int seed(struct tgs_graph *g, struct tgs_tensor *out) {
    if (g->mode != TGS_PLAN_TRAIN) return tgs_err("graph: backward on a graph planned for inference");
    if (out->id < 0 || out->id >= g->nt || g->t[out->id] != out || !(out->flags & TGS_TENSOR_GRAD))
        return tgs_err("graph: backward from a tensor that is not a differentiable output of this graph");
    if (g->last_use[out->id] >= 0) return tgs_err("graph: backward from a tensor that other ops read");
    for (int i = 0; i < g->nt; i++) {
        struct tgs_tensor *t = g->t[i];
        if ((t->flags & TGS_TENSOR_GRAD) && t->producer >= 0 && g->last_use[i] < 0) g->be->zero(t->grad, t->size);
    }
    return 0;
}

int tgs_graph_backward(struct tgs_graph *g, struct tgs_tensor *loss) {
    if (seed(g, loss) < 0) return -1;
    if (loss->size != 1) return tgs_err("graph: backward from a loss of %lld elements", (long long)loss->size);
    const float one = 1;
    g->be->upload(loss->grad, &one, 1);
    return run_backward(g);
}

int tgs_graph_backward_from(struct tgs_graph *g, struct tgs_tensor *out, const float *dout) {
    if (seed(g, out) < 0) return -1;
    g->be->upload(out->grad, dout, out->size);
    return run_backward(g);
}

void tgs_tensor_set(struct tgs_graph *g, struct tgs_tensor *t, const float *host) {
    g->be->upload(t->data, host, t->size);
}

void tgs_tensor_get(struct tgs_graph *g, const struct tgs_tensor *t, float *host) {
    g->be->download(host, t->data, t->size);
}

void tgs_tensor_get_grad(struct tgs_graph *g, const struct tgs_tensor *t, float *host) {
    g->be->download(host, t->grad, t->size);
}
