/* dropout: the hash a dropout node's masks come from, shared by its
 * builder (nn/op_act.c draws the node's seed with it) and its CPU kernel
 * (nn/cpu/op_act.c draws the masks, and says how);
 * tests/torch/gen_op_act.py computes the same. */
#ifndef TGS_NN_DROPOUT_H
#define TGS_NN_DROPOUT_H

#include <stdint.h>

/* splitmix64's finaliser */
static inline uint64_t tgs_drop_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

#define TGS_DROP_GOLDEN 0x9e3779b97f4a7c15u

#endif
