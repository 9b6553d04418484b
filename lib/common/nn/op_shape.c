/* op_shape: the graph builders of the data movements a Swin-Transformer
 * encoder needs: reshape, permute, window partition and merge, roll. Their
 * CPU kernels are nn/cpu/op_shape.c. */
#include "nn/nn.h"

struct tgs_tensor *tgs_reshape(struct tgs_graph *g, struct tgs_tensor *x, int ndim, const int32_t *ne) {
    if (!x) return tgs_graph_fail(g, "reshape: input missing");
    if (ndim < 1 || ndim > TGS_NN_MAX_DIMS || !ne) return tgs_graph_fail(g, "reshape: %d dims", ndim);
    int64_t size = 1;
    for (int i = 0; i < ndim; i++) {
        if (ne[i] < 1) return tgs_graph_fail(g, "reshape: dim %d is %d", i, (int)ne[i]);
        size *= ne[i];
        if (size > x->size) break;
    }
    if (size != x->size) {
        char sx[64];
        return tgs_graph_fail(g, "reshape: %s has %lld elements, the new shape %s", tgs_shape_str(x, sx, sizeof sx),
                              (long long)x->size, size > x->size ? "more" : "fewer");
    }
    struct tgs_node *n = tgs_graph_add_node(g, TGS_OP_RESHAPE, 1, &x, ndim, ne);
    return n ? n->out : NULL;
}

struct tgs_tensor *tgs_permute(struct tgs_graph *g, struct tgs_tensor *x, const int32_t *axes) {
    if (!x) return tgs_graph_fail(g, "permute: input missing");
    if (!axes) return tgs_graph_fail(g, "permute: no axes");
    int seen = 0;
    int32_t ne[TGS_NN_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) {
        if (axes[i] < 0 || axes[i] >= x->ndim || (seen >> axes[i] & 1))
            return tgs_graph_fail(g, "permute: axes are not a permutation of 0..%d (axis %d is %d)", x->ndim - 1,
                                  i, (int)axes[i]);
        seen |= 1 << axes[i];
        ne[i] = x->ne[axes[i]];
    }
    struct tgs_node *n = tgs_graph_add_node(g, TGS_OP_PERMUTE, 1, &x, x->ndim, ne);
    if (!n) return NULL;
    for (int i = 0; i < TGS_NN_MAX_DIMS; i++) n->p.perm.axes[i] = i < x->ndim ? axes[i] : i;
    return n->out;
}

struct tgs_tensor *tgs_window_partition(struct tgs_graph *g, struct tgs_tensor *x, int ws) {
    if (!x) return tgs_graph_fail(g, "window_partition: input missing");
    char sx[64];
    if (x->ndim != 4)
        return tgs_graph_fail(g, "window_partition: x %s is not (B,H,W,C)", tgs_shape_str(x, sx, sizeof sx));
    if (ws < 1 || x->ne[1] % ws || x->ne[2] % ws)
        return tgs_graph_fail(g, "window_partition: window size %d does not divide H and W of x %s", ws,
                              tgs_shape_str(x, sx, sizeof sx));
    int64_t nw = (int64_t)(x->ne[1] / ws) * (x->ne[2] / ws);
    int32_t ne[3] = {(int32_t)(x->ne[0] * nw), ws * ws, x->ne[3]};
    struct tgs_node *n = tgs_graph_add_node(g, TGS_OP_WINDOW_PART, 1, &x, 3, ne);
    if (!n) return NULL;
    n->p.win = (struct tgs_window_params){ws, x->ne[1], x->ne[2]};
    return n->out;
}

struct tgs_tensor *tgs_window_merge(struct tgs_graph *g, struct tgs_tensor *x, int ws, int h, int w) {
    if (!x) return tgs_graph_fail(g, "window_merge: input missing");
    char sx[64];
    if (ws < 1 || h < 1 || w < 1 || h % ws || w % ws)
        return tgs_graph_fail(g, "window_merge: window size %d does not divide the image size %dx%d", ws, h, w);
    int64_t nw = (int64_t)(h / ws) * (w / ws);
    if (x->ndim != 3 || x->ne[1] != (int64_t)ws * ws || x->ne[0] % nw)
        return tgs_graph_fail(g, "window_merge: x %s is not (B*%lld, %d, C) for %d windows of %dx%d",
                              tgs_shape_str(x, sx, sizeof sx), (long long)nw, ws * ws, (int)nw, ws, ws);
    int32_t ne[4] = {(int32_t)(x->ne[0] / nw), h, w, x->ne[2]};
    struct tgs_node *n = tgs_graph_add_node(g, TGS_OP_WINDOW_MERGE, 1, &x, 4, ne);
    if (!n) return NULL;
    n->p.win = (struct tgs_window_params){ws, h, w};
    return n->out;
}

struct tgs_tensor *tgs_roll(struct tgs_graph *g, struct tgs_tensor *x, int sh, int sw) {
    if (!x) return tgs_graph_fail(g, "roll: input missing");
    if (x->ndim != 4) {
        char sx[64];
        return tgs_graph_fail(g, "roll: x %s is not (B,H,W,C)", tgs_shape_str(x, sx, sizeof sx));
    }
    struct tgs_node *n = tgs_graph_add_node(g, TGS_OP_ROLL, 1, &x, 4, x->ne);
    if (!n) return NULL;
    n->p.roll = (struct tgs_roll_params){sh, sw};
    return n->out;
}
