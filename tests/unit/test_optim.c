/* Unit tests of the optimizers, clipping and schedules (lib/common/nn/optim.h):
 * hand-computed cases that need no reference, the parsers' refusals, and a
 * cross-check of every case in tests/data/torch/optim.tsr, which
 * tests/torch/gen_optim.py writes from PyTorch (see there for its records).
 *
 * Tolerances against torch, and why:
 *  - params and optimizer state: 1e-6 relative, values near 0 judged on
 *    the array's scale (max_rel_err). The C code rounds as torch 1.13 does
 *    on the CPU, op for op, and the project's build matches the reference
 *    bit for bit (the errors are printed as '#' lines); the tolerance is for
 *    other torch builds and for compilers told to contract a*b + c into an
 *    FMA (-ffp-contract=fast), which moves results by an ulp.
 *  - learning rates: 1e-6 relative. torch works in double and some of its
 *    schedulers multiply step by step; ours is a closed form in double
 *    rounded once to float (6e-8 relative).
 *  - clipping: 1e-6 relative on the norm (torch sums in float, we in
 *    double) and on the clipped grads. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "err.h"
#include "nn/optim.h"
#include "stream.h"

#define REL_TOL 1e-6

/* Largest |a-b| / (|b| + scale), scale the largest |b| in the array: the
 * error relative to the value, or to the array's scale for values that
 * came out near 0 by cancellation (there an ulp of the terms that cancelled
 * is a large part of the result). NaN counts as infinitely wrong. */
static double max_rel_err(const float *a, const float *b, int64_t n) {
    double scale = 0.0, worst = 0.0;
    for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs((double)b[i]));
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]) / (fabs((double)b[i]) + scale + 1e-30);
        if (!(d <= worst)) worst = isnan(d) ? INFINITY : d;
    }
    return worst;
}

/* Hand-computed cases. */

static void test_defaults_and_names(void) {
    struct tgs_optim_opts o;
    tgs_optim_defaults(&o, TGS_OPTIM_ADAMW);
    CHECK(o.kind == TGS_OPTIM_ADAMW && o.weight_decay == 0.01f && o.beta1 == 0.9f && o.beta2 == 0.999f &&
              o.eps == 1e-8f && o.momentum == 0.0f && !o.nesterov,
          "adamw defaults are torch's (wd 0.01)");
    tgs_optim_defaults(&o, TGS_OPTIM_ADAM);
    CHECK(o.weight_decay == 0.0f && tgs_optim_state_per_elem(&o) == 2, "adam defaults: wd 0, 2 floats of state");
    tgs_optim_defaults(&o, TGS_OPTIM_SGD);
    CHECK(o.momentum == 0.0f && o.weight_decay == 0.0f && tgs_optim_state_per_elem(&o) == 0,
          "plain sgd has no state");
    o.momentum = 0.9f;
    CHECK(tgs_optim_state_per_elem(&o) == 1, "sgd with momentum has 1 float of state");
    CHECK(tgs_optim_check(&o) == 0, "sgd with momentum passes the check");

    enum tgs_optim_kind k = 0;
    CHECK(tgs_optim_parse("sgd", &k) == 0 && k == TGS_OPTIM_SGD, "parse sgd");
    CHECK(tgs_optim_parse("adam", &k) == 0 && k == TGS_OPTIM_ADAM, "parse adam");
    CHECK(tgs_optim_parse("adamw", &k) == 0 && k == TGS_OPTIM_ADAMW, "parse adamw");
    CHECK(strcmp(tgs_optim_name(TGS_OPTIM_ADAMW), "adamw") == 0 && strcmp(tgs_optim_name(99), "?") == 0,
          "optimizer names");
    const char *bad[] = {"rmsprop", "", "Adam", "adam ", "sgdx"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char name[80];
        snprintf(name, sizeof name, "optimizer '%s' refused with a message", bad[i]);
        tgs_err("%s", "");
        k = TGS_OPTIM_SGD;
        int rc = tgs_optim_parse(bad[i], &k);
        CHECKF(rc == -1 && strstr(tgs_errmsg(), "unknown optimizer") && k == TGS_OPTIM_SGD, name, "rc %d, '%s'", rc,
               tgs_errmsg());
    }
    CHECK(tgs_optim_parse(NULL, &k) == -1 && *tgs_errmsg(), "no optimizer name refused");
}

static void test_check_opts(void) {
    struct tgs_optim_opts o;
    struct {
        enum tgs_optim_kind kind;
        const char *what;
        float momentum, wd, beta1, beta2, eps;
        int nesterov;
    } bad[] = {
        {TGS_OPTIM_SGD, "negative momentum", -0.1f, 0, 0.9f, 0.999f, 1e-8f, 0},
        {TGS_OPTIM_SGD, "nesterov without momentum", 0, 0, 0.9f, 0.999f, 1e-8f, 1},
        {TGS_OPTIM_SGD, "NaN momentum", NAN, 0, 0.9f, 0.999f, 1e-8f, 0},
        {TGS_OPTIM_SGD, "negative weight decay", 0.9f, -1e-4f, 0.9f, 0.999f, 1e-8f, 0},
        {TGS_OPTIM_ADAM, "beta1 of 1", 0, 0, 1.0f, 0.999f, 1e-8f, 0},
        {TGS_OPTIM_ADAM, "negative beta2", 0, 0, 0.9f, -0.5f, 1e-8f, 0},
        {TGS_OPTIM_ADAMW, "negative eps", 0, 0.01f, 0.9f, 0.999f, -1e-8f, 0},
        {TGS_OPTIM_ADAMW, "infinite weight decay", 0, INFINITY, 0.9f, 0.999f, 1e-8f, 0},
        {(enum tgs_optim_kind)7, "unknown kind", 0, 0, 0.9f, 0.999f, 1e-8f, 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        tgs_optim_defaults(&o, bad[i].kind);
        o.momentum = bad[i].momentum, o.weight_decay = bad[i].wd, o.nesterov = bad[i].nesterov;
        o.beta1 = bad[i].beta1, o.beta2 = bad[i].beta2, o.eps = bad[i].eps;
        tgs_err("%s", "");
        char name[80];
        snprintf(name, sizeof name, "options refused: %s", bad[i].what);
        CHECKF(tgs_optim_check(&o) == -1 && *tgs_errmsg(), name, "'%s'", tgs_errmsg());
    }
    tgs_optim_defaults(&o, TGS_OPTIM_ADAMW);
    CHECK(tgs_optim_check(&o) == 0, "adamw defaults pass the check");
}

static void test_sgd_by_hand(void) {
    struct tgs_optim_opts o;
    tgs_optim_defaults(&o, TGS_OPTIM_SGD);
    float p[3] = {1.0f, -2.0f, 0.5f}, g[3] = {0.5f, 0.25f, -1.0f};
    tgs_optim_update(&o, 0.5f, 1, p, g, NULL, 3);
    CHECK(p[0] == 0.75f && p[1] == -2.125f && p[2] == 1.0f, "plain sgd: p - lr*g, exactly");

    /* wd: g' = g + wd*p = 0.5 + 0.5*1 = 1 */
    o.weight_decay = 0.5f;
    p[0] = 1.0f;
    tgs_optim_update(&o, 0.25f, 1, p, g, NULL, 1);
    CHECK(p[0] == 0.75f, "sgd weight decay adds wd*p to the gradient");

    /* momentum 0.5, constant grad 1, lr 1: step 1 buf = 1, p = -1; step 2
     * buf = 0.5 + 1 = 1.5, p = -2.5; step 3 buf = 1.75, p = -4.25 */
    tgs_optim_defaults(&o, TGS_OPTIM_SGD);
    o.momentum = 0.5f;
    float q = 0.0f, one = 1.0f, b = 0.0f;
    tgs_optim_update(&o, 1.0f, 1, &q, &one, &b, 1);
    CHECK(q == -1.0f && b == 1.0f, "sgd momentum: the first buffer is the gradient");
    tgs_optim_update(&o, 1.0f, 2, &q, &one, &b, 1);
    tgs_optim_update(&o, 1.0f, 3, &q, &one, &b, 1);
    CHECK(q == -4.25f && b == 1.75f, "sgd momentum: buf = m*buf + g over three steps");

    /* nesterov, first step: d = g + m*g = 1.5 */
    o.nesterov = 1;
    q = 0.0f, b = 0.0f;
    tgs_optim_update(&o, 1.0f, 1, &q, &one, &b, 1);
    CHECK(q == -1.5f && b == 1.0f, "sgd nesterov: first step moves by lr*(1+m)*g");
    /* second: buf = 1.5, d = 1 + 0.5*1.5 = 1.75 */
    tgs_optim_update(&o, 1.0f, 2, &q, &one, &b, 1);
    CHECK(q == -3.25f && b == 1.5f, "sgd nesterov: second step");

    /* the buffer left from a previous run is ignored at step 1 */
    q = 0.0f, b = 123.0f;
    o.nesterov = 0;
    tgs_optim_update(&o, 1.0f, 1, &q, &one, &b, 1);
    CHECK(q == -1.0f && b == 1.0f, "sgd momentum: step 1 does not read the buffer");
}

static void test_adam_by_hand(void) {
    enum { N = 21 }; /* two blocks of 8 and a tail */
    struct tgs_optim_opts o;
    tgs_optim_defaults(&o, TGS_OPTIM_ADAM);
    float p[N], g[N], st[2 * N] = {0};
    for (int i = 0; i < N; i++) p[i] = 0.1f * (float)i, g[i] = (i % 3 == 0 ? -1.0f : 1.0f) * (0.01f + (float)i);
    const float lr = 1e-3f;
    /* one step from zero state: m/bc1 = g and sqrt(v/bc2) = |g|, so p moves by
     * lr * g / (|g| + eps), lr*sign(g) to 1e-6 of lr */
    tgs_optim_update(&o, lr, 1, p, g, st, N);
    int ok = 1;
    for (int i = 0; i < N; i++) {
        float want = 0.1f * (float)i - lr * (g[i] > 0 ? 1.0f : -1.0f);
        if (fabsf(p[i] - want) > 1e-6f * lr + 2.5e-7f * fabsf(want)) ok = 0; /* 1e-6 of lr, 2 ulps of p */
    }
    CHECK(ok, "adam: the first step moves each param by lr*sign(g)");
    ok = 1;
    for (int i = 0; i < N; i++)
        if (fabsf(st[i] - 0.1f * g[i]) > 1e-6f * fabsf(g[i]) ||
            fabsf(st[N + i] - 0.001f * g[i] * g[i]) > 1e-6f * g[i] * g[i])
            ok = 0;
    CHECK(ok, "adam: state is exp_avg then exp_avg_sq, (1-b1)g and (1-b2)g^2 after step 1");

    /* zero gradient, zero state: nothing moves (0 / eps) */
    float z = 0.0f, pz = 3.0f, sz[2] = {0};
    tgs_optim_update(&o, lr, 1, &pz, &z, sz, 1);
    CHECK(pz == 3.0f, "adam: a zero gradient from zero state leaves the param");

    /* Adam's weight decay is L2: with g = 0, g' = wd*p, so p moves by -lr*sign(p) */
    o.weight_decay = 0.1f;
    float pw = -2.0f, sw[2] = {0};
    tgs_optim_update(&o, lr, 1, &pw, &z, sw, 1);
    CHECK(fabsf(pw - (-2.0f + lr)) < 1e-6f * lr + 3e-7f, "adam: weight decay enters the gradient");

    /* AdamW's is decoupled: with g = 0, p *= 1 - lr*wd and the Adam part is 0 */
    tgs_optim_defaults(&o, TGS_OPTIM_ADAMW);
    o.weight_decay = 0.5f;
    float pd = 2.0f, sd[2] = {0};
    tgs_optim_update(&o, 0.1f, 1, &pd, &z, sd, 1);
    CHECK(pd == 2.0f * (float)(1.0 - 0.1f * 0.5), "adamw: decoupled decay multiplies the param");
    CHECK(sd[0] == 0.0f && sd[1] == 0.0f, "adamw: the decay does not reach the moments");

    /* constant gradient: m/bc1 and sqrt(v/bc2) stay g and |g| every step, so
     * each step moves by lr*sign(g) */
    tgs_optim_defaults(&o, TGS_OPTIM_ADAM);
    float pc = 0.0f, gc = 0.5f, sc[2] = {0};
    for (int t = 1; t <= 10; t++) tgs_optim_update(&o, lr, t, &pc, &gc, sc, 1);
    CHECK(fabsf(pc + 10.0f * lr) < 1e-6f * 10.0f * lr, "adam: constant gradient, ten steps of lr each");

    /* splitting a tensor into calls changes nothing */
    float a[N], b2[N], sa[2 * N] = {0}, sb[2 * N] = {0};
    for (int i = 0; i < N; i++) a[i] = b2[i] = 0.3f * (float)i - 1.0f;
    for (int t = 1; t <= 3; t++) {
        tgs_optim_update(&o, lr, t, a, g, sa, N);
        float sb1[2 * 5], sb2[2 * (N - 5)];
        /* the planar layout: split m and v out and back */
        memcpy(sb1, sb, 5 * sizeof(float)), memcpy(sb1 + 5, sb + N, 5 * sizeof(float));
        memcpy(sb2, sb + 5, (N - 5) * sizeof(float)), memcpy(sb2 + N - 5, sb + N + 5, (N - 5) * sizeof(float));
        tgs_optim_update(&o, lr, t, b2, g, sb1, 5);
        tgs_optim_update(&o, lr, t, b2 + 5, g + 5, sb2, N - 5);
        memcpy(sb, sb1, 5 * sizeof(float)), memcpy(sb + N, sb1 + 5, 5 * sizeof(float));
        memcpy(sb + 5, sb2, (N - 5) * sizeof(float)), memcpy(sb + N + 5, sb2 + N - 5, (N - 5) * sizeof(float));
    }
    CHECK(memcmp(a, b2, sizeof a) == 0 && memcmp(sa, sb, sizeof sa) == 0, "adam: one call or two, the same bits");
}

static void test_clip_by_hand(void) {
    float g0[2] = {3.0f, 0.0f}, g1[1] = {4.0f};
    float *gs[2] = {g0, g1};
    int64_t sizes[2] = {2, 1};
    double total = tgs_clip_grad_norm(gs, sizes, 2, 0.0);
    CHECK(total == 5.0 && g0[0] == 3.0f && g1[0] == 4.0f, "clip: max_norm 0 only measures (3,4 -> 5)");
    total = tgs_clip_grad_norm(gs, sizes, 2, 10.0);
    CHECK(total == 5.0 && g0[0] == 3.0f && g1[0] == 4.0f, "clip: below max_norm nothing changes");
    total = tgs_clip_grad_norm(gs, sizes, 2, 1.0);
    float c = (float)(1.0 / (5.0 + 1e-6));
    CHECK(total == 5.0 && g0[0] == 3.0f * c && g1[0] == 4.0f * c && g0[1] == 0.0f,
          "clip: above max_norm, scaled by max/(total+1e-6)");
    double after = tgs_clip_grad_norm(gs, sizes, 2, 0.0);
    CHECK(fabs(after - 1.0) < 1e-6, "clip: the clipped norm is max_norm");
    CHECK(tgs_clip_grad_norm(gs, sizes, 0, 1.0) == 0.0, "clip: no arrays, norm 0");
    float inf[1] = {INFINITY}, fine[1] = {1.0f};
    float *gi[2] = {inf, fine};
    int64_t si[2] = {1, 1};
    CHECK(isinf(tgs_clip_grad_norm(gi, si, 2, 1.0)) && fine[0] == 1.0f,
          "clip: a non-finite norm is returned and nothing is scaled");
}

static void test_sched_by_hand(void) {
    struct tgs_sched s = {.base_lr = 1.0f};
    CHECK(tgs_sched_parse("constant", &s) == 0 && s.kind == TGS_SCHED_CONSTANT && s.base_lr == 1.0f &&
              tgs_sched_lr(&s, 0) == 1.0f && tgs_sched_lr(&s, 1000000) == 1.0f,
          "constant, and parse keeps base_lr");
    CHECK(tgs_sched_parse("step:2:0.5", &s) == 0 && s.step_size == 2 && s.gamma == 0.5f &&
              tgs_sched_lr(&s, 0) == 1.0f && tgs_sched_lr(&s, 1) == 1.0f && tgs_sched_lr(&s, 2) == 0.5f &&
              tgs_sched_lr(&s, 5) == 0.25f,
          "step: 1, 1, 0.5, 0.5, 0.25");
    CHECK(tgs_sched_lr(&s, -3) == 1.0f, "a negative t counts as 0");
    CHECK(tgs_sched_parse("cosine:4:1:0", &s) == 0 && tgs_sched_lr(&s, 0) == 1.0f && tgs_sched_lr(&s, 2) == 0.5f &&
              tgs_sched_lr(&s, 4) == 1.0f && tgs_sched_lr(&s, 6) == 0.5f,
          "cosine t_mult 1: half way at 2, restart at 4");
    /* t_mult 2, t0 4: cycles [0,4) [4,12) [12,28) [28,60) */
    CHECK(tgs_sched_parse("cosine:4:2", &s) == 0 && s.t_mult == 2 && s.eta_min == 0.0f && tgs_sched_lr(&s, 4) == 1.0f &&
              tgs_sched_lr(&s, 8) == 0.5f && tgs_sched_lr(&s, 12) == 1.0f && tgs_sched_lr(&s, 20) == 0.5f &&
              tgs_sched_lr(&s, 28) == 1.0f,
          "cosine t_mult 2: restarts at 4, 12, 28");
    CHECK(tgs_sched_parse("cosine:1:2:0.25", &s) == 0 && tgs_sched_lr(&s, INT64_MAX) >= 0.25f &&
              tgs_sched_lr(&s, INT64_MAX) <= 1.0f,
          "cosine: a huge t stays in range");
    CHECK(tgs_sched_parse("constant,warmup=4", &s) == 0 && s.warmup == 4 && tgs_sched_lr(&s, 0) == 0.25f &&
              tgs_sched_lr(&s, 1) == 0.5f && tgs_sched_lr(&s, 2) == 0.75f && tgs_sched_lr(&s, 3) == 1.0f &&
              tgs_sched_lr(&s, 4) == 1.0f,
          "warmup: (t+1)/warmup, then 1");
    /* t = 2: step gives 0.5, warmup 3/4; t = 4: 0.25, warmup over */
    CHECK(tgs_sched_parse("step:2:0.5,warmup=4", &s) == 0 && tgs_sched_lr(&s, 0) == 0.25f &&
              tgs_sched_lr(&s, 2) == 0.375f && tgs_sched_lr(&s, 4) == 0.25f,
          "warmup multiplies the kind's lr at the same t");
    CHECK(tgs_sched_parse("noam:4:16,lr=2", &s) == 0 && s.base_lr == 2.0f && s.warmup == 4 && s.d_model == 16,
          "noam parses, lr= sets base_lr");
    /* peak at t+1 = warmup: 2 * 16^-0.5 * 4^-0.5 = 0.25; before it linear */
    CHECK(tgs_sched_lr(&s, 3) == 0.25f && tgs_sched_lr(&s, 0) == 0.0625f && tgs_sched_lr(&s, 15) == 0.125f,
          "noam: linear to the peak at warmup, then t^-0.5");
    struct tgs_sched big = {.base_lr = 0.1f};
    CHECK(tgs_sched_parse("step:1:0.5", &big) == 0 && tgs_sched_lr(&big, INT64_MAX) == 0.0f,
          "step: gamma^huge underflows to 0, no trap");
}

static void test_sched_bad_specs(void) {
    const char *bad[] = {
        "", "bogus", "Constant", "constant:1", "step", "step:10", "step:0:0.1", "step:-1:0.1", "step:10:0",
        "step:10:-0.5", "step:10:x", "step:10:0.1:3", "step:1.5:0.1", "step:99999999999999999999:0.1", "step:10:nan",
        "step:10:inf", "step:10:1e999", "step:10:1e-50", "step::0.1", "cosine", "cosine:0", "cosine:10:0",
        "cosine:10:2:-1", "cosine:10:2:1e-6:5", "cosine:10:99999999999", "noam:0:256", "noam:4000", "noam:4000:0",
        "noam:4000:256,warmup=10", "constant,warmup=-1", "constant,warmup=", "constant,warmup=x", "constant,foo=1",
        "constant,", ",constant", "constant,lr=0", "constant,lr=-1", "constant,lr=abc",
        "step: 10:0.1", "cosine:10,warmup=1,warmup=2,warmup=3,warmup=4,warmup=5,warmup=6,warmup=7,warmup=8",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct tgs_sched s = {.kind = TGS_SCHED_STEP, .base_lr = 0.5f, .step_size = 3, .gamma = 0.7f};
        tgs_err("%s", "");
        int rc = tgs_sched_parse(bad[i], &s);
        int same = s.kind == TGS_SCHED_STEP && s.base_lr == 0.5f && s.step_size == 3 && s.gamma == 0.7f &&
                   s.warmup == 0 && s.t0 == 0 && s.t_mult == 0 && s.eta_min == 0.0f && s.d_model == 0;
        char name[512];
        snprintf(name, sizeof name, "schedule '%s' refused with a message, struct unchanged", bad[i]);
        CHECKF(rc == -1 && *tgs_errmsg() && same, name, "rc %d, '%s'", rc, tgs_errmsg());
    }
    char long_spec[400];
    memset(long_spec, 'x', sizeof long_spec - 1);
    long_spec[sizeof long_spec - 1] = 0;
    struct tgs_sched s = {0};
    CHECK(tgs_sched_parse(long_spec, &s) == -1 && strstr(tgs_errmsg(), "longer"), "an over-long spec refused");
    CHECK(tgs_sched_parse(NULL, &s) == -1 && *tgs_errmsg(), "no spec refused");
    tgs_sched_parse("step:10:x", &s);
    CHECK(strstr(tgs_errmsg(), "step:10:x") && strstr(tgs_errmsg(), "gamma"),
          "the message quotes the spec and the field");
}

/* The cross-check against torch. */

/* The record called name with dtype and count elements, or NULL with a
 * failed check saying why. */
static const tgs_record *need(const tgs_sample *s, const char *cname, const char *name, int dtype, uint64_t count) {
    const tgs_record *r = tgs_sample_get(s, name);
    if (r && r->dtype == dtype && tgs_record_count(r) == count) return r;
    char what[160];
    snprintf(what, sizeof what, "%s: record '%s' is there, %s x %llu", cname, name, tgs_dtype_name(dtype),
             (unsigned long long)count);
    CHECK(0, what);
    return NULL;
}

static float f32_of(const tgs_sample *s, const char *name) {
    const tgs_record *r = tgs_sample_get(s, name);
    return r && r->dtype == TGS_F32 && tgs_record_count(r) == 1 ? *(const float *)r->data : NAN;
}

static void torch_optim(const tgs_sample *s, const char *cname) {
    struct tgs_optim_opts o;
    enum tgs_optim_kind kind;
    const tgs_record *kr = tgs_sample_get(s, "optim"), *nr = tgs_sample_get(s, "nesterov");
    char name[512];
    snprintf(name, sizeof name, "%s: optimizer and options read", cname);
    if (!kr || kr->dtype != TGS_STR || tgs_optim_parse(kr->data, &kind) || !nr || nr->dtype != TGS_I32 ||
        tgs_record_count(nr) != 1) {
        CHECK(0, name);
        return;
    }
    tgs_optim_defaults(&o, kind);
    o.momentum = f32_of(s, "momentum"), o.weight_decay = f32_of(s, "weight_decay");
    o.beta1 = f32_of(s, "beta1"), o.beta2 = f32_of(s, "beta2"), o.eps = f32_of(s, "eps");
    o.nesterov = *(const int32_t *)nr->data;
    CHECKF(tgs_optim_check(&o) == 0, name, "%s", tgs_errmsg());

    const tgs_record *p0 = tgs_sample_get(s, "param0"), *lrs = tgs_sample_get(s, "lrs");
    if (!p0 || !lrs) {
        CHECK(0, name);
        return;
    }
    int64_t n = (int64_t)tgs_record_count(p0), steps = (int64_t)tgs_record_count(lrs);
    const tgs_record *grads = need(s, cname, "grads", TGS_F32, (uint64_t)(n * steps));
    const tgs_record *params = need(s, cname, "params", TGS_F32, (uint64_t)(n * steps));
    int k = tgs_optim_state_per_elem(&o);
    const tgs_record *state = k ? need(s, cname, "state", TGS_F32, (uint64_t)(k * n)) : NULL;
    if (!grads || !params || (k && !state) || lrs->dtype != TGS_F32 || p0->dtype != TGS_F32) return;
    snprintf(name, sizeof name, "%s: torch keeps state exactly when we do", cname);
    CHECK(k || !tgs_sample_get(s, "state"), name);

    float *p = malloc((size_t)n * sizeof *p), *st = calloc((size_t)(k * n + 1), sizeof *st);
    memcpy(p, p0->data, (size_t)n * sizeof *p);
    double worst = 0.0;
    int64_t worst_step = 0;
    for (int64_t t = 0; t < steps; t++) {
        tgs_optim_update(&o, ((const float *)lrs->data)[t], t + 1, p, (const float *)grads->data + t * n, st, n);
        double e = max_rel_err(p, (const float *)params->data + t * n, n);
        if (!(e <= worst)) worst = e, worst_step = t + 1;
    }
    snprintf(name, sizeof name, "%s: params match torch after each of %lld steps", cname, (long long)steps);
    CHECKF(worst <= REL_TOL, name, "relative error %.3g at step %lld", worst, (long long)worst_step);
    if (k) {
        double es = 0.0;
        for (int j = 0; j < k; j++) es = fmax(es, max_rel_err(st + j * n, (const float *)state->data + j * n, n));
        snprintf(name, sizeof name, "%s: state matches torch after the last step", cname);
        CHECKF(es <= REL_TOL, name, "relative error %.3g", es);
    }
    printf("# %s: largest param error %.3g%s\n", cname, worst, worst == 0.0 ? " (bit for bit)" : "");
    free(p), free(st);
}

static void torch_sched(const tgs_sample *s, const char *cname) {
    const tgs_record *spec = tgs_sample_get(s, "spec"), *lrs = tgs_sample_get(s, "lrs");
    char name[512];
    snprintf(name, sizeof name, "%s: spec parses", cname);
    struct tgs_sched sc = {.base_lr = f32_of(s, "base_lr")};
    if (!spec || spec->dtype != TGS_STR || !lrs || lrs->dtype != TGS_F64) {
        CHECK(0, name);
        return;
    }
    int rc = tgs_sched_parse(spec->data, &sc);
    CHECKF(rc == 0 && sc.base_lr == f32_of(s, "base_lr"), name, "'%s': %s", (const char *)spec->data, tgs_errmsg());
    if (rc) return;
    double worst = 0.0;
    int64_t worst_t = 0, T = (int64_t)tgs_record_count(lrs);
    for (int64_t t = 0; t < T; t++) {
        double want = ((const double *)lrs->data)[t], got = tgs_sched_lr(&sc, t);
        double e = fabs(got - want) / fabs(want);
        if (!(e <= worst)) worst = e, worst_t = t;
    }
    snprintf(name, sizeof name, "%s: '%s' matches torch's lr for t = 0..%lld", cname, (const char *)spec->data,
             (long long)T - 1);
    CHECKF(worst <= REL_TOL, name, "relative error %.3g at t = %lld", worst, (long long)worst_t);
}

static void torch_clip(const tgs_sample *s, const char *cname) {
    const tgs_record *cr = tgs_sample_get(s, "count"), *mr = tgs_sample_get(s, "max_norm"),
                     *tr = tgs_sample_get(s, "total");
    char name[512];
    snprintf(name, sizeof name, "%s: records read", cname);
    if (!cr || cr->dtype != TGS_I32 || !mr || mr->dtype != TGS_F64 || !tr || tr->dtype != TGS_F64) {
        CHECK(0, name);
        return;
    }
    int count = *(const int32_t *)cr->data;
    if (count < 1 || count > 8) {
        CHECK(0, name);
        return;
    }
    float *g[8];
    int64_t sizes[8];
    const tgs_record *after[8];
    int ok = 1;
    for (int k = 0; k < count; k++) {
        char rn[16];
        snprintf(rn, sizeof rn, "g%d", k);
        const tgs_record *r = tgs_sample_get(s, rn);
        snprintf(rn, sizeof rn, "a%d", k);
        after[k] = tgs_sample_get(s, rn);
        if (!r || r->dtype != TGS_F32 || !after[k] || after[k]->dtype != TGS_F32 ||
            tgs_record_count(r) != tgs_record_count(after[k])) {
            ok = 0, count = k;
            break;
        }
        sizes[k] = (int64_t)tgs_record_count(r);
        g[k] = malloc((size_t)sizes[k] * sizeof(float) + 1);
        memcpy(g[k], r->data, (size_t)sizes[k] * sizeof(float));
    }
    CHECK(ok, name);
    if (ok) {
        double total = tgs_clip_grad_norm(g, sizes, count, *(const double *)mr->data);
        double want = *(const double *)tr->data;
        snprintf(name, sizeof name, "%s: total norm matches torch", cname);
        CHECKF(fabs(total - want) <= REL_TOL * want, name, "%.9g vs torch %.9g", total, want);
        double worst = 0.0;
        for (int k = 0; k < count; k++) worst = fmax(worst, max_rel_err(g[k], after[k]->data, sizes[k]));
        snprintf(name, sizeof name, "%s: clipped grads match torch", cname);
        CHECKF(worst <= REL_TOL, name, "relative error %.3g", worst);
    }
    for (int k = 0; k < count; k++) free(g[k]);
}

static void test_against_torch(void) {
    const char *top = getenv("TGS_TOP");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/torch/optim.tsr", top && *top ? top : ".");
    tgs_reader r;
    if (tgs_reader_open(&r, path) < 0) {
        CHECKF(0, "torch reference file opens", "%s (regenerate: /usr/bin/python3 tests/torch/gen_optim.py)",
               tgs_errmsg());
        return;
    }
    tgs_sample s = {0};
    int rc, n_optim = 0, n_sched = 0, n_clip = 0;
    while ((rc = tgs_read_sample(&r, &s)) > 0) {
        const tgs_record *test = tgs_sample_get(&s, "test"), *cr = tgs_sample_get(&s, "case");
        if (!test || test->dtype != TGS_STR) {
            CHECK(0, "every sample of the torch file says its test");
            continue;
        }
        const char *cname = cr && cr->dtype == TGS_STR ? (const char *)cr->data : "?";
        char label[128];
        snprintf(label, sizeof label, "torch %.100s", cname);
        if (strcmp(test->data, "optim") == 0) torch_optim(&s, label), n_optim++;
        else if (strcmp(test->data, "sched") == 0) torch_sched(&s, label), n_sched++;
        else if (strcmp(test->data, "clip") == 0) torch_clip(&s, label), n_clip++;
        else if (strcmp(test->data, "meta") == 0) {
            const tgs_record *v = tgs_sample_get(&s, "torch");
            if (v && v->dtype == TGS_STR) printf("# reference from torch %s\n", (const char *)v->data);
        }
    }
    CHECKF(rc == 0, "torch reference file reads to its end", "%s", tgs_errmsg());
    /* as many as gen_optim.py writes, so a truncated regeneration shows */
    CHECKF(n_optim >= 11 && n_sched >= 10 && n_clip >= 4, "torch reference has every case",
           "%d optim, %d sched, %d clip", n_optim, n_sched, n_clip);
    tgs_sample_free(&s);
    tgs_reader_close(&r);
}

int main(void) {
    test_defaults_and_names();
    test_check_opts();
    test_sgd_by_hand();
    test_adam_by_hand();
    test_clip_by_hand();
    test_sched_by_hand();
    test_sched_bad_specs();
    test_against_torch();
    CHECK_DONE();
}
