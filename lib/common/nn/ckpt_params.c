/* ckpt_params: a model's parameters and buffers into and out of a
 * checkpoint (see ckpt_params.h). */
#include "nn/ckpt_params.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

int tgs_ckpt_put_params(tgs_ckpt *c, struct tgs_params *ps) {
    const struct tgs_backend *be = tgs_params_backend(ps);
    int64_t most = 1;
    for (int i = 0; i < tgs_params_count(ps); i++)
        if (tgs_params_at(ps, i)->size > most) most = tgs_params_at(ps, i)->size;
    float *host = malloc((size_t)most * sizeof *host);
    if (!host) return tgs_err("out of memory");
    for (int i = 0; i < tgs_params_count(ps); i++) {
        struct tgs_tensor *t = tgs_params_at(ps, i);
        int64_t shape[TGS_NN_MAX_DIMS];
        for (int d = 0; d < t->ndim; d++) shape[d] = t->ne[d];
        be->download(host, t->data, t->size);
        if (tgs_ckpt_add(c, t->name, TGS_F32, t->ndim, shape, host) < 0) {
            free(host);
            return -1;
        }
    }
    free(host);
    return 0;
}

static int is_state_name(const char *name) { return strncmp(name, "optim.", 6) == 0 || strncmp(name, "train.", 6) == 0; }

int tgs_ckpt_get_params(const tgs_ckpt *c, struct tgs_params *ps, int strict, int *matched) {
    const struct tgs_backend *be = tgs_params_backend(ps);
    int got = 0;
    for (int i = 0; i < tgs_params_count(ps); i++) {
        struct tgs_tensor *t = tgs_params_at(ps, i);
        const tgs_ckpt_tensor *ct = tgs_ckpt_find(c, t->name);
        if (!ct) {
            if (strict) return tgs_err("has no tensor '%s', which the model needs", t->name);
            continue;
        }
        int same = ct->dtype == TGS_F32 && ct->ndim == t->ndim;
        for (int d = 0; same && d < t->ndim; d++) same = ct->shape[d] == t->ne[d];
        if (!same) {
            char a[160], b[160];
            int64_t want[TGS_NN_MAX_DIMS];
            for (int d = 0; d < t->ndim; d++) want[d] = t->ne[d];
            tgs_ckpt_shape_str(a, sizeof a, ct->ndim, ct->shape);
            tgs_ckpt_shape_str(b, sizeof b, t->ndim, want);
            return tgs_err("tensor '%s' is %s %s, the model's is F32 %s", t->name, tgs_ckpt_dtype_name(ct->dtype), a, b);
        }
        double v;
        int64_t at = tgs_ckpt_tensor_nonfinite(ct, &v);
        if (at >= 0) return tgs_err("tensor '%s' holds %s at element %lld", t->name, tgs_nonfinite_name(v), (long long)at);
        be->upload(t->data, ct->data, t->size);
        got++;
    }
    if (strict)
        for (int i = 0; i < c->n; i++)
            if (!is_state_name(c->t[i].name) && !tgs_params_find(ps, c->t[i].name))
                return tgs_err("tensor '%s' is not a parameter of the model", c->t[i].name);
    if (matched) *matched = got;
    return 0;
}
