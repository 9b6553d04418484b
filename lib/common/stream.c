#include "stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crc32.h"
#include "err.h"

/* Records are little-endian on disk; the code copies words as they lie in
 * memory, so it only builds where that is the same thing. */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "tgs streams are little-endian; a big-endian port needs byte swaps in stream.c"
#endif

static const unsigned char magic[4] = {'T', 'G', 'S', 'R'};
enum { VERSION = 1, FIXED_HEADER = 12 };

int tgs_dtype_size(int dtype) {
    switch (dtype) {
    case TGS_U8: case TGS_STR: return 1;
    case TGS_U16: return 2;
    case TGS_I32: case TGS_F32: return 4;
    case TGS_I64: case TGS_F64: return 8;
    }
    return 0;
}

static const char *dtype_names[] = {"?", "u8", "u16", "i32", "i64", "f32", "f64", "str"};

const char *tgs_dtype_name(int dtype) { return dtype >= 1 && dtype <= 7 ? dtype_names[dtype] : "?"; }

int tgs_dtype_parse(const char *name) {
    for (int i = 1; i <= 7; i++)
        if (strcmp(name, dtype_names[i]) == 0) return i;
    return 0;
}

/* Length of the UTF-8 sequence at p (p < end, *p >= 0x80), 0 if invalid. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end) {
    unsigned c = p[0], cp;
    size_t n;
    if (c >= 0xc2 && c <= 0xdf) n = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef) n = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4) n = 4, cp = c & 0x07;
    else return 0; /* a continuation byte, or a lead of an overlong or too large form */
    if ((size_t)(end - p) < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return n;
}

int tgs_utf8_valid(const void *s, size_t n, size_t *bad) {
    const unsigned char *p = s, *end = p + n;
    while (p < end) {
        size_t k = *p < 0x80 ? 1 : utf8_len(p, end);
        if (!k) {
            if (bad) *bad = (size_t)(p - (const unsigned char *)s);
            return 0;
        }
        p += k;
    }
    return 1;
}

/* The first byte of p[0..n) a tile id may not hold, n if none; an id
 * names a PNG file and a CSV field, and is printed in one-line messages. */
static size_t id_bad_byte(const char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i] <= ' ' || p[i] > '~' || p[i] == '/' || p[i] == ',' || p[i] == '"') return i;
    return n;
}

int tgs_id_valid(const char *id) {
    size_t n = strlen(id);
    return n >= 1 && n <= TGS_MAX_ID && id_bad_byte(id, n) == n;
}

/* A str record's text must be UTF-8 without NUL bytes, and the one named
 * 'id' a tile id; the message says where it is not. */
static int str_check(const char *name, const void *data, uint64_t n, char *msg, size_t len) {
    size_t bad;
    if (n && memchr(data, 0, n)) {
        snprintf(msg, len, "string holds a NUL byte");
        return -1;
    }
    if (n && !tgs_utf8_valid(data, n, &bad)) {
        snprintf(msg, len, "string is not valid UTF-8 (its byte %zu)", bad);
        return -1;
    }
    if (strcmp(name, "id") == 0 && (n == 0 || n > TGS_MAX_ID || (bad = id_bad_byte(data, n)) < n)) {
        if (n == 0 || n > TGS_MAX_ID) snprintf(msg, len, "a tile id of %llu bytes (1 to %d)", (unsigned long long)n, TGS_MAX_ID);
        else snprintf(msg, len, "not a tile id: its byte %zu is 0x%02x (printable ASCII only, no space, '/', ',' or '\"')", bad,
                      ((const unsigned char *)data)[bad]);
        return -1;
    }
    return 0;
}

/* Names are printable ASCII without space or comma, so they print in
 * messages and CSV headers as they are. */
static int name_valid(const char *name, size_t len) {
    if (len == 0 || len > TGS_MAX_NAME) return 0;
    for (size_t i = 0; i < len; i++)
        if (name[i] <= ' ' || name[i] > '~' || name[i] == ',') return 0;
    return 1;
}

/* Byte size of a shape, or -1 if it passes the limit. */
static int64_t shape_bytes(int dtype, int ndim, const uint32_t *dims) {
    uint64_t n = (uint64_t)tgs_dtype_size(dtype);
    for (int i = 0; i < ndim; i++) {
        if (dims[i] != 0 && n > TGS_RECORD_MAX_BYTES / dims[i]) return -1;
        n *= dims[i];
    }
    return n > TGS_RECORD_MAX_BYTES ? -1 : (int64_t)n;
}

/* Set rec's header, without touching its buffer. */
static int record_header(tgs_record *rec, const char *name, int dtype, int ndim, const uint32_t *dims) {
    size_t len = strlen(name);
    if (!name_valid(name, len)) return tgs_err("invalid record name '%s'", name);
    if (!tgs_dtype_size(dtype)) return tgs_err("record '%s': unknown dtype %d", name, dtype);
    if (ndim < 0 || ndim > TGS_MAX_DIMS) return tgs_err("record '%s': %d dimensions (at most %d)", name, ndim, TGS_MAX_DIMS);
    if (dtype == TGS_STR && ndim != 1) return tgs_err("record '%s': a string must have 1 dimension", name);
    int64_t nb = shape_bytes(dtype, ndim, dims);
    if (nb < 0) return tgs_err("record '%s': larger than %llu bytes", name, (unsigned long long)TGS_RECORD_MAX_BYTES);
    memcpy(rec->name, name, len + 1);
    rec->dtype = dtype;
    rec->ndim = ndim;
    for (int i = 0; i < ndim; i++) rec->dims[i] = dims[i];
    rec->nbytes = (uint64_t)nb;
    return 0;
}

/* Make room for bytes of data and the NUL after them. */
static int record_reserve(tgs_record *rec, uint64_t bytes) {
    if (rec->data != NULL && bytes <= rec->cap) return 0;
    void *p = realloc(rec->data, (size_t)bytes + 1);
    if (!p) return tgs_err("record '%s': out of memory for %llu bytes", rec->name, (unsigned long long)bytes);
    rec->data = p;
    rec->cap = bytes;
    return 0;
}

int tgs_record_init(tgs_record *rec, const char *name, int dtype, int ndim, const uint32_t *dims) {
    if (record_header(rec, name, dtype, ndim, dims) < 0 || record_reserve(rec, rec->nbytes) < 0) return -1;
    ((char *)rec->data)[rec->nbytes] = 0;
    return 0;
}

void tgs_record_free(tgs_record *rec) {
    free(rec->data);
    memset(rec, 0, sizeof *rec);
}

uint64_t tgs_record_count(const tgs_record *rec) {
    int sz = tgs_dtype_size(rec->dtype);
    return sz ? rec->nbytes / (uint64_t)sz : 0;
}

/* ---- reading ---- */

int tgs_reader_open(tgs_reader *r, const char *path) {
    memset(r, 0, sizeof *r);
    if (path == NULL || strcmp(path, "-") == 0) {
        tgs_reader_from_fp(r, stdin, "<stdin>");
        return 0;
    }
    FILE *fp = fopen(path, "rb");
    if (!fp) return tgs_err("%s:", path);
    tgs_reader_from_fp(r, fp, path);
    r->owns_fp = 1;
    return 0;
}

void tgs_reader_from_fp(tgs_reader *r, FILE *fp, const char *name) {
    memset(r, 0, sizeof *r);
    r->fp = fp;
    snprintf(r->path, sizeof r->path, "%s", name);
}

void tgs_reader_close(tgs_reader *r) {
    if (r->owns_fp && r->fp) fclose(r->fp);
    r->fp = NULL;
}

/* Read exactly n bytes. Returns n, or fewer at end of file (0 if none),
 * or -1 on a read error. */
static int64_t read_full(tgs_reader *r, void *buf, size_t n) {
    size_t got = fread(buf, 1, n, r->fp);
    r->offset += got;
    if (got < n && ferror(r->fp)) return -1;
    return (int64_t)got;
}

/* Prefix an error with where it happened in the stream. */
static int rec_err(tgs_reader *r, uint64_t at, const char *what, const char *name) {
    if (name && *name)
        return tgs_err("%s: record %llu '%s' (byte %llu): %s", r->path, (unsigned long long)r->nrecords + 1, name,
                       (unsigned long long)at, what);
    return tgs_err("%s: record %llu (byte %llu): %s", r->path, (unsigned long long)r->nrecords + 1,
                   (unsigned long long)at, what);
}

static uint32_t le32(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t le16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }

int tgs_read_record(tgs_reader *r, tgs_record *rec, unsigned *flags) {
    /* header: 12 fixed bytes, 4 per dim, the name, then its CRC */
    unsigned char h[FIXED_HEADER + 4 * TGS_MAX_DIMS + TGS_MAX_NAME + 4];
    char msg[160];
    uint64_t at = r->offset;
    int64_t got = read_full(r, h, FIXED_HEADER);
    if (got < 0) return tgs_err("%s: read error:", r->path);
    if (got == 0) return 0;
    if (got < FIXED_HEADER) return rec_err(r, at, "truncated record header", NULL);
    if (memcmp(h, magic, 4) != 0) return rec_err(r, at, "bad magic (not a tgs tensor stream?)", NULL);
    if (h[4] != VERSION) {
        snprintf(msg, sizeof msg, "unsupported version %d (this build reads %d)", h[4], VERSION);
        return rec_err(r, at, msg, NULL);
    }
    int dtype = h[5], ndim = h[6];
    unsigned fl = h[7];
    size_t name_len = le16(h + 8);
    if (!tgs_dtype_size(dtype)) {
        snprintf(msg, sizeof msg, "unknown dtype code %d", dtype);
        return rec_err(r, at, msg, NULL);
    }
    if (ndim > TGS_MAX_DIMS) {
        snprintf(msg, sizeof msg, "%d dimensions (at most %d)", ndim, TGS_MAX_DIMS);
        return rec_err(r, at, msg, NULL);
    }
    if (fl & ~TGS_FLAG_END_OF_SAMPLE) return rec_err(r, at, "unknown flag bits set", NULL);
    if (le16(h + 10) != 0) return rec_err(r, at, "reserved header bytes are not zero", NULL);
    if (name_len == 0 || name_len > TGS_MAX_NAME) return rec_err(r, at, "name length out of range", NULL);
    size_t rest = 4 * (size_t)ndim + name_len + 4;
    got = read_full(r, h + FIXED_HEADER, rest);
    if (got < 0) return tgs_err("%s: read error:", r->path);
    if ((size_t)got < rest) return rec_err(r, at, "truncated record header", NULL);
    size_t hlen = FIXED_HEADER + rest - 4;
    if (tgs_crc32(0, h, hlen) != le32(h + hlen)) return rec_err(r, at, "header checksum mismatch", NULL);

    uint32_t dims[TGS_MAX_DIMS];
    for (int i = 0; i < ndim; i++) dims[i] = le32(h + FIXED_HEADER + 4 * i);
    char name[TGS_MAX_NAME + 1];
    memcpy(name, h + FIXED_HEADER + 4 * ndim, name_len);
    name[name_len] = 0;
    if (!name_valid(name, name_len)) return rec_err(r, at, "invalid record name", NULL);
    if (record_header(rec, name, dtype, ndim, dims) < 0) {
        snprintf(msg, sizeof msg, "%s", tgs_errmsg());
        return rec_err(r, at, msg, name);
    }
    /* Grow the buffer as the data arrives, doubling from 16 MiB, so a
     * header that claims gigabytes over a short stream costs little. */
    uint64_t have = 0;
    while (have < rec->nbytes || rec->data == NULL) {
        uint64_t step = have > ((uint64_t)1 << 24) ? have : ((uint64_t)1 << 24), want = rec->nbytes - have;
        if (want > step) want = step;
        if (record_reserve(rec, have + want) < 0) return rec_err(r, at, "out of memory", name);
        got = read_full(r, (char *)rec->data + have, (size_t)want);
        if (got < 0) return tgs_err("%s: read error:", r->path);
        have += (uint64_t)got;
        if ((uint64_t)got < want) {
            snprintf(msg, sizeof msg, "truncated data (%llu of %llu bytes)", (unsigned long long)have, (unsigned long long)rec->nbytes);
            return rec_err(r, at, msg, name);
        }
    }
    ((char *)rec->data)[rec->nbytes] = 0;
    unsigned char c[4];
    got = read_full(r, c, 4);
    if (got < 0) return tgs_err("%s: read error:", r->path);
    if (got < 4) return rec_err(r, at, "truncated data checksum", name);
    if (tgs_crc32(0, rec->data, rec->nbytes) != le32(c)) return rec_err(r, at, "data checksum mismatch", name);
    if (dtype == TGS_STR && str_check(name, rec->data, rec->nbytes, msg, sizeof msg) < 0) return rec_err(r, at, msg, name);
    r->nrecords++;
    if (flags) *flags = fl;
    return 1;
}

/* Make room for one more record in s; new slots start zeroed (no buffer). */
static int sample_room(tgs_sample *s) {
    if (s->n < s->cap) return 0;
    int cap = s->cap ? 2 * s->cap : 8;
    tgs_record *p = realloc(s->rec, sizeof *p * (size_t)cap);
    if (!p) return tgs_err("out of memory");
    memset(p + s->cap, 0, sizeof *p * (size_t)(cap - s->cap));
    s->rec = p;
    s->cap = cap;
    return 0;
}

int tgs_read_sample(tgs_reader *r, tgs_sample *s) {
    tgs_sample_clear(s);
    for (;;) {
        if (s->n == TGS_SAMPLE_MAX_RECORDS)
            return tgs_err("%s: record %llu: sample %llu has more than %d records (end-of-sample flag missing?)", r->path,
                           (unsigned long long)r->nrecords + 1, (unsigned long long)r->nsamples + 1, TGS_SAMPLE_MAX_RECORDS);
        if (sample_room(s) < 0) return -1;
        unsigned flags = 0;
        int rc = tgs_read_record(r, &s->rec[s->n], &flags);
        if (rc < 0) return -1;
        if (rc == 0) {
            if (s->n == 0) return 0;
            return tgs_err("%s: stream ends inside sample %llu (truncated?)", r->path, (unsigned long long)r->nsamples + 1);
        }
        for (int i = 0; i < s->n; i++)
            if (strcmp(s->rec[i].name, s->rec[s->n].name) == 0)
                return tgs_err("%s: record %llu: sample %llu has two records named '%s'", r->path,
                               (unsigned long long)r->nrecords, (unsigned long long)r->nsamples + 1, s->rec[i].name);
        s->n++;
        if (flags & TGS_FLAG_END_OF_SAMPLE) {
            r->nsamples++;
            return 1;
        }
    }
}

/* ---- writing ---- */

void tgs_writer_init(tgs_writer *w, FILE *fp) {
    memset(w, 0, sizeof *w);
    w->fp = fp;
}

static void put32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8), p[2] = (unsigned char)(v >> 16), p[3] = (unsigned char)(v >> 24);
}

int tgs_write_record(tgs_writer *w, const tgs_record *rec, unsigned flags) {
    unsigned char h[FIXED_HEADER + 4 * TGS_MAX_DIMS + TGS_MAX_NAME + 4];
    size_t name_len = strlen(rec->name);
    if (!name_valid(rec->name, name_len)) return tgs_err("invalid record name '%s'", rec->name);
    if (rec->ndim < 0 || rec->ndim > TGS_MAX_DIMS || !tgs_dtype_size(rec->dtype))
        return tgs_err("record '%s': bad header", rec->name);
    char msg[80];
    if (rec->dtype == TGS_STR && str_check(rec->name, rec->data, rec->nbytes, msg, sizeof msg) < 0)
        return tgs_err("record '%s': %s", rec->name, msg);
    memcpy(h, magic, 4);
    h[4] = VERSION;
    h[5] = (unsigned char)rec->dtype;
    h[6] = (unsigned char)rec->ndim;
    h[7] = (unsigned char)(flags & TGS_FLAG_END_OF_SAMPLE);
    h[8] = (unsigned char)name_len, h[9] = 0, h[10] = 0, h[11] = 0;
    size_t n = FIXED_HEADER;
    for (int i = 0; i < rec->ndim; i++, n += 4) put32(h + n, rec->dims[i]);
    memcpy(h + n, rec->name, name_len);
    n += name_len;
    put32(h + n, tgs_crc32(0, h, n));
    n += 4;
    unsigned char c[4];
    put32(c, tgs_crc32(0, rec->data, rec->nbytes));
    if (fwrite(h, 1, n, w->fp) != n || fwrite(rec->data, 1, rec->nbytes, w->fp) != rec->nbytes || fwrite(c, 1, 4, w->fp) != 4)
        return tgs_err("write error:");
    w->nrecords++;
    return 0;
}

int tgs_write_sample(tgs_writer *w, const tgs_sample *s) {
    if (s->n == 0) return tgs_err("cannot write an empty sample");
    for (int i = 0; i < s->n; i++)
        if (tgs_write_record(w, &s->rec[i], i == s->n - 1 ? TGS_FLAG_END_OF_SAMPLE : 0) < 0) return -1;
    w->nsamples++;
    return 0;
}

/* ---- samples ---- */

void tgs_sample_clear(tgs_sample *s) { s->n = 0; }

void tgs_sample_free(tgs_sample *s) {
    for (int i = 0; i < s->cap; i++) free(s->rec[i].data);
    free(s->rec);
    memset(s, 0, sizeof *s);
}

tgs_record *tgs_sample_get(const tgs_sample *s, const char *name) {
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->rec[i].name, name) == 0) return &s->rec[i];
    return NULL;
}

tgs_record *tgs_sample_put(tgs_sample *s, const char *name, int dtype, int ndim, const uint32_t *dims) {
    /* dims may be another record's of this sample (put "b" shaped as "a"),
     * which growing the record array below moves: copied first */
    uint32_t d[TGS_MAX_DIMS];
    if (ndim > 0 && ndim <= TGS_MAX_DIMS) memcpy(d, dims, sizeof d[0] * (size_t)ndim), dims = d;
    tgs_record *rec = tgs_sample_get(s, name);
    if (!rec) {
        if (s->n == TGS_SAMPLE_MAX_RECORDS) {
            tgs_err("sample would have more than %d records", TGS_SAMPLE_MAX_RECORDS);
            return NULL;
        }
        if (sample_room(s) < 0) return NULL;
        rec = &s->rec[s->n];
        if (tgs_record_init(rec, name, dtype, ndim, dims) < 0) return NULL;
        s->n++;
        return rec;
    }
    return tgs_record_init(rec, name, dtype, ndim, dims) < 0 ? NULL : rec;
}

int tgs_sample_put_str(tgs_sample *s, const char *name, const char *text) {
    size_t n = strlen(text);
    char msg[160];
    if (str_check(name, text, n, msg, sizeof msg) < 0) return tgs_err("record '%s': %s", name, msg);
    if (n > UINT32_MAX) return tgs_err("record '%s': string of %zu bytes is too long", name, n);
    uint32_t len = (uint32_t)n;
    tgs_record *rec = tgs_sample_put(s, name, TGS_STR, 1, &len);
    if (!rec) return -1;
    memcpy(rec->data, text, len);
    return 0;
}

int tgs_sample_put_f32(tgs_sample *s, const char *name, float value) {
    tgs_record *rec = tgs_sample_put(s, name, TGS_F32, 0, NULL);
    if (!rec) return -1;
    memcpy(rec->data, &value, sizeof value);
    return 0;
}

int tgs_sample_remove(tgs_sample *s, const char *name) {
    tgs_record *rec = tgs_sample_get(s, name);
    if (!rec) return 0;
    /* Rotate the removed record's buffer to the end so it is reused. */
    tgs_record gone = *rec;
    int i = (int)(rec - s->rec);
    memmove(&s->rec[i], &s->rec[i + 1], sizeof *rec * (size_t)(s->n - i - 1));
    s->rec[s->n - 1] = gone;
    s->n--;
    return 1;
}

const char *tgs_sample_id(const tgs_sample *s) {
    tgs_record *rec = tgs_sample_get(s, "id");
    return rec && rec->dtype == TGS_STR ? (const char *)rec->data : NULL;
}

int tgs_record_check_image(const tgs_record *rec, const int *dtypes, int *c, int *h, int *w) {
    int ok = 0;
    for (const int *d = dtypes; *d; d++) ok |= *d == rec->dtype;
    if (!ok) return tgs_err("record '%s' has dtype %s", rec->name, tgs_dtype_name(rec->dtype));
    if (rec->ndim == 2) {
        *c = 1, *h = (int)rec->dims[0], *w = (int)rec->dims[1];
    } else if (rec->ndim == 3) {
        *c = (int)rec->dims[0], *h = (int)rec->dims[1], *w = (int)rec->dims[2];
    } else {
        return tgs_err("record '%s' has %d dimensions, expected (H,W) or (C,H,W)", rec->name, rec->ndim);
    }
    if (*c < 1 || *h < 1 || *w < 1 || (int64_t)*h * *w > (1 << 28)) return tgs_err("record '%s' has an empty or huge shape", rec->name);
    return 0;
}
