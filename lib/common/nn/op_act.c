/* op_act: the graph builders of the activations (ReLU, ELU, GELU,
 * sigmoid), softmax over the last dim, and dropout (elementwise and whole
 * channels). Their CPU kernels are nn/cpu/op_act.c. */
#include "nn/nn.h"
#include "nn/dropout.h"

static struct tgs_tensor *act_node(struct tgs_graph *g, enum tgs_op op, struct tgs_tensor *x, float alpha) {
    if (!x) return tgs_graph_fail(g, "%s: input missing", tgs_op_name(op));
    struct tgs_node *n = tgs_graph_add_node(g, op, 1, &x, x->ndim, x->ne);
    if (!n) return NULL;
    n->p.act.alpha = alpha;
    return n->out;
}

struct tgs_tensor *tgs_relu(struct tgs_graph *g, struct tgs_tensor *x) { return act_node(g, TGS_OP_RELU, x, 0); }
struct tgs_tensor *tgs_gelu(struct tgs_graph *g, struct tgs_tensor *x) { return act_node(g, TGS_OP_GELU, x, 0); }
struct tgs_tensor *tgs_sigmoid(struct tgs_graph *g, struct tgs_tensor *x) { return act_node(g, TGS_OP_SIGMOID, x, 0); }

struct tgs_tensor *tgs_elu(struct tgs_graph *g, struct tgs_tensor *x, float alpha) {
    if (!(alpha >= 0)) return tgs_graph_fail(g, "elu: alpha %g must be >= 0", alpha);
    return act_node(g, TGS_OP_ELU, x, alpha);
}

struct tgs_tensor *tgs_softmax(struct tgs_graph *g, struct tgs_tensor *x) { return act_node(g, TGS_OP_SOFTMAX, x, 0); }

static struct tgs_tensor *drop_node(struct tgs_graph *g, enum tgs_op op, struct tgs_tensor *x, float p) {
    if (!x) return tgs_graph_fail(g, "%s: input missing", tgs_op_name(op));
    if (!(p >= 0 && p <= 1)) return tgs_graph_fail(g, "%s: p %g not in [0, 1]", tgs_op_name(op), p);
    if (op == TGS_OP_DROPOUT2D && x->ndim != 4)
        return tgs_graph_fail(g, "dropout2d: x has %d dims, want (N,C,H,W)", x->ndim);
    struct tgs_node *n = tgs_graph_add_node(g, op, 1, &x, x->ndim, x->ne);
    if (!n) return NULL;
    /* from the node index: two dropout nodes of a graph draw other masks */
    n->p.drop = (struct tgs_drop_params){
        .p = p, .seed = tgs_drop_mix64((uint64_t)n->index * TGS_DROP_GOLDEN + 0x632be59bd9b4e019u)};
    return n->out;
}

struct tgs_tensor *tgs_dropout(struct tgs_graph *g, struct tgs_tensor *x, float p) {
    return drop_node(g, TGS_OP_DROPOUT, x, p);
}

struct tgs_tensor *tgs_dropout2d(struct tgs_graph *g, struct tgs_tensor *x, float p) {
    return drop_node(g, TGS_OP_DROPOUT2D, x, p);
}
