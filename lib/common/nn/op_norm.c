/* op_norm: the graph builders of batch norm (with a fused ReLU, or a
 * fused residual add and ReLU) and layer norm. Their CPU kernels are
 * nn/cpu/op_norm.c. */
#include "nn/nn.h"

static int is_vec(const struct tgs_tensor *t, int32_t c) { return t->ndim == 1 && t->ne[0] == c; }

/* r: NULL, or the residual of tgs_batchnorm_add_relu (then relu is 1) */
static struct tgs_tensor *bn_build(struct tgs_graph *g, struct tgs_tensor *x, struct tgs_tensor *gamma,
                                   struct tgs_tensor *beta, struct tgs_tensor *run_mean, struct tgs_tensor *run_var,
                                   float eps, float momentum, int relu, struct tgs_tensor *r) {
    /* a NULL input: keeps the first message when an earlier builder failed */
    if (!x || !gamma || !beta || !run_mean || !run_var) return tgs_graph_fail(g, "batchnorm: input missing");
    if (x->ndim != 4 && x->ndim != 2)
        return tgs_graph_fail(g, "batchnorm: x has %d dims, want (N,C,H,W) or (N,C)", x->ndim);
    int32_t C = x->ne[1];
    if (!is_vec(gamma, C) || !is_vec(beta, C) || !is_vec(run_mean, C) || !is_vec(run_var, C))
        return tgs_graph_fail(g, "batchnorm: gamma, beta, running mean and variance must be (%d)", (int)C);
    if (run_mean->producer >= 0 || run_var->producer >= 0 || ((run_mean->flags | run_var->flags) & TGS_TENSOR_GRAD))
        return tgs_graph_fail(g, "batchnorm: running statistics must be leaves without gradient");
    if (!(eps > 0) || !(momentum >= 0 && momentum <= 1))
        return tgs_graph_fail(g, "batchnorm: eps %g must be > 0 and momentum %g in [0, 1]", eps, momentum);
    if (r) {
        int same = r->ndim == x->ndim;
        for (int i = 0; same && i < x->ndim; i++) same = r->ne[i] == x->ne[i];
        if (!same) return tgs_graph_fail(g, "batchnorm: the residual must have x's shape");
    }
    struct tgs_tensor *src[4] = {x, gamma, beta, r};
    struct tgs_node *n = tgs_graph_add_node(g, TGS_OP_BATCHNORM, r ? 4 : 3, src, x->ndim, x->ne);
    if (!n) return NULL;
    n->p.bn = (struct tgs_bn_params){
        .eps = eps, .momentum = momentum, .relu = relu != 0, .run_mean = run_mean, .run_var = run_var};
    return n->out;
}

struct tgs_tensor *tgs_batchnorm(struct tgs_graph *g, struct tgs_tensor *x, struct tgs_tensor *gamma,
                                 struct tgs_tensor *beta, struct tgs_tensor *run_mean, struct tgs_tensor *run_var,
                                 float eps, float momentum, int relu) {
    return bn_build(g, x, gamma, beta, run_mean, run_var, eps, momentum, relu, NULL);
}

struct tgs_tensor *tgs_batchnorm_add_relu(struct tgs_graph *g, struct tgs_tensor *x, struct tgs_tensor *gamma,
                                          struct tgs_tensor *beta, struct tgs_tensor *run_mean,
                                          struct tgs_tensor *run_var, float eps, float momentum, struct tgs_tensor *r) {
    if (!r) return tgs_graph_fail(g, "batchnorm: residual missing");
    return bn_build(g, x, gamma, beta, run_mean, run_var, eps, momentum, 1, r);
}

struct tgs_tensor *tgs_layernorm(struct tgs_graph *g, struct tgs_tensor *x, struct tgs_tensor *gamma,
                                 struct tgs_tensor *beta, float eps) {
    if (!x || !gamma || !beta) return tgs_graph_fail(g, "layernorm: input missing");
    int32_t C = x->ne[x->ndim - 1];
    if (!is_vec(gamma, C) || !is_vec(beta, C))
        return tgs_graph_fail(g, "layernorm: gamma and beta must be (%d), the last dim of x", (int)C);
    if (!(eps > 0)) return tgs_graph_fail(g, "layernorm: eps %g must be > 0", eps);
    struct tgs_tensor *src[3] = {x, gamma, beta};
    struct tgs_node *n = tgs_graph_add_node(g, TGS_OP_LAYERNORM, 3, src, x->ndim, x->ne);
    if (!n) return NULL;
    n->p.ln.eps = eps;
    return n->out;
}
