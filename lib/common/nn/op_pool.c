/* op_pool: the graph builders of 2x2 max pooling, k x k average pooling,
 * global average pooling, bilinear x2 upsampling and upcat. Their CPU
 * kernels are nn/cpu/op_pool.c. */
#include "nn/nn.h"

static struct tgs_tensor *pool_node(struct tgs_graph *g, enum tgs_op op, struct tgs_tensor *x, int k) {
    const char *name = tgs_op_name(op);
    if (!x) return tgs_graph_fail(g, "%s: input missing", name);
    if (x->ndim != 4) return tgs_graph_fail(g, "%s: x has %d dims, want (N,C,H,W)", name, x->ndim);
    int32_t ne[4] = {x->ne[0], x->ne[1], 0, 0};
    int ndim = 4;
    switch (op) {
    case TGS_OP_MAXPOOL2:
    case TGS_OP_AVGPOOL:
        if (k < 1) return tgs_graph_fail(g, "%s: window %d", name, k);
        if (x->ne[2] < k || x->ne[3] < k)
            return tgs_graph_fail(g, "%s: %dx%d image is smaller than the %dx%d window", name, (int)x->ne[2],
                                  (int)x->ne[3], k, k);
        ne[2] = x->ne[2] / k;
        ne[3] = x->ne[3] / k;
        break;
    case TGS_OP_UPSAMPLE2:
        if (x->ne[2] > INT32_MAX / 2 || x->ne[3] > INT32_MAX / 2) return tgs_graph_fail(g, "%s: image too large", name);
        ne[2] = 2 * x->ne[2];
        ne[3] = 2 * x->ne[3];
        break;
    default: ndim = 2; break;
    }
    struct tgs_node *n = tgs_graph_add_node(g, op, 1, &x, ndim, ne);
    if (!n) return NULL;
    n->p.pool.k = k;
    return n->out;
}

struct tgs_tensor *tgs_maxpool2(struct tgs_graph *g, struct tgs_tensor *x) {
    return pool_node(g, TGS_OP_MAXPOOL2, x, 2);
}

struct tgs_tensor *tgs_avgpool(struct tgs_graph *g, struct tgs_tensor *x, int k) {
    return pool_node(g, TGS_OP_AVGPOOL, x, k);
}

struct tgs_tensor *tgs_gap(struct tgs_graph *g, struct tgs_tensor *x) { return pool_node(g, TGS_OP_GAP, x, 0); }

struct tgs_tensor *tgs_upsample2(struct tgs_graph *g, struct tgs_tensor *x) {
    return pool_node(g, TGS_OP_UPSAMPLE2, x, 0);
}

struct tgs_tensor *tgs_upcat(struct tgs_graph *g, int k, struct tgs_tensor *const *xs, const int *steps) {
    if (k < 1 || k > TGS_NN_MAX_SRC) return tgs_graph_fail(g, "upcat: %d inputs, want 1 to %d", k, TGS_NN_MAX_SRC);
    int32_t ne[4] = {0};
    int64_t c = 0;
    for (int i = 0; i < k; i++) {
        const struct tgs_tensor *x = xs[i];
        if (!x) return tgs_graph_fail(g, "upcat: input %d missing", i);
        if (x->ndim != 4) return tgs_graph_fail(g, "upcat: input %d has %d dims, want (N,C,H,W)", i, x->ndim);
        if (steps[i] < 0 || steps[i] > 16) return tgs_graph_fail(g, "upcat: input %d: %d steps", i, steps[i]);
        int64_t h = (int64_t)x->ne[2] << steps[i], w = (int64_t)x->ne[3] << steps[i];
        if (h > INT32_MAX || w > INT32_MAX) return tgs_graph_fail(g, "upcat: input %d: image too large", i);
        if (i == 0) ne[0] = x->ne[0], ne[2] = (int32_t)h, ne[3] = (int32_t)w;
        if (x->ne[0] != ne[0] || h != ne[2] || w != ne[3])
            return tgs_graph_fail(g, "upcat: input %d is (%d,%d,%d,%d) x %d steps, input 0 makes (%d,.,%d,%d)", i,
                                  (int)x->ne[0], (int)x->ne[1], (int)x->ne[2], (int)x->ne[3], steps[i], (int)ne[0],
                                  (int)ne[2], (int)ne[3]);
        c += x->ne[1];
    }
    if (c > INT32_MAX) return tgs_graph_fail(g, "upcat: too many channels");
    ne[1] = (int32_t)c;
    struct tgs_tensor *src[TGS_NN_MAX_SRC];
    for (int i = 0; i < k; i++) src[i] = xs[i];
    struct tgs_node *n = tgs_graph_add_node(g, TGS_OP_UPCAT, k, src, 4, ne);
    if (!n) return NULL;
    for (int i = 0; i < k; i++) n->p.upcat.steps[i] = (int8_t)steps[i];
    return n->out;
}
