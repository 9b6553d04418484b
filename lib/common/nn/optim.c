#include "nn/optim.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

void tgs_optim_defaults(struct tgs_optim_opts *o, enum tgs_optim_kind kind) {
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->weight_decay = kind == TGS_OPTIM_ADAMW ? 0.01f : 0.0f;
    o->beta1 = 0.9f;
    o->beta2 = 0.999f;
    o->eps = 1e-8f;
}

static const char *const optim_names[] = {
    [TGS_OPTIM_SGD] = "sgd",
    [TGS_OPTIM_ADAM] = "adam",
    [TGS_OPTIM_ADAMW] = "adamw",
};

int tgs_optim_parse(const char *name, enum tgs_optim_kind *kind) {
    if (!name) return tgs_err("no optimizer named (sgd, adam, adamw)");
    for (int k = TGS_OPTIM_SGD; k <= TGS_OPTIM_ADAMW; k++)
        if (strcmp(name, optim_names[k]) == 0) {
            *kind = (enum tgs_optim_kind)k;
            return 0;
        }
    return tgs_err("unknown optimizer '%s' (sgd, adam, adamw)", name);
}

const char *tgs_optim_name(enum tgs_optim_kind kind) {
    return kind >= TGS_OPTIM_SGD && kind <= TGS_OPTIM_ADAMW ? optim_names[kind] : "?";
}

int tgs_optim_check(const struct tgs_optim_opts *o) {
    /* written as !(x >= 0) so NaN fails too */
    const char *name = tgs_optim_name(o->kind);
    switch (o->kind) {
    case TGS_OPTIM_SGD:
        if (!(o->momentum >= 0.0f) || !isfinite(o->momentum))
            return tgs_err("sgd: momentum %g is not a finite number >= 0", (double)o->momentum);
        if (o->nesterov && o->momentum == 0.0f) return tgs_err("sgd: nesterov needs a momentum > 0");
        break;
    case TGS_OPTIM_ADAM:
    case TGS_OPTIM_ADAMW:
        if (!(o->beta1 >= 0.0f && o->beta1 < 1.0f))
            return tgs_err("%s: beta1 %g is not in [0, 1)", name, (double)o->beta1);
        if (!(o->beta2 >= 0.0f && o->beta2 < 1.0f))
            return tgs_err("%s: beta2 %g is not in [0, 1)", name, (double)o->beta2);
        if (!(o->eps >= 0.0f) || !isfinite(o->eps))
            return tgs_err("%s: eps %g is not a finite number >= 0", name, (double)o->eps);
        break;
    default:
        return tgs_err("unknown optimizer kind %d", (int)o->kind);
    }
    if (!(o->weight_decay >= 0.0f) || !isfinite(o->weight_decay))
        return tgs_err("%s: weight decay %g is not a finite number >= 0", name, (double)o->weight_decay);
    return 0;
}

int tgs_optim_state_per_elem(const struct tgs_optim_opts *o) {
    switch (o->kind) {
    case TGS_OPTIM_SGD: return o->momentum != 0.0f ? 1 : 0;
    case TGS_OPTIM_ADAM:
    case TGS_OPTIM_ADAMW: return 2;
    default: return 0;
    }
}

/* Schedules. */

static const double pi = 3.14159265358979323846;

/* Offset of t into its cycle, over the cycle's length, for cosine with
 * restarts: cycle k has length t0 * t_mult^k. A loop over cycles rather than
 * torch's closed form with logarithms, which can land on the wrong cycle
 * by rounding at a boundary; there are few cycles (t_mult >= 2 doubles them,
 * t_mult 1 is a modulo). */
static double cosine_phase(int64_t t, int64_t t0, int64_t t_mult) {
    if (t_mult <= 1) return (double)(t % t0) / (double)t0;
    int64_t start = 0, len = t0;
    while (t - start >= len) {
        start += len;
        /* the next cycle would be longer than any int64 t can reach */
        if (len > INT64_MAX / t_mult) return (double)(t - start) / ((double)len * (double)t_mult);
        len *= t_mult;
    }
    return (double)(t - start) / (double)len;
}

float tgs_sched_lr(const struct tgs_sched *s, int64_t t) {
    if (t < 0) t = 0;
    double base = s->base_lr, lr = base;
    switch (s->kind) {
    case TGS_SCHED_CONSTANT: break;
    case TGS_SCHED_STEP:
        lr = base * pow((double)s->gamma, (double)(t / (s->step_size > 0 ? s->step_size : 1)));
        break;
    case TGS_SCHED_COSINE: {
        double eta = s->eta_min;
        double phase = cosine_phase(t, s->t0 > 0 ? s->t0 : 1, s->t_mult);
        lr = eta + (base - eta) * (1.0 + cos(pi * phase)) / 2.0;
        break;
    }
    case TGS_SCHED_NOAM: {
        double T = (double)t + 1.0, w = s->warmup > 0 ? (double)s->warmup : 1.0;
        double d = s->d_model > 0 ? (double)s->d_model : 1.0;
        return (float)(base * pow(d, -0.5) * fmin(pow(T, -0.5), T * pow(w, -1.5)));
    }
    default: break;
    }
    if (s->warmup > 0 && t + 1 < s->warmup) lr *= (double)(t + 1) / (double)s->warmup;
    return (float)lr;
}

/* Spec parsing: the spec is cut into fields in a local copy; each number
 * must fill its field exactly. */

#define SPEC_MAX 256

/* strtoll and strtod skip leading blanks; a spec has none */
static int parse_i64(const char *field, int64_t lo, int64_t *out) {
    if (!*field || isspace((unsigned char)*field)) return -1;
    errno = 0;
    char *end;
    long long v = strtoll(field, &end, 10);
    if (errno || *end || v < lo) return -1;
    *out = (int64_t)v;
    return 0;
}

static int parse_real(const char *field, double *out) {
    if (!*field || isspace((unsigned char)*field)) return -1;
    errno = 0;
    char *end;
    double v = strtod(field, &end);
    if (errno || *end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

/* Split s at sep in place into at most max fields; returns the count, or
 * max + 1 when there are more. */
static int split(char *s, char sep, char **fields, int max) {
    int n = 0;
    for (;;) {
        if (n == max) return max + 1;
        fields[n++] = s;
        char *c = strchr(s, sep);
        if (!c) return n;
        *c = 0;
        s = c + 1;
    }
}

int tgs_sched_parse(const char *spec, struct tgs_sched *out) {
    if (!spec) return tgs_err("no schedule given");
    size_t len = strlen(spec);
    if (len == 0)
        return tgs_err("empty schedule (constant, step:N:GAMMA, cosine:T0[:T_MULT[:ETA_MIN]], noam:WARMUP:D_MODEL)");
    if (len >= SPEC_MAX) return tgs_err("schedule '%.40s...' is longer than %d characters", spec, SPEC_MAX - 1);
    char buf[SPEC_MAX];
    memcpy(buf, spec, len + 1);

    struct tgs_sched s;
    memset(&s, 0, sizeof s);
    s.base_lr = out->base_lr;
    char *opts[8], *f[5];
    int nopt = split(buf, ',', opts, 8);
    if (nopt > 8) return tgs_err("schedule '%s': too many options", spec);
    int nf = split(opts[0], ':', f, 4);
    int64_t i1, i2;
    double r;
    if (strcmp(f[0], "constant") == 0) {
        if (nf != 1) return tgs_err("schedule '%s': constant takes no arguments", spec);
        s.kind = TGS_SCHED_CONSTANT;
    } else if (strcmp(f[0], "step") == 0) {
        if (nf != 3) return tgs_err("schedule '%s': expected step:STEP_SIZE:GAMMA", spec);
        if (parse_i64(f[1], 1, &i1)) return tgs_err("schedule '%s': step size '%s' is not an integer >= 1", spec, f[1]);
        if (parse_real(f[2], &r) || !(r > 0.0) || (float)r == 0.0f || !isfinite((float)r))
            return tgs_err("schedule '%s': gamma '%s' is not a number > 0", spec, f[2]);
        s.kind = TGS_SCHED_STEP, s.step_size = i1, s.gamma = (float)r;
    } else if (strcmp(f[0], "cosine") == 0) {
        if (nf < 2 || nf > 4) return tgs_err("schedule '%s': expected cosine:T0[:T_MULT[:ETA_MIN]]", spec);
        if (parse_i64(f[1], 1, &i1)) return tgs_err("schedule '%s': T0 '%s' is not an integer >= 1", spec, f[1]);
        i2 = 1, r = 0.0;
        if (nf >= 3 && (parse_i64(f[2], 1, &i2) || i2 > INT_MAX))
            return tgs_err("schedule '%s': T_MULT '%s' is not an integer >= 1", spec, f[2]);
        if (nf == 4 && (parse_real(f[3], &r) || !(r >= 0.0) || !isfinite((float)r)))
            return tgs_err("schedule '%s': eta_min '%s' is not a number >= 0", spec, f[3]);
        s.kind = TGS_SCHED_COSINE, s.t0 = i1, s.t_mult = (int)i2, s.eta_min = (float)r;
    } else if (strcmp(f[0], "noam") == 0) {
        if (nf != 3) return tgs_err("schedule '%s': expected noam:WARMUP:D_MODEL", spec);
        if (parse_i64(f[1], 1, &i1)) return tgs_err("schedule '%s': warmup '%s' is not an integer >= 1", spec, f[1]);
        if (parse_i64(f[2], 1, &i2)) return tgs_err("schedule '%s': d_model '%s' is not an integer >= 1", spec, f[2]);
        s.kind = TGS_SCHED_NOAM, s.warmup = i1, s.d_model = i2;
    } else {
        return tgs_err("schedule '%s': unknown kind '%s' (constant, step, cosine, noam)", spec, f[0]);
    }
    for (int k = 1; k < nopt; k++) {
        char *o = opts[k];
        if (strncmp(o, "warmup=", 7) == 0) {
            if (s.kind == TGS_SCHED_NOAM)
                return tgs_err("schedule '%s': noam has its warmup in the formula (noam:WARMUP:D_MODEL)", spec);
            if (parse_i64(o + 7, 0, &i1))
                return tgs_err("schedule '%s': warmup '%s' is not an integer >= 0", spec, o + 7);
            s.warmup = i1;
        } else if (strncmp(o, "lr=", 3) == 0) {
            if (parse_real(o + 3, &r) || !(r > 0.0) || (float)r == 0.0f || !isfinite((float)r))
                return tgs_err("schedule '%s': lr '%s' is not a number > 0", spec, o + 3);
            s.base_lr = (float)r;
        } else {
            return tgs_err("schedule '%s': unknown option '%s' (warmup=N, lr=X)", spec, o);
        }
    }
    *out = s;
    return 0;
}
