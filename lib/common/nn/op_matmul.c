/* op_matmul: the graph builders of linear (x w^T + b) and the batched
 * matmul. Their CPU kernels are nn/cpu/op_matmul.c. */
#include "nn/nn.h"

struct tgs_tensor *tgs_linear(struct tgs_graph *g, struct tgs_tensor *x, struct tgs_tensor *w, struct tgs_tensor *b) {
    if (!x || !w) return tgs_graph_fail(g, "linear: input missing");
    if (w->ndim != 2) return tgs_graph_fail(g, "linear: w has %d dims, wants (O,I)", w->ndim);
    if (x->ne[x->ndim - 1] != w->ne[1])
        return tgs_graph_fail(g, "linear: x has %d features, w wants %d", (int)x->ne[x->ndim - 1], (int)w->ne[1]);
    if (b && (b->ndim != 1 || b->ne[0] != w->ne[0]))
        return tgs_graph_fail(g, "linear: bias is not (%d)", (int)w->ne[0]);
    if (x->size / w->ne[1] > INT32_MAX) return tgs_graph_fail(g, "linear: too many rows");
    int32_t ne[TGS_NN_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) ne[i] = x->ne[i];
    ne[x->ndim - 1] = w->ne[0];
    struct tgs_tensor *src[3] = {x, w, b};
    struct tgs_node *n = tgs_graph_add_node(g, TGS_OP_LINEAR, b ? 3 : 2, src, x->ndim, ne);
    return n ? n->out : NULL;
}

struct tgs_tensor *tgs_matmul(struct tgs_graph *g, struct tgs_tensor *a, struct tgs_tensor *b, int trans_a,
                              int trans_b) {
    if (!a || !b) return tgs_graph_fail(g, "matmul: input missing");
    if (a->ndim != b->ndim || a->ndim < 2 || a->ndim > 3)
        return tgs_graph_fail(g, "matmul: operands of %d and %d dims, want both 2 or both 3", a->ndim, b->ndim);
    int d = a->ndim - 2;
    if (d && a->ne[0] != b->ne[0])
        return tgs_graph_fail(g, "matmul: batch of %d and of %d", (int)a->ne[0], (int)b->ne[0]);
    int32_t m = trans_a ? a->ne[d + 1] : a->ne[d], ka = trans_a ? a->ne[d] : a->ne[d + 1];
    int32_t kb = trans_b ? b->ne[d + 1] : b->ne[d], nn = trans_b ? b->ne[d] : b->ne[d + 1];
    if (ka != kb) return tgs_graph_fail(g, "matmul: inner dimensions %d and %d differ", (int)ka, (int)kb);
    struct tgs_tensor *src[2] = {a, b};
    int32_t ne[3] = {a->ne[0], m, nn};
    struct tgs_node *n = tgs_graph_add_node(g, TGS_OP_MATMUL, 2, src, a->ndim, d ? ne : ne + 1);
    if (!n) return NULL;
    n->p.mm = (struct tgs_matmul_params){trans_a != 0, trans_b != 0};
    return n->out;
}
