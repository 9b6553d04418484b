/* trainer: see trainer.h. Moved out of tools/tgs-train.c, which it was. */
#include "trainer.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h" /* tgs_prog, for the warning and the stopped line */
#include "err.h"
#include "metric.h"
#include "nn/ckpt_params.h"
#include "nn/dropout.h"
#include "outfile.h"
#include "progress.h"
#include "tbevent.h"
#include "tiles.h"

#define NP TGS_LOSS_NPARTS

typedef struct {
    double loss, map, iou, threshold, map50;
} val_result;

enum step_result {
    STEP_OK = 0,
    STEP_LOSS_NOT_FINITE = 1, /* t->parts: the losses; nothing updated */
    STEP_NORM_NOT_FINITE = 2, /* t->grad_norm: the gradients' norm; nothing updated */
};

void tgs_trainer_init(tgs_trainer *t) {
    memset(t, 0, sizeof *t);
    t->st.best_metric = NAN, t->st.last_metric = NAN;
    t->log_keep = -1;
}

/* The loss weights of stage 1 or 2, and the stage of an epoch (0-based). */
static const float *stage_weights(const tgs_trainer *t, int stage) { return stage == 2 ? t->loss2 : t->loss; }
static int stage_of(const tgs_trainer *t, int64_t epoch) { return t->has_loss2 && epoch >= t->stage2_epoch ? 2 : 1; }

/* The learning rate of epoch e (0-based) at step k (updates done). */
static double lr_at(const tgs_trainer *t, int64_t epoch, int64_t step) {
    return tgs_sched_lr(&t->sched, t->sched_step ? step : epoch);
}

/* The nets: one per batch shape, built once for the current stage's
 * losses and kept; the full training batch stays, others take turns. */
static int get_net(tgs_trainer *t, int n, int s, tgs_net **out) {
    int free_slot = -1;
    for (int i = 0; i < TGS_TRAINER_NETS; i++) {
        if (t->nets[i].g && t->nets[i].n == n && t->nets[i].s == s) return *out = &t->nets[i], 0;
        if (!t->nets[i].g && free_slot < 0) free_slot = i;
    }
    if (free_slot < 0) { /* evict one that is not the main training shape */
        for (int i = TGS_TRAINER_NETS - 1; i >= 0 && free_slot < 0; i--)
            if (!(t->nets[i].n == t->batch && t->nets[i].s == t->s)) free_slot = i;
        tgs_net_free(&t->nets[free_slot]);
    }
    tgs_net *net = &t->nets[free_slot];
    int rc = t->mae ? tgs_mae_net_build(net, t->ps, &t->mo, &t->mae_shape, TGS_NET_TRAIN, n)
                    : tgs_net_build(net, t->ps, &t->mo, TGS_NET_TRAIN, n, t->c, s, stage_weights(t, t->stage));
    if (rc < 0) return tgs_err_prefix("model for a batch of %d at %dx%d", n, s, s);
    *out = net;
    return 0;
}

/* Build the nets for stage's losses from now on. */
static void set_stage(tgs_trainer *t, int stage) {
    if (stage == t->stage) return;
    for (int i = 0; i < TGS_TRAINER_NETS; i++) tgs_net_free(&t->nets[i]);
    t->stage = stage;
}

/* Batch slot i from a sample at side s; crop (may be NULL) gets where the
 * tile lies in the input. path and index name the sample in messages.
 * Pretraining: no mask, and the patches hidden are those of stream. */
static int fill_slot(tgs_trainer *t, int i, int s, const tgs_sample *smp, const char *path, uint64_t index, int32_t crop[4],
                     uint64_t stream) {
    tgs_prep_view v;
    size_t plane = (size_t)s * (size_t)s;
    const char *id = tgs_sample_id(smp);
    float *img = t->img + (size_t)i * plane * (size_t)t->c;
    if (tgs_prep_view_sample(&t->prep, smp, !t->mae, &v) < 0 || (v.c != t->c && tgs_err("'image' has %d channels, the model takes %d", v.c, t->c)) ||
        (v.s != s && tgs_err("the input is %dx%d, the others %dx%d", v.s, v.s, s, s)) ||
        tgs_prep_fill(&t->prep, &v, img, t->mae ? NULL : t->mask + (size_t)i * plane) < 0)
        return tgs_err_prefix("%s: sample %llu%s%s%s", path, (unsigned long long)index, id ? " (" : "", id ? id : "", id ? ")" : "");
    if (crop) memcpy(crop, v.crop, 4 * sizeof *crop);
    if (t->mae) {
        const tgs_mae_shape *sh = &t->mae_shape;
        size_t per = (size_t)sh->c * (size_t)sh->p * (size_t)sh->p * (size_t)sh->npatch;
        uint8_t *hidden = t->mae_hidden + (size_t)i * (size_t)sh->npatch;
        tgs_mae_choose(sh, t->seed, stream, hidden);
        tgs_mae_fill(sh, hidden, img, t->mae_hide + (size_t)i * plane * (size_t)t->c, t->mae_target + (size_t)i * per,
                     t->mae_where + (size_t)i * per);
        return 0;
    }
    t->salt[i] = (float)tgs_prep_has_salt(t->mask + (size_t)i * plane, s, v.crop);
    return 0;
}

/* The batch in: the one upload a step makes, with the losses its one
 * download. */
static void net_inputs(tgs_net *net, const tgs_trainer *t) {
    tgs_tensor_set(net->g, net->x, t->img);
    if (t->mae) {
        tgs_tensor_set(net->g, net->mae.hide, t->mae_hide);
        tgs_tensor_set(net->g, net->mae.target, t->mae_target);
        tgs_tensor_set(net->g, net->mae.where, t->mae_where);
        return;
    }
    tgs_tensor_set(net->g, net->y, t->mask);
    tgs_tensor_set(net->g, net->salt, t->salt);
}

/* The loss parts of the net's last forward pass; [NP] the total. */
static void read_losses(tgs_net *net, double v[NP + 1]) {
    for (int k = 0; k < NP; k++) {
        float x = 0;
        if (net->part[k]) tgs_tensor_get(net->g, net->part[k], &x);
        v[k] = net->part[k] ? x : NAN;
    }
    float total;
    tgs_tensor_get(net->g, net->total, &total);
    v[NP] = total;
}

/* The loss parts of stage's weights as "bce 0.41 dice 0.32", for people. */
static void losses_text(const tgs_trainer *t, const double v[NP + 1], char *buf, size_t size) {
    size_t k = 0;
    buf[0] = 0;
    if (t->mae) {
        snprintf(buf, size, "mse %.4g", v[NP]);
        return;
    }
    for (int p = 0; p < NP && k < size; p++)
        if (stage_weights(t, t->stage)[p] > 0)
            k += (size_t)snprintf(buf + k, size - k, "%s%s %.4g", k ? " " : "", tgs_loss_part_name(p), v[p]);
}

/* One update on the n samples filled, in epoch e (0-based): the losses
 * into t->parts, backward, clipping, the optimizer at the schedule's rate
 * (t->lr), the weight average; the counters and loss sums advance.
 * Returns an enum step_result, or -1. */
static int train_step(tgs_trainer *t, int n, int64_t e) {
    tgs_net *net;
    if (get_net(t, n, t->s, &net) < 0) return -1;
    net_inputs(net, t);
    struct tgs_exec *x = tgs_graph_exec(net->g);
    x->train = 1;
    /* dropout: a mask per seed and step */
    x->step = tgs_drop_mix64(t->seed + TGS_DROP_GOLDEN) + (uint64_t)t->st.step + 1;
    tgs_params_zero_grad(t->ps);
    if (tgs_graph_forward(net->g) < 0) return tgs_err_prefix("epoch %lld", (long long)e + 1);
    read_losses(net, t->parts);
    if (!isfinite(t->parts[NP])) return STEP_LOSS_NOT_FINITE;
    if (tgs_graph_backward(net->g, net->total) < 0) return tgs_err_prefix("epoch %lld", (long long)e + 1);
    t->grad_norm = tgs_optim_state_clip(&t->opt, t->clip);
    if (!isfinite(t->grad_norm)) return STEP_NORM_NOT_FINITE;
    t->lr = lr_at(t, e, t->st.step);
    tgs_optim_state_step(&t->opt, (float)t->lr, t->st.step + 1);
    t->st.step++;
    if (t->ema > 0) tgs_ema_update(&t->avg, t->st.step);
    t->st.pos += n;
    for (int k = 0; k <= NP; k++)
        if (isfinite(t->parts[k])) t->st.sums[k] += t->parts[k] * n;
    return STEP_OK;
}

/* ---- validation ---- */

static int cmp_str_ptr(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

int tgs_trainer_load_val(tgs_trainer *t, const char *path) {
    tgs_reader rd;
    if (tgs_reader_open(&rd, path) < 0) return -1;
    tgs_sample *val = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            tgs_sample *p = realloc(val, sizeof *p * cap);
            if (!p) {
                rc = tgs_err("%s: out of memory after %zu samples", rd.path, n);
                break;
            }
            val = p;
        }
        memset(&val[n], 0, sizeof val[n]);
        int got = tgs_read_sample(&rd, &val[n]);
        if (got <= 0) {
            tgs_sample_free(&val[n]);
            rc = got;
            break;
        }
        n++;
    }
    char name[sizeof rd.path];
    snprintf(name, sizeof name, "%s", rd.path);
    tgs_reader_close(&rd);
    if (rc < 0) {
        for (size_t i = 0; i < n; i++) tgs_sample_free(&val[i]);
        free(val);
        return -1;
    }
    return tgs_trainer_take_val(t, val, n, name);
}

int tgs_trainer_take_val(tgs_trainer *t, tgs_sample *val, size_t n, const char *name) {
    t->val = val, t->nval = n;
    if (!(t->val_path = strdup(name))) return tgs_err("out of memory");
    if (n == 0) return tgs_err("%s: no validation samples", name);
    for (size_t i = 0; i < n; i++) {
        tgs_prep_view v;
        const char *id = tgs_sample_id(&val[i]);
        if (tgs_prep_view_sample(&t->prep, &val[i], !t->mae, &v) < 0 ||
            (v.c != t->c && tgs_err("'image' has %d channels, the training samples %d", v.c, t->c)) ||
            (t->mae && v.s != t->s && tgs_err("the input is %dx%d, the training samples %dx%d", v.s, v.s, t->s, t->s)) ||
            (i > 0 && v.s != t->val_s && tgs_err("the input is %dx%d, the samples before %dx%d", v.s, v.s, t->val_s, t->val_s)))
            return tgs_err_prefix("%s: sample %zu%s%s%s", name, i + 1, id ? " (" : "", id ? id : "", id ? ")" : "");
        t->val_s = v.s;
    }
    /* a tile twice would count twice in the mAP */
    tgs_id_log log = {0};
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *id = tgs_sample_id(&val[i]);
        if (id) rc = tgs_id_log_add(&log, id, (long)i + 1);
    }
    if (rc == 0) rc = tgs_id_log_check(&log, name, "sample");
    tgs_id_log_free(&log);
    if (rc < 0) return -1;
    if (!(t->val_ids = malloc(sizeof *t->val_ids * n))) return tgs_err("out of memory");
    for (size_t i = 0; i < n; i++)
        if (tgs_sample_id(&val[i])) t->val_ids[t->nval_ids++] = tgs_sample_id(&val[i]);
    qsort(t->val_ids, t->nval_ids, sizeof *t->val_ids, cmp_str_ptr);
    return 0;
}

/* Whether a training sample is one of the validation tiles (by id). */
static int is_val_tile(const tgs_trainer *t, const tgs_sample *smp) {
    const char *id = tgs_sample_id(smp);
    return id && t->nval_ids && bsearch(&id, t->val_ids, t->nval_ids, sizeof *t->val_ids, cmp_str_ptr);
}

/* The validation samples through the model in eval mode (the weight
 * average when there is one): the mean loss and the competition mAP at
 * the best threshold of the 0.05..0.95 sweep, and at 0.5. */
static int validate(tgs_trainer *t, tgs_metric *m, int quiet, val_result *res) {
    int s = t->val_s, b = t->batch, rc = 0;
    size_t plane = (size_t)s * (size_t)s;
    float *prob = NULL;
    uint8_t *truth = NULL;
    size_t cap = 0;
    double loss = 0;
    if (t->ema > 0) tgs_ema_swap(&t->avg); /* validate the average */
    tgs_metric_reset(m);
    tgs_progress bar;
    tgs_progress_start(&bar, "val", "img", t->nval, quiet);
    for (size_t at = 0; at < t->nval && rc == 0; at += (size_t)b) {
        int n = t->nval - at < (size_t)b ? (int)(t->nval - at) : b;
        int32_t crop[4096][4];
        for (int i = 0; i < n && rc == 0; i++)
            rc = fill_slot(t, i, s, &t->val[at + (size_t)i], t->val_path, at + (size_t)i + 1, crop[i],
                           tgs_mae_stream_val(at + (size_t)i + 1));
        tgs_net *net;
        if (rc < 0 || (rc = get_net(t, n, s, &net)) < 0) break;
        net_inputs(net, t);
        struct tgs_exec *x = tgs_graph_exec(net->g);
        x->train = 0;
        rc = tgs_graph_forward(net->g);
        x->train = 1;
        if (rc < 0) {
            tgs_err_prefix("validation");
            break;
        }
        double parts[NP + 1];
        read_losses(net, parts);
        loss += parts[NP] * n;
        tgs_progress_update(&bar, at + (size_t)n);
        if (t->mae) continue; /* the reconstruction's loss is all */
        tgs_tensor_get(net->g, net->out.seg, t->out);
        for (int i = 0; i < n && rc == 0; i++) {
            const int32_t *c = crop[i];
            size_t np = (size_t)c[2] * (size_t)c[3];
            if (np > cap) {
                free(prob), free(truth);
                prob = malloc(np * sizeof *prob), truth = malloc(np);
                if (!prob || !truth) {
                    rc = tgs_err("out of memory");
                    break;
                }
                cap = np;
            }
            const float *lo = t->out + (size_t)i * plane, *mk = t->mask + (size_t)i * plane;
            size_t k = 0;
            for (int y = c[0]; y < c[0] + c[2]; y++)
                for (int xx = c[1]; xx < c[1] + c[3]; xx++, k++) {
                    size_t j = (size_t)y * (size_t)s + (size_t)xx;
                    prob[k] = 1.0f / (1.0f + expf(-lo[j]));
                    truth[k] = mk[j] > 0.5f;
                }
            if (tgs_metric_add_prob(m, prob, truth, (int)np) < 0)
                rc = tgs_err_prefix("validation: sample %zu: the model's output", at + (size_t)i + 1);
        }
    }
    if (bar.enabled && bar.drawn) fputs("\r\033[K", stderr);
    if (t->ema > 0) tgs_ema_swap(&t->avg);
    free(prob), free(truth);
    if (rc < 0) return -1;
    res->loss = loss / (double)t->nval;
    if (t->mae) return 0;
    int best = tgs_metric_best(m), k50 = tgs_metric_find(m, 0.5);
    res->map = tgs_metric_map(m, best);
    res->iou = tgs_metric_mean_iou(m, best);
    res->threshold = m->cut[best];
    res->map50 = tgs_metric_map(m, k50);
    return 0;
}

/* ---- start, resume, end ---- */

int tgs_trainer_start(tgs_trainer *t) {
    t->ps = tgs_params_new(t->be);
    if (t->mae && tgs_mae_shape_of(&t->mae_shape, t->mae, &t->mo, t->c, t->s) < 0) return -1;
    if (!t->ps || (t->mae ? tgs_mae_params(t->ps, &t->mo, &t->mae_shape, t->seed) : tgs_model_params(t->ps, &t->mo, t->seed)) < 0)
        return tgs_err_prefix("model");
    if (tgs_optim_state_init(&t->opt, &t->optim, t->ps) < 0) return -1;
    size_t plane = (size_t)t->s * (size_t)t->s, vplane = (size_t)t->val_s * (size_t)t->val_s;
    if (vplane > plane) plane = vplane;
    size_t b = (size_t)t->batch;
    t->img = malloc(sizeof *t->img * plane * (size_t)t->c * b);
    t->mask = malloc(sizeof *t->mask * plane * b);
    t->out = malloc(sizeof *t->out * plane * b);
    t->salt = malloc(sizeof *t->salt * b);
    if (!t->img || !t->mask || !t->out || !t->salt) return tgs_err("out of memory for a batch of %d", t->batch);
    if (t->mae) {
        const tgs_mae_shape *sh = &t->mae_shape;
        size_t per = (size_t)sh->c * (size_t)sh->p * (size_t)sh->p * (size_t)sh->npatch;
        t->mae_hide = malloc(sizeof *t->mae_hide * plane * (size_t)t->c * b);
        t->mae_target = malloc(sizeof *t->mae_target * per * b);
        t->mae_where = malloc(sizeof *t->mae_where * per * b);
        t->mae_hidden = malloc((size_t)sh->npatch * b);
        if (!t->mae_hide || !t->mae_target || !t->mae_where || !t->mae_hidden)
            return tgs_err("out of memory for a batch of %d", t->batch);
    }
    return 0;
}

int tgs_trainer_resume(tgs_trainer *t, const tgs_ckpt *c, const char *path) {
    const void *p;
#define GET(name, type, dtype, n, dst)                                                                                 \
    do {                                                                                                               \
        if (!(p = tgs_ckpt_expect(c, name, dtype, n))) return tgs_err_prefix("%s", path);                           \
        memcpy(dst, p, sizeof(type) * (n));                                                                            \
    } while (0)
    int64_t seed;
    GET("train.step", int64_t, TGS_I64, 1, &t->st.step);
    GET("train.epoch", int64_t, TGS_I64, 1, &t->st.epoch);
    GET("train.pos", int64_t, TGS_I64, 1, &t->st.pos);
    GET("train.seed", int64_t, TGS_I64, 1, &seed);
    /* the metrics are absent (or NaN, in files of older versions) until
     * the first validation */
    if (tgs_ckpt_find(c, "train.best_metric")) GET("train.best_metric", double, TGS_F64, 1, &t->st.best_metric);
    GET("train.best_epoch", int64_t, TGS_I64, 1, &t->st.best_epoch);
    if (tgs_ckpt_find(c, "train.last_metric")) GET("train.last_metric", double, TGS_F64, 1, &t->st.last_metric);
    GET("train.loss_sums", double, TGS_F64, NP + 1, t->st.sums);
#undef GET
    if ((uint64_t)seed != t->seed) return tgs_err("%s: train.seed %llu differs from the options' seed", path, (unsigned long long)seed);
    if (t->st.step < 0 || t->st.epoch < 0 || t->st.pos < 0) return tgs_err("%s: negative counters", path);
    const char *arch = tgs_ckpt_meta_get(c, "arch");
    struct tgs_model_opts saved; /* what the spec meant when written: older ones lack some keys */
    if (!arch || tgs_model_parse_saved(&saved, arch) < 0 || memcmp(&saved, &t->mo, sizeof saved) != 0)
        return tgs_err("%s: metadata 'arch' is '%s', the options say '%s'", path, arch ? arch : "", t->spec);
    if (tgs_ckpt_get_params(c, t->ps, 1, NULL) < 0 || tgs_optim_state_get(&t->opt, c) < 0) return tgs_err_prefix("%s", path);
    t->log_keep = t->st.epoch; /* a row after the checkpoint is of a future it lost */
    return 0;
}

int tgs_trainer_start_average(tgs_trainer *t, const tgs_ckpt *resume) {
    if (!(t->ema > 0)) return 0;
    /* the average starts as the weights loaded; on a resume those are the
     * checkpoint's average, and the trained weights are beside it */
    if (tgs_ema_init(&t->avg, t->ps, t->ema) < 0) return -1;
    return resume ? tgs_ema_get_live(&t->avg, resume) : 0;
}

void tgs_trainer_free(tgs_trainer *t) {
    for (int i = 0; i < TGS_TRAINER_NETS; i++) tgs_net_free(&t->nets[i]);
    if (t->ps) tgs_optim_state_free(&t->opt);
    if (t->ema > 0 && t->avg.ps) tgs_ema_free(&t->avg);
    tgs_params_free(t->ps);
    tgs_prep_free(&t->prep);
    for (size_t i = 0; i < t->nval; i++) tgs_sample_free(&t->val[i]);
    free(t->val), free(t->val_path), free(t->val_ids);
    free(t->img), free(t->mask), free(t->out), free(t->salt);
    free(t->mae_hide), free(t->mae_target), free(t->mae_where), free(t->mae_hidden);
    memset(t, 0, sizeof *t);
}

/* Counted an epoch done: the validation's mAP into the counters (v NULL:
 * none), the loss sums cleared. 1 when the mAP is the best so far. */
static int end_epoch(tgs_trainer *t, const val_result *v) {
    t->st.epoch++;
    int best = 0;
    if (v) {
        t->st.last_metric = v->map;
        if (!(v->map <= t->st.best_metric)) /* the first, or better */
            best = 1, t->st.best_metric = v->map, t->st.best_epoch = t->st.epoch;
    }
    t->st.pos = 0;
    memset(t->st.sums, 0, sizeof t->st.sums);
    return best;
}

/* ---- the log ---- */

static const char log_header[] = "epoch,stage,step,lr,train_loss,train_bce,train_dice,train_focal,train_boundary,"
                                      "train_lovasz,train_lovasz_sym,train_cls,train_deep,val_loss,val_map,val_threshold,"
                                      "val_iou,val_map50,img_s,seconds\n";

/* pretraining's: the reconstruction loss, on the training samples and,
 * with --val, on held-out ones with the same hidden patches every epoch */
static const char log_header_mae[] = "epoch,step,lr,train_loss,val_loss,img_s,seconds\n";

/* A fresh log, or on a resume the old one cut to the rows of epochs the
 * checkpoint has done. */
static int log_start(const char *path, const char *header, int64_t keep_epochs, int resume) {
    tgs_outfile out;
    if (tgs_outfile_open(&out, path) < 0) return -1;
    fputs(header, out.fp);
    FILE *old = resume ? fopen(path, "r") : NULL;
    if (old) {
        char line[4096];
        int first = 1;
        while (fgets(line, sizeof line, old)) {
            if (first) { /* the header, written above */
                first = 0;
                continue;
            }
            char *end;
            long long e = strtoll(line, &end, 10);
            if (end != line && *end == ',' && e >= 1 && e <= keep_epochs) fputs(line, out.fp);
        }
        fclose(old);
    }
    return tgs_outfile_commit(&out);
}

/* The events file is made from all of log.csv each time log.csv changes
 * (tbevent.c appends the new records when that is the whole change), not
 * kept apart: what it holds then follows log.csv through a resume, which
 * cuts the log back to the checkpoint's epoch, and a fixed name means a
 * rerun replaces it instead of adding a second file of the same run for
 * TensorBoard to merge. */
static int events_write(const tgs_trainer *t) {
    if (!t->events_path[0]) return 0;
    return tgs_tbevent_write_log(t->events_path, t->log_path, t->events_epoch, t->events_wall);
}

/* The events' wall times: a resume keeps those of the events file there
 * (its start, plus the seconds of each epoch), so that its records stay
 * byte for byte and the new ones are appended to them; otherwise, the
 * epochs done ended now. */
static void events_begin(tgs_trainer *t) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    t->events_epoch = t->st.epoch, t->events_wall = (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
    double start;
    if (t->events_path[0] && t->log_keep >= 0 && tgs_tbevent_read_start(t->events_path, &start) == 0)
        t->events_epoch = 0, t->events_wall = start;
}

/* The log is begun with the run's first checkpoint, not before: a run that
 * fails before that leaves its directory as it found it. */
static int log_begin(tgs_trainer *t) {
    if (t->log_begun) return 0;
    if (log_start(t->log_path, t->mae ? log_header_mae : log_header, t->log_keep < 0 ? 0 : t->log_keep, t->log_keep >= 0) < 0 ||
        events_write(t) < 0)
        return -1;
    t->log_begun = 1;
    return 0;
}

/* The row of log.csv of the epoch under way, before end_epoch counts it
 * done and clears its sums: the mean of each loss part over the epoch's
 * samples (into mean too), the validation (v NULL: none), the learning
 * rate of its last step, the speed. */
static void log_row(const tgs_trainer *t, double lr, const val_result *v, int64_t images, double secs,
                         double mean[NP + 1], char *row, size_t size) {
    char num[64];
    for (int k = 0; k <= NP; k++) mean[k] = t->st.sums[k] / (double)t->st.pos;
    if (t->mae) {
        size_t len = (size_t)snprintf(row, size, "%lld,%lld,%s,%.6g,", (long long)t->st.epoch + 1, (long long)t->st.step,
                                      tgs_fmt_float(num, sizeof num, (float)lr), mean[NP]);
        if (v) len += (size_t)snprintf(row + len, size - len, "%.6g", v->loss);
        snprintf(row + len, size - len, ",%.1f,%.1f\n", secs > 0 ? (double)images / secs : 0.0, secs);
        return;
    }
    size_t len = (size_t)snprintf(row, size, "%lld,%d,%lld,%s", (long long)t->st.epoch + 1, t->stage, (long long)t->st.step,
                                  tgs_fmt_float(num, sizeof num, (float)lr));
    len += (size_t)snprintf(row + len, size - len, ",%.6g", mean[NP]);
    for (int k = 0; k < NP; k++) {
        if (stage_weights(t, t->stage)[k] > 0) len += (size_t)snprintf(row + len, size - len, ",%.6g", mean[k]);
        else len += (size_t)snprintf(row + len, size - len, ",");
    }
    if (v)
        len += (size_t)snprintf(row + len, size - len, ",%.6g,%.6f,%.2f,%.6f,%.6f", v->loss, v->map, v->threshold, v->iou,
                                v->map50);
    else len += (size_t)snprintf(row + len, size - len, ",,,,,");
    snprintf(row + len, size - len, ",%.1f,%.1f\n", secs > 0 ? (double)images / secs : 0.0, secs);
}

/* Append a row to log.csv (begun with the first checkpoint). */
static int log_append(tgs_trainer *t, const char *row) {
    if (log_begin(t) < 0) return -1;
    FILE *fp = fopen(t->log_path, "a");
    if (!fp) return tgs_err("%s:", t->log_path);
    fputs(row, fp);
    if (fclose(fp) != 0) return tgs_err("%s: write error:", t->log_path);
    return events_write(t);
}

/* ---- checkpoints ---- */

static int put_i64(tgs_ckpt *c, const char *name, int64_t v) { return tgs_ckpt_add(c, name, TGS_I64, 0, NULL, &v); }
static int put_f64(tgs_ckpt *c, const char *name, double v) { return tgs_ckpt_add(c, name, TGS_F64, 0, NULL, &v); }

/* What --resume needs beyond the weights: the optimizer's state, the
 * weights being trained beside their average, the counters. */
static int resume_state_put(tgs_trainer *t, tgs_ckpt *c) {
    if (tgs_optim_state_put(&t->opt, c) < 0 || (t->ema > 0 && tgs_ema_put_live(&t->avg, c) < 0)) return -1;
    if (put_i64(c, "train.step", t->st.step) < 0 || put_i64(c, "train.epoch", t->st.epoch) < 0 ||
        put_i64(c, "train.pos", t->st.pos) < 0 || put_i64(c, "train.seed", (int64_t)t->seed) < 0)
        return -1;
    /* no metric yet (NaN) is an absent tensor: a checkpoint is finite */
    if (isfinite(t->st.best_metric) && put_f64(c, "train.best_metric", t->st.best_metric) < 0) return -1;
    if (put_i64(c, "train.best_epoch", t->st.best_epoch) < 0) return -1;
    if (isfinite(t->st.last_metric) && put_f64(c, "train.last_metric", t->st.last_metric) < 0) return -1;
    return tgs_ckpt_add(c, "train.loss_sums", TGS_F64, 1, (int64_t[]){NP + 1}, t->st.sums);
}

/* Write path: the weights (the average in the model's names when there is
 * one) and, unless model_only, the optimizer state and the counters that
 * --resume needs; log.csv is begun with the first checkpoint. best.ckpt is
 * model_only (a third of last.ckpt's bytes: what a predictor loads, and
 * what --init takes), with the validation's best threshold as its
 * 'decisions' (tgs-rle encode -m) when threshold is finite. 1, writing
 * nothing, when a tensor is not finite (what and *v say which and its
 * value): the checkpoints before stay the last good ones. */
static int save_checkpoint(tgs_trainer *t, const char *path, double metric, double threshold, int model_only, char *what,
                           size_t what_size, double *value) {
    tgs_ckpt c;
    char b[64];
    tgs_ckpt_init(&c);
    snprintf(b, sizeof b, "%lld", (long long)t->st.epoch);
    int bad = tgs_ckpt_meta_set(&c, "format", "tgs") < 0 || tgs_ckpt_meta_set(&c, "tgs_version", TGS_VERSION) < 0 ||
              tgs_ckpt_meta_set(&c, "arch", t->spec) < 0 || tgs_ckpt_meta_set(&c, "epoch", b) < 0;
    if (!bad && isfinite(metric)) bad = tgs_ckpt_meta_set(&c, "metric", tgs_fmt_double(b, sizeof b, metric)) < 0;
    snprintf(b, sizeof b, "%lld", (long long)t->st.step);
    bad = bad || tgs_ckpt_meta_set(&c, "step", b) < 0;
    snprintf(b, sizeof b, "%d", t->s);
    bad = bad || tgs_ckpt_meta_set(&c, "size", b) < 0;
    bad = bad || tgs_ckpt_meta_set(&c, "norm", t->norm) < 0 ||
          tgs_ckpt_meta_set(&c, "options", t->options_json ? t->options_json : "{}") < 0;
    if (!bad && isfinite(threshold)) {
        char d[160];
        snprintf(d, sizeof d, "# tgs-train: the best threshold of the validation's sweep, epoch %lld\nthreshold %s\n",
                 (long long)t->st.epoch, tgs_fmt_double(b, sizeof b, threshold));
        bad = tgs_ckpt_meta_set(&c, "decisions", d) < 0;
    }
    /* with a weight average the model's own names hold the average (what
     * tgs-mcdrop and --init read), and the weights being trained go beside */
    if (t->ema > 0) tgs_ema_swap(&t->avg);
    if (!bad) bad = tgs_ckpt_put_params(&c, t->ps) < 0;
    if (t->ema > 0) tgs_ema_swap(&t->avg);
    if (!model_only) bad = bad || resume_state_put(t, &c) < 0;
    if (bad) {
        tgs_ckpt_free(&c);
        return -1;
    }
    /* weights can go bad while the loss stays finite (an infinite batch
     * norm variance): say so, and keep the checkpoint already written */
    for (int k = 0; k < c.n; k++) {
        int64_t at = tgs_ckpt_tensor_nonfinite(&c.t[k], value);
        if (at >= 0) {
            snprintf(what, what_size, "tensor '%s' at element %lld", c.t[k].name, (long long)at);
            tgs_ckpt_free(&c);
            return 1;
        }
    }
    int rc = log_begin(t) < 0 || tgs_ckpt_save(&c, path) < 0 ? -1 : 0;
    tgs_ckpt_free(&c);
    return rc;
}

/* ---- the epoch loop ---- */

static int file_exists(const char *path) { return access(path, F_OK) == 0; }

/* A number that is not finite in epoch e (from 1) at step k (from 1): the
 * run stops, and the checkpoints already written are the last good ones. */
static int not_finite(const tgs_trainer *t, int64_t e, int64_t k, const char *what, double v) {
    const char *val = tgs_nonfinite_name(v);
    if (file_exists(t->last_path))
        return tgs_err("epoch %lld, step %lld: %s is %s; stopped, %s left as it was", (long long)e, (long long)k, what, val,
                       t->last_path);
    return tgs_err("epoch %lld, step %lld: %s is %s; stopped before any checkpoint was written", (long long)e, (long long)k,
                   what, val);
}

static int save(tgs_trainer *t, const char *path, double metric, double threshold, int model_only) {
    char what[TGS_CKPT_MAX_NAME + 64];
    double v;
    int rc = save_checkpoint(t, path, metric, threshold, model_only, what, sizeof what, &v);
    if (rc > 0) return not_finite(t, t->st.pos ? t->st.epoch + 1 : t->st.epoch, t->st.step, what, v);
    return rc;
}

/* "42s", "3m05s" or "1h07m" */
static const char *fmt_duration(char *buf, size_t size, double secs) {
    long s = secs > 0 ? (long)(secs + 0.5) : 0;
    if (s < 60) snprintf(buf, size, "%lds", s);
    else if (s < 3600) snprintf(buf, size, "%ldm%02lds", s / 60, s % 60);
    else snprintf(buf, size, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
    return buf;
}

/* The human line of an epoch done. */
static void epoch_line(const tgs_trainer *t, const tgs_fit_opts *fo, double lr, const double mean[NP + 1],
                       const val_result *vr, int best, int64_t images, double secs, double eta) {
    char parts_txt[256], line[1024], num[64];
    losses_text(t, mean, parts_txt, sizeof parts_txt);
    int l = snprintf(line, sizeof line, "epoch %lld%s: lr %s train %.4f (%s)", (long long)t->st.epoch,
                     t->has_loss2 ? (t->stage == 2 ? " [loss2]" : " [loss1]") : "", tgs_fmt_float(num, sizeof num, (float)lr),
                     mean[NP], parts_txt);
    if (fo->validate && t->mae) l += snprintf(line + l, sizeof line - (size_t)l, " val %.4f", vr->loss);
    else if (fo->validate)
        l += snprintf(line + l, sizeof line - (size_t)l, " val %.4f mAP %.4f at %.2f (0.50: %.4f) IoU %.4f%s", vr->loss, vr->map,
                      vr->threshold, vr->map50, vr->iou, best ? " *" : "");
    l += snprintf(line + l, sizeof line - (size_t)l, ", %.1f img/s, %s", secs > 0 ? (double)images / secs : 0.0,
                  fmt_duration(num, sizeof num, secs));
    if (eta >= 0) snprintf(line + l, sizeof line - (size_t)l, ", ETA %s", fmt_duration(num, sizeof num, eta));
    fprintf(stderr, "%s\n", line);
}

int tgs_trainer_fit(tgs_trainer *t, tgs_samples *src, const tgs_fit_opts *fo) {
    tgs_metric metric;
    tgs_metric_init_sweep(&metric);
    int first_epoch = 1, ran = 0;
    size_t overlap = 0;        /* training samples of the first epoch that are validation tiles */
    double run_t0 = tgs_now(); /* for the ETA: this process's epochs so far */
    int64_t run_epochs = 0;
    events_begin(t);
    for (;;) {
        int64_t e = t->st.epoch;
        if (fo->epochs && e >= fo->epochs) break;
        int begun = tgs_samples_begin_epoch(src, e, first_epoch);
        if (begun < 0) return -1;
        if (!begun) {
            if (first_epoch && fo->resumed) return tgs_err("%s: the stream holds no epoch %lld to resume at", src->rd.path, (long long)e);
            break;
        }
        set_stage(t, stage_of(t, e));
        uint64_t index;
        const tgs_sample *smp;
        for (int64_t k = 0; k < t->st.pos; k++) { /* resuming mid-epoch: what was done */
            int rc = tgs_samples_next(src, &smp, &index);
            if (rc < 0) return -1;
            if (rc == 0)
                return tgs_err("%s: epoch %lld has %lld samples, the checkpoint was saved after %lld of them", src->rd.path,
                               (long long)e, (long long)k, (long long)t->st.pos);
        }
        int first_process_epoch = first_epoch;
        first_epoch = 0;
        char label[64];
        if (fo->epochs) snprintf(label, sizeof label, "epoch %lld/%lld", (long long)e + 1, (long long)fo->epochs);
        else snprintf(label, sizeof label, "epoch %lld", (long long)e + 1);
        tgs_progress bar;
        tgs_progress_start(&bar, label, "img", (uint64_t)tgs_samples_per_epoch(src), fo->quiet);
        double t0 = tgs_now(), lr = lr_at(t, e, t->st.step);
        int64_t images = 0;
        for (;;) {
            if (fo->stop && *fo->stop) {
                if (bar.enabled && bar.drawn) fputs("\r\033[K", stderr);
                return save(t, t->last_path, t->st.last_metric, NAN, 0) < 0 ? -1 : TGS_FIT_STOPPED;
            }
            int n = 0, rc = 0;
            while (n < t->batch && (rc = tgs_samples_next(src, &smp, &index)) > 0) {
                if (first_process_epoch && is_val_tile(t, smp)) overlap++;
                /* masks by the sample's place in its epoch, not in the file:
                 * a resumed stream (tgs-augment --first-epoch) counts again */
                uint64_t mask_stream = tgs_mae_stream_train(e, (uint64_t)(t->st.pos + n));
                if (fill_slot(t, n, t->s, smp, src->rd.path, index, NULL, mask_stream) < 0) return -1;
                n++;
            }
            if (rc < 0) return -1;
            if (n == 0) break;
            rc = train_step(t, n, e);
            if (rc < 0) return -1;
            if (rc == STEP_LOSS_NOT_FINITE) {
                char txt[256], what[300];
                losses_text(t, t->parts, txt, sizeof txt);
                snprintf(what, sizeof what, "the loss (%s)", txt);
                return not_finite(t, e + 1, t->st.step + 1, what, t->parts[NP]);
            }
            if (rc == STEP_NORM_NOT_FINITE) return not_finite(t, e + 1, t->st.step + 1, "the gradients' norm", t->grad_norm);
            lr = t->lr;
            images += n;
            ran = 1;
            tgs_progress_update(&bar, (uint64_t)t->st.pos);
        }
        if (bar.enabled && bar.drawn) fputs("\r\033[K", stderr);
        double secs = tgs_now() - t0;
        if (first_process_epoch && overlap && !fo->quiet) /* a leak, or a deliberate fit check: say it once */
            fprintf(stderr, "%s: warning: %zu training samples of this epoch are validation tiles (%s): the val %s is "
                            "not a held-out score\n", tgs_prog, overlap, t->val_path, t->mae ? "loss" : "mAP");
        if (t->st.pos == 0) break; /* an epoch with nothing in it: the stream ended */
        tgs_samples_end_epoch(src, t->st.pos);

        val_result vr = {NAN, NAN, NAN, NAN, NAN};
        if (fo->validate && validate(t, &metric, fo->quiet, &vr) < 0) return -1;
        /* the row: the epoch's mean of each part over its images */
        char row[2048];
        double mean[NP + 1];
        log_row(t, lr, fo->validate ? &vr : NULL, images, secs, mean, row, sizeof row);
        int best = end_epoch(t, fo->validate && !t->mae ? &vr : NULL);
        run_epochs++;
        if (!fo->quiet) {
            double eta = fo->epochs && t->st.epoch < fo->epochs
                             ? (tgs_now() - run_t0) / (double)run_epochs * (double)(fo->epochs - t->st.epoch)
                             : -1;
            epoch_line(t, fo, lr, mean, &vr, best, images, secs, eta);
        }
        if (best && save(t, t->best_path, vr.map, vr.threshold, 1) < 0) return -1;
        if (save(t, t->last_path, t->st.last_metric, NAN, 0) < 0 || log_append(t, row) < 0) return -1;
        if (fo->epoch_done && fo->epoch_done(t, fo->ctx) < 0) return -1;
        if (fo->stop && *fo->stop) return TGS_FIT_STOPPED; /* last.ckpt just written */
        if (fo->patience && t->st.epoch - t->st.best_epoch >= fo->patience) {
            if (!fo->quiet)
                fprintf(stderr, "early stop: no better val mAP in %lld epochs (best %.4f after epoch %lld)\n",
                        (long long)fo->patience, t->st.best_metric, (long long)t->st.best_epoch);
            break;
        }
    }
    if (!ran && !fo->quiet) fprintf(stderr, "nothing to train: the run is at epoch %lld\n", (long long)t->st.epoch);
    return TGS_FIT_DONE;
}

void tgs_trainer_say_stopped(const tgs_trainer *t, int sig) {
    fprintf(stderr, "%s: %s: stopped in epoch %lld after step %lld; saved %s (continue with --resume %s)\n", tgs_prog,
            sig == SIGTERM ? "SIGTERM" : "SIGINT", (long long)t->st.epoch + 1, (long long)t->st.step, t->last_path,
            t->last_path);
}
