/* op_attn: the graph builder of attn_bias, the position-dependent part of
 * Swin's window attention (relative position bias, shifted-window mask).
 * Its CPU kernels are nn/cpu/op_attn.c. */
#include "nn/nn.h"

struct tgs_tensor *tgs_attn_bias(struct tgs_graph *g, struct tgs_tensor *scores, struct tgs_tensor *table, int ws,
                                 int shift, int h, int w) {
    if (!scores || !table) return tgs_graph_fail(g, "attn_bias: input missing");
    char ss[64], st[64];
    if (ws < 1 || ws > 32) return tgs_graph_fail(g, "attn_bias: window %d not in [1, 32]", ws);
    if (h < ws || w < ws || h % ws || w % ws)
        return tgs_graph_fail(g, "attn_bias: window %d does not divide the image size %dx%d", ws, h, w);
    if (shift < 0 || shift >= ws) return tgs_graph_fail(g, "attn_bias: shift %d not in [0, window %d)", shift, ws);
    int32_t nw = (h / ws) * (w / ws), N = ws * ws, heads = scores->ne[1];
    if (scores->ndim != 4 || scores->ne[0] % nw || scores->ne[2] != N || scores->ne[3] != N)
        return tgs_graph_fail(g, "attn_bias: scores %s are not (B*%d, heads, %d, %d)",
                              tgs_shape_str(scores, ss, sizeof ss), (int)nw, (int)N, (int)N);
    int tw = ws; /* the table's window: (2tw-1)^2 entries */
    while (tw < 32 && (2 * tw - 1) * (2 * tw - 1) < table->ne[0]) tw++;
    if (table->ndim != 2 || table->ne[0] != (2 * tw - 1) * (2 * tw - 1) || table->ne[1] != heads)
        return tgs_graph_fail(g, "attn_bias: table %s is not ((2tw-1)^2, %d) for a window tw of %d to 32 (scores %s)",
                              tgs_shape_str(table, st, sizeof st), (int)heads, ws,
                              tgs_shape_str(scores, ss, sizeof ss));
    struct tgs_node *n = tgs_graph_add_node(g, TGS_OP_ATTN_BIAS, 2, (struct tgs_tensor *[]){scores, table}, 4,
                                            scores->ne);
    if (!n) return NULL;
    n->p.ab = (struct tgs_attn_bias_params){ws, shift, h, w, tw};
    return n->out;
}
