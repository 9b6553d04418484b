/* op_conv: the graph builders of the convolutions, conv2d and the 2x2
 * stride-2 transposed conv (linear and matmul are in op_matmul.c). Their
 * CPU kernels are nn/cpu/op_conv.c. */
#include "nn/nn.h"

struct tgs_tensor *tgs_conv2d(struct tgs_graph *g, struct tgs_tensor *x, struct tgs_tensor *w, struct tgs_tensor *b,
                              int stride, int pad, int dil) {
    if (!x || !w) return tgs_graph_fail(g, "conv2d: input missing");
    if (x->ndim != 4) return tgs_graph_fail(g, "conv2d: x has %d dims, wants (N,C,H,W)", x->ndim);
    if (w->ndim != 4) return tgs_graph_fail(g, "conv2d: w has %d dims, wants (K,C,kh,kw)", w->ndim);
    if (w->ne[1] != x->ne[1])
        return tgs_graph_fail(g, "conv2d: x has %d channels, w wants %d", (int)x->ne[1], (int)w->ne[1]);
    if (b && (b->ndim != 1 || b->ne[0] != w->ne[0]))
        return tgs_graph_fail(g, "conv2d: bias is not (%d)", (int)w->ne[0]);
    if (stride < 1 || pad < 0 || dil < 1)
        return tgs_graph_fail(g, "conv2d: stride %d, pad %d, dilation %d", stride, pad, dil);
    int64_t ho = ((int64_t)x->ne[2] + 2 * pad - (int64_t)dil * (w->ne[2] - 1) - 1) / stride + 1;
    int64_t wo = ((int64_t)x->ne[3] + 2 * pad - (int64_t)dil * (w->ne[3] - 1) - 1) / stride + 1;
    if ((int64_t)x->ne[2] + 2 * pad < (int64_t)dil * (w->ne[2] - 1) + 1 ||
        (int64_t)x->ne[3] + 2 * pad < (int64_t)dil * (w->ne[3] - 1) + 1)
        return tgs_graph_fail(g, "conv2d: %dx%d kernel (dilation %d) larger than the %dx%d input padded by %d",
                              (int)w->ne[2], (int)w->ne[3], dil, (int)x->ne[2], (int)x->ne[3], pad);
    struct tgs_tensor *src[3] = {x, w, b};
    int32_t ne[4] = {x->ne[0], w->ne[0], (int32_t)ho, (int32_t)wo};
    struct tgs_node *n = tgs_graph_add_node(g, TGS_OP_CONV2D, b ? 3 : 2, src, 4, ne);
    if (!n) return NULL;
    n->p.conv = (struct tgs_conv_params){stride, pad, dil};
    return n->out;
}

struct tgs_tensor *tgs_convt2x2(struct tgs_graph *g, struct tgs_tensor *x, struct tgs_tensor *w, struct tgs_tensor *b) {
    if (!x || !w) return tgs_graph_fail(g, "convt2x2: input missing");
    if (x->ndim != 4) return tgs_graph_fail(g, "convt2x2: x has %d dims, wants (N,C,H,W)", x->ndim);
    if (w->ndim != 4 || w->ne[2] != 2 || w->ne[3] != 2)
        return tgs_graph_fail(g, "convt2x2: w is not (C,K,2,2)");
    if (w->ne[0] != x->ne[1])
        return tgs_graph_fail(g, "convt2x2: x has %d channels, w wants %d", (int)x->ne[1], (int)w->ne[0]);
    if (b && (b->ndim != 1 || b->ne[0] != w->ne[1]))
        return tgs_graph_fail(g, "convt2x2: bias is not (%d)", (int)w->ne[1]);
    if ((int64_t)x->ne[2] * 2 > INT32_MAX || (int64_t)x->ne[3] * 2 > INT32_MAX)
        return tgs_graph_fail(g, "convt2x2: output too large");
    struct tgs_tensor *src[3] = {x, w, b};
    struct tgs_node *n = tgs_graph_add_node(g, TGS_OP_CONVT2X2, b ? 3 : 2, src, 4,
                                            (int32_t[]){x->ne[0], w->ne[1], 2 * x->ne[2], 2 * x->ne[3]});
    return n ? n->out : NULL;
}
