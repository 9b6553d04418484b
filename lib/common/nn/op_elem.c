/* op_elem: the graph builders of add and mul (b broadcast to a), scale
 * and concat along channels. Their CPU kernels are nn/cpu/op_elem.c. */
#include "nn/nn.h"

#include <math.h>
#include <string.h>

static struct tgs_tensor *binary_build(struct tgs_graph *g, enum tgs_op op, struct tgs_tensor *a,
                                       struct tgs_tensor *b) {
    const char *name = tgs_op_name(op);
    if (!a || !b) return tgs_graph_fail(g, "%s: input missing", name);
    int ok = a->ndim == b->ndim;
    for (int i = 0; i < TGS_NN_MAX_DIMS && ok; i++) ok = b->ne[i] == a->ne[i] || b->ne[i] == 1;
    if (!ok) {
        char sa[64], sb[64];
        return tgs_graph_fail(g, "%s: b %s does not broadcast to a %s (b's dims must be a's or 1)", name,
                              tgs_shape_str(b, sb, sizeof sb), tgs_shape_str(a, sa, sizeof sa));
    }
    struct tgs_tensor *src[2] = {a, b};
    struct tgs_node *n = tgs_graph_add_node(g, op, 2, src, a->ndim, a->ne);
    return n ? n->out : NULL;
}

struct tgs_tensor *tgs_add(struct tgs_graph *g, struct tgs_tensor *a, struct tgs_tensor *b) {
    return binary_build(g, TGS_OP_ADD, a, b);
}

struct tgs_tensor *tgs_mul(struct tgs_graph *g, struct tgs_tensor *a, struct tgs_tensor *b) {
    return binary_build(g, TGS_OP_MUL, a, b);
}

struct tgs_tensor *tgs_scale(struct tgs_graph *g, struct tgs_tensor *a, float s) {
    if (!a) return tgs_graph_fail(g, "scale: input missing");
    if (!isfinite(s)) return tgs_graph_fail(g, "scale: factor %g is not finite", (double)s);
    struct tgs_node *n = tgs_graph_add_node(g, TGS_OP_SCALE, 1, &a, a->ndim, a->ne);
    if (!n) return NULL;
    n->p.scale.s = s;
    return n->out;
}

struct tgs_tensor *tgs_concat(struct tgs_graph *g, struct tgs_tensor *a, struct tgs_tensor *b) {
    if (!a || !b) return tgs_graph_fail(g, "concat: input missing");
    int ok = a->ndim == b->ndim && a->ndim >= 2 && a->ne[0] == b->ne[0];
    for (int i = 2; i < TGS_NN_MAX_DIMS && ok; i++) ok = a->ne[i] == b->ne[i];
    if (!ok) {
        char sa[64], sb[64];
        return tgs_graph_fail(g, "concat: %s and %s differ in a dim other than 1 (or have fewer than 2 dims)",
                              tgs_shape_str(a, sa, sizeof sa), tgs_shape_str(b, sb, sizeof sb));
    }
    int32_t ne[TGS_NN_MAX_DIMS];
    memcpy(ne, a->ne, sizeof ne);
    if ((int64_t)a->ne[1] + b->ne[1] > INT32_MAX) return tgs_graph_fail(g, "concat: too many channels");
    ne[1] = a->ne[1] + b->ne[1];
    struct tgs_tensor *src[2] = {a, b};
    struct tgs_node *n = tgs_graph_add_node(g, TGS_OP_CONCAT, 2, src, a->ndim, ne);
    return n ? n->out : NULL;
}
