/* loss: the graph builders of the training losses, each one node with a
 * scalar output (what each computes: nn/cpu/loss.c, their CPU kernels). */
#include "nn/nn.h"

#include <math.h>

static struct tgs_tensor *loss_build(struct tgs_graph *g, enum tgs_op kind, struct tgs_tensor *logits,
                                     struct tgs_tensor *target, float weight, float alpha, float gamma) {
    const char *name = tgs_op_name(kind);
    switch (kind) {
    case TGS_OP_LOSS_BCE: case TGS_OP_LOSS_DICE: case TGS_OP_LOSS_FOCAL: case TGS_OP_LOSS_BOUNDARY:
    case TGS_OP_LOSS_LOVASZ: case TGS_OP_LOSS_LOVASZ_SYM: case TGS_OP_LOSS_MSE: break;
    default: return tgs_graph_fail(g, "loss: %s is not a loss", name);
    }
    if (!logits || !target) return tgs_graph_fail(g, "%s: input missing", name);
    char a[64], b[64];
    int same = logits->ndim == target->ndim;
    for (int i = 0; i < TGS_NN_MAX_DIMS; i++) same &= logits->ne[i] == target->ne[i];
    if (!same)
        return tgs_graph_fail(g, "%s: logits %s and target %s differ in shape", name, tgs_shape_str(logits, a, sizeof a),
                              tgs_shape_str(target, b, sizeof b));
    if (kind == TGS_OP_LOSS_BOUNDARY && !(logits->ndim == 3 || (logits->ndim == 4 && logits->ne[1] == 1)))
        return tgs_graph_fail(g, "%s: logits %s are not (N,1,H,W) or (N,H,W) maps", name,
                              tgs_shape_str(logits, a, sizeof a));
    if (logits->size > UINT32_MAX / 4) return tgs_graph_fail(g, "%s: %lld elements", name, (long long)logits->size);
    if (!isfinite(weight)) return tgs_graph_fail(g, "%s: weight %g", name, (double)weight);
    if (kind == TGS_OP_LOSS_FOCAL && !(isfinite(alpha) && alpha <= 1 && isfinite(gamma) && gamma >= 0))
        return tgs_graph_fail(g, "%s: alpha %g (<= 1, < 0 for none), gamma %g (>= 0)", name, (double)alpha,
                              (double)gamma);
    struct tgs_tensor *src[2] = {logits, target};
    struct tgs_node *n = tgs_graph_add_node(g, kind, 2, src, 1, (const int32_t[]){1});
    if (!n) return NULL;
    n->p.loss = (struct tgs_loss_params){.weight = weight, .alpha = alpha, .gamma = gamma};
    return n->out;
}

/* Focal through tgs_loss takes torchvision's defaults, alpha 0.25, gamma 2. */
struct tgs_tensor *tgs_loss(struct tgs_graph *g, enum tgs_op kind, struct tgs_tensor *logits,
                            struct tgs_tensor *target, float weight) {
    return loss_build(g, kind, logits, target, weight, 0.25f, 2.0f);
}

struct tgs_tensor *tgs_loss_focal(struct tgs_graph *g, struct tgs_tensor *logits, struct tgs_tensor *target,
                                  float weight, float alpha, float gamma) {
    return loss_build(g, TGS_OP_LOSS_FOCAL, logits, target, weight, alpha, gamma);
}
