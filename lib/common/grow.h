/* grow: room for one more element in an array that grows as a file is
 * parsed (checkpoint.c's tensors and metadata, json.c's flat objects). */
#ifndef TGS_GROW_H
#define TGS_GROW_H

#include <stdlib.h>

#include "err.h"

/* *p holds n elements of elem bytes in room for *cap: make room for one
 * more, doubling from 64. 0, or -1 with a message (*p left as it was). */
static inline int tgs_grow(void **p, int *cap, int n, size_t elem) {
    if (n < *cap) return 0;
    int nc = *cap ? 2 * *cap : 64;
    void *q = realloc(*p, (size_t)nc * elem);
    if (!q) return tgs_err("out of memory");
    *p = q, *cap = nc;
    return 0;
}

#endif
