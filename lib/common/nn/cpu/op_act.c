/* op_act: activations (ReLU, ELU, GELU, sigmoid), softmax over the last
 * dim, and dropout (elementwise and whole channels).
 *
 * Elementwise ops split the flat tensor into chunks, one per thread. Dropout
 * masks come from a counter-based hash of (node seed, step, index), not from
 * a generator's state: re-running forward at the same step gives the same
 * mask (finite differences rely on it), and the mask does not depend on how
 * the work was split between threads. Backward recomputes the mask. */
#include "nn/cpu/ops_cpu.h"
#include "nn/cpu/vmath.h"
#include "nn/dropout.h"

#include <math.h>
#include <string.h>

/* Below this many elements one thread does it all: waking a worker costs
 * more than it saves. */
#define PAR_MIN 32768

static int act_threads(const struct tgs_exec *x, int64_t n) { return n >= PAR_MIN ? x->threads : 1; }

/* ---- elementwise activations ----
 * x and out have the same shape, n elements. Forward: y = f(x). Backward:
 * dx += dy * f'(x), with f' from x or from y, whichever is cheaper. */

static void relu_forward(float *restrict y, const float *restrict x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0;
}

/* torch passes the gradient where the output is > 0 */
static void relu_backward(float *restrict dx, const float *restrict y, const float *restrict dy, int64_t n) {
    for (int64_t i = 0; i < n; i++) dx[i] += y[i] > 0 ? dy[i] : 0;
}

static void elu_forward(float *restrict y, const float *restrict x, int64_t n, float alpha) {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : alpha * expm1f(x[i]);
}

/* for x <= 0: d/dx alpha (e^x - 1) = alpha e^x = y + alpha */
static void elu_backward(float *restrict dx, const float *restrict x, const float *restrict y,
                         const float *restrict dy, int64_t n, float alpha) {
    for (int64_t i = 0; i < n; i++) dx[i] += x[i] > 0 ? dy[i] : dy[i] * (y[i] + alpha);
}

/* GELU: x * Phi(x), Phi the standard normal CDF (the exact form, not
 * torch's tanh approximation), on 8 floats at once (nn/cpu/vmath.h). Each
 * kernel is written once as an always-inline body and compiled twice: for
 * the baseline and, chosen at run time, for AVX2 (the same bytes, twice
 * the width). */
#if defined(__x86_64__) && defined(__GNUC__)
#define VMATH_AVX2 1
#else
#define VMATH_AVX2 0
#endif

static int vmath_cpu = -1;  /* AVX2: -1 not yet asked */
static int vmath_wide = 1;  /* take the AVX2 build where there is one */

int tgs_cpu_vmath_avx2(int mode) {
    if (vmath_cpu < 0) {
#if VMATH_AVX2
        __builtin_cpu_init();
        vmath_cpu = __builtin_cpu_supports("avx2");
#else
        vmath_cpu = 0;
#endif
    }
    int was = vmath_cpu && vmath_wide;
    if (mode == 0 || mode == 1) vmath_wide = mode;
    return was;
}

/* Each body: whole vectors, then the last n % 8 through a zero-padded one
 * (tgs_vload's constant-size copy is a register load; a variable one would
 * be a call). */
TGS_VINLINE tgs_vf gelu_of(tgs_vf v) { return v * tgs_vphi(v, NULL); }

TGS_VINLINE void gelu_forward_body(float *restrict y, const float *restrict x, int64_t n) {
    int64_t i = 0;
    for (; i + TGS_VW <= n; i += TGS_VW) tgs_vstore(y + i, gelu_of(tgs_vload(x + i, TGS_VW)), TGS_VW);
    if (i < n) tgs_vstore(y + i, gelu_of(tgs_vload(x + i, n - i)), n - i);
}

/* d/dx x Phi(x) = Phi(x) + x phi(x) */
TGS_VINLINE tgs_vf gelu_grad_of(tgs_vf v, tgs_vf dy) {
    tgs_vf pdf, cdf = tgs_vphi(v, &pdf);
    return dy * (cdf + v * pdf);
}

TGS_VINLINE void gelu_backward_body(float *restrict dx, const float *restrict x, const float *restrict dy, int64_t n) {
    int64_t i = 0;
    for (; i + TGS_VW <= n; i += TGS_VW)
        tgs_vstore(dx + i, tgs_vload(dx + i, TGS_VW) + gelu_grad_of(tgs_vload(x + i, TGS_VW), tgs_vload(dy + i, TGS_VW)),
                   TGS_VW);
    if (i < n)
        tgs_vstore(dx + i, tgs_vload(dx + i, n - i) + gelu_grad_of(tgs_vload(x + i, n - i), tgs_vload(dy + i, n - i)),
                   n - i);
}

/* softmax's exponentials: y = e^(x - mx), mx the row's max */
TGS_VINLINE void exp_shifted_body(float *restrict y, const float *restrict x, float mx, int64_t n) {
    int64_t i = 0;
    for (; i + TGS_VW <= n; i += TGS_VW) tgs_vstore(y + i, tgs_vexp(tgs_vload(x + i, TGS_VW) - mx), TGS_VW);
    if (i < n) tgs_vstore(y + i, tgs_vexp(tgs_vload(x + i, n - i) - mx), n - i);
}

static void gelu_forward(float *restrict y, const float *restrict x, int64_t n) { gelu_forward_body(y, x, n); }
static void gelu_backward(float *restrict dx, const float *restrict x, const float *restrict dy, int64_t n) {
    gelu_backward_body(dx, x, dy, n);
}
static void exp_shifted(float *restrict y, const float *restrict x, float mx, int64_t n) { exp_shifted_body(y, x, mx, n); }
#if VMATH_AVX2
__attribute__((target("avx2"))) static void gelu_forward_avx2(float *restrict y, const float *restrict x, int64_t n) {
    gelu_forward_body(y, x, n);
}
__attribute__((target("avx2"))) static void gelu_backward_avx2(float *restrict dx, const float *restrict x,
                                                               const float *restrict dy, int64_t n) {
    gelu_backward_body(dx, x, dy, n);
}
__attribute__((target("avx2"))) static void exp_shifted_avx2(float *restrict y, const float *restrict x, float mx,
                                                             int64_t n) {
    exp_shifted_body(y, x, mx, n);
}
#else
#define gelu_forward_avx2 gelu_forward
#define gelu_backward_avx2 gelu_backward
#define exp_shifted_avx2 exp_shifted
#endif

/* 1 / (1 + e^-x), through e^-|x| so that neither side overflows */
static void sigmoid_forward(float *restrict y, const float *restrict x, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float e = expf(-fabsf(x[i]));
        y[i] = x[i] >= 0 ? 1 / (1 + e) : e / (1 + e);
    }
}

static void sigmoid_backward(float *restrict dx, const float *restrict y, const float *restrict dy, int64_t n) {
    for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * y[i] * (1 - y[i]);
}

/* One job type for the four: the op picks the kernel, each thread a chunk. */
struct act_job {
    const struct tgs_node *n;
    int backward;
    int wide; /* the AVX2 builds (tgs_cpu_vmath_avx2) */
};

static void act_run(void *ctx, int tid, int nt) {
    const struct act_job *j = ctx;
    const struct tgs_node *n = j->n;
    int64_t lo, hi;
    tgs_split(n->out->size, tid, nt, &lo, &hi);
    const float *x = n->src[0]->data + lo, *y = n->out->data + lo, *dy = j->backward ? n->out->grad + lo : NULL;
    float *o = j->backward ? n->src[0]->grad + lo : n->out->data + lo;
    int64_t m = hi - lo;
    switch (n->op) {
    case TGS_OP_RELU: j->backward ? relu_backward(o, y, dy, m) : relu_forward(o, x, m); break;
    case TGS_OP_ELU:
        j->backward ? elu_backward(o, x, y, dy, m, n->p.act.alpha) : elu_forward(o, x, m, n->p.act.alpha);
        break;
    case TGS_OP_GELU:
        if (j->backward) (j->wide ? gelu_backward_avx2 : gelu_backward)(o, x, dy, m);
        else (j->wide ? gelu_forward_avx2 : gelu_forward)(o, x, m);
        break;
    case TGS_OP_SIGMOID: j->backward ? sigmoid_backward(o, y, dy, m) : sigmoid_forward(o, x, m); break;
    default: break;
    }
}

static int act_forward_node(struct tgs_node *n, const struct tgs_exec *x) {
    struct act_job j = {n, 0, tgs_cpu_vmath_avx2(-1)};
    tgs_cpu_parallel(act_threads(x, n->out->size), act_run, &j);
    return 0;
}

static int act_backward_node(struct tgs_node *n, const struct tgs_exec *x) {
    if (!n->src[0]->grad) return 0;
    struct act_job j = {n, 1, tgs_cpu_vmath_avx2(-1)};
    tgs_cpu_parallel(act_threads(x, n->out->size), act_run, &j);
    return 0;
}

const struct tgs_op_impl tgs_cpu_relu = {act_forward_node, act_backward_node, NULL, NULL};
const struct tgs_op_impl tgs_cpu_elu = {act_forward_node, act_backward_node, NULL, NULL};
const struct tgs_op_impl tgs_cpu_gelu = {act_forward_node, act_backward_node, NULL, NULL};
const struct tgs_op_impl tgs_cpu_sigmoid = {act_forward_node, act_backward_node, NULL, NULL};

/* ---- softmax over the last dim ----
 * x is (..., C) seen as R rows of C; out the same. Forward subtracts the
 * row max before exp. Backward: dx += y * (dy - sum(dy * y)). */

static void softmax_forward(float *restrict y, const float *restrict x, int64_t C, int wide) {
    float mx = x[0];
    for (int64_t c = 1; c < C; c++) mx = x[c] > mx ? x[c] : mx;
    (wide ? exp_shifted_avx2 : exp_shifted)(y, x, mx, C);
    double s = 0;
    for (int64_t c = 0; c < C; c++) s += y[c];
    float inv = (float)(1 / s);
    for (int64_t c = 0; c < C; c++) y[c] *= inv;
}

static void softmax_backward(float *restrict dx, const float *restrict y, const float *restrict dy, int64_t C) {
    double s = 0;
    for (int64_t c = 0; c < C; c++) s += (double)dy[c] * y[c];
    float sf = (float)s;
    for (int64_t c = 0; c < C; c++) dx[c] += y[c] * (dy[c] - sf);
}

struct softmax_job {
    const struct tgs_node *n;
    int backward;
    int wide;
};

static void softmax_run(void *ctx, int tid, int nt) {
    const struct softmax_job *j = ctx;
    const struct tgs_tensor *x = j->n->src[0], *y = j->n->out;
    int64_t C = x->ne[x->ndim - 1], lo, hi;
    tgs_split(x->size / C, tid, nt, &lo, &hi);
    for (int64_t r = lo; r < hi; r++) {
        if (j->backward) softmax_backward(x->grad + r * C, y->data + r * C, y->grad + r * C, C);
        else softmax_forward(y->data + r * C, x->data + r * C, C, j->wide);
    }
}

static int softmax_forward_node(struct tgs_node *n, const struct tgs_exec *x) {
    struct softmax_job j = {n, 0, tgs_cpu_vmath_avx2(-1)};
    tgs_cpu_parallel(act_threads(x, n->out->size), softmax_run, &j);
    return 0;
}

static int softmax_backward_node(struct tgs_node *n, const struct tgs_exec *x) {
    if (!n->src[0]->grad) return 0;
    struct softmax_job j = {n, 1, 0};
    tgs_cpu_parallel(act_threads(x, n->out->size), softmax_run, &j);
    return 0;
}

const struct tgs_op_impl tgs_cpu_softmax = {softmax_forward_node, softmax_backward_node, NULL, NULL};

/* ---- dropout ----
 * x and out the same shape. Active when exec->train or exec->mc_dropout:
 * out = x * keep / (1 - p), keep 0 with probability p; otherwise out = x.
 * Dropout zeroes single elements, dropout2d whole (n, c) planes of
 * (N,C,H,W), as torch.nn.Dropout / Dropout2d.
 *
 * The mask: a key k = mix(seed ^ mix(step)) per node and step, then the
 * splitmix64 sequence h(i) = mix(k + (i + 1) * golden); element e (or plane
 * e for dropout2d) takes 32 bits of h(e / 2), the low half for even e, and
 * is dropped when those bits are < p * 2^32. tests/torch/gen_op_act.py
 * computes the same masks. mix is tgs_drop_mix64 (nn/dropout.h: the
 * builder draws the node's seed with it too).
 * saved: 1 if forward was active, then the step it used (64 bits in two
 * floats), so backward masks what forward masked. */

static uint64_t drop_key(uint64_t seed, uint64_t step) { return tgs_drop_mix64(seed ^ tgs_drop_mix64(step)); }

/* the 32 random bits of element e */
static uint32_t drop_bits(uint64_t key, uint64_t e) {
    uint64_t h = tgs_drop_mix64(key + ((e >> 1) + 1) * TGS_DROP_GOLDEN);
    return (uint32_t)(e & 1 ? h >> 32 : h);
}

/* drop when bits < thr; thr = 2^32 drops everything (p = 1) */
static uint64_t drop_threshold(float p) { return (uint64_t)ldexp((double)p, 32); }

struct drop_job {
    const struct tgs_node *n;
    int backward;
    uint64_t key, thr;
    float scale;
    int64_t plane; /* elements sharing one mask bit: 1, or H*W for dropout2d */
};

/* dropout: forward y = x * m, backward dx += dy * m, m = keep * scale; the
 * chunk [lo, hi) rounded to even so each hash serves two elements */
static void drop_run(void *ctx, int tid, int nt) {
    const struct drop_job *j = ctx;
    const struct tgs_node *n = j->n;
    int64_t lo, hi, size = n->out->size;
    tgs_split((size + 1) / 2, tid, nt, &lo, &hi);
    lo *= 2, hi = 2 * hi < size ? 2 * hi : size;
    const float *in = j->backward ? n->out->grad : n->src[0]->data;
    float *o = j->backward ? n->src[0]->grad : n->out->data;
    for (int64_t e = lo; e < hi; e += 2) {
        uint64_t h = tgs_drop_mix64(j->key + ((uint64_t)(e >> 1) + 1) * TGS_DROP_GOLDEN);
        float m0 = (h & 0xffffffffu) < j->thr ? 0 : j->scale, m1 = (h >> 32) < j->thr ? 0 : j->scale;
        if (j->backward) {
            o[e] += in[e] * m0;
            if (e + 1 < hi) o[e + 1] += in[e + 1] * m1;
        } else {
            o[e] = in[e] * m0;
            if (e + 1 < hi) o[e + 1] = in[e + 1] * m1;
        }
    }
}

/* dropout2d: one mask value per plane */
static void drop2d_run(void *ctx, int tid, int nt) {
    const struct drop_job *j = ctx;
    const struct tgs_node *n = j->n;
    int64_t lo, hi, S = j->plane;
    tgs_split(n->out->size / S, tid, nt, &lo, &hi);
    const float *in = j->backward ? n->out->grad : n->src[0]->data;
    float *o = j->backward ? n->src[0]->grad : n->out->data;
    for (int64_t q = lo; q < hi; q++) {
        float m = drop_bits(j->key, (uint64_t)q) < j->thr ? 0 : j->scale;
        const float *a = in + q * S;
        float *b = o + q * S;
        if (j->backward)
            for (int64_t i = 0; i < S; i++) b[i] += a[i] * m;
        else
            for (int64_t i = 0; i < S; i++) b[i] = a[i] * m;
    }
}

static void drop_save_state(struct tgs_node *n, int active, uint64_t step) {
    n->saved[0] = active ? 1.0f : 0.0f;
    memcpy(&n->saved[1], &step, sizeof step);
}

static int drop_apply(struct tgs_node *n, const struct tgs_exec *x, int backward) {
    int active;
    uint64_t step;
    if (backward) {
        active = n->saved[0] != 0;
        memcpy(&step, &n->saved[1], sizeof step);
        if (!n->src[0]->grad) return 0;
    } else {
        active = x->train || x->mc_dropout;
        step = x->step;
        drop_save_state(n, active, step);
    }
    int64_t size = n->out->size;
    float p = n->p.drop.p;
    if (!active || p == 0) {
        const float *in = backward ? n->out->grad : n->src[0]->data;
        float *o = backward ? n->src[0]->grad : n->out->data;
        if (backward)
            tgs_vec_acc(o, in, size);
        else
            memcpy(o, in, (size_t)size * sizeof *o);
        return 0;
    }
    struct drop_job j = {.n = n, .backward = backward, .key = drop_key(n->p.drop.seed, step),
                         .thr = drop_threshold(p), .scale = p < 1 ? 1 / (1 - p) : 0, .plane = 1};
    if (n->op == TGS_OP_DROPOUT2D) {
        j.plane = (int64_t)n->out->ne[2] * n->out->ne[3];
        tgs_cpu_parallel(act_threads(x, size), drop2d_run, &j);
    } else {
        tgs_cpu_parallel(act_threads(x, size), drop_run, &j);
    }
    return 0;
}

static int drop_forward_node(struct tgs_node *n, const struct tgs_exec *x) { return drop_apply(n, x, 0); }
static int drop_backward_node(struct tgs_node *n, const struct tgs_exec *x) { return drop_apply(n, x, 1); }
static int64_t drop_saved_floats(const struct tgs_node *n) {
    (void)n;
    return 1 + sizeof(uint64_t) / sizeof(float);
}

const struct tgs_op_impl tgs_cpu_dropout = {drop_forward_node, drop_backward_node, drop_saved_floats, NULL};
const struct tgs_op_impl tgs_cpu_dropout2d = {drop_forward_node, drop_backward_node, drop_saved_floats, NULL};
