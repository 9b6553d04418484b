/* optim (CPU): the optimizer kernels and gradient clipping, run by the CPU
 * backend's optim_update and clip_grad_norm (nn/nn.h's device contract);
 * the options, their checks and the schedules are nn/optim.c. */
#include "nn/optim.h"

#include <math.h>
#include <stdint.h>

/* Every kernel below mirrors one line of torch's _single_tensor_sgd /
 * _single_tensor_adam(w) (torch/optim/sgd.py, adam.py, adamw.py), rounding
 * for rounding, so that the cross-check in tests/unit/test_optim.c can be
 * tight. Each torch tensor op rounds to float once, so each is one float
 * expression here. ATen's CPU kernels fuse two of them into a multiply-add
 * with a single rounding (found by matching torch 1.13's outputs bit for
 * bit): add with alpha, self + alpha*other, and addcmul, self + value*t1*t2
 * as fma(value*t1, t2, self); addcdiv is not fused. Those are fmadd() here.
 * Python scalars reach ATen as doubles and are rounded to float once, so
 * the coefficients are computed in double and cast.
 * The kernels take restrict pointers and branch-free bodies so the compiler
 * vectorises them; choices of kind are made outside, in tgs_optim_update. */

/* a*b + c with one rounding, as an FMA instruction: the product of two
 * floats is exact in double, so only the sum rounds before the cast (a
 * second rounding that can differ from a true FMA once in some 2^29 cases).
 * Unlike fmaf() this needs no FMA hardware and vectorises. */
static inline float fmadd(float a, float b, float c) { return (float)((double)a * (double)b + (double)c); }

/* GCC's vectoriser at -O2 (the "very cheap" cost model) skips loops of
 * unknown length that would need a scalar epilogue, but takes a loop of
 * constant trip count; so each kernel is an element function run over
 * blocks of BLOCK and then over the tail. The element functions take
 * pointers to their element, not a shared base and an index: GCC keeps the
 * restrict promise through inlining only that way. */
#define BLOCK 8

/* SGD without momentum: p = p - lr * (g + wd*p). */
static inline void sgd_plain_1(float *restrict p, const float *restrict g, float wd, float neg_lr) {
    float gi = fmadd(wd, *p, *g);
    *p = fmadd(neg_lr, gi, *p);
}

static void sgd_plain(int64_t n, float *restrict p, const float *restrict g, float wd, float neg_lr) {
    int64_t i = 0;
    for (; i + BLOCK <= n; i += BLOCK)
        for (int j = 0; j < BLOCK; j++) sgd_plain_1(p + i + j, g + i + j, wd, neg_lr);
    for (; i < n; i++) sgd_plain_1(p + i, g + i, wd, neg_lr);
}

/* SGD with momentum. keep is momentum, or 0 on the first step, where torch
 * sets the buffer to the gradient itself (0*b + g' is g' for the zeroed
 * buffer the caller provides). d = mb*b + ga*g' is g' + momentum*b for
 * nesterov (ga 1, mb momentum) and exactly b otherwise (ga 0, mb 1), which
 * keeps one loop for both. The buffer update is torch's
 * buf.mul_(momentum).add_(g', alpha=1): b*momentum rounded, then the
 * add rounded. */
struct sgd_coef {
    float wd, keep, ga, mb, neg_lr;
};

static inline void sgd_momentum_1(float *restrict p, const float *restrict g, float *restrict b,
                                  const struct sgd_coef *c) {
    float gi = fmadd(c->wd, *p, *g);
    float bi = fmadd(1.0f, gi, c->keep * *b); /* not keep*b + gi: a compiler may contract that */
    *b = bi;
    float d = fmadd(c->mb, bi, c->ga * gi);
    *p = fmadd(c->neg_lr, d, *p);
}

static void sgd_momentum(int64_t n, float *restrict p, const float *restrict g, float *restrict b, struct sgd_coef c) {
    int64_t i = 0;
    for (; i + BLOCK <= n; i += BLOCK)
        for (int j = 0; j < BLOCK; j++) sgd_momentum_1(p + i + j, g + i + j, b + i + j, &c);
    for (; i < n; i++) sgd_momentum_1(p + i, g + i, b + i, &c);
}

/* Adam and AdamW in one loop: decay is AdamW's 1 - lr*wd (1 for Adam, an
 * exact no-op), wd is Adam's L2 (0 for AdamW, likewise exact). The sqrtf
 * keeps this loop scalar unless the build has -fno-math-errno (the compiler
 * must allow for errno on a negative input, which v never is); it is still
 * one pass over four arrays, small beside a forward and backward pass.
 * adam is kept out of line: inlined, m and v would both be derived from the
 * one state pointer and GCC would want a runtime check that they do not
 * overlap. */
struct adam_coef {
    float decay, wd, beta1, w1, beta2, w2, bc2_sqrt, eps, neg_step_size;
};

static inline void adam_1(float *restrict p, const float *restrict g, float *restrict m, float *restrict v,
                          const struct adam_coef *c) {
    float pi = *p * c->decay;
    float gi = fmadd(c->wd, pi, *g);
    float mi = fmadd(c->w1, gi, *m * c->beta1);
    float vi = fmadd(c->w2 * gi, gi, *v * c->beta2);
    *m = mi;
    *v = vi;
    float denom = sqrtf(vi) / c->bc2_sqrt + c->eps;
    *p = pi + c->neg_step_size * mi / denom;
}

__attribute__((noinline)) static void adam(int64_t n, float *restrict p, const float *restrict g,
                                           float *restrict m, float *restrict v, struct adam_coef c) {
    int64_t i = 0;
    for (; i + BLOCK <= n; i += BLOCK)
        for (int j = 0; j < BLOCK; j++) adam_1(p + i + j, g + i + j, m + i + j, v + i + j, &c);
    for (; i < n; i++) adam_1(p + i, g + i, m + i, v + i, &c);
}

/* restrict here and not in optim.h (C allows the difference): it is the
 * header's "must not overlap" made a promise the vectoriser can use, and
 * the header stays includable from C++ */
void tgs_optim_update(const struct tgs_optim_opts *o, float lr, int64_t step, float *restrict param,
                      const float *restrict grad, float *restrict state, int64_t n) {
    if (n <= 0) return;
    if (step < 1) step = 1;
    /* -lr in double first, then to float, as torch's alpha=-lr */
    float neg_lr = (float)-(double)lr;
    switch (o->kind) {
    case TGS_OPTIM_SGD:
        if (o->momentum == 0.0f) {
            sgd_plain(n, param, grad, o->weight_decay, neg_lr);
        } else {
            struct sgd_coef c = {
                .wd = o->weight_decay,
                .keep = step == 1 ? 0.0f : o->momentum,
                .ga = o->nesterov ? 1.0f : 0.0f,
                .mb = o->nesterov ? o->momentum : 1.0f,
                .neg_lr = neg_lr,
            };
            sgd_momentum(n, param, grad, state, c);
        }
        break;
    case TGS_OPTIM_ADAM:
    case TGS_OPTIM_ADAMW: {
        /* the Python side of torch's Adam: beta ** step, lr / bc1 and
         * math.sqrt(bc2) in double; each rounds to float on entering ATen */
        double b1 = o->beta1, b2 = o->beta2, dlr = lr;
        double bc1 = 1.0 - pow(b1, (double)step), bc2 = 1.0 - pow(b2, (double)step);
        int decoupled = o->kind == TGS_OPTIM_ADAMW;
        struct adam_coef c = {
            .decay = decoupled ? (float)(1.0 - dlr * (double)o->weight_decay) : 1.0f,
            .wd = decoupled ? 0.0f : o->weight_decay,
            .beta1 = o->beta1, .w1 = (float)(1.0 - b1),
            .beta2 = o->beta2, .w2 = (float)(1.0 - b2),
            .bc2_sqrt = (float)sqrt(bc2), .eps = o->eps,
            .neg_step_size = (float)-(dlr / bc1),
        };
        adam(n, param, grad, state, state + n, c);
        break;
    }
    default: break;
    }
}

static void scale(int64_t n, float *restrict g, float c) {
    int64_t i = 0;
    for (; i + BLOCK <= n; i += BLOCK)
        for (int j = 0; j < BLOCK; j++) g[i + j] *= c;
    for (; i < n; i++) g[i] *= c;
}

double tgs_clip_grad_norm(float *const *grads, const int64_t *sizes, int count, double max_norm) {
    /* double accumulators, four of them so the loop is not one long chain
     * of dependent adds; the order is fixed, so the result is deterministic */
    double total = 0.0;
    for (int k = 0; k < count; k++) {
        const float *g = grads[k];
        int64_t n = sizes[k], i = 0;
        double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
        for (; i + 4 <= n; i += 4) {
            s0 += (double)g[i] * (double)g[i];
            s1 += (double)g[i + 1] * (double)g[i + 1];
            s2 += (double)g[i + 2] * (double)g[i + 2];
            s3 += (double)g[i + 3] * (double)g[i + 3];
        }
        for (; i < n; i++) s0 += (double)g[i] * (double)g[i];
        total += (s0 + s1) + (s2 + s3);
    }
    total = sqrt(total);
    if (max_norm > 0.0 && isfinite(total)) {
        double coef = max_norm / (total + 1e-6);
        if (coef < 1.0) {
            float c = (float)coef;
            for (int k = 0; k < count; k++) scale(sizes[k], grads[k], c);
        }
    }
    return total;
}
