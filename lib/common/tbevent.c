/* tbevent: see tbevent.h. The protobuf is written by hand: a field is a
 * key varint (number << 3 | wire type) and then a varint (wire type 0), 8
 * little-endian bytes (1), a length varint and the bytes (2), or 4
 * little-endian bytes (5). */
#include "tbevent.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "err.h"
#include "outfile.h"

/* ---- CRC-32C ---- */

/* A byte at a time from one table, built on first use: records are a few
 * hundred bytes an epoch, so the speed of crc32.c is not needed here. */
static uint32_t crc32c_table[256];
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;

static void crc32c_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc32c_table[i] = c;
    }
}

uint32_t tgs_crc32c(uint32_t crc, const void *buf, size_t len) {
    pthread_once(&crc32c_once, crc32c_init);
    const uint8_t *p = buf;
    crc = ~crc;
    while (len--) crc = crc32c_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

uint32_t tgs_tfrecord_crc(const void *buf, size_t len) {
    uint32_t crc = tgs_crc32c(0, buf, len);
    return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

/* ---- bytes ---- */

static int put(tgs_tbbuf *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + n) cap *= 2;
        uint8_t *q = realloc(b->p, cap);
        if (!q) return tgs_err("out of memory");
        b->p = q, b->cap = cap;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
    return 0;
}

/* Little-endian whatever the host is: the format says so. */
static int put_le(tgs_tbbuf *b, uint64_t v, int bytes) {
    uint8_t x[8];
    for (int i = 0; i < bytes; i++) x[i] = (uint8_t)(v >> (8 * i));
    return put(b, x, (size_t)bytes);
}

static size_t varint_size(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) v >>= 7, n++;
    return n;
}

static int put_varint(tgs_tbbuf *b, uint64_t v) {
    uint8_t x[10];
    size_t n = 0;
    while (v >= 0x80) x[n++] = (uint8_t)(v | 0x80), v >>= 7;
    x[n++] = (uint8_t)v;
    return put(b, x, n);
}

enum { WIRE_VARINT = 0, WIRE_I64 = 1, WIRE_LEN = 2, WIRE_I32 = 5 };

static int put_key(tgs_tbbuf *b, int field, int wire) { return put_varint(b, (uint64_t)field << 3 | (uint64_t)wire); }

static int put_double(tgs_tbbuf *b, int field, double v) {
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return put_key(b, field, WIRE_I64) < 0 ? -1 : put_le(b, u, 8);
}

static int put_float(tgs_tbbuf *b, int field, float v) {
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    return put_key(b, field, WIRE_I32) < 0 ? -1 : put_le(b, u, 4);
}

/* A length-delimited field's key and length; its len bytes follow. */
static int put_len(tgs_tbbuf *b, int field, size_t len) {
    return put_key(b, field, WIRE_LEN) < 0 ? -1 : put_varint(b, len);
}

/* ---- records ---- */

int tgs_tfrecord_put(tgs_tbbuf *b, const void *data, size_t len) {
    uint8_t head[8];
    for (int i = 0; i < 8; i++) head[i] = (uint8_t)((uint64_t)len >> (8 * i));
    if (put(b, head, 8) < 0 || put_le(b, tgs_tfrecord_crc(head, 8), 4) < 0 || put(b, data, len) < 0 ||
        put_le(b, tgs_tfrecord_crc(data, len), 4) < 0)
        return -1;
    return 0;
}

/* An Event is built in ev, then framed into b. Field numbers: */
enum { EVENT_WALL_TIME = 1, EVENT_STEP = 2, EVENT_FILE_VERSION = 3, EVENT_SUMMARY = 5 };
enum { SUMMARY_VALUE = 1 };
enum { VALUE_TAG = 1, VALUE_SIMPLE_VALUE = 2 };

static int frame(tgs_tbbuf *b, tgs_tbbuf *ev, int bad) {
    if (!bad) bad = tgs_tfrecord_put(b, ev->p, ev->n) < 0;
    free(ev->p);
    return bad ? -1 : 0;
}

int tgs_tbevent_put_version(tgs_tbbuf *b, double wall_time) {
    static const char version[] = "brain.Event:2";
    tgs_tbbuf ev = {0};
    int bad = put_double(&ev, EVENT_WALL_TIME, wall_time) < 0 || put_len(&ev, EVENT_FILE_VERSION, strlen(version)) < 0 ||
              put(&ev, version, strlen(version)) < 0;
    return frame(b, &ev, bad);
}

int tgs_tbevent_put_scalars(tgs_tbbuf *b, double wall_time, int64_t step, const char *const *tags, const float *values,
                            int n) {
    /* lengths come before what they measure: the Values' first */
    size_t summary = 0;
    for (int i = 0; i < n; i++) {
        size_t tl = strlen(tags[i]), vl = 1 + varint_size(tl) + tl + 1 + 4;
        summary += 1 + varint_size(vl) + vl;
    }
    tgs_tbbuf ev = {0};
    int bad = put_double(&ev, EVENT_WALL_TIME, wall_time) < 0;
    /* proto3 leaves out a zero int64, as protobuf's own writers do */
    if (!bad && step != 0) bad = put_key(&ev, EVENT_STEP, WIRE_VARINT) < 0 || put_varint(&ev, (uint64_t)step) < 0;
    bad = bad || put_len(&ev, EVENT_SUMMARY, summary) < 0;
    for (int i = 0; i < n && !bad; i++) {
        size_t tl = strlen(tags[i]);
        bad = put_len(&ev, SUMMARY_VALUE, 1 + varint_size(tl) + tl + 1 + 4) < 0 || put_len(&ev, VALUE_TAG, tl) < 0 ||
              put(&ev, tags[i], tl) < 0 || put_float(&ev, VALUE_SIMPLE_VALUE, values[i]) < 0;
    }
    return frame(b, &ev, bad);
}

/* ---- from log.csv ---- */

static int ends_with(const char *s, const char *end) {
    size_t n = strlen(s), k = strlen(end);
    return n > k && strcmp(s + n - k, end) == 0;
}

void tgs_tbevent_tag(const char *column, char *tag, size_t size) {
    if (ends_with(column, "_loss")) snprintf(tag, size, "loss/%.*s", (int)(strlen(column) - 5), column);
    else if (strncmp(column, "train_", 6) == 0 && column[6]) snprintf(tag, size, "train/%s", column + 6);
    else if (strncmp(column, "val_", 4) == 0 && column[4]) snprintf(tag, size, "val/%s", column + 4);
    else if (strcmp(column, "img_s") == 0 || strcmp(column, "seconds") == 0) snprintf(tag, size, "speed/%s", column);
    else snprintf(tag, size, "%s", column);
}

/* A cell that is a number, whole; NaN for an empty cell or text. */
static double cell_value(const char *s) {
    char *end;
    if (!*s) return NAN;
    double v = strtod(s, &end);
    return *end ? NAN : v;
}

typedef struct {
    tgs_csv csv;
    int ncol, epoch_col, seconds_col;
    char **tags;         /* [ncol] */
    int64_t *epoch;      /* [nrow] */
    double *cell;        /* [nrow][ncol]; NaN: no scalar */
    int nrow, cap;
} log_table;

static void log_table_free(log_table *t) {
    tgs_csv_close(&t->csv);
    for (int i = 0; i < t->ncol && t->tags; i++) free(t->tags[i]);
    free(t->tags), free(t->epoch), free(t->cell);
}

static int log_table_read(log_table *t, const char *path) {
    if (tgs_csv_open(&t->csv, path) < 0) return -1;
    int rc = tgs_csv_next(&t->csv);
    if (rc <= 0) return rc < 0 ? -1 : tgs_err("%s: no header", path);
    t->ncol = t->csv.nfield;
    t->epoch_col = t->seconds_col = -1;
    if (!(t->tags = calloc((size_t)t->ncol, sizeof *t->tags))) return tgs_err("out of memory");
    for (int i = 0; i < t->ncol; i++) {
        const char *name = t->csv.field[i];
        char tag[256];
        tgs_tbevent_tag(name, tag, sizeof tag);
        if (!(t->tags[i] = strdup(tag))) return tgs_err("out of memory");
        if (strcmp(name, "epoch") == 0) t->epoch_col = i;
        if (strcmp(name, "seconds") == 0) t->seconds_col = i;
    }
    if (t->epoch_col < 0) return tgs_err("%s: no 'epoch' column", path);
    while ((rc = tgs_csv_next(&t->csv)) > 0) {
        if (t->csv.nfield != t->ncol)
            return tgs_err("%s: line %ld: %d fields, the header has %d", path, t->csv.line, t->csv.nfield, t->ncol);
        if (t->nrow == t->cap) {
            int cap = t->cap ? 2 * t->cap : 64;
            int64_t *e = realloc(t->epoch, sizeof *e * (size_t)cap);
            if (e) t->epoch = e;
            double *c = realloc(t->cell, sizeof *c * (size_t)cap * (size_t)t->ncol);
            if (c) t->cell = c;
            if (!e || !c) return tgs_err("out of memory");
            t->cap = cap;
        }
        const char *es = t->csv.field[t->epoch_col];
        char *end;
        long long e = strtoll(es, &end, 10);
        if (end == es || *end) return tgs_err("%s: line %ld: epoch '%s' is not a number", path, t->csv.line, es);
        t->epoch[t->nrow] = e;
        for (int i = 0; i < t->ncol; i++) t->cell[(size_t)t->nrow * (size_t)t->ncol + (size_t)i] = cell_value(t->csv.field[i]);
        t->nrow++;
    }
    return rc < 0 ? -1 : 0;
}

int tgs_tbevent_from_log(tgs_tbbuf *b, const char *log_path, int64_t anchor_epoch, double anchor_wall) {
    log_table t = {0};
    const char **tags = NULL;
    float *values = NULL;
    int rc = log_table_read(&t, log_path);
    if (rc == 0 && (!(tags = malloc(sizeof *tags * (size_t)t.ncol)) || !(values = malloc(sizeof *values * (size_t)t.ncol))))
        rc = tgs_err("out of memory");
    /* the seconds up to the anchor place the start: the anchor's epoch
     * ended at anchor_wall */
    double before = 0;
    for (int r = 0; rc == 0 && r < t.nrow; r++) {
        double s = t.seconds_col < 0 ? NAN : t.cell[(size_t)r * (size_t)t.ncol + (size_t)t.seconds_col];
        if (t.epoch[r] <= anchor_epoch && isfinite(s)) before += s;
    }
    double wall = anchor_wall - before;
    if (rc == 0) rc = tgs_tbevent_put_version(b, wall);
    for (int r = 0; rc == 0 && r < t.nrow; r++) {
        const double *row = t.cell + (size_t)r * (size_t)t.ncol;
        int n = 0;
        for (int i = 0; i < t.ncol; i++)
            if (i != t.epoch_col && !isnan(row[i])) tags[n] = t.tags[i], values[n++] = (float)row[i];
        if (t.seconds_col >= 0 && isfinite(row[t.seconds_col])) wall += row[t.seconds_col];
        rc = tgs_tbevent_put_scalars(b, wall, t.epoch[r], tags, values, n);
    }
    free(tags), free(values);
    log_table_free(&t);
    return rc;
}

/* ---- reading back ---- */

static int get_le(FILE *fp, uint8_t *x, int bytes, uint64_t *v) {
    if (fread(x, 1, (size_t)bytes, fp) != (size_t)bytes) return -1;
    *v = 0;
    for (int i = bytes - 1; i >= 0; i--) *v = *v << 8 | x[i];
    return 0;
}

static int get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
    *v = 0;
    for (int shift = 0; *p < end && shift < 64; shift += 7) {
        uint8_t c = *(*p)++;
        *v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) return 0;
    }
    return -1;
}

int tgs_tbevent_read_start(const char *path, double *wall) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return tgs_err("%s:", path);
    uint8_t head[8], x[4], data[256];
    uint64_t len, crc, dcrc;
    int ok = get_le(fp, head, 8, &len) == 0 && get_le(fp, x, 4, &crc) == 0 && crc == tgs_tfrecord_crc(head, 8) &&
             len <= sizeof data && fread(data, 1, (size_t)len, fp) == len && get_le(fp, x, 4, &dcrc) == 0 &&
             dcrc == tgs_tfrecord_crc(data, (size_t)len);
    fclose(fp);
    if (!ok) return tgs_err("%s: not an events file", path);
    /* the fields of the Event: a wall time and the version, nothing else */
    const uint8_t *p = data, *end = data + len;
    int have_wall = 0, have_version = 0;
    while (p < end) {
        uint64_t key, n;
        if (get_varint(&p, end, &key) < 0) break;
        if (key == ((uint64_t)EVENT_WALL_TIME << 3 | WIRE_I64) && end - p >= 8) {
            uint64_t u = 0;
            for (int i = 7; i >= 0; i--) u = u << 8 | p[i];
            memcpy(wall, &u, sizeof *wall);
            p += 8, have_wall = 1;
        } else if (key == ((uint64_t)EVENT_FILE_VERSION << 3 | WIRE_LEN) && get_varint(&p, end, &n) == 0 &&
                   n <= (uint64_t)(end - p)) {
            have_version = n == 13 && memcmp(p, "brain.Event:2", 13) == 0;
            p += n;
        } else break;
    }
    if (p != end || !have_wall || !have_version || !isfinite(*wall))
        return tgs_err("%s: the first record is not an events file's version", path);
    return 0;
}

/* ---- writing ---- */

/* Whether the file at path holds the first bytes of b (its whole size
 * when it does; -1 when it does not or is not there). */
static long long holds_start_of(const char *path, const tgs_tbbuf *b) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return -1;
    uint8_t chunk[4096];
    size_t at = 0, n;
    int same = 1;
    while (same && (n = fread(chunk, 1, sizeof chunk, fp)) > 0) {
        same = at + n <= b->n && memcmp(chunk, b->p + at, n) == 0;
        at += n;
    }
    same = same && !ferror(fp);
    fclose(fp);
    return same ? (long long)at : -1;
}

int tgs_tbevent_write_log(const char *events_path, const char *log_path, int64_t anchor_epoch, double anchor_wall) {
    tgs_tbbuf b = {0};
    if (tgs_tbevent_from_log(&b, log_path, anchor_epoch, anchor_wall) < 0) {
        free(b.p);
        return -1;
    }
    /* a reader that follows the file as it grows (TensorBoard's own,
     * which keeps the file open and so never sees one renamed into its
     * place) gets the new records appended to the old ones; other changes
     * replace the file whole */
    int rc = 0;
    long long have = holds_start_of(events_path, &b);
    if (have >= 0 && (size_t)have < b.n) {
        FILE *fp = fopen(events_path, "ab");
        if (!fp) rc = tgs_err("%s:", events_path);
        else {
            size_t n = b.n - (size_t)have;
            int bad = fwrite(b.p + have, 1, n, fp) != n;
            bad |= fclose(fp) != 0;
            if (bad) rc = tgs_err("%s: write error:", events_path);
        }
    } else if (have < 0) {
        tgs_outfile out;
        rc = tgs_outfile_open(&out, events_path);
        if (rc == 0) {
            fwrite(b.p, 1, b.n, out.fp);
            rc = tgs_outfile_commit(&out); /* it checks the stream's error flag */
        }
    }
    free(b.p);
    return rc;
}
