/* loss: the training losses. Each is one node with a scalar output,
 * out = weight * loss(logits, target), of logits and a 0/1 target of the
 * same shape: (N,1,H,W) maps, or (N,1) / (N) for the salt-presence logit.
 * The target gets no gradient; backward adds weight * dout * dloss/dlogits
 * into logits->grad.
 *
 * Elementwise losses (BCE, MSE, focal) are means over all M elements; the
 * per-image ones (Dice, Lovasz) are means over the N images of a loss of
 * each image's P = M / N elements; the boundary loss is a mean over the M
 * pixels of a term that needs the whole image (a distance map).
 *
 * Determinism: forward sums partials in double, one per unit (a chunk of
 * CHUNK elements, or an image), each in a fixed order, then adds the units
 * in order, so the bytes do not depend on the thread count at all. */
#include "nn/cpu/ops_cpu.h"
#include "err.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* elements per partial sum of the elementwise losses (and per unit of
 * their backward): big enough that a thread's share of a (32,1,128,128)
 * batch is a few units, small enough that the presence logit is one */
#define CHUNK ((int64_t)4096)
/* Below this many elements per thread the cheap loops (all but the
 * boundary and Lovasz forwards, which are per image and heavy) run on
 * fewer threads: waking a worker costs about as much as streaming 32K
 * floats (op_elem's rule). */
#define GRAIN ((int64_t)1 << 15)
/* Lovasz: LSD radix sort of 32-bit keys, RADIX_BITS per pass */
#define RADIX_BITS 11
#define RADIX_PASSES 3
#define RADIX_SIZE (1 << RADIX_BITS)
/* Dice smoothing: empty masks score 1 - 1/(sum p + 1), near 0 when p is */
#define DICE_SMOOTH 1.0

/* ---- shapes ---- */

struct loss_dims {
    int64_t m;      /* elements */
    int64_t n;      /* images: ne[0] */
    int64_t per;    /* elements per image, m / n */
    int32_t h, w;   /* the image plane (boundary loss) */
};

static struct loss_dims loss_dims(const struct tgs_tensor *t) {
    struct loss_dims d = {t->size, t->ne[0], t->size / t->ne[0], 1, 1};
    if (t->ndim >= 3) d.h = t->ne[t->ndim - 2], d.w = t->ne[t->ndim - 1];
    return d;
}

static int per_image_forward(enum tgs_op op) {
    return op == TGS_OP_LOSS_DICE || op == TGS_OP_LOSS_BOUNDARY || op == TGS_OP_LOSS_LOVASZ ||
           op == TGS_OP_LOSS_LOVASZ_SYM;
}

/* what the loss is a mean over */
static double loss_divisor(enum tgs_op op, const struct loss_dims *d) {
    return op == TGS_OP_LOSS_DICE || op == TGS_OP_LOSS_LOVASZ || op == TGS_OP_LOSS_LOVASZ_SYM ? (double)d->n
                                                                                             : (double)d->m;
}

/* Every loss of a logit x needs e = exp(-|x|) in (0, 1], and from it:
 *   sigmoid(x) = 1 / (1 + e) for x >= 0, e / (1 + e) below,
 *   sigmoid(x) (1 - sigmoid(x)) = e / (1 + e)^2,
 *   log(1 + exp(-|x|)) = log(1 + e), as torch computes it (log of a sum;
 *   log1pf would be exact to the last bit where e < 1e-7, but it costs
 *   four times an expf, and the absolute error here is an ulp of 1).
 * One expf per element, no overflow for any x. */
static float sigmoid_e(float x, float e) {
    float num = x >= 0 ? 1 : e; /* a select, not a branch: signs of logits are random */
    return num / (1 + e);
}
static float sigmoidf(float x) { return sigmoid_e(x, expf(-fabsf(x))); }
static float dsigmoidf(float x) {
    float e = expf(-fabsf(x)), d = 1 / (1 + e);
    return e * d * d;
}

/* ---- BCE with logits ----
 * x, y (n): l = max(x, 0) - x y + log(1 + exp(-|x|)), the stable form of
 * -y log p - (1 - y) log(1 - p) with p = sigmoid(x) (as torch's
 * binary_cross_entropy_with_logits); dl/dx = p - y. */
static float bce_elem(float x, float y, float e) { return fmaxf(x, 0) - x * y + logf(1 + e); }

static double bce_forward(const float *x, const float *y, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += bce_elem(x[i], y[i], expf(-fabsf(x[i])));
    return s;
}

static void bce_backward(float *dx, const float *x, const float *y, int64_t n, float scale) {
    for (int64_t i = 0; i < n; i++) dx[i] += scale * (sigmoidf(x[i]) - y[i]);
}

/* ---- MSE ----
 * x (the prediction), y (n): l = (x - y)^2, dl/dx = 2 (x - y). */
static double mse_forward(const float *x, const float *y, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = (double)x[i] - y[i];
        s += e * e;
    }
    return s;
}

static void mse_backward(float *dx, const float *x, const float *y, int64_t n, float scale) {
    for (int64_t i = 0; i < n; i++) dx[i] += scale * 2 * (x[i] - y[i]);
}

/* ---- focal (Lin et al. 2017; torchvision.ops.sigmoid_focal_loss) ----
 * x, y (n): p = sigmoid(x), ce = BCE(x, y), 1 - p_t = p (1 - y) + (1 - p) y
 *   l = a_t (1 - p_t)^g ce,  a_t = alpha y + (1 - alpha)(1 - y), 1 if alpha < 0
 *   dl/dx = a_t [ (1 - p_t)^g (p - y) + g (1 - p_t)^(g-1) ce p (1 - p) (1 - 2y) ]
 * 1 - p is q = sigmoid(-x) from the same e, so 1 - p_t keeps its digits when the
 * prediction is confident (the case the loss exists for). */
static void focal_elem(float x, float y, float alpha, float gamma, float *l, float *dl) {
    float e = expf(-fabsf(x)), d = 1 / (1 + e);
    float p = x >= 0 ? d : e * d, q = x >= 0 ? e * d : d;
    float ce = bce_elem(x, y, e);
    float m = p * (1 - y) + q * y;
    float at = alpha < 0 ? 1 : alpha * y + (1 - alpha) * (1 - y);
    /* (1 - p_t)^(g-1) and ^g; g = 2 (the usual) without powf */
    float mg1 = gamma == 2 ? m : gamma == 1 ? 1 : gamma == 0 ? 0 : m > 0 ? powf(m, gamma - 1) : 0;
    float mg = gamma == 0 ? 1 : gamma == 1 ? m : mg1 * m;
    *l = at * mg * ce;
    if (dl) {
        /* at m = 0 the (1 - p_t)^(g-1) term is 0 (mg1 = 0 or p (1 - p) = 0) */
        *dl = at * (mg * (p - y) + gamma * mg1 * ce * p * q * (1 - 2 * y));
    }
}

static double focal_forward(const float *x, const float *y, int64_t n, float alpha, float gamma) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) {
        float l;
        focal_elem(x[i], y[i], alpha, gamma, &l, NULL);
        s += l;
    }
    return s;
}

static void focal_backward(float *dx, const float *x, const float *y, int64_t n, float alpha, float gamma,
                           float scale) {
    for (int64_t i = 0; i < n; i++) {
        float l, dl;
        focal_elem(x[i], y[i], alpha, gamma, &l, &dl);
        dx[i] += scale * dl;
    }
}

/* ---- soft Dice, one image ----
 * x, y (P); p = sigmoid(x), s = 1:
 *   I = sum p y, S = sum p + sum y,  d = 1 - (2 I + s) / (S + s)
 *   dd/dx_j = -(2 y_j (S + s) - (2 I + s)) / (S + s)^2 * p_j (1 - p_j)
 * stats (3) = I, sum p, sum y, kept for backward. */
static double dice_forward(float *stats, const float *x, const float *y, int64_t n) {
    double in = 0, sp = 0, sy = 0;
    for (int64_t i = 0; i < n; i++) {
        float p = sigmoidf(x[i]);
        in += (double)p * y[i];
        sp += p;
        sy += y[i];
    }
    stats[0] = (float)in, stats[1] = (float)sp, stats[2] = (float)sy;
    return 1 - (2 * in + DICE_SMOOTH) / (sp + sy + DICE_SMOOTH);
}

static void dice_backward(float *dx, const float *x, const float *y, int64_t n, const float *stats, float scale) {
    double den = (double)stats[1] + stats[2] + DICE_SMOOTH, num = 2.0 * stats[0] + DICE_SMOOTH;
    float a = (float)(-2 / den), b = (float)(num / (den * den)); /* dd/dp_j = a y_j + b */
    for (int64_t i = 0; i < n; i++) dx[i] += scale * (a * y[i] + b) * dsigmoidf(x[i]);
}

/* ---- boundary loss (Kervadec et al. 2019), one image ----
 * x, y (H,W): l = mean over pixels of p phi, p = sigmoid(x), where phi is
 * the signed distance map of the target mask (y > 0.5), as the reference
 * implementation's one_hot2dist:
 *   phi = edt(1 - y) (1 - y) - (edt(y) - 1) y
 * edt(a) being the exact Euclidean distance of each pixel to the nearest
 * zero of a: outside the mask, the distance to the nearest mask pixel
 * (>= 1); inside, minus (the distance to the nearest background pixel,
 * less 1), so the mask's own edge pixels get 0. A mask that is empty or
 * full has no boundary: phi = 0. dl/dx = phi p (1 - p). */

/* The lower envelope of the parabolas (q - v)^2 + f[v] (Felzenszwalb and
 * Huttenlocher 2012): d[q] = min_v (q - v)^2 + f[v] for q < n, in O(n).
 * v (n), z (n + 1) scratch. */
static void envelope_1d(const double *f, double *d, int n, double *v, double *z) {
    int k = 0;
    v[0] = 0;
    z[0] = -INFINITY;
    z[1] = INFINITY;
    for (int q = 1; q < n; q++) {
        double s;
        for (;;) {
            int p = (int)v[k];
            s = ((f[q] + (double)q * q) - (f[p] + (double)p * p)) / (2.0 * q - 2.0 * p);
            if (s > z[k]) break;
            k--; /* z[0] = -inf ends this */
        }
        k++;
        v[k] = q;
        z[k] = s;
        z[k + 1] = INFINITY;
    }
    k = 0;
    for (int q = 0; q < n; q++) {
        while (z[k + 1] < q) k++;
        int p = (int)v[k];
        d[q] = (double)(q - p) * (q - p) + f[p];
    }
}

/* dist (h,w) = the squared distance of each pixel to the nearest site,
 * the sites being the mask's pixels (fg) or the background's (!fg); at
 * least one must exist. First the distance along each column (two scans
 * down and up, whole rows at a time), then the envelope along each row.
 * A column without a site gets `big`, more than any squared distance in
 * the image, so a real site always wins and every value stays a small
 * integer, exact in double. s: scratch of 3 max(h,w) + 1 doubles. */
static void edt_sq(double *dist, const float *y, int fg, int h, int w, double *s) {
    int l = h > w ? h : w;
    double *d = s, *v = s + l, *z = s + 2 * l;
    double none = h + w, big = (double)h * h + (double)w * w;
    for (int j = 0; j < w; j++) dist[j] = ((y[j] > 0.5f) == fg) ? 0 : none;
    for (int i = 1; i < h; i++) {
        const float *yr = y + (int64_t)i * w;
        double *r = dist + (int64_t)i * w, *up = r - w;
        for (int j = 0; j < w; j++) r[j] = ((yr[j] > 0.5f) == fg) ? 0 : up[j] + 1;
    }
    for (int i = h - 2; i >= 0; i--) {
        double *r = dist + (int64_t)i * w, *dn = r + w;
        for (int j = 0; j < w; j++) r[j] = fmin(r[j], dn[j] + 1);
    }
    for (int64_t i = 0; i < (int64_t)h * w; i++) dist[i] = dist[i] >= h ? big : dist[i] * dist[i];
    for (int i = 0; i < h; i++) {
        double *row = dist + (int64_t)i * w;
        envelope_1d(row, d, w, v, z);
        memcpy(row, d, (size_t)w * sizeof *row);
    }
}

/* phi (h,w) of target y (h,w); scratch: h w + 3 max(h,w) + 1 doubles */
static void boundary_phi(float *phi, const float *y, int h, int w, double *scratch) {
    int64_t hw = (int64_t)h * w, npos = 0;
    for (int64_t i = 0; i < hw; i++) npos += y[i] > 0.5f;
    if (npos == 0 || npos == hw) {
        memset(phi, 0, (size_t)hw * sizeof *phi);
        return;
    }
    double *dist = scratch, *s = scratch + hw;
    edt_sq(dist, y, 1, h, w, s);
    for (int64_t i = 0; i < hw; i++)
        if (!(y[i] > 0.5f)) phi[i] = (float)sqrt(dist[i]);
    edt_sq(dist, y, 0, h, w, s);
    for (int64_t i = 0; i < hw; i++)
        if (y[i] > 0.5f) phi[i] = (float)-(sqrt(dist[i]) - 1);
}

static double boundary_forward(const float *x, const float *phi, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)sigmoidf(x[i]) * phi[i];
    return s;
}

static void boundary_backward(float *dx, const float *x, const float *phi, int64_t n, float scale) {
    for (int64_t i = 0; i < n; i++) dx[i] += scale * phi[i] * dsigmoidf(x[i]);
}

/* ---- Lovasz hinge (Berman et al. 2018), one image ----
 * x, y (P), as lovasz_hinge_flat of the reference lovasz_losses.py:
 *   s = 2y - 1, e = 1 - x s, sorted descending (the permutation pi),
 *   g = lovasz_grad(y[pi]): with G = sum y and k = 1..P,
 *       J_k = 1 - (G - cumsum(y[pi])_k) / (G + cumsum(1 - y[pi])_k),
 *       g_1 = J_1, g_k = J_k - J_(k-1)   (the Jaccard loss's Lovasz extension)
 *   l = sum_k relu(e[pi_k]) g_k
 *   dl/dx_i = -s_i g_(rank of i) [e_i > 0]   (pi held constant)
 * The symmetric form averages it with the loss of (-x, 1 - y), whose
 * errors are the same (1 - (-x)(-s)) and so sort the same way; only g
 * changes, to that of the complement labels.
 * Sorting e descending is sorting t = x s ascending, and t is exact in
 * float (s = +-1) where 1 - t is not: ties are only true ties, broken by
 * index (a stable sort), so the order is deterministic.
 * coef (P) = dl/dx, kept for backward; scratch: 4P + RADIX_PASSES *
 * RADIX_SIZE 32-bit words. */

/* float -> uint32 with the same order; -0 is +0 so it ties with it */
static uint32_t float_key(float f) {
    uint32_t u;
    if (f == 0) f = 0;
    memcpy(&u, &f, sizeof u);
    return (u & 0x80000000u) ? ~u : u | 0x80000000u;
}

/* Indices 0..n-1 sorted by key ascending, equal keys in index order (LSD
 * radix sort: every pass is stable). Returns the sorted indices, which lie
 * in idx or in tidx; key, tkey, idx, tidx: n words each. */
static uint32_t *radix_sort(uint32_t *key, uint32_t *tkey, uint32_t *idx, uint32_t *tidx, uint32_t n,
                            uint32_t *hist) {
    memset(hist, 0, RADIX_PASSES * RADIX_SIZE * sizeof *hist);
    for (uint32_t i = 0; i < n; i++) {
        idx[i] = i;
        for (int p = 0; p < RADIX_PASSES; p++)
            hist[p * RADIX_SIZE + (key[i] >> (p * RADIX_BITS) & (RADIX_SIZE - 1))]++;
    }
    for (int p = 0; p < RADIX_PASSES; p++) {
        uint32_t *h = hist + p * RADIX_SIZE, sh = (uint32_t)(p * RADIX_BITS);
        if (h[key[0] >> sh & (RADIX_SIZE - 1)] == n) continue; /* one bucket: the pass would not move anything */
        uint32_t sum = 0;
        for (int b = 0; b < RADIX_SIZE; b++) {
            uint32_t c = h[b];
            h[b] = sum;
            sum += c;
        }
        for (uint32_t i = 0; i < n; i++) {
            uint32_t o = h[key[i] >> sh & (RADIX_SIZE - 1)]++;
            tkey[o] = key[i];
            tidx[o] = idx[i];
        }
        uint32_t *t = key;
        key = tkey, tkey = t;
        t = idx;
        idx = tidx, tidx = t;
    }
    return idx;
}

static double lovasz_forward(float *coef, const float *x, const float *y, int64_t n, int sym, uint32_t *scratch) {
    uint32_t *key = scratch, *tkey = scratch + n, *idx = scratch + 2 * n, *tidx = scratch + 3 * n;
    double gts = 0;
    for (int64_t i = 0; i < n; i++) {
        key[i] = float_key(x[i] * (2 * y[i] - 1));
        gts += y[i];
    }
    const uint32_t *pi = radix_sort(key, tkey, idx, tidx, (uint32_t)n, scratch + 4 * n);
    /* cg, cn: cumulative sums of y and 1 - y in sorted order; for the
     * complement labels they swap roles, and G becomes P - G */
    double gtc = (double)n - gts, cg = 0, cn = 0, jprev = 0, jcprev = 0, loss = 0;
    for (int64_t k = 0; k < n; k++) {
        uint32_t i = pi[k];
        float s = 2 * y[i] - 1;
        cg += y[i];
        cn += 1 - y[i];
        double j = 1 - (gts - cg) / (gts + cn), g = j - jprev;
        jprev = j;
        if (sym) {
            double jc = 1 - (gtc - cn) / (gtc + cg);
            g = (g + (jc - jcprev)) / 2;
            jcprev = jc;
        }
        double e = 1 - (double)x[i] * s;
        if (e > 0) {
            loss += e * g;
            coef[i] = (float)(-s * g);
        } else {
            coef[i] = 0;
        }
    }
    return loss;
}

/* dx += scale * coef: Lovasz's backward, its factor per element saved by
 * the forward */
static void coef_backward(float *dx, const float *coef, int64_t n, float scale) {
    for (int64_t i = 0; i < n; i++) dx[i] += scale * coef[i];
}

/* ---- the node adapters ---- */

/* per-thread scratch of the forward, in floats */
static int64_t scratch_floats(const struct tgs_node *nd) {
    struct loss_dims d = loss_dims(nd->src[0]);
    int64_t l = d.h > d.w ? d.h : d.w;
    switch (nd->op) {
    case TGS_OP_LOSS_BOUNDARY: return 2 * ((int64_t)d.h * d.w + 3 * l + 1); /* doubles */
    case TGS_OP_LOSS_LOVASZ:
    case TGS_OP_LOSS_LOVASZ_SYM: return 4 * d.per + RADIX_PASSES * RADIX_SIZE;
    default: return 0;
    }
}

static int64_t forward_units(const struct tgs_node *nd) {
    struct loss_dims d = loss_dims(nd->src[0]);
    return per_image_forward(nd->op) ? d.n : (d.m + CHUNK - 1) / CHUNK;
}

static int64_t loss_saved_floats(const struct tgs_node *nd) {
    struct loss_dims d = loss_dims(nd->src[0]);
    switch (nd->op) {
    case TGS_OP_LOSS_DICE: return 3 * d.n;
    case TGS_OP_LOSS_BOUNDARY:
    case TGS_OP_LOSS_LOVASZ:
    case TGS_OP_LOSS_LOVASZ_SYM: return d.m; /* phi; dl/dx */
    default: return 0;
    }
}

/* the partial sums (one double per unit), then each thread's scratch
 * (no more threads than units) */
static int64_t loss_work_floats(const struct tgs_node *nd) {
    int64_t units = forward_units(nd), nt = tgs_cpu_threads();
    return 2 * units + (nt < units ? nt : units) * scratch_floats(nd);
}

struct loss_run {
    const struct tgs_node *nd;
    struct loss_dims d;
    int64_t units;
    double *part;     /* forward: one partial sum per unit */
    float *scratch;   /* forward: per thread, scr floats each */
    int64_t scr;
    float scale;      /* backward: weight * dout / divisor */
};

static void forward_unit(const struct loss_run *r, int64_t u, float *scratch) {
    const struct tgs_node *nd = r->nd;
    const float *x = nd->src[0]->data, *y = nd->src[1]->data;
    int64_t lo = per_image_forward(nd->op) ? u * r->d.per : u * CHUNK;
    int64_t len = per_image_forward(nd->op) ? r->d.per : (r->d.m - lo < CHUNK ? r->d.m - lo : CHUNK);
    double s = 0;
    switch (nd->op) {
    case TGS_OP_LOSS_BCE: s = bce_forward(x + lo, y + lo, len); break;
    case TGS_OP_LOSS_MSE: s = mse_forward(x + lo, y + lo, len); break;
    case TGS_OP_LOSS_FOCAL: s = focal_forward(x + lo, y + lo, len, nd->p.loss.alpha, nd->p.loss.gamma); break;
    case TGS_OP_LOSS_DICE: s = dice_forward(nd->saved + 3 * u, x + lo, y + lo, len); break;
    case TGS_OP_LOSS_BOUNDARY:
        boundary_phi(nd->saved + lo, y + lo, r->d.h, r->d.w, (double *)scratch);
        s = boundary_forward(x + lo, nd->saved + lo, len);
        break;
    case TGS_OP_LOSS_LOVASZ:
    case TGS_OP_LOSS_LOVASZ_SYM:
        s = lovasz_forward(nd->saved + lo, x + lo, y + lo, len, nd->op == TGS_OP_LOSS_LOVASZ_SYM,
                           (uint32_t *)scratch);
        break;
    default: break;
    }
    r->part[u] = s;
}

/* backward units: images for Dice (its factor is per image), chunks else */
static void backward_unit(const struct loss_run *r, int64_t u) {
    const struct tgs_node *nd = r->nd;
    const float *x = nd->src[0]->data, *y = nd->src[1]->data;
    float *dx = nd->src[0]->grad;
    if (nd->op == TGS_OP_LOSS_DICE) {
        int64_t lo = u * r->d.per;
        dice_backward(dx + lo, x + lo, y + lo, r->d.per, nd->saved + 3 * u, r->scale);
        return;
    }
    int64_t lo = u * CHUNK, len = r->d.m - lo < CHUNK ? r->d.m - lo : CHUNK;
    switch (nd->op) {
    case TGS_OP_LOSS_BCE: bce_backward(dx + lo, x + lo, y + lo, len, r->scale); break;
    case TGS_OP_LOSS_MSE: mse_backward(dx + lo, x + lo, y + lo, len, r->scale); break;
    case TGS_OP_LOSS_FOCAL:
        focal_backward(dx + lo, x + lo, y + lo, len, nd->p.loss.alpha, nd->p.loss.gamma, r->scale);
        break;
    case TGS_OP_LOSS_BOUNDARY: boundary_backward(dx + lo, x + lo, nd->saved + lo, len, r->scale); break;
    case TGS_OP_LOSS_LOVASZ:
    case TGS_OP_LOSS_LOVASZ_SYM: coef_backward(dx + lo, nd->saved + lo, len, r->scale); break;
    default: break;
    }
}

static void forward_thread(void *ctx, int tid, int nt) {
    const struct loss_run *r = ctx;
    int64_t lo, hi;
    tgs_split(r->units, tid, nt, &lo, &hi);
    for (int64_t u = lo; u < hi; u++) forward_unit(r, u, r->scratch + tid * r->scr);
}

static void backward_thread(void *ctx, int tid, int nt) {
    const struct loss_run *r = ctx;
    int64_t lo, hi;
    tgs_split(r->units, tid, nt, &lo, &hi);
    for (int64_t u = lo; u < hi; u++) backward_unit(r, u);
}

static int threads_for(enum tgs_op op, const struct loss_dims *d, int64_t units, int max, int forward) {
    int64_t nt = units < max ? units : max;
    int heavy = forward && (op == TGS_OP_LOSS_BOUNDARY || op == TGS_OP_LOSS_LOVASZ || op == TGS_OP_LOSS_LOVASZ_SYM);
    if (!heavy && nt > d->m / GRAIN) nt = d->m / GRAIN;
    return nt < 1 ? 1 : (int)nt;
}

static int loss_forward(struct tgs_node *nd, const struct tgs_exec *x) {
    struct loss_run r = {.nd = nd, .d = loss_dims(nd->src[0]), .units = forward_units(nd), .scr = scratch_floats(nd)};
    if (2 * r.units + r.scr > x->work_floats)
        return tgs_err("%s: workspace of %lld floats, needs %lld", tgs_op_name(nd->op), (long long)x->work_floats,
                       (long long)(2 * r.units + r.scr));
    r.part = (double *)x->work;
    r.scratch = x->work + 2 * r.units;
    int64_t nt = threads_for(nd->op, &r.d, r.units, x->threads, 1);
    while (nt > 1 && 2 * r.units + nt * r.scr > x->work_floats) nt--;
    tgs_cpu_parallel((int)nt, forward_thread, &r);
    double s = 0;
    for (int64_t u = 0; u < r.units; u++) s += r.part[u];
    nd->out->data[0] = (float)(nd->p.loss.weight * s / loss_divisor(nd->op, &r.d));
    return 0;
}

static int loss_backward(struct tgs_node *nd, const struct tgs_exec *x) {
    if (!nd->src[0]->grad) return 0;
    struct loss_run r = {.nd = nd, .d = loss_dims(nd->src[0])};
    r.units = nd->op == TGS_OP_LOSS_DICE ? r.d.n : (r.d.m + CHUNK - 1) / CHUNK;
    r.scale = (float)(nd->p.loss.weight * (double)nd->out->grad[0] / loss_divisor(nd->op, &r.d));
    tgs_cpu_parallel(threads_for(nd->op, &r.d, r.units, x->threads, 0), backward_thread, &r);
    return 0;
}

const struct tgs_op_impl tgs_cpu_loss_bce = {loss_forward, loss_backward, loss_saved_floats, loss_work_floats};
const struct tgs_op_impl tgs_cpu_loss_dice = {loss_forward, loss_backward, loss_saved_floats, loss_work_floats};
const struct tgs_op_impl tgs_cpu_loss_focal = {loss_forward, loss_backward, loss_saved_floats, loss_work_floats};
const struct tgs_op_impl tgs_cpu_loss_boundary = {loss_forward, loss_backward, loss_saved_floats,
                                                  loss_work_floats};
const struct tgs_op_impl tgs_cpu_loss_lovasz = {loss_forward, loss_backward, loss_saved_floats, loss_work_floats};
const struct tgs_op_impl tgs_cpu_loss_lovasz_sym = {loss_forward, loss_backward, loss_saved_floats,
                                                    loss_work_floats};
const struct tgs_op_impl tgs_cpu_loss_mse = {loss_forward, loss_backward, loss_saved_floats, loss_work_floats};
