/* train: inputs, the model with its losses, optimizer state (train.h). */
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "json.h"
#include "rng.h"

/* ---- losses ---- */

static const char *const part_names[TGS_LOSS_NPARTS] = {"bce",    "dice",       "focal", "boundary",
                                                        "lovasz", "lovasz-sym", "cls",   "deep"};

const char *tgs_loss_part_name(int part) { return part >= 0 && part < TGS_LOSS_NPARTS ? part_names[part] : "?"; }

int tgs_loss_mix_parse(const char *spec, float w[TGS_LOSS_NPARTS]) {
    float v[TGS_LOSS_NPARTS] = {0};
    int seen[TGS_LOSS_NPARTS] = {0}, any = 0;
    const char *p = spec;
    if (!*p) return tgs_err("loss '': empty; give NAME=WEIGHT[,NAME=WEIGHT...]");
    while (*p) {
        const char *eq = strchr(p, '='), *comma = strchr(p, ',');
        if (!comma) comma = p + strlen(p);
        if (!eq || eq > comma)
            return tgs_err("loss '%s': '%.*s' is not NAME=WEIGHT", spec, (int)(comma - p), p);
        int k = -1;
        for (int i = 0; i < TGS_LOSS_NPARTS; i++)
            if ((size_t)(eq - p) == strlen(part_names[i]) && strncmp(p, part_names[i], (size_t)(eq - p)) == 0) k = i;
        if (k < 0)
            return tgs_err("loss '%s': unknown loss '%.*s' (bce, dice, focal, boundary, lovasz, lovasz-sym, cls, deep)", spec,
                           (int)(eq - p), p);
        if (seen[k]) return tgs_err("loss '%s': %s given twice", spec, part_names[k]);
        char num[64], *end;
        size_t len = (size_t)(comma - eq - 1);
        if (len == 0 || len >= sizeof num) return tgs_err("loss '%s': %s needs a weight", spec, part_names[k]);
        memcpy(num, eq + 1, len);
        num[len] = 0;
        double x = strtod(num, &end);
        if (*end || !isfinite(x) || x < 0 || x > 1e6)
            return tgs_err("loss '%s': weight '%s' of %s is not a number in [0, 1e6]", spec, num, part_names[k]);
        v[k] = (float)x, seen[k] = 1;
        any |= x > 0;
        p = *comma ? comma + 1 : comma;
        if (*comma && !*p) return tgs_err("loss '%s': ends with a comma", spec);
    }
    if (!any) return tgs_err("loss '%s': every weight is 0", spec);
    int maps = 0;
    for (int i = 0; i < TGS_LOSS_CLS; i++) maps |= v[i] > 0;
    if (v[TGS_LOSS_DEEP] > 0 && !maps)
        return tgs_err("loss '%s': deep applies the map losses (bce, dice, ...) to the aux maps; give one", spec);
    memcpy(w, v, sizeof v);
    return 0;
}

void tgs_loss_mix_format(const float w[TGS_LOSS_NPARTS], char *buf, size_t size) {
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; i < TGS_LOSS_NPARTS && k < size; i++) {
        if (!(w[i] > 0)) continue;
        char num[32];
        k += (size_t)snprintf(buf + k, size - k, "%s%s=%s", k ? "," : "", part_names[i], tgs_fmt_float(num, sizeof num, w[i]));
    }
}

/* ---- inputs ---- */

void tgs_prep_init(tgs_prep *p, int stride) {
    memset(p, 0, sizeof *p);
    p->stride = stride > 0 ? stride : 1;
    p->std = 1;
}

void tgs_prep_free(tgs_prep *p) { tgs_aug_work_free(&p->work); }

int tgs_sample_norm(const tgs_sample *smp, float *mean, float *std) {
    const tgs_record *im = tgs_sample_get(smp, "image"), *r = tgs_sample_get(smp, "norm");
    if (!r || !im || im->dtype != TGS_F32) return 0;
    if (r->dtype != TGS_F32 || r->ndim != 1 || r->dims[0] != 2) return tgs_err("record 'norm' is not f32 [2] (mean, std)");
    float v[2];
    memcpy(v, r->data, sizeof v);
    if (!isfinite(v[0]) || !isfinite(v[1]) || !(v[1] > 0))
        return tgs_err("record 'norm' is %g,%g, not a finite mean and a std above 0", (double)v[0], (double)v[1]);
    *mean = v[0], *std = v[1];
    return 1;
}

int tgs_prep_check_norm(const tgs_prep *p, const tgs_sample *smp) {
    float m, s;
    int rc = tgs_sample_norm(smp, &m, &s);
    if (rc <= 0 || (m == p->mean && s == p->std)) return rc < 0 ? -1 : 0;
    char a[32], b[32], c[32], d[32];
    return tgs_err("'norm' is %s,%s, the model takes %s,%s%s%s%s", tgs_fmt_float(a, sizeof a, m), tgs_fmt_float(b, sizeof b, s),
                   tgs_fmt_float(c, sizeof c, p->mean), tgs_fmt_float(d, sizeof d, p->std), p->norm_from ? " (" : "",
                   p->norm_from ? p->norm_from : "", p->norm_from ? ")" : "");
}

int tgs_prep_view_sample(const tgs_prep *p, const tgs_sample *smp, int need_mask, tgs_prep_view *v) {
    static const int types[] = {TGS_U8, TGS_F32, 0};
    memset(v, 0, sizeof *v);
    v->image = tgs_sample_get(smp, "image");
    if (!v->image) return tgs_err("no 'image' record");
    if (tgs_record_check_image(v->image, types, &v->c, &v->h, &v->w) < 0) return -1;
    v->mask = tgs_sample_get(smp, "mask");
    if (!v->mask && need_mask) return tgs_err("no 'mask' record (training and validation need labelled samples)");
    int mc = 1, mh = 0, mw = 0;
    if (v->mask) {
        static const int mtypes[] = {TGS_U8, TGS_F32, 0};
        if (tgs_record_check_image(v->mask, mtypes, &mc, &mh, &mw) < 0) return -1;
        if (mc != 1) return tgs_err("record 'mask' has %d channels, expected 1", mc);
    }
    if (v->image->dtype == TGS_U8) {
        v->raw = 1;
        int side = v->h > v->w ? v->h : v->w;
        v->s = p->size ? p->size : (side + p->stride - 1) / p->stride * p->stride;
        if (v->h > v->s || v->w > v->s)
            return tgs_err("record 'image': the tile is %dx%d, larger than the input size %d", v->w, v->h, v->s);
        if (v->s % p->stride)
            return tgs_err("input size %d is not a multiple of the model's stride %d", v->s, p->stride);
        v->crop[0] = (v->s - v->h) / 2, v->crop[1] = (v->s - v->w) / 2, v->crop[2] = v->h, v->crop[3] = v->w;
        if (v->mask && (v->mask->dtype != TGS_U8 || mh != v->h || mw != v->w))
            return tgs_err("record 'mask' is %s %dx%d; a u8 %dx%d 'image' needs a u8 mask of its size",
                           tgs_dtype_name(v->mask->dtype), mw, mh, v->w, v->h);
        return 0;
    }
    /* an f32 model input: normalised as the model takes it, square, a
     * multiple of the stride, crop inside it */
    if (tgs_prep_check_norm(p, smp) < 0) return -1;
    if (v->h != v->w)
        return tgs_err("record 'image' is f32 %dx%d; a padded model input is square (tgs-augment --size)", v->w, v->h);
    v->s = v->h;
    if (v->s % p->stride)
        return tgs_err("record 'image' is f32 %dx%d, not a multiple of the model's stride %d (pad with tgs-augment --size)",
                       v->w, v->h, p->stride);
    if (p->size && v->s != p->size)
        return tgs_err("record 'image' is f32 %dx%d, but the input size is %d", v->w, v->h, p->size);
    const tgs_record *cr = tgs_sample_get(smp, "crop");
    if (cr) {
        if (cr->dtype != TGS_I32 || cr->ndim != 1 || cr->dims[0] != 4)
            return tgs_err("record 'crop' is not i32 [4] (y0, x0, h, w)");
        memcpy(v->crop, cr->data, sizeof v->crop);
        const int32_t *c = v->crop;
        if (c[0] < 0 || c[1] < 0 || c[2] < 1 || c[3] < 1 || c[2] > v->s - c[0] || c[3] > v->s - c[1])
            return tgs_err("record 'crop' %d %d %d %d does not lie inside the %dx%d image", c[0], c[1], c[2], c[3], v->s, v->s);
    } else {
        v->crop[0] = v->crop[1] = 0, v->crop[2] = v->crop[3] = v->s;
    }
    if (v->mask && (v->mask->dtype != TGS_F32 || mh != v->s || mw != v->s))
        return tgs_err("record 'mask' is %s %dx%d; an f32 %dx%d 'image' needs an f32 mask of its size",
                       tgs_dtype_name(v->mask->dtype), mw, mh, v->s, v->s);
    return 0;
}

int tgs_prep_fill(tgs_prep *p, const tgs_prep_view *v, float *img, float *mask) {
    size_t plane = (size_t)v->s * (size_t)v->s;
    if (v->raw) {
        /* tgs-augment with no augmentation: the draw is neutral */
        tgs_aug_params ap;
        tgs_aug_params_default(&ap);
        ap.size = v->s;
        ap.pad = TGS_AUG_PAD_REFLECT;
        ap.mean = p->mean, ap.std = p->std;
        tgs_rng r;
        tgs_rng_seed(&r, 0, 0);
        tgs_aug_draw d;
        tgs_aug_draw_sample(&ap, v->h, v->w, &r, &d);
        const uint8_t *m = mask && v->mask ? v->mask->data : NULL;
        if (tgs_aug_apply(&ap, &d, &r, &p->work, v->image->data, v->c, v->h, v->w, m, img, m ? mask : NULL) < 0)
            return -1;
        if (mask && !m) memset(mask, 0, plane * sizeof *mask);
        return 0;
    }
    memcpy(img, v->image->data, plane * (size_t)v->c * sizeof *img);
    for (size_t i = 0; i < plane * (size_t)v->c; i++)
        if (!isfinite(img[i])) return tgs_err("record 'image' holds %g at %zu", (double)img[i], i);
    if (mask) {
        if (!v->mask) {
            memset(mask, 0, plane * sizeof *mask);
            return 0;
        }
        const float *m = v->mask->data;
        for (size_t i = 0; i < plane; i++) {
            if (m[i] != 0 && m[i] != 1)
                return tgs_err("record 'mask' holds %g at y=%zu x=%zu, expected 0 or 1", (double)m[i], i / (size_t)v->s,
                               i % (size_t)v->s);
            mask[i] = m[i];
        }
    }
    return 0;
}

int tgs_prep_has_salt(const float *mask, int s, const int32_t crop[4]) {
    for (int y = crop[0]; y < crop[0] + crop[2]; y++)
        for (int x = crop[1]; x < crop[1] + crop[3]; x++)
            if (mask[(size_t)y * (size_t)s + (size_t)x] > 0.5f) return 1;
    return 0;
}

/* ---- the model at one shape ---- */

static const enum tgs_op part_ops[TGS_LOSS_NPARTS] = {
    TGS_OP_LOSS_BCE, TGS_OP_LOSS_DICE, TGS_OP_LOSS_FOCAL, TGS_OP_LOSS_BOUNDARY, TGS_OP_LOSS_LOVASZ, TGS_OP_LOSS_LOVASZ_SYM,
    TGS_OP_LOSS_BCE, 0 /* deep: deep_loss() builds it from the others */,
};

/* A map part k of the mix on logits (N,1,S,S) against the target. */
static struct tgs_tensor *map_loss(tgs_net *net, int k, struct tgs_tensor *logits) {
    if (k == TGS_LOSS_FOCAL) return tgs_loss_focal(net->g, logits, net->y, 1, 0.25f, 2.0f);
    return tgs_loss(net->g, part_ops[k], logits, net->y, 1);
}

/* The 'deep' part: sum over aux maps a and map parts k of w[k] * loss_k(a),
 * over the number of maps, so that it is on the scale of the map parts'
 * weighted sum on the main output. */
static struct tgs_tensor *deep_loss(tgs_net *net, const float *w) {
    struct tgs_tensor *sum = NULL;
    for (int a = 0; a < net->out.naux; a++)
        for (int k = 0; k < TGS_LOSS_CLS; k++) {
            if (!(w[k] > 0)) continue;
            struct tgs_tensor *l = map_loss(net, k, net->out.aux[a]);
            if (w[k] != 1) l = tgs_scale(net->g, l, w[k]);
            sum = sum ? tgs_add(net->g, sum, l) : l;
        }
    return sum && net->out.naux > 1 ? tgs_scale(net->g, sum, 1.0f / (float)net->out.naux) : sum;
}

int tgs_net_build(tgs_net *net, struct tgs_params *ps, const struct tgs_model_opts *mo, int mode, int n, int c, int s,
                  const float *w) {
    memset(net, 0, sizeof *net);
    net->n = n, net->c = c, net->s = s;
    if (c != mo->in_ch) return tgs_err("the model takes %d input channels, the samples have %d", mo->in_ch, c);
    struct tgs_graph *g = net->g = tgs_graph_new(ps);
    if (!g) return -1;
    net->x = tgs_input(g, "image", 4, (int32_t[]){n, c, s, s});
    if (tgs_model_build(g, mo, net->x, &net->out) < 0) goto fail;
    if (w) {
        net->y = tgs_input(g, "mask", 4, (int32_t[]){n, 1, s, s});
        net->salt = tgs_input(g, "salt", 2, (int32_t[]){n, 1});
        if (w[TGS_LOSS_DEEP] > 0 && !net->out.naux) {
            tgs_err("the loss 'deep' needs a model with deep supervision (ds=1)");
            goto fail;
        }
        for (int k = 0; k < TGS_LOSS_NPARTS; k++) {
            if (!(w[k] > 0)) continue;
            struct tgs_tensor *l;
            if (k == TGS_LOSS_CLS) l = tgs_loss(g, TGS_OP_LOSS_BCE, net->out.cls, net->salt, 1);
            else if (k == TGS_LOSS_DEEP) l = deep_loss(net, w);
            else l = map_loss(net, k, net->out.seg);
            net->part[k] = l;
            struct tgs_tensor *term = w[k] == 1 ? l : tgs_scale(g, l, w[k]);
            net->total = net->total ? tgs_add(g, net->total, term) : term;
        }
        if (!net->total) {
            tgs_err("no loss has a weight above 0");
            goto fail;
        }
    }
    return tgs_net_plan(net, mode);
fail:
    tgs_graph_free(g);
    net->g = NULL;
    return -1;
}

int tgs_net_plan(tgs_net *net, int mode) {
    struct tgs_graph *g = net->g;
    /* a Monte Carlo net reruns its passes after the first from the first
     * dropout, the encoder's features kept from the first pass; the others
     * rerun from node 0, and so keep nothing longer than it is read */
    net->replay = mode == TGS_NET_INFER_MC ? tgs_graph_first_random(g) : 0;
    if (tgs_graph_error(g)) tgs_err("%s", tgs_graph_error(g));
    else if (tgs_graph_replay_from(g, net->replay) == 0 &&
             tgs_graph_plan(g, mode == TGS_NET_TRAIN ? TGS_PLAN_TRAIN : TGS_PLAN_INFER) == 0)
        return 0;
    tgs_graph_free(g);
    net->g = NULL;
    return -1;
}

void tgs_net_free(tgs_net *net) {
    if (net->g) tgs_graph_free(net->g);
    memset(net, 0, sizeof *net);
}

int tgs_model_params(struct tgs_params *ps, const struct tgs_model_opts *mo, uint64_t seed) {
    struct tgs_graph *g = tgs_graph_new(ps);
    if (!g) return -1;
    int s = tgs_model_stride(mo);
    struct tgs_model_out out;
    struct tgs_tensor *x = tgs_input(g, "image", 4, (int32_t[]){2, mo->in_ch, s, s});
    int rc = tgs_model_build(g, mo, x, &out);
    tgs_graph_free(g);
    if (rc < 0) return -1;
    return tgs_params_alloc(ps, seed);
}

/* ---- optimizer state ---- */

/* Floats rounded up to 16 (64 bytes), so each tensor's piece of a block
 * starts aligned, as the parameters' own do. */
static int64_t round16(int64_t n) { return (n + 15) / 16 * 16; }

int tgs_optim_state_init(tgs_optim_state *st, const struct tgs_optim_opts *o, struct tgs_params *ps) {
    memset(st, 0, sizeof *st);
    if (tgs_optim_check(o) < 0) return -1;
    st->o = *o, st->ps = ps, st->count = tgs_params_count(ps), st->be = tgs_params_backend(ps);
    st->state = calloc((size_t)(st->count ? st->count : 1), sizeof *st->state);
    if (!st->state) return tgs_err("out of memory");
    int per = tgs_optim_state_per_elem(o);
    int64_t total = 0;
    for (int i = 0; per && i < st->count; i++) {
        struct tgs_tensor *t = tgs_params_at(ps, i);
        if (t->flags & TGS_TENSOR_PARAM) total += round16(per * t->size);
    }
    if (!total) return 0;
    /* zeroed by the backend, as the updates' first step wants it */
    if (!(st->block = st->be->alloc((size_t)total * sizeof(float)))) {
        tgs_optim_state_free(st);
        return tgs_err("out of memory for the optimizer state (%lld floats)", (long long)total);
    }
    int64_t at = 0;
    for (int i = 0; i < st->count; i++) {
        struct tgs_tensor *t = tgs_params_at(ps, i);
        if (!(t->flags & TGS_TENSOR_PARAM)) continue;
        st->state[i] = st->block + at;
        at += round16(per * t->size);
    }
    return 0;
}

void tgs_optim_state_free(tgs_optim_state *st) {
    if (st->block) st->be->free(st->block);
    free(st->state);
    memset(st, 0, sizeof *st);
}

void tgs_optim_state_step(tgs_optim_state *st, float lr, int64_t step) {
    for (int i = 0; i < st->count; i++) {
        struct tgs_tensor *t = tgs_params_at(st->ps, i);
        if (!(t->flags & TGS_TENSOR_PARAM)) continue;
        st->be->optim_update(&st->o, lr, step, t->data, t->grad, st->state[i], t->size);
    }
}

double tgs_optim_state_clip(tgs_optim_state *st, double max_norm) {
    float **g = malloc(sizeof *g * (size_t)(st->count ? st->count : 1));
    int64_t *n = malloc(sizeof *n * (size_t)(st->count ? st->count : 1));
    if (!g || !n) {
        free(g), free(n);
        return NAN;
    }
    int k = 0;
    for (int i = 0; i < st->count; i++) {
        struct tgs_tensor *t = tgs_params_at(st->ps, i);
        if (!(t->flags & TGS_TENSOR_PARAM)) continue;
        g[k] = t->grad, n[k] = t->size;
        k++;
    }
    double norm = st->be->clip_grad_norm(g, n, k, max_norm);
    free(g), free(n);
    return norm;
}

/* the state's parts by name, as torch.optim's state_dict calls them */
static int state_parts(const struct tgs_optim_opts *o, const char *names[2]) {
    if (o->kind == TGS_OPTIM_SGD) {
        names[0] = "momentum_buffer";
        return o->momentum > 0 ? 1 : 0;
    }
    names[0] = "exp_avg", names[1] = "exp_avg_sq";
    return 2;
}

/* Add data, F32 of t's shape, to c as name. */
/* Add t->size floats of backend memory at dev to c as name, F32 of t's
 * shape: downloaded, the one way a checkpoint reads the device. */
static int put_like(tgs_ckpt *c, const char *name, const struct tgs_tensor *t, const struct tgs_backend *be,
                    const float *dev) {
    int64_t shape[TGS_NN_MAX_DIMS];
    for (int d = 0; d < t->ndim; d++) shape[d] = t->ne[d];
    float *host = malloc((size_t)(t->size ? t->size : 1) * sizeof *host);
    if (!host) return tgs_err("out of memory for '%s'", name);
    be->download(host, dev, t->size);
    int rc = tgs_ckpt_add(c, name, TGS_F32, t->ndim, shape, host);
    free(host);
    return rc;
}

/* The tensor of c called name if it is F32 of t's shape and finite; else
 * NULL and a message naming it: missing or misshapen (why: what a run of
 * another kind would lack), or not finite. */
static const tgs_ckpt_tensor *need_like(const tgs_ckpt *c, const char *name, const struct tgs_tensor *t, const char *why) {
    const tgs_ckpt_tensor *ct = tgs_ckpt_find(c, name);
    int same = ct && ct->dtype == TGS_F32 && ct->ndim == t->ndim;
    for (int d = 0; same && d < t->ndim; d++) same = ct->shape[d] == t->ne[d];
    if (!same) {
        tgs_err("%s %s '%s' (%s)", ct ? "misshapen" : "has no", strncmp(name, "optim.", 6) ? "tensor" : "optimizer state",
                name, why);
        return NULL;
    }
    double v;
    int64_t at = tgs_ckpt_tensor_nonfinite(ct, &v);
    if (at >= 0) {
        tgs_err("tensor '%s' holds %s at element %lld", name, tgs_nonfinite_name(v), (long long)at);
        return NULL;
    }
    return ct;
}

int tgs_optim_state_put(const tgs_optim_state *st, tgs_ckpt *c) {
    const char *parts[2];
    int np = state_parts(&st->o, parts);
    for (int i = 0; i < st->count; i++) {
        struct tgs_tensor *t = tgs_params_at(st->ps, i);
        if (!st->state[i]) continue;
        for (int k = 0; k < np; k++) {
            char name[TGS_CKPT_MAX_NAME + 1];
            snprintf(name, sizeof name, "optim.%s.%s", parts[k], t->name);
            if (put_like(c, name, t, st->be, st->state[i] + (size_t)k * (size_t)t->size) < 0) return -1;
        }
    }
    return 0;
}

int tgs_optim_state_get(tgs_optim_state *st, const tgs_ckpt *c) {
    const char *parts[2];
    int np = state_parts(&st->o, parts);
    for (int i = 0; i < st->count; i++) {
        struct tgs_tensor *t = tgs_params_at(st->ps, i);
        if (!st->state[i]) continue;
        for (int k = 0; k < np; k++) {
            char name[TGS_CKPT_MAX_NAME + 1];
            snprintf(name, sizeof name, "optim.%s.%s", parts[k], t->name);
            const tgs_ckpt_tensor *ct = need_like(c, name, t, "a checkpoint of a run with another --optim?");
            if (!ct) return -1;
            st->be->upload(st->state[i] + (size_t)k * (size_t)t->size, ct->data, t->size);
        }
    }
    return 0;
}

/* ---- weight averaging ---- */

int tgs_ema_init(tgs_ema *e, struct tgs_params *ps, float decay) {
    memset(e, 0, sizeof *e);
    if (!(decay > 0 && decay < 1)) return tgs_err("EMA decay %g is not in (0, 1)", (double)decay);
    e->ps = ps, e->decay = decay, e->count = tgs_params_count(ps), e->be = tgs_params_backend(ps);
    e->avg = calloc((size_t)(e->count ? e->count : 1), sizeof *e->avg);
    if (!e->avg) return tgs_err("out of memory");
    int64_t total = 0;
    for (int i = 0; i < e->count; i++) total += round16(tgs_params_at(ps, i)->size);
    if (!(e->block = e->be->alloc((size_t)(total ? total : 1) * sizeof(float)))) {
        tgs_ema_free(e);
        return tgs_err("out of memory for the weight average (%lld floats)", (long long)total);
    }
    int64_t at = 0;
    for (int i = 0; i < e->count; i++) {
        struct tgs_tensor *t = tgs_params_at(ps, i);
        e->avg[i] = e->block + at;
        at += round16(t->size);
        e->be->copy(e->avg[i], t->data, t->size);
    }
    return 0;
}

void tgs_ema_free(tgs_ema *e) {
    if (e->block) e->be->free(e->block);
    free(e->avg);
    memset(e, 0, sizeof *e);
}

void tgs_ema_update(tgs_ema *e, int64_t step) {
    double ramp = (1.0 + (double)step) / (10.0 + (double)step);
    float d = (float)(ramp < e->decay ? ramp : e->decay);
    for (int i = 0; i < e->count; i++) {
        const struct tgs_tensor *t = tgs_params_at(e->ps, i);
        e->be->ema_update(e->avg[i], t->data, t->size, d);
    }
}

void tgs_ema_swap(tgs_ema *e) {
    for (int i = 0; i < e->count; i++) {
        struct tgs_tensor *t = tgs_params_at(e->ps, i);
        e->be->swap(e->avg[i], t->data, t->size);
    }
}

int tgs_ema_put_live(const tgs_ema *e, tgs_ckpt *c) {
    for (int i = 0; i < e->count; i++) {
        struct tgs_tensor *t = tgs_params_at(e->ps, i);
        char name[TGS_CKPT_MAX_NAME + 1];
        snprintf(name, sizeof name, "train.live.%s", t->name);
        if (put_like(c, name, t, e->be, t->data) < 0) return -1;
    }
    return 0;
}

int tgs_ema_get_live(tgs_ema *e, const tgs_ckpt *c) {
    for (int i = 0; i < e->count; i++) {
        struct tgs_tensor *t = tgs_params_at(e->ps, i);
        char name[TGS_CKPT_MAX_NAME + 1];
        snprintf(name, sizeof name, "train.live.%s", t->name);
        const tgs_ckpt_tensor *ct = need_like(c, name, t, "a checkpoint of a run without --ema?");
        if (!ct) return -1;
        e->be->upload(t->data, ct->data, t->size);
    }
    return 0;
}

/* ---- a trained model ---- */

int tgs_model_info_get(const tgs_ckpt *c, tgs_model_info *info) {
    memset(info, 0, sizeof *info);
    const char *f = tgs_ckpt_meta_get(c, "format");
    if (!f) return tgs_err("not a tgs checkpoint: no metadata 'format'");
    if (strcmp(f, "tgs") != 0) return tgs_err("not a tgs checkpoint: metadata 'format' is '%.40s'", f);
    const char *arch = tgs_ckpt_meta_get(c, "arch");
    if (!arch) return tgs_err("no metadata 'arch' (the model spec)");
    if (tgs_model_parse_saved(&info->mo, arch) < 0) return tgs_err_prefix("metadata 'arch'");
    const char *size = tgs_ckpt_meta_get(c, "size");
    if (size) {
        char *end;
        long s = strtol(size, &end, 10);
        if (end == size || *end || s < 1 || s > 4096) return tgs_err("metadata 'size' is '%.40s', not a side 1..4096", size);
        info->size = (int)s;
    }
    info->mean = 0, info->std = 1;
    const char *norm = tgs_ckpt_meta_get(c, "norm");
    if (norm) {
        char *end;
        double m = strtod(norm, &end);
        const char *t = end + 1;
        double s = *end == ',' ? strtod(t, &end) : NAN;
        if (*end || !isfinite(m) || !(s > 0) || !isfinite(s))
            return tgs_err("metadata 'norm' is '%.40s', not MEAN,STD", norm);
        info->mean = (float)m, info->std = (float)s;
    }
    return 0;
}

void tgs_traffic_say(const struct tgs_backend *be) {
    if (!be->traffic) return;
    struct tgs_traffic t;
    be->traffic(&t);
    fprintf(stderr, "%s: %llu bytes to the device in %llu uploads, %llu bytes back in %llu downloads\n", be->name,
            (unsigned long long)t.up_bytes, (unsigned long long)t.up_calls, (unsigned long long)t.down_bytes,
            (unsigned long long)t.down_calls);
}
