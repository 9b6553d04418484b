/* op_norm: batch normalisation (optionally fused with the ReLU that follows
 * it in a conv-BN-ReLU block, or with the residual add and ReLU that end a
 * ResNet block) and layer normalisation.
 *
 * BN is the hot op of a U-Net: it runs on every conv output, up to
 * 16x16x128x128 floats, so each direction is two passes over memory,
 * threaded over (n, c) planes. Per-plane partial statistics are kept in
 * double in the workspace and combined per channel in plane order, so the
 * result does not depend on the thread count at all. Inner loops work on
 * blocks of LANES independent float accumulators (each block's sum then
 * goes into a double): written this way the compiler vectorises them at
 * -O2 without reassociating anything. */
#include "nn/cpu/ops_cpu.h"
#include "err.h"

#include <math.h>

#define LANES 8
#define BLOCK 512 /* floats summed in float lanes before going into a double */

/* ---- batch normalisation ----
 * x is (N,C,H,W) or (N,C) (then S = 1), gamma, beta, run_mean, run_var are
 * (C); out is x's shape. A plane is the S = H*W values of one (n, c); plane
 * p = n*C + c starts at p*S. saved: mean (C), invstd (C) of the statistics
 * forward used (the batch's in training, the running ones in eval), then
 * one float: 1 if forward ran in training mode.
 *
 * With a residual r (src[3], x's shape) the op is out = relu(bn(x) + r):
 * the end of a ResNet block in one pass over memory instead of three (BN,
 * add, ReLU), and without the two intermediate tensors and gradients.
 * Backward takes the ReLU's mask from out > 0 (out is kept for backward in
 * training), which is exactly bn(x) + r > 0; r's gradient is the masked dy. */

struct bn_dims {
    int64_t N, C, S;
};

static void bn_get_dims(const struct tgs_node *n, struct bn_dims *d) {
    const struct tgs_tensor *x = n->src[0];
    d->N = x->ne[0];
    d->C = x->ne[1];
    d->S = x->ndim == 4 ? (int64_t)x->ne[2] * x->ne[3] : 1;
}

/* Mean and sum of squared deviations of one plane of S floats. The plane
 * (64 KB at 128x128) is still in L2 for the second loop, so this costs one
 * pass over memory, and it has no sum-of-squares cancellation. */
static void plane_mean_m2(const float *restrict x, int64_t S, double *mean, double *m2) {
    double s = 0;
    for (int64_t b0 = 0; b0 < S; b0 += BLOCK) {
        int64_t b1 = b0 + BLOCK < S ? b0 + BLOCK : S, i = b0;
        float acc[LANES] = {0};
        for (; i + LANES <= b1; i += LANES)
            for (int k = 0; k < LANES; k++) acc[k] += x[i + k];
        float t = 0;
        for (int k = 0; k < LANES; k++) t += acc[k];
        for (; i < b1; i++) t += x[i];
        s += t;
    }
    double mu = s / (double)S, q = 0;
    float muf = (float)mu;
    for (int64_t b0 = 0; b0 < S; b0 += BLOCK) {
        int64_t b1 = b0 + BLOCK < S ? b0 + BLOCK : S, i = b0;
        float acc[LANES] = {0};
        for (; i + LANES <= b1; i += LANES)
            for (int k = 0; k < LANES; k++) {
                float dv = x[i + k] - muf;
                acc[k] += dv * dv;
            }
        float t = 0;
        for (int k = 0; k < LANES; k++) t += acc[k];
        for (; i < b1; i++) t += (x[i] - muf) * (x[i] - muf);
        q += t;
    }
    /* deviations were taken from mu rounded to float: correct for it */
    double off = mu - muf;
    *mean = mu;
    *m2 = q - (double)S * off * off;
}

/* The normalised value, z = (x - mean) * a + beta with a = gamma * invstd.
 * Backward recomputes the fused ReLU's mask z > 0 with this same function,
 * so it matches forward's bit for bit. (x - mean) first: a channel mean far
 * from zero would cancel badly in x * a + (beta - mean * a). */
static inline float bn_z(float x, float mean, float a, float beta) { return (x - mean) * a + beta; }

/* y = z, or max(z, 0) when relu, or max(z + r, 0) given r, over one plane. */
static void plane_affine(float *restrict y, const float *restrict x, const float *restrict r, int64_t S, float a,
                         float b, float mean, int relu) {
    int64_t i = 0;
    if (r) {
        for (; i + LANES <= S; i += LANES)
            for (int k = 0; k < LANES; k++) {
                float v = bn_z(x[i + k], mean, a, b) + r[i + k];
                y[i + k] = v > 0 ? v : 0;
            }
        for (; i < S; i++) {
            float v = bn_z(x[i], mean, a, b) + r[i];
            y[i] = v > 0 ? v : 0;
        }
    } else if (relu) {
        for (; i + LANES <= S; i += LANES)
            for (int k = 0; k < LANES; k++) {
                float v = bn_z(x[i + k], mean, a, b);
                y[i + k] = v > 0 ? v : 0;
            }
        for (; i < S; i++) {
            float v = bn_z(x[i], mean, a, b);
            y[i] = v > 0 ? v : 0;
        }
    } else {
        for (; i + LANES <= S; i += LANES)
            for (int k = 0; k < LANES; k++) y[i + k] = bn_z(x[i + k], mean, a, b);
        for (; i < S; i++) y[i] = bn_z(x[i], mean, a, b);
    }
}

/* Over one plane, with dz = dy masked by the fused ReLU: sums of dz and of
 * dz * (x - mean). With the residual's ReLU the mask is y > 0 and dz also
 * goes into dr (which may be NULL). */
static void plane_dsums(const float *restrict x, const float *restrict dy, const float *restrict y,
                        float *restrict dr, int64_t S, float a, float b, float mean, int relu, double *sdz,
                        double *sdzx) {
    double s1 = 0, s2 = 0;
    for (int64_t b0 = 0; b0 < S; b0 += BLOCK) {
        int64_t b1 = b0 + BLOCK < S ? b0 + BLOCK : S, i = b0;
        float acc1[LANES] = {0}, acc2[LANES] = {0};
        if (y) {
            for (; i + LANES <= b1; i += LANES)
                for (int k = 0; k < LANES; k++) {
                    float d = dy[i + k], g = y[i + k] > 0 ? d : 0; /* load first: a select, vectorised */
                    acc1[k] += g;
                    acc2[k] += g * (x[i + k] - mean);
                }
            if (dr)
                for (int64_t k = b0; k < b1; k++) {
                    float d = dy[k];
                    dr[k] += y[k] > 0 ? d : 0;
                }
        } else if (relu) {
            for (; i + LANES <= b1; i += LANES)
                for (int k = 0; k < LANES; k++) {
                    float xv = x[i + k], d = dy[i + k], g = bn_z(xv, mean, a, b) > 0 ? d : 0;
                    acc1[k] += g;
                    acc2[k] += g * (xv - mean);
                }
        } else {
            for (; i + LANES <= b1; i += LANES)
                for (int k = 0; k < LANES; k++) {
                    acc1[k] += dy[i + k];
                    acc2[k] += dy[i + k] * (x[i + k] - mean);
                }
        }
        float t1 = 0, t2 = 0;
        for (int k = 0; k < LANES; k++) t1 += acc1[k], t2 += acc2[k];
        for (; i < b1; i++) {
            float g = (y ? y[i] > 0 : !relu || bn_z(x[i], mean, a, b) > 0) ? dy[i] : 0;
            t1 += g;
            t2 += g * (x[i] - mean);
        }
        s1 += t1;
        s2 += t2;
    }
    *sdz = s1;
    *sdzx = s2;
}

/* dx += g * dz + kx * (x - mean) + k0 over one plane, dz masked as above. */
static void plane_dx(float *restrict dx, const float *restrict x, const float *restrict dy, const float *restrict y,
                     int64_t S, float a, float b, float mean, int relu, float g, float kx, float k0) {
    int64_t i = 0;
    if (y) {
        for (; i + LANES <= S; i += LANES)
            for (int k = 0; k < LANES; k++) {
                float xv = x[i + k], d = dy[i + k], dz = y[i + k] > 0 ? d : 0;
                dx[i + k] += g * dz + kx * (xv - mean) + k0;
            }
    } else if (relu) {
        for (; i + LANES <= S; i += LANES)
            for (int k = 0; k < LANES; k++) {
                float xv = x[i + k], d = dy[i + k], dz = bn_z(xv, mean, a, b) > 0 ? d : 0;
                dx[i + k] += g * dz + kx * (xv - mean) + k0;
            }
    } else {
        for (; i + LANES <= S; i += LANES)
            for (int k = 0; k < LANES; k++) dx[i + k] += g * dy[i + k] + kx * (x[i + k] - mean) + k0;
    }
    for (; i < S; i++) {
        float dz = (y ? y[i] > 0 : !relu || bn_z(x[i], mean, a, b) > 0) ? dy[i] : 0;
        dx[i] += g * dz + kx * (x[i] - mean) + k0;
    }
}

/* The four passes, each over planes [lo, hi) of one thread. cst holds per
 * channel: a, beta, mean (of bn_z), and for backward g, kx, k0. */
enum bn_pass { BN_STATS, BN_NORM, BN_DSUMS, BN_DX };

struct bn_job {
    enum bn_pass pass;
    struct bn_dims d;
    const float *x, *dy;
    const float *r;    /* the residual, or NULL */
    const float *ym;   /* backward with a residual: out, whose > 0 is the mask */
    float *y, *dx, *dr;
    double *ps;        /* per plane: two doubles */
    const float *cst;  /* per channel: 6 floats */
    int relu;
};

static void bn_run(void *ctx, int tid, int nt) {
    const struct bn_job *j = ctx;
    int64_t lo, hi, S = j->d.S, C = j->d.C;
    tgs_split(j->d.N * C, tid, nt, &lo, &hi);
    for (int64_t p = lo; p < hi; p++) {
        const float *cst = j->cst + 6 * (p % C), *x = j->x + p * S, *ym = j->ym ? j->ym + p * S : NULL;
        switch (j->pass) {
        case BN_STATS: plane_mean_m2(x, S, &j->ps[2 * p], &j->ps[2 * p + 1]); break;
        case BN_NORM:
            plane_affine(j->y + p * S, x, j->r ? j->r + p * S : NULL, S, cst[0], cst[1], cst[2], j->relu);
            break;
        case BN_DSUMS:
            plane_dsums(x, j->dy + p * S, ym, j->dr ? j->dr + p * S : NULL, S, cst[0], cst[1], cst[2], j->relu,
                        &j->ps[2 * p], &j->ps[2 * p + 1]);
            break;
        case BN_DX:
            plane_dx(j->dx + p * S, x, j->dy + p * S, ym, S, cst[0], cst[1], cst[2], j->relu, cst[3], cst[4],
                     cst[5]);
            break;
        }
    }
}

/* Threads only when there is enough to share: a pass over a few thousand
 * floats costs less than waking a worker. */
static int bn_threads(const struct tgs_exec *x, int64_t n) { return n >= 32768 ? x->threads : 1; }

/* Training: batch mean and biased variance per channel into mean/var,
 * from the per-plane statistics combined in plane order:
 * M2 = sum_n M2_n + S * sum_n (mean_n - mean)^2. */
static void bn_combine(const struct bn_dims *d, const double *ps, double *mean, double *m2) {
    for (int64_t c = 0; c < d->C; c++) {
        double s = 0, q = 0;
        for (int64_t n = 0; n < d->N; n++) s += ps[2 * (n * d->C + c)];
        double mu = s / (double)d->N;
        for (int64_t n = 0; n < d->N; n++) {
            double dm = ps[2 * (n * d->C + c)] - mu;
            q += ps[2 * (n * d->C + c) + 1] + (double)d->S * dm * dm;
        }
        mean[c] = mu;
        m2[c] = q;
    }
}

/* The training forward of a (N,C) tensor: a plane is one value, so the
 * per-plane path would do two function calls per element; go per channel. */
static void bn_stats_2d(const struct bn_dims *d, const float *x, double *mean, double *m2) {
    for (int64_t c = 0; c < d->C; c++) {
        double s = 0, q = 0;
        for (int64_t n = 0; n < d->N; n++) s += x[n * d->C + c];
        double mu = s / (double)d->N;
        for (int64_t n = 0; n < d->N; n++) {
            double dv = x[n * d->C + c] - mu;
            q += dv * dv;
        }
        mean[c] = mu;
        m2[c] = q;
    }
}

static int64_t bn_saved_floats(const struct tgs_node *n) { return 2 * (int64_t)n->src[0]->ne[1] + 1; }

/* per plane two doubles (four floats), per channel six floats, and two
 * doubles per channel for the combined statistics */
static int64_t bn_work_floats(const struct tgs_node *n) {
    struct bn_dims d;
    bn_get_dims(n, &d);
    return 4 * d.N * d.C + 6 * d.C + 4 * d.C + 16;
}

static int batchnorm_forward(struct tgs_node *n, const struct tgs_exec *x) {
    struct bn_dims d;
    bn_get_dims(n, &d);
    const struct tgs_bn_params *bp = &n->p.bn;
    const float *xd = n->src[0]->data, *gamma = n->src[1]->data, *beta = n->src[2]->data;
    float *mean_s = n->saved, *invstd_s = n->saved + d.C;
    double *ps = (double *)x->work, *cm = ps + 2 * d.N * d.C, *cv = cm + d.C;
    float *cst = (float *)(cv + d.C);
    int64_t M = d.N * d.S;
    if (x->train) {
        if (M < 2) return tgs_err("batchnorm: training needs more than one value per channel (got %lld)", (long long)M);
        if (d.S == 1) {
            bn_stats_2d(&d, xd, cm, cv);
        } else {
            struct bn_job j = {.pass = BN_STATS, .d = d, .x = xd, .ps = ps};
            tgs_cpu_parallel(bn_threads(x, n->src[0]->size), bn_run, &j);
            bn_combine(&d, ps, cm, cv);
        }
        float *rm = bp->run_mean->data, *rv = bp->run_var->data;
        double m = bp->momentum;
        for (int64_t c = 0; c < d.C; c++) {
            double var = cv[c] / (double)M;
            mean_s[c] = (float)cm[c];
            invstd_s[c] = (float)(1 / sqrt(var + bp->eps));
            /* torch: running stats move towards the batch mean and the
             * unbiased batch variance */
            rm[c] = (float)((1 - m) * rm[c] + m * cm[c]);
            rv[c] = (float)((1 - m) * rv[c] + m * cv[c] / (double)(M - 1));
        }
    } else {
        const float *rm = bp->run_mean->data, *rv = bp->run_var->data;
        for (int64_t c = 0; c < d.C; c++) {
            mean_s[c] = rm[c];
            invstd_s[c] = (float)(1 / sqrt((double)rv[c] + bp->eps));
        }
    }
    n->saved[2 * d.C] = x->train ? 1.0f : 0.0f;
    for (int64_t c = 0; c < d.C; c++) {
        cst[6 * c] = gamma[c] * invstd_s[c];
        cst[6 * c + 1] = beta[c];
        cst[6 * c + 2] = mean_s[c];
    }
    struct bn_job j = {.pass = BN_NORM, .d = d, .x = xd, .y = n->out->data, .cst = cst, .relu = bp->relu,
                       .r = n->nsrc > 3 ? n->src[3]->data : NULL};
    tgs_cpu_parallel(bn_threads(x, n->src[0]->size), bn_run, &j);
    return 0;
}

/* With xh = (x - mean) * invstd and dz the masked output gradient:
 * dbeta = sum dz, dgamma = sum dz * xh; in training
 * dx = gamma * invstd * (dz - mean(dz) - xh * mean(dz * xh)),
 * in eval (statistics are constants) dx = gamma * invstd * dz. */
static int batchnorm_backward(struct tgs_node *n, const struct tgs_exec *x) {
    struct bn_dims d;
    bn_get_dims(n, &d);
    const float *xd = n->src[0]->data, *dy = n->out->grad, *gamma = n->src[1]->data, *beta = n->src[2]->data;
    const float *mean_s = n->saved, *invstd_s = n->saved + d.C;
    int train = n->saved[2 * d.C] != 0, relu = n->p.bn.relu;
    double *ps = (double *)x->work, *cm = ps + 2 * d.N * d.C, *cv = cm + d.C;
    float *cst = (float *)(cv + d.C);
    for (int64_t c = 0; c < d.C; c++) {
        cst[6 * c] = gamma[c] * invstd_s[c];
        cst[6 * c + 1] = beta[c];
        cst[6 * c + 2] = mean_s[c];
    }
    struct bn_job j = {.d = d, .x = xd, .dy = dy, .dx = n->src[0]->grad, .ps = ps, .cst = cst, .relu = relu};
    if (n->nsrc > 3) j.ym = n->out->data, j.dr = n->src[3]->grad;
    int nt = bn_threads(x, n->src[0]->size);
    /* per plane, then per channel in plane order: sum dz, sum dz (x - mean) */
    j.pass = BN_DSUMS;
    tgs_cpu_parallel(nt, bn_run, &j);
    for (int64_t c = 0; c < d.C; c++) {
        double s1 = 0, s2 = 0;
        for (int64_t k = 0; k < d.N; k++) s1 += ps[2 * (k * d.C + c)], s2 += ps[2 * (k * d.C + c) + 1];
        cm[c] = s1;
        cv[c] = s2;
    }
    if (n->src[1]->grad)
        for (int64_t c = 0; c < d.C; c++) n->src[1]->grad[c] += (float)(cv[c] * invstd_s[c]);
    if (n->src[2]->grad)
        for (int64_t c = 0; c < d.C; c++) n->src[2]->grad[c] += (float)cm[c];
    if (!j.dx) return 0;
    double M = (double)(d.N * d.S);
    for (int64_t c = 0; c < d.C; c++) {
        double is = invstd_s[c], g = gamma[c] * is;
        cst[6 * c + 3] = (float)g;
        cst[6 * c + 4] = train ? (float)(-g * is * is * cv[c] / M) : 0;
        cst[6 * c + 5] = train ? (float)(-g * cm[c] / M) : 0;
    }
    j.pass = BN_DX;
    tgs_cpu_parallel(nt, bn_run, &j);
    return 0;
}

const struct tgs_op_impl tgs_cpu_batchnorm = {batchnorm_forward, batchnorm_backward, bn_saved_floats,
                                              bn_work_floats};

/* ---- layer normalisation ----
 * x is (..., C), seen as R rows of C; gamma, beta (C); out is x's shape.
 * saved: mean (R), rstd (R). Rows are short (a transformer's embedding),
 * so statistics are two passes in double over a row. */

struct ln_job {
    const float *x, *dy, *gamma, *beta;
    float *y, *dx, *mean, *rstd;
    double *acc; /* backward, per column: sum dy * xh, sum dy */
    float *dgamma, *dbeta;
    int64_t R, C;
    float eps;
};

static void layernorm_forward_rows(void *ctx, int tid, int nt) {
    const struct ln_job *j = ctx;
    int64_t lo, hi, C = j->C;
    tgs_split(j->R, tid, nt, &lo, &hi);
    for (int64_t r = lo; r < hi; r++) {
        const float *x = j->x + r * C;
        float *y = j->y + r * C;
        double s = 0, q = 0;
        for (int64_t c = 0; c < C; c++) s += x[c];
        double mu = s / (double)C;
        for (int64_t c = 0; c < C; c++) q += (x[c] - mu) * (x[c] - mu);
        float rs = (float)(1 / sqrt(q / (double)C + j->eps)), m = (float)mu;
        for (int64_t c = 0; c < C; c++) y[c] = (x[c] - m) * rs * j->gamma[c] + j->beta[c];
        j->mean[r] = m;
        j->rstd[r] = rs;
    }
}

/* dx = rstd * (gh - mean(gh) - xh * mean(gh * xh)), gh = dy * gamma */
static void layernorm_backward_rows(void *ctx, int tid, int nt) {
    const struct ln_job *j = ctx;
    int64_t lo, hi, C = j->C;
    tgs_split(j->R, tid, nt, &lo, &hi);
    for (int64_t r = lo; r < hi; r++) {
        const float *x = j->x + r * C, *dy = j->dy + r * C;
        float *dx = j->dx + r * C, m = j->mean[r], rs = j->rstd[r];
        double s1 = 0, s2 = 0;
        for (int64_t c = 0; c < C; c++) {
            double gh = (double)dy[c] * j->gamma[c];
            s1 += gh;
            s2 += gh * ((x[c] - m) * rs);
        }
        float m1 = (float)(s1 / (double)C), m2 = (float)(s2 / (double)C);
        for (int64_t c = 0; c < C; c++) {
            float xh = (x[c] - m) * rs;
            dx[c] += rs * (dy[c] * j->gamma[c] - m1 - xh * m2);
        }
    }
}

/* Column sums, split by columns so that each is summed in row order
 * whatever the thread count. */
static void layernorm_backward_cols(void *ctx, int tid, int nt) {
    const struct ln_job *j = ctx;
    int64_t lo, hi, C = j->C;
    tgs_split(C, tid, nt, &lo, &hi);
    double *sg = j->acc, *sb = j->acc + C;
    for (int64_t c = lo; c < hi; c++) sg[c] = sb[c] = 0;
    for (int64_t r = 0; r < j->R; r++) {
        const float *x = j->x + r * C, *dy = j->dy + r * C;
        float m = j->mean[r], rs = j->rstd[r];
        for (int64_t c = lo; c < hi; c++) {
            sg[c] += (double)dy[c] * ((x[c] - m) * rs);
            sb[c] += dy[c];
        }
    }
    for (int64_t c = lo; c < hi; c++) {
        if (j->dgamma) j->dgamma[c] += (float)sg[c];
        if (j->dbeta) j->dbeta[c] += (float)sb[c];
    }
}

static int ln_threads(const struct tgs_exec *x, int64_t n) { return n >= 16384 ? x->threads : 1; }

static int layernorm_forward(struct tgs_node *n, const struct tgs_exec *x) {
    const struct tgs_tensor *xt = n->src[0];
    int64_t C = xt->ne[xt->ndim - 1];
    struct ln_job j = {.x = xt->data, .gamma = n->src[1]->data, .beta = n->src[2]->data, .y = n->out->data,
                       .mean = n->saved, .rstd = n->saved + xt->size / C, .R = xt->size / C, .C = C,
                       .eps = n->p.ln.eps};
    tgs_cpu_parallel(ln_threads(x, xt->size), layernorm_forward_rows, &j);
    return 0;
}

static int layernorm_backward(struct tgs_node *n, const struct tgs_exec *x) {
    const struct tgs_tensor *xt = n->src[0];
    int64_t C = xt->ne[xt->ndim - 1], R = xt->size / C;
    struct ln_job j = {.x = xt->data, .dy = n->out->grad, .gamma = n->src[1]->data, .dx = xt->grad,
                       .mean = n->saved, .rstd = n->saved + R, .acc = (double *)x->work,
                       .dgamma = n->src[1]->grad, .dbeta = n->src[2]->grad, .R = R, .C = C};
    int nt = ln_threads(x, xt->size);
    if (j.dx) tgs_cpu_parallel(nt, layernorm_backward_rows, &j);
    if (j.dgamma || j.dbeta) tgs_cpu_parallel(nt, layernorm_backward_cols, &j);
    return 0;
}

static int64_t ln_saved_floats(const struct tgs_node *n) {
    const struct tgs_tensor *x = n->src[0];
    return 2 * (x->size / x->ne[x->ndim - 1]);
}

static int64_t ln_work_floats(const struct tgs_node *n) { return 4 * (int64_t)n->src[0]->ne[n->src[0]->ndim - 1]; }

const struct tgs_op_impl tgs_cpu_layernorm = {layernorm_forward, layernorm_backward, ln_saved_floats, ln_work_floats};
