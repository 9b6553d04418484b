/* optim: the optimizers and learning-rate schedules of the engine.
 *
 * Array level: the engine calls tgs_optim_update once per parameter tensor
 * per step, with that tensor's gradient and optimizer state, so a model is
 * any list of float arrays. The update rules are PyTorch's, operation for
 * operation in float32 with the scalar coefficients (bias corrections, step
 * sizes) worked out in double as Python does, so a run can be checked
 * against torch.optim number for number (tests/torch/gen_optim.py writes the
 * reference; tests/unit/test_optim.c compares).
 *
 * Schedules map a 0-based step t to a learning rate; whether t counts
 * updates or epochs is the caller's choice. */
#ifndef TGS_OPTIM_H
#define TGS_OPTIM_H

#include <stdint.h>

enum tgs_optim_kind { TGS_OPTIM_SGD = 1, TGS_OPTIM_ADAM, TGS_OPTIM_ADAMW };

struct tgs_optim_opts {
    enum tgs_optim_kind kind;
    float momentum;          /* SGD; 0 = plain SGD (no state) */
    int nesterov;            /* SGD; needs momentum > 0, as in torch */
    float weight_decay;      /* SGD and Adam: L2, wd * param added to the gradient
                              * (PyTorch semantics); AdamW: decoupled, the param is
                              * multiplied by 1 - lr * wd before the Adam update */
    float beta1, beta2, eps; /* Adam, AdamW */
};

/* PyTorch's defaults for kind: momentum 0, no nesterov, weight decay 0
 * (AdamW: 0.01), betas (0.9, 0.999), eps 1e-8. The Adam fields are filled
 * for every kind so switching kind later leaves sane values. Dampening is
 * always 0 and amsgrad off; the learning rate is an argument of the update,
 * not an option, because schedules change it every step. */
void tgs_optim_defaults(struct tgs_optim_opts *o, enum tgs_optim_kind kind);

/* "sgd", "adam" or "adamw" to a kind; -1 and a tgs_err message otherwise. */
int tgs_optim_parse(const char *name, enum tgs_optim_kind *kind);
/* The inverse: "sgd", "adam", "adamw", or "?" for an unknown kind. */
const char *tgs_optim_name(enum tgs_optim_kind kind);

/* 0 if the options are usable (the ranges torch accepts: momentum >= 0,
 * nesterov only with momentum, weight decay >= 0, 0 <= beta < 1, eps >= 0,
 * all finite), else -1 and a message naming the field. tgs_optim_update
 * trusts its options; call this once where they are read. */
int tgs_optim_check(const struct tgs_optim_opts *o);

/* Floats of state per parameter element: SGD with momentum 1, Adam/AdamW 2,
 * plain SGD 0.
 *
 * Layout, for a tensor of n elements (planar, so each part is a tensor of
 * the parameter's shape, as in torch's state_dict):
 *   SGD with momentum: state[0, n)   momentum_buffer
 *   Adam, AdamW:       state[0, n)   exp_avg     (first moment, m)
 *                      state[n, 2n)  exp_avg_sq  (second moment, v)
 * The step count is not stored: the caller passes it. */
int tgs_optim_state_per_elem(const struct tgs_optim_opts *o);

/* One update of n parameters in place, with learning rate lr.
 * state: tgs_optim_state_per_elem(o) * n floats, zeroed by the caller
 * before step 1. step: 1-based count of updates so far including this one
 * (Adam's bias corrections; SGD's first step, whose momentum buffer is the
 * gradient itself); below 1 counts as 1. param, grad and state must not
 * overlap. Equals torch.optim.SGD(dampening=0) / Adam(amsgrad=False) /
 * AdamW in float32:
 *   SGD:   g' = g + wd*p;  b = step == 1 ? g' : momentum*b + g'
 *          d = nesterov ? g' + momentum*b : b (g' when momentum is 0)
 *          p = p - lr*d
 *   Adam:  g' = g + wd*p  (AdamW instead: p = p * (1 - lr*wd), g' = g)
 *          m = beta1*m + (1-beta1)*g';  v = beta2*v + (1-beta2)*g'*g'
 *          p = p - (lr / (1-beta1^step)) * m / (sqrt(v) / sqrt(1-beta2^step) + eps)
 * Rounding follows torch 1.13 on the CPU, op for op, fused multiply-adds
 * included (optim.c says which); the reference in tests/data/torch matches
 * bit for bit. torch >= 2.0 writes Adam's first moment as a lerp, which
 * differs by an ulp at most.
 * Results for finite inputs do not depend on how the caller splits a
 * tensor into calls. */
void tgs_optim_update(const struct tgs_optim_opts *o, float lr, int64_t step, float *param, const float *grad,
                      float *state, int64_t n);

/* Gradient clipping by global norm, as torch.nn.utils.clip_grad_norm_
 * (norm_type 2): returns the L2 norm of all count arrays together (grads[i]
 * has sizes[i] floats), summed in double. When max_norm > 0 every grad is
 * multiplied by coef = max_norm / (total + 1e-6) if coef < 1, which is
 * torch's clamp(coef, max=1): so clipping starts once total exceeds
 * max_norm - 1e-6. A non-finite total leaves the grads alone (torch would
 * fill them with NaN); the caller sees it in the return value and can skip
 * the step. max_norm <= 0 only measures. */
double tgs_clip_grad_norm(float *const *grads, const int64_t *sizes, int count, double max_norm);

enum tgs_sched_kind { TGS_SCHED_CONSTANT = 1, TGS_SCHED_STEP, TGS_SCHED_COSINE, TGS_SCHED_NOAM };

struct tgs_sched {
    enum tgs_sched_kind kind;
    float base_lr;
    int64_t warmup;                         /* see tgs_sched_lr; 0 = none */
    int64_t step_size; float gamma;         /* STEP: lr = base * gamma^floor(t/step_size) */
    int64_t t0; int t_mult; float eta_min;  /* COSINE: torch CosineAnnealingWarmRestarts(T_0, T_mult, eta_min) */
    int64_t d_model;                        /* NOAM: lr = base * d_model^-0.5 * min(T^-0.5, T*warmup^-1.5), T = t+1 */
};

/* The learning rate at 0-based step t (t < 0 counts as 0), in double,
 * rounded to float at the end.
 *   CONSTANT: base
 *   STEP:     base * gamma^floor(t / step_size)             (torch StepLR)
 *   COSINE:   eta_min + (base - eta_min) * (1 + cos(pi * Tcur / Ti)) / 2,
 *             where cycle k has length Ti = t0 * t_mult^k and Tcur is t's
 *             offset into its cycle       (torch CosineAnnealingWarmRestarts)
 *   NOAM:     base * d_model^-0.5 * min(T^-0.5, T * warmup^-1.5), T = t+1
 *             (the Transformer paper's schedule; its peak is at T = warmup)
 * Warmup, for every kind but NOAM (whose formula has its own): the kind's
 * lr at t multiplied by min(1, (t+1) / warmup). The kind's schedule runs on
 * the same t underneath (it is not delayed by the warmup), so this equals
 * torch's ChainedScheduler of LinearLR(start_factor=1/warmup,
 * total_iters=warmup-1) and StepLR, or a LambdaLR of the product (the way
 * for cosine, whose torch scheduler does not chain). The first step
 * already has lr base/warmup, not 0. */
float tgs_sched_lr(const struct tgs_sched *s, int64_t t);

/* Parse a schedule spec into s. Grammar (numbers in C syntax, no spaces):
 *   spec    = kind *( "," option )
 *   kind    = "constant"
 *           | "step:" STEP_SIZE ":" GAMMA          integer >= 1, real > 0
 *           | "cosine:" T0 [ ":" T_MULT [ ":" ETA_MIN ] ]
 *                                                  integer >= 1, integer >= 1
 *                                                  (default 1), real >= 0
 *                                                  (default 0)
 *           | "noam:" WARMUP ":" D_MODEL           integers >= 1
 *   option  = "warmup=" N                          integer >= 0 (not with noam)
 *           | "lr=" BASE_LR                        real > 0
 * e.g. "constant", "step:30:0.1", "cosine:10:2:1e-6,warmup=500",
 * "noam:4000:256,lr=2". base_lr is left as the caller set it unless lr= is
 * given (the learning rate usually has its own option); every other field
 * is set. A bad spec returns -1 with a message quoting it, and leaves s
 * unchanged. */
int tgs_sched_parse(const char *spec, struct tgs_sched *s);

#endif
