/* samples: see samples.h. */
#include "samples.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "progress.h"
#include "rng.h"

/* A sample's 'epoch' record: 0 and *e = -1 when it has none. */
static int sample_epoch(const tgs_sample *smp, const char *path, uint64_t index, int64_t *e) {
    const tgs_record *r = tgs_sample_get(smp, "epoch");
    *e = -1;
    if (!r) return 0;
    if (r->dtype != TGS_I32 || r->ndim != 0)
        return tgs_err("%s: sample %llu: record 'epoch' is %s with %d dims, not an i32 scalar", path, (unsigned long long)index,
                       tgs_dtype_name(r->dtype), r->ndim);
    int32_t v;
    memcpy(&v, r->data, sizeof v);
    if (v < 0) return tgs_err("%s: sample %llu: record 'epoch' is %d", path, (unsigned long long)index, v);
    *e = v;
    return 0;
}

/* Read the sample after cur into next. */
static int read_ahead(tgs_samples *s) {
    int rc = tgs_read_sample(&s->rd, &s->next);
    if (rc < 0 && s->stop && *s->stop) rc = 0;
    if (rc < 0) return -1;
    s->have_next = rc > 0;
    if (!s->have_next) return 0;
    int64_t e;
    if (sample_epoch(&s->next, s->rd.path, s->rd.nsamples, &e) < 0) return -1;
    if (e < 0)
        return tgs_err("%s: sample %llu has no 'epoch' record but the samples before it had", s->rd.path,
                       (unsigned long long)s->rd.nsamples);
    if (e < s->next_epoch)
        return tgs_err("%s: sample %llu: epoch %lld after epoch %lld; epochs must not go back", s->rd.path,
                       (unsigned long long)s->rd.nsamples, (long long)e, (long long)s->next_epoch);
    s->next_epoch = e;
    return 0;
}

int tgs_samples_open(tgs_samples *s, const char *path, uint64_t seed, const volatile sig_atomic_t *stop, int quiet) {
    memset(s, 0, sizeof *s);
    s->seed = seed, s->stop = stop;
    if (tgs_reader_open(&s->rd, path) < 0) return -1;
    int rc = tgs_read_sample(&s->rd, &s->next);
    if (rc < 0) return -1;
    if (rc == 0) return tgs_err("%s: no samples to train on", s->rd.path);
    s->have_next = 1;
    if (sample_epoch(&s->next, s->rd.path, 1, &s->next_epoch) < 0) return -1;
    s->streaming = s->next_epoch >= 0;
    if (s->streaming) return 0;
    /* no epochs in the stream: hold it, and make each epoch a shuffled pass */
    size_t cap = 1024;
    if (!(s->all = malloc(sizeof *s->all * cap))) return tgs_err("out of memory");
    s->all[0] = s->next;
    memset(&s->next, 0, sizeof s->next);
    s->n = 1;
    tgs_progress bar;
    tgs_progress_start(&bar, "load", "samples", 0, quiet);
    for (;;) {
        if (s->n == cap) {
            cap *= 2;
            tgs_sample *p = realloc(s->all, sizeof *p * cap);
            if (!p) return tgs_err("%s: out of memory after %zu samples", s->rd.path, s->n);
            s->all = p;
        }
        memset(&s->all[s->n], 0, sizeof s->all[s->n]);
        if ((rc = tgs_read_sample(&s->rd, &s->all[s->n])) < 0) return -1;
        if (rc == 0) break;
        int64_t e;
        if (sample_epoch(&s->all[s->n], s->rd.path, s->n + 1, &e) < 0) return -1;
        if (e >= 0)
            return tgs_err("%s: sample %zu has an 'epoch' record but the first sample had none", s->rd.path, s->n + 1);
        if (++s->n == 0xffffffffu) return tgs_err("%s: more than %u samples", s->rd.path, 0xffffffffu - 1);
        tgs_progress_update(&bar, s->n);
    }
    tgs_sample_free(&s->all[s->n]);
    tgs_progress_end(&bar);
    if (!(s->order = malloc(sizeof *s->order * s->n))) return tgs_err("out of memory");
    s->have_next = 0;
    return 0;
}

int tgs_samples_from(tgs_samples *s, tgs_sample *all, size_t n, const char *name, uint64_t seed) {
    memset(s, 0, sizeof *s);
    s->seed = seed, s->all = all, s->n = n;
    snprintf(s->rd.path, sizeof s->rd.path, "%s", name);
    if (n == 0) return tgs_err("%s: no samples to train on", name);
    if (n >= 0xffffffffu) return tgs_err("%s: more than %u samples", name, 0xffffffffu - 1);
    if (!(s->order = malloc(sizeof *s->order * n))) return tgs_err("out of memory");
    return 0;
}

void tgs_samples_close(tgs_samples *s) {
    for (size_t i = 0; i < s->n; i++) tgs_sample_free(&s->all[i]);
    free(s->all), free(s->order);
    tgs_sample_free(&s->cur), tgs_sample_free(&s->next);
    tgs_reader_close(&s->rd);
}

const tgs_sample *tgs_samples_first(const tgs_samples *s) { return s->streaming ? &s->next : &s->all[0]; }

int64_t tgs_samples_per_epoch(const tgs_samples *s) { return s->streaming ? s->last_count : (int64_t)s->n; }

int tgs_samples_begin_epoch(tgs_samples *s, int64_t e, int first) {
    s->epoch = e;
    if (!s->streaming) {
        /* Fisher-Yates from the epoch's own stream, as tgs-augment --shuffle */
        tgs_rng r;
        tgs_rng_seed(&r, s->seed, ((uint64_t)e << 32) | 0xffffffffu);
        for (size_t i = 0; i < s->n; i++) s->order[i] = (uint32_t)i;
        for (size_t i = s->n; i > 1; i--) {
            uint32_t j = tgs_rng_below(&r, (uint32_t)i), t = s->order[i - 1];
            s->order[i - 1] = s->order[j], s->order[j] = t;
        }
        s->pos = 0;
        return 1;
    }
    /* a stream that starts before e (the whole of tgs-augment --epochs N
     * again, on a resume) is read through to e */
    while (s->have_next && s->next_epoch < e)
        if (read_ahead(s) < 0) return -1;
    if (!s->have_next) return 0;
    if (s->next_epoch > e) {
        if (first)
            return tgs_err("%s: the stream starts at epoch %lld, the run is at epoch %lld (%s)", s->rd.path,
                           (long long)s->next_epoch, (long long)e,
                           e == 0 ? "a fresh run starts at 0" : "resume with tgs-augment --first-epoch at most that");
        return tgs_err("%s: sample %llu: epoch %lld follows epoch %lld", s->rd.path, (unsigned long long)s->rd.nsamples,
                       (long long)s->next_epoch, (long long)e - 1);
    }
    return 1;
}

int tgs_samples_next(tgs_samples *s, const tgs_sample **smp, uint64_t *index) {
    if (!s->streaming) {
        if (s->pos == s->n) return 0;
        *index = s->order[s->pos] + 1;
        *smp = &s->all[s->order[s->pos++]];
        return 1;
    }
    if (!s->have_next || s->next_epoch != s->epoch) return 0;
    tgs_sample t = s->cur;
    s->cur = s->next, s->next = t;
    *index = s->rd.nsamples;
    *smp = &s->cur;
    return read_ahead(s) < 0 ? -1 : 1;
}

void tgs_samples_end_epoch(tgs_samples *s, int64_t count) {
    if (s->streaming) s->last_count = count;
}
