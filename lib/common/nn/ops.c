/* ops: the names of the ops (the op list is ops.def), for messages and
 * profiles. */
#include "nn/nn.h"

static const char *const op_names[] = {
    [TGS_OP_NONE] = "leaf",
#define TGS_OP(suffix, impl, name) [TGS_OP_##suffix] = name,
#include "nn/ops.def"
};
_Static_assert(sizeof op_names / sizeof op_names[0] == TGS_OP_COUNT, "op_names: a name for each enum tgs_op");

const char *tgs_op_name(enum tgs_op op) {
    return op >= 0 && op < TGS_OP_COUNT && op_names[op] ? op_names[op] : "?";
}
