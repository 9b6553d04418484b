/* opcheck.h: the checks every op and loss goes through (ggml's
 * test-backend-ops idea), shared by the tests/unit/test_op_*.c files.
 *
 * A case is a builder that puts one op (or a few) on a graph of given
 * inputs, and returns the output. Two checks run it:
 *   opcheck_fd     central finite differences of f = sum(out * R), R random,
 *                  against the analytic backward, on random inputs;
 *   opcheck_torch  inputs, output gradient, output and input gradients
 *                  written by PyTorch (tests/torch/gen_*.py into
 *                  tests/data/torch/ files), compared within a tolerance;
 *   opcheck_backends  the case on every backend compiled in but the CPU,
 *                  forward and backward, against the CPU: output, input
 *                  gradients, and every parameter, buffer (BN running
 *                  statistics) and parameter gradient, within the
 *                  tolerance opcheck_be_tol states for its ops (sim,
 *                  which runs the CPU kernels, to the bit).
 *                  With OPCHECK_COVERAGE=FILE in the environment it
 *                  appends the name of each op it ran to FILE, so that
 *                  tests/t-backend-ops.sh can check every op of
 *                  nn/ops.def is covered.
 * Each prints "ok - ..." or "not ok - ..." lines as check.h does. */
#ifndef TGS_OPCHECK_H
#define TGS_OPCHECK_H

#include "check.h"
#include "err.h"
#include "nn/nn.h"
#include "rng.h"
#include "stream.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum opcheck_fill {
    OPCHECK_UNIFORM = 0, /* U(lo, hi), pushed out of (-margin, margin) */
    OPCHECK_MASK,        /* 0 or 1 with probability 1/2 (targets) */
};

struct opcheck_input {
    int ndim;
    int32_t ne[TGS_NN_MAX_DIMS];
    int grad;           /* check the gradient of this input */
    enum opcheck_fill fill;
    float lo, hi;       /* UNIFORM range; lo = hi = 0 means (-1, 1) */
    float margin;       /* keep |v| >= margin (kinks of relu, hinge) */
};

/* How a case's graph is planned and run. */
enum opcheck_plan {
    OPCHECK_TRAIN = 0, /* training plan, exec->train = 1: forward and backward */
    OPCHECK_INFER = 1, /* inference plan: forward only (no fd) */
    OPCHECK_EVAL = 2,  /* training plan run with exec->train = 0: eval-mode backward */
};

typedef struct tgs_tensor *(*opcheck_build_fn)(struct tgs_graph *g, struct tgs_tensor **in, void *ctx);

struct opcheck_case {
    const char *name;   /* also the case name in the torch reference file */
    int nin;
    struct opcheck_input in[TGS_NN_MAX_SRC + 2];
    opcheck_build_fn build;
    void *ctx;
    double fd_tol;      /* max |num - ana| / max(1, max |ana|); 0: 1e-2 */
    float fd_eps;       /* 0: 1e-3 */
    enum opcheck_plan plan;
};

/* A graph of the case's inputs and op, planned for training. */
struct opcheck_graph {
    struct tgs_params *ps;
    struct tgs_graph *g;
    struct tgs_tensor *in[TGS_NN_MAX_SRC + 2];
    struct tgs_tensor *out;
};

static inline void opcheck_graph_free(struct opcheck_graph *og)
{
    tgs_graph_free(og->g);
    tgs_params_free(og->ps);
    memset(og, 0, sizeof *og);
}

static inline int opcheck_graph_make_on(struct opcheck_graph *og, const struct opcheck_case *c, int train,
                                        const struct tgs_backend *be)
{
    memset(og, 0, sizeof *og);
    og->ps = tgs_params_new(be);
    og->g = og->ps ? tgs_graph_new(og->ps) : NULL;
    if (!og->g) return -1;
    char nm[16];
    for (int i = 0; i < c->nin; i++) {
        snprintf(nm, sizeof nm, "in%d", i);
        og->in[i] = tgs_input(og->g, nm, c->in[i].ndim, c->in[i].ne);
        if (c->in[i].grad) tgs_requires_grad(og->in[i]);
    }
    og->out = c->build(og->g, og->in, c->ctx);
    if (!og->out) {
        tgs_err("build: %s", tgs_graph_error(og->g) ? tgs_graph_error(og->g) : "no output");
        return -1;
    }
    if (tgs_params_alloc(og->ps, 1) < 0) return -1;
    if (tgs_graph_plan(og->g, train ? TGS_PLAN_TRAIN : TGS_PLAN_INFER) < 0) return -1;
    if (c->plan == OPCHECK_EVAL) tgs_graph_exec(og->g)->train = 0;
    return 0;
}

static inline int opcheck_graph_make(struct opcheck_graph *og, const struct opcheck_case *c, int train)
{
    return opcheck_graph_make_on(og, c, train, tgs_backend_cpu());
}

static inline void opcheck_fill(float *v, int64_t n, const struct opcheck_input *in, tgs_rng *r)
{
    float lo = in->lo, hi = in->hi;
    if (lo == 0 && hi == 0) lo = -1, hi = 1;
    for (int64_t i = 0; i < n; i++) {
        if (in->fill == OPCHECK_MASK) {
            v[i] = (float)(tgs_rng_u32(r) & 1);
            continue;
        }
        float x = lo + (hi - lo) * tgs_rng_uniform(r);
        if (in->margin > 0 && fabsf(x) < in->margin) x = x < 0 ? -in->margin - fabsf(x) : in->margin + x;
        v[i] = x;
    }
}

static inline double opcheck_dot(const float *a, const float *b, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* Finite differences: every element of small inputs, 300 spread ones of
 * larger. Returns the number of failures (0 or 1) after printing. */
static inline int opcheck_fd(const struct opcheck_case *c)
{
    char name[160];
    snprintf(name, sizeof name, "fd %s", c->name);
    struct opcheck_graph og;
    if (opcheck_graph_make(&og, c, 1) < 0) {
        CHECKF(0, name, "%s", tgs_errmsg());
        opcheck_graph_free(&og);
        return 1;
    }
    tgs_rng r;
    tgs_rng_seed(&r, 1234, 0);
    float *host[TGS_NN_MAX_SRC + 2] = {0};
    for (int i = 0; i < c->nin; i++) {
        host[i] = malloc(og.in[i]->size * sizeof(float));
        opcheck_fill(host[i], og.in[i]->size, &c->in[i], &r);
        tgs_tensor_set(og.g, og.in[i], host[i]);
    }
    int64_t no = og.out->size;
    float *R = malloc(no * sizeof(float)), *out = malloc(no * sizeof(float));
    for (int64_t i = 0; i < no; i++) R[i] = 2 * tgs_rng_uniform(&r) - 1;
    double eps = c->fd_eps > 0 ? c->fd_eps : 1e-3, tol = c->fd_tol > 0 ? c->fd_tol : 1e-2;
    double worst = 0;
    int failed = 0, worst_in = -1;
    int64_t worst_at = -1;
    double worst_num = 0, worst_ana = 0;
    if (tgs_graph_forward(og.g) < 0 || tgs_graph_backward_from(og.g, og.out, R) < 0) {
        CHECKF(0, name, "run: %s", tgs_errmsg());
        failed = 1;
        goto done;
    }
    for (int i = 0; i < c->nin && !failed; i++) {
        if (!c->in[i].grad) continue;
        int64_t n = og.in[i]->size;
        float *ana = malloc(n * sizeof(float));
        tgs_tensor_get_grad(og.g, og.in[i], ana);
        double scale = 1;
        for (int64_t j = 0; j < n; j++)
            if (fabs(ana[j]) > scale) scale = fabs(ana[j]);
        int64_t step = n > 300 ? n / 300 : 1;
        for (int64_t j = 0; j < n; j += step) {
            float keep = host[i][j];
            double f[2];
            for (int s = 0; s < 2; s++) {
                host[i][j] = keep + (s ? -1 : 1) * (float)eps;
                tgs_tensor_set(og.g, og.in[i], host[i]);
                tgs_graph_forward(og.g);
                tgs_tensor_get(og.g, og.out, out);
                f[s] = opcheck_dot(out, R, no);
            }
            host[i][j] = keep;
            tgs_tensor_set(og.g, og.in[i], host[i]);
            double num = (f[0] - f[1]) / (2 * eps), err = fabs(num - ana[j]) / scale;
            if (!(err <= worst)) worst = err, worst_in = i, worst_at = j, worst_num = num, worst_ana = ana[j]; /* NaN counts as worst */
        }
        free(ana);
    }
    CHECKF(worst <= tol, name, "input %d element %lld: numeric %.6g, analytic %.6g (error %.3g > %.3g)", worst_in,
           (long long)worst_at, worst_num, worst_ana, worst, tol);
    failed = worst > tol;
done:
    for (int i = 0; i < c->nin; i++) free(host[i]);
    free(R);
    free(out);
    opcheck_graph_free(&og);
    return failed;
}

/* ---- PyTorch references ----
 * A reference file holds one sample per case: a string record "case", the
 * inputs "in0".., the output gradient "dout", the output "out" and the
 * inputs' gradients "grad0".. (only for inputs with grad set). */

struct opcheck_refs {
    tgs_sample *s;
    int n;
    char path[512];
};

static inline int opcheck_refs_load(struct opcheck_refs *rf, const char *rel)
{
    const char *top = getenv("TGS_TOP");
    snprintf(rf->path, sizeof rf->path, "%s/%s", top ? top : ".", rel);
    tgs_reader rd;
    rf->s = NULL;
    rf->n = 0;
    if (tgs_reader_open(&rd, rf->path) < 0) return -1;
    for (;;) {
        tgs_sample *ns = realloc(rf->s, (rf->n + 1) * sizeof *ns);
        if (!ns) return tgs_err("out of memory");
        rf->s = ns;
        memset(&rf->s[rf->n], 0, sizeof *rf->s);
        int rc = tgs_read_sample(&rd, &rf->s[rf->n]);
        if (rc <= 0) { /* the end, or an error part way into a sample: free that slot */
            tgs_sample_free(&rf->s[rf->n]);
            tgs_reader_close(&rd);
            return rc;
        }
        rf->n++;
    }
}

static inline void opcheck_refs_free(struct opcheck_refs *rf)
{
    for (int i = 0; i < rf->n; i++) tgs_sample_free(&rf->s[i]);
    free(rf->s);
    rf->s = NULL;
    rf->n = 0;
}

static inline const tgs_sample *opcheck_refs_find(const struct opcheck_refs *rf, const char *name)
{
    for (int i = 0; i < rf->n; i++) {
        const tgs_record *r = tgs_sample_get(&rf->s[i], "case");
        if (r && r->dtype == TGS_STR && strcmp((const char *)r->data, name) == 0) return &rf->s[i];
    }
    return NULL;
}

/* A reference record's float data, checked to have n elements. */
static inline const float *opcheck_ref_f32(const tgs_sample *s, const char *rec, int64_t n)
{
    const tgs_record *r = tgs_sample_get(s, rec);
    if (!r || r->dtype != TGS_F32 || (int64_t)(r->nbytes / 4) != n) return NULL;
    return (const float *)r->data;
}

/* max |a - b| / (atol + rtol |b|) <= 1 */
static inline int opcheck_close(const float *a, const float *b, int64_t n, double atol, double rtol, int64_t *at)
{
    for (int64_t i = 0; i < n; i++) {
        if (!(fabs((double)a[i] - b[i]) <= atol + rtol * fabs((double)b[i]))) {
            *at = i;
            return 0;
        }
    }
    return 1;
}

static inline int opcheck_torch(const struct opcheck_refs *rf, const struct opcheck_case *c, double atol, double rtol)
{
    char name[160];
    snprintf(name, sizeof name, "torch %s", c->name);
    const tgs_sample *s = opcheck_refs_find(rf, c->name);
    if (!s) {
        CHECKF(0, name, "no case %s in %s (regenerate with tests/torch/)", c->name, rf->path);
        return 1;
    }
    struct opcheck_graph og;
    int failed = 0;
    float *buf = NULL;
    if (opcheck_graph_make(&og, c, c->plan != OPCHECK_INFER) < 0) {
        CHECKF(0, name, "%s", tgs_errmsg());
        failed = 1;
        goto done;
    }
    char rec[16];
    for (int i = 0; i < c->nin; i++) {
        snprintf(rec, sizeof rec, "in%d", i);
        const float *v = opcheck_ref_f32(s, rec, og.in[i]->size);
        if (!v) {
            CHECKF(0, name, "record %s missing or of another size", rec);
            failed = 1;
            goto done;
        }
        tgs_tensor_set(og.g, og.in[i], v);
    }
    const float *want = opcheck_ref_f32(s, "out", og.out->size);
    const float *dout = c->plan == OPCHECK_INFER ? NULL : opcheck_ref_f32(s, "dout", og.out->size);
    if (!want || (c->plan != OPCHECK_INFER && !dout)) {
        CHECKF(0, name, "record out or dout missing or of another size");
        failed = 1;
        goto done;
    }
    if (tgs_graph_forward(og.g) < 0 || (c->plan != OPCHECK_INFER && tgs_graph_backward_from(og.g, og.out, dout) < 0)) {
        CHECKF(0, name, "run: %s", tgs_errmsg());
        failed = 1;
        goto done;
    }
    int64_t at = -1, maxn = og.out->size;
    for (int i = 0; i < c->nin; i++)
        if (og.in[i]->size > maxn) maxn = og.in[i]->size;
    buf = malloc(maxn * sizeof(float));
    tgs_tensor_get(og.g, og.out, buf);
    if (!opcheck_close(buf, want, og.out->size, atol, rtol, &at)) {
        CHECKF(0, name, "out[%lld] = %.7g, torch %.7g", (long long)at, buf[at], want[at]);
        failed = 1;
        goto done;
    }
    for (int i = 0; i < c->nin && c->plan != OPCHECK_INFER; i++) {
        if (!c->in[i].grad) continue;
        snprintf(rec, sizeof rec, "grad%d", i);
        const float *gw = opcheck_ref_f32(s, rec, og.in[i]->size);
        if (!gw) {
            CHECKF(0, name, "record %s missing or of another size", rec);
            failed = 1;
            goto done;
        }
        tgs_tensor_get_grad(og.g, og.in[i], buf);
        if (!opcheck_close(buf, gw, og.in[i]->size, atol, rtol, &at)) {
            CHECKF(0, name, "grad of in%d [%lld] = %.7g, torch %.7g", i, (long long)at, buf[at], gw[at]);
            failed = 1;
            goto done;
        }
    }
    CHECK(1, name);
done:
    free(buf);
    opcheck_graph_free(&og);
    return failed;
}

/* ---- every backend against the CPU ---- */

/* How far another backend may be from the CPU on an op, as max |a - b| /
 * max(1, |b|) over every result: the sums of a GEMM or a reduction may be
 * taken in another order (a GPU's), elementwise maps may differ in the
 * last bit of a transcendental. A backend that runs the CPU kernels (sim)
 * is held to 0. */
static inline double opcheck_be_tol(enum tgs_op op)
{
    switch (op) {
    case TGS_OP_CONV2D: case TGS_OP_CONVT2X2: case TGS_OP_LINEAR: case TGS_OP_MATMUL: return 1e-4; /* long sums */
    case TGS_OP_BATCHNORM: case TGS_OP_LAYERNORM: case TGS_OP_SOFTMAX: case TGS_OP_GAP: return 1e-5; /* reductions */
    case TGS_OP_LOSS_BCE: case TGS_OP_LOSS_DICE: case TGS_OP_LOSS_FOCAL: case TGS_OP_LOSS_BOUNDARY:
    case TGS_OP_LOSS_LOVASZ: case TGS_OP_LOSS_LOVASZ_SYM: case TGS_OP_LOSS_MSE: return 1e-5; /* means over images */
    case TGS_OP_ELU: case TGS_OP_GELU: case TGS_OP_SIGMOID: return 1e-6; /* a transcendental's last bit */
    default: return 0; /* moves and exact arithmetic: the same floats */
    }
}

/* The worst of |a - b| / max(1, |b|) over n floats (NaN counts as worst);
 * *at gets where. */
static inline double opcheck_worst(const float *a, const float *b, int64_t n, int64_t *at)
{
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]) / fmax(1.0, fabs((double)b[i]));
        if (!(d <= worst)) worst = d, *at = i;
    }
    return worst;
}

/* Download what a run left in a graph: the output, the input gradients, and
 * every tensor of the params set with its gradient, into one host buffer
 * of *n floats. */
static inline float *opcheck_results(struct opcheck_graph *og, const struct opcheck_case *c, int64_t *n)
{
    const struct tgs_backend *be = tgs_params_backend(og->ps);
    int64_t total = og->out->size;
    int backward = c->plan != OPCHECK_INFER;
    for (int i = 0; i < c->nin && backward; i++)
        if (c->in[i].grad) total += og->in[i]->size;
    for (int i = 0; i < tgs_params_count(og->ps); i++) {
        struct tgs_tensor *t = tgs_params_at(og->ps, i);
        total += t->size * (t->grad && backward ? 2 : 1);
    }
    float *v = malloc((size_t)(total ? total : 1) * sizeof *v), *at = v;
    tgs_tensor_get(og->g, og->out, at);
    at += og->out->size;
    for (int i = 0; i < c->nin && backward; i++)
        if (c->in[i].grad) {
            tgs_tensor_get_grad(og->g, og->in[i], at);
            at += og->in[i]->size;
        }
    for (int i = 0; i < tgs_params_count(og->ps); i++) {
        struct tgs_tensor *t = tgs_params_at(og->ps, i);
        be->download(at, t->data, t->size);
        at += t->size;
        if (t->grad && backward) {
            be->download(at, t->grad, t->size);
            at += t->size;
        }
    }
    *n = total;
    return v;
}

/* One run of the case on be, from the seeded inputs and output gradient;
 * the results downloaded. NULL (and a message) when it cannot run. */
static inline float *opcheck_run_on(const struct opcheck_case *c, const struct tgs_backend *be, int64_t *n, double *tol)
{
    struct opcheck_graph og;
    float *res = NULL;
    if (opcheck_graph_make_on(&og, c, c->plan != OPCHECK_INFER, be) < 0) goto done;
    tgs_rng r;
    tgs_rng_seed(&r, 4321, 0);
    for (int i = 0; i < c->nin; i++) {
        float *h = malloc(og.in[i]->size * sizeof(float));
        opcheck_fill(h, og.in[i]->size, &c->in[i], &r);
        tgs_tensor_set(og.g, og.in[i], h);
        free(h);
    }
    tgs_graph_exec(og.g)->step = 7; /* a dropout mask of its own */
    float *dout = malloc(og.out->size * sizeof(float));
    for (int64_t i = 0; i < og.out->size; i++) dout[i] = 2 * tgs_rng_uniform(&r) - 1;
    int rc = tgs_graph_forward(og.g);
    if (rc == 0 && c->plan != OPCHECK_INFER) rc = tgs_graph_backward_from(og.g, og.out, dout);
    free(dout);
    if (rc == 0) res = opcheck_results(&og, c, n);
    *tol = 0;
    for (int k = 0; k < tgs_graph_nnodes(og.g); k++) *tol = fmax(*tol, opcheck_be_tol(tgs_graph_node(og.g, k)->op));
    /* which ops this covered, for t-backend-ops.sh */
    const char *cov = getenv("OPCHECK_COVERAGE");
    FILE *fp = res && cov && be != tgs_backend_cpu() ? fopen(cov, "a") : NULL;
    for (int k = 0; fp && k < tgs_graph_nnodes(og.g); k++)
        fprintf(fp, "%s %s\n", tgs_op_name(tgs_graph_node(og.g, k)->op), c->plan == OPCHECK_INFER ? "forward" : "backward");
    if (fp) fclose(fp);
done:
    opcheck_graph_free(&og);
    return res;
}

/* The case on every backend but the CPU, against the CPU. */
static inline int opcheck_backends(const struct opcheck_case *c)
{
    static const char *const others[] = {"sim"};
    int failed = 0;
    for (size_t b = 0; b < sizeof others / sizeof others[0]; b++) {
        const struct tgs_backend *be = tgs_backend_by_name(others[b]);
        char name[200];
        snprintf(name, sizeof name, "%s against cpu: %s", others[b], c->name);
        int64_t na = 0, nb = 0, at = -1;
        double tol = 0;
        float *a = opcheck_run_on(c, tgs_backend_cpu(), &na, &tol);
        float *v = a && be ? opcheck_run_on(c, be, &nb, &tol) : NULL;
        if (strcmp(others[b], "sim") == 0) tol = 0;
        double worst = v && na == nb ? opcheck_worst(v, a, na, &at) : INFINITY;
        char why[300];
        if (!v) snprintf(why, sizeof why, "%s", tgs_errmsg());
        else if (na != nb) snprintf(why, sizeof why, "%lld results, cpu %lld", (long long)nb, (long long)na);
        else if (!(worst <= tol))
            snprintf(why, sizeof why, "result %lld of %lld: %.9g, cpu %.9g (error %.3g > %.3g)", (long long)at, (long long)na,
                     v[at], a[at], worst, tol);
        CHECKF(v && na == nb && worst <= tol, name, "%s", why);
        failed += !(v && na == nb && worst <= tol);
        free(a), free(v);
    }
    return failed;
}

/* ---- bad shapes ----
 * A builder given bad shapes must return NULL with an error that starts
 * with the op's name. Inputs go on a fresh graph, freed by the check. */

struct opcheck_bad {
    struct tgs_params *ps;
    struct tgs_graph *g;
};

static inline struct tgs_tensor *opcheck_bad_input(struct opcheck_bad *k, int ndim, int32_t n0, int32_t n1, int32_t n2, int32_t n3)
{
    if (!k->g) {
        k->ps = tgs_params_new(tgs_backend_cpu());
        k->g = tgs_graph_new(k->ps);
    }
    return tgs_input(k->g, "x", ndim, (int32_t[]){n0, n1, n2, n3});
}

/* t must be NULL with an error that starts with the op's name */
static inline void opcheck_bad_check(struct opcheck_bad *k, const char *name, struct tgs_tensor *t, const char *op)
{
    const char *e = tgs_graph_error(k->g);
    CHECKF(!t && e && strncmp(e, op, strlen(op)) == 0 && e[strlen(op)] == ':', name, "got %s, error \"%s\"",
           t ? "a tensor" : "NULL", e ? e : "(none)");
    tgs_graph_free(k->g);
    tgs_params_free(k->ps);
    k->g = NULL, k->ps = NULL;
}

#endif
