/* params: a model's parameters and buffers, in one allocation for the data
 * and one for the gradients, shared by every graph built on the set. */
#include "nn/nn.h"
#include "err.h"
#include "rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct tgs_params {
    const struct tgs_backend *be;
    struct tgs_tensor **t;
    int n, cap;
    int allocated;
    float *data, *grad;
    int64_t data_floats, grad_floats;
    enum tgs_init *init;
    int64_t *fan_in;
};

#define ALIGN_FLOATS 16 /* 64 bytes, a cache line and an AVX-512 vector */

static int64_t round_up(int64_t n) { return (n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS; }

struct tgs_params *tgs_params_new(const struct tgs_backend *be) {
    struct tgs_params *ps = calloc(1, sizeof *ps);
    if (!ps) {
        tgs_err("out of memory");
        return NULL;
    }
    ps->be = be ? be : tgs_backend_cpu();
    return ps;
}

void tgs_params_free(struct tgs_params *ps) {
    if (!ps) return;
    for (int i = 0; i < ps->n; i++) {
        free((char *)ps->t[i]->name);
        free(ps->t[i]);
    }
    free(ps->t);
    free(ps->init);
    free(ps->fan_in);
    if (ps->data) ps->be->free(ps->data);
    if (ps->grad) ps->be->free(ps->grad);
    free(ps);
}

struct tgs_tensor *tgs_params_find(struct tgs_params *ps, const char *name) {
    for (int i = 0; i < ps->n; i++)
        if (strcmp(ps->t[i]->name, name) == 0) return ps->t[i];
    return NULL;
}

static int same_shape(const struct tgs_tensor *t, int ndim, const int32_t *ne) {
    if (t->ndim != ndim) return 0;
    for (int i = 0; i < ndim; i++)
        if (t->ne[i] != ne[i]) return 0;
    return 1;
}

struct tgs_tensor *tgs_params_get(struct tgs_params *ps, const char *name, int ndim, const int32_t *ne,
                                  uint32_t flag, enum tgs_init init, int64_t fan_in) {
    struct tgs_tensor *t = tgs_params_find(ps, name);
    if (t) {
        if (!same_shape(t, ndim, ne) || !(t->flags & flag)) {
            tgs_err("parameter %s: declared again with another shape or kind", name);
            return NULL;
        }
        return t;
    }
    if (ps->allocated) {
        tgs_err("parameter %s: declared after the parameters were allocated", name);
        return NULL;
    }
    if (ndim < 1 || ndim > TGS_NN_MAX_DIMS) {
        tgs_err("parameter %s: %d dims", name, ndim);
        return NULL;
    }
    if (ps->n == ps->cap) {
        int cap = ps->cap ? 2 * ps->cap : 64;
        struct tgs_tensor **nt = realloc(ps->t, cap * sizeof *nt);
        enum tgs_init *ni = nt ? realloc(ps->init, cap * sizeof *ni) : NULL;
        if (ni) ps->init = ni;
        int64_t *nf = ni ? realloc(ps->fan_in, cap * sizeof *nf) : NULL;
        if (nt) ps->t = nt;
        if (!nf) {
            tgs_err("out of memory");
            return NULL;
        }
        ps->fan_in = nf;
        ps->cap = cap;
    }
    t = calloc(1, sizeof *t);
    char *nm = strdup(name);
    if (!t || !nm) {
        free(t);
        free(nm);
        tgs_err("out of memory");
        return NULL;
    }
    t->ndim = ndim;
    t->size = 1;
    for (int i = 0; i < TGS_NN_MAX_DIMS; i++) {
        t->ne[i] = i < ndim ? ne[i] : 1;
        if (t->ne[i] < 1) {
            free(t);
            free(nm);
            tgs_err("parameter %s: dimension %d is %d", name, i, (int)ne[i]);
            return NULL;
        }
        t->size *= t->ne[i];
    }
    t->flags = flag | (flag & TGS_TENSOR_PARAM ? TGS_TENSOR_GRAD : 0);
    t->name = nm;
    t->id = -1;
    t->producer = -1;
    ps->init[ps->n] = init;
    ps->fan_in[ps->n] = fan_in;
    ps->t[ps->n++] = t;
    return t;
}

/* Fill host memory as the init says; fan_in from the shape is the product
 * of all dims but the first (torch's rule for conv and linear weights). */
static void init_values(float *v, const struct tgs_tensor *t, enum tgs_init init, int64_t fan_in, tgs_rng *rng) {
    if (fan_in <= 0) fan_in = t->size / t->ne[0];
    float bound = 1.0f / sqrtf((float)fan_in);
    for (int64_t i = 0; i < t->size; i++) {
        switch (init) {
        case TGS_INIT_ONES: v[i] = 1; break;
        case TGS_INIT_KAIMING_UNIFORM:
        case TGS_INIT_FAN_IN_UNIFORM: v[i] = (2 * tgs_rng_uniform(rng) - 1) * bound; break;
        case TGS_INIT_NORMAL: v[i] = 0.02f * tgs_rng_normal(rng); break;
        case TGS_INIT_TRUNC_NORMAL: {
            float z;
            do z = tgs_rng_normal(rng);
            while (fabsf(z) > 2);
            v[i] = 0.02f * z;
            break;
        }
        default: v[i] = 0; break;
        }
    }
}

int tgs_params_alloc(struct tgs_params *ps, uint64_t seed) {
    if (ps->allocated) return 0;
    int64_t nd = 0, ng = 0, maxn = 0;
    for (int i = 0; i < ps->n; i++) {
        nd += round_up(ps->t[i]->size);
        if (ps->t[i]->flags & TGS_TENSOR_PARAM) ng += round_up(ps->t[i]->size);
        if (ps->t[i]->size > maxn) maxn = ps->t[i]->size;
    }
    ps->data = ps->be->alloc((size_t)(nd ? nd : 1) * sizeof(float));
    ps->grad = ps->be->alloc((size_t)(ng ? ng : 1) * sizeof(float));
    float *host = malloc((size_t)(maxn ? maxn : 1) * sizeof(float));
    if (!ps->data || !ps->grad || !host) {
        free(host);
        return tgs_err("parameters: out of memory for %lld floats", (long long)(nd + ng));
    }
    /* One RNG stream per parameter, keyed by its position: adding a
     * parameter at the end does not change the values of the others. */
    int64_t od = 0, og = 0;
    for (int i = 0; i < ps->n; i++) {
        struct tgs_tensor *t = ps->t[i];
        t->data = ps->data + od;
        od += round_up(t->size);
        if (t->flags & TGS_TENSOR_PARAM) {
            t->grad = ps->grad + og;
            og += round_up(t->size);
        }
        tgs_rng rng;
        tgs_rng_seed(&rng, seed, (uint64_t)i);
        init_values(host, t, ps->init[i], ps->fan_in[i], &rng);
        ps->be->upload(t->data, host, t->size);
    }
    free(host);
    ps->data_floats = nd;
    ps->grad_floats = ng;
    ps->allocated = 1;
    return 0;
}

int tgs_params_count(const struct tgs_params *ps) { return ps->n; }
struct tgs_tensor *tgs_params_at(struct tgs_params *ps, int i) { return i >= 0 && i < ps->n ? ps->t[i] : NULL; }

int64_t tgs_params_numel(const struct tgs_params *ps, uint32_t flag) {
    int64_t n = 0;
    for (int i = 0; i < ps->n; i++)
        if (ps->t[i]->flags & flag) n += ps->t[i]->size;
    return n;
}

void tgs_params_zero_grad(struct tgs_params *ps) {
    if (ps->grad) ps->be->zero(ps->grad, ps->grad_floats);
}

const struct tgs_backend *tgs_params_backend(const struct tgs_params *ps) { return ps->be; }
int tgs_params_allocated(const struct tgs_params *ps) { return ps->allocated; }
