/* checkpoint: safetensors read and write (see checkpoint.h and
 * formats/safetensors.md). The reader trusts nothing in the file: every
 * length is checked against what is left before it is used, every number
 * for overflow, and the JSON is parsed by a small strict reader (json.c)
 * written for exactly this header (an object of objects; strings,
 * unsigned integers and arrays of them). */
#include "checkpoint.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "grow.h"
#include "outfile.h"

/* ---- tensors and metadata ---- */

void tgs_ckpt_init(tgs_ckpt *c) { memset(c, 0, sizeof *c); }

void tgs_ckpt_free(tgs_ckpt *c) {
    for (int i = 0; i < c->n; i++) free(c->t[i].name), free(c->t[i].data);
    for (int i = 0; i < c->nmeta; i++) free(c->meta[i].key), free(c->meta[i].value);
    free(c->t), free(c->meta);
    memset(c, 0, sizeof *c);
}

static const struct {
    int dtype;
    const char *name;
    int size;
} dtypes[] = {
    {TGS_U8, "U8", 1}, {TGS_U16, "U16", 2}, {TGS_I32, "I32", 4}, {TGS_I64, "I64", 8}, {TGS_F32, "F32", 4}, {TGS_F64, "F64", 8},
};
#define NDTYPES (int)(sizeof dtypes / sizeof dtypes[0])

const char *tgs_ckpt_dtype_name(int dtype) {
    for (int i = 0; i < NDTYPES; i++)
        if (dtypes[i].dtype == dtype) return dtypes[i].name;
    return NULL;
}

static int dtype_size(int dtype) {
    for (int i = 0; i < NDTYPES; i++)
        if (dtypes[i].dtype == dtype) return dtypes[i].size;
    return 0;
}

/* the safetensors package's other dtypes, named in the refusal */
static int known_foreign_dtype(const char *s) {
    static const char *const other[] = {"BOOL", "I8", "I16", "U32", "U64", "F16", "BF16", "F8_E4M3", "F8_E5M2"};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
        if (strcmp(s, other[i]) == 0) return 1;
    return 0;
}

static void *alloc_data(uint64_t nbytes) {
    size_t n = (size_t)((nbytes + 63) / 64 * 64);
    return aligned_alloc(64, n ? n : 64);
}

/* A name is 1..TGS_CKPT_MAX_NAME bytes without control characters (the
 * JSON parser has already made sure of UTF-8). */
static int check_name(const char *name, const char *what) {
    size_t n = strlen(name);
    if (n == 0) return tgs_err("an empty %s", what);
    if (n > TGS_CKPT_MAX_NAME) return tgs_err("a %s of %zu bytes (at most %d)", what, n, TGS_CKPT_MAX_NAME);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return tgs_err("%s '%.40s...' holds a control character", what, name);
    return 0;
}

/* Element count of a shape, or -1 past 2^62 (a corrupt shape). */
static int64_t shape_count(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return -1;
        if (shape[i] && n > ((int64_t)1 << 62) / shape[i]) return -1;
        n *= shape[i];
    }
    return n;
}

const tgs_ckpt_tensor *tgs_ckpt_find(const tgs_ckpt *c, const char *name) {
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->t[i].name, name) == 0) return &c->t[i];
    return NULL;
}

int tgs_ckpt_add(tgs_ckpt *c, const char *name, int dtype, int ndim, const int64_t *shape, const void *data) {
    if (check_name(name, "tensor name") < 0) return -1;
    int es = dtype_size(dtype);
    if (!es) return tgs_err("tensor '%s': dtype %d is not one a checkpoint holds", name, dtype);
    if (ndim < 0 || ndim > TGS_CKPT_MAX_DIMS) return tgs_err("tensor '%s': %d dims", name, ndim);
    int64_t count = shape_count(ndim, shape);
    if (count < 0 || count > ((int64_t)1 << 40)) return tgs_err("tensor '%s': bad shape", name);
    if (tgs_ckpt_find(c, name)) return tgs_err("tensor '%s' added twice", name);
    if (tgs_grow((void **)&c->t, &c->cap, c->n, sizeof *c->t) < 0) return -1;
    tgs_ckpt_tensor *t = &c->t[c->n];
    memset(t, 0, sizeof *t);
    t->dtype = dtype, t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->nbytes = (uint64_t)count * (uint64_t)es;
    t->name = strdup(name);
    t->data = alloc_data(t->nbytes);
    if (!t->name || !t->data) {
        free(t->name), free(t->data);
        return tgs_err("out of memory for tensor '%s'", name);
    }
    if (t->nbytes) memcpy(t->data, data, (size_t)t->nbytes);
    c->n++;
    return 0;
}

void tgs_ckpt_shape_str(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t k = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && k < cap; i++) k += (size_t)snprintf(buf + k, cap - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
}

const void *tgs_ckpt_expect(const tgs_ckpt *c, const char *name, int dtype, int64_t count) {
    const tgs_ckpt_tensor *t = tgs_ckpt_find(c, name);
    if (!t) {
        tgs_err("has no tensor '%s'", name);
        return NULL;
    }
    if (t->dtype != dtype || shape_count(t->ndim, t->shape) != count) {
        char s[128];
        tgs_ckpt_shape_str(s, sizeof s, t->ndim, t->shape);
        tgs_err("tensor '%s' is %s %s, expected %s of %lld elements", name, tgs_ckpt_dtype_name(t->dtype), s,
                tgs_ckpt_dtype_name(dtype), (long long)count);
        return NULL;
    }
    return t->data;
}

int tgs_ckpt_meta_set(tgs_ckpt *c, const char *key, const char *value) {
    if (check_name(key, "metadata key") < 0) return -1;
    char *v = strdup(value);
    if (!v) return tgs_err("out of memory");
    for (int i = 0; i < c->nmeta; i++)
        if (strcmp(c->meta[i].key, key) == 0) {
            free(c->meta[i].value);
            c->meta[i].value = v;
            return 0;
        }
    char *k = strdup(key);
    if (!k || tgs_grow((void **)&c->meta, &c->metacap, c->nmeta, sizeof *c->meta) < 0) {
        free(k), free(v);
        return tgs_err("out of memory");
    }
    c->meta[c->nmeta].key = k, c->meta[c->nmeta].value = v;
    c->nmeta++;
    return 0;
}

const char *tgs_ckpt_meta_get(const tgs_ckpt *c, const char *key) {
    for (int i = 0; i < c->nmeta; i++)
        if (strcmp(c->meta[i].key, key) == 0) return c->meta[i].value;
    return NULL;
}

/* ---- writing ---- */

/* A growable byte buffer. */
typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} buf_t;

static void buf_reserve(buf_t *b, size_t more) {
    if (b->oom || b->len + more + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return;
    }
    b->p = p, b->cap = cap;
}

static void buf_puts(buf_t *b, const char *s) {
    size_t n = strlen(s);
    buf_reserve(b, n);
    if (b->oom) return;
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
}

static void buf_json_str(buf_t *b, const char *s) {
    buf_reserve(b, 6 * strlen(s) + 2);
    if (b->oom) return;
    int64_t n = tgs_json_put_str(b->p, b->len, b->cap, s);
    if (n < 0) b->oom = 1;
    else b->len = (size_t)n;
}

/* Order of the tensors in the file: element size descending, then name
 * (bytewise), as the safetensors package sorts them. */
static const tgs_ckpt *sort_ctx;
static int by_size_name(const void *a, const void *b) {
    const tgs_ckpt_tensor *x = &sort_ctx->t[*(const int *)a], *y = &sort_ctx->t[*(const int *)b];
    int sx = dtype_size(x->dtype), sy = dtype_size(y->dtype);
    if (sx != sy) return sx > sy ? -1 : 1;
    return strcmp(x->name, y->name);
}

int tgs_ckpt_serialize(const tgs_ckpt *c, unsigned char **out, size_t *outlen) {
    int *order = malloc(sizeof *order * (size_t)(c->n ? c->n : 1));
    if (!order) return tgs_err("out of memory");
    for (int i = 0; i < c->n; i++) order[i] = i;
    sort_ctx = c;
    qsort(order, (size_t)c->n, sizeof *order, by_size_name);
    buf_t h = {0};
    buf_puts(&h, "{");
    int first = 1;
    if (c->nmeta) {
        buf_puts(&h, "\"__metadata__\":{");
        for (int i = 0; i < c->nmeta; i++) {
            if (i) buf_puts(&h, ",");
            buf_json_str(&h, c->meta[i].key);
            buf_puts(&h, ":");
            buf_json_str(&h, c->meta[i].value);
        }
        buf_puts(&h, "}");
        first = 0;
    }
    uint64_t off = 0;
    for (int k = 0; k < c->n; k++) {
        const tgs_ckpt_tensor *t = &c->t[order[k]];
        char tmp[64];
        if (!first) buf_puts(&h, ",");
        first = 0;
        buf_json_str(&h, t->name);
        buf_puts(&h, ":{\"dtype\":\"");
        buf_puts(&h, tgs_ckpt_dtype_name(t->dtype));
        buf_puts(&h, "\",\"shape\":[");
        for (int i = 0; i < t->ndim; i++) {
            snprintf(tmp, sizeof tmp, "%s%lld", i ? "," : "", (long long)t->shape[i]);
            buf_puts(&h, tmp);
        }
        snprintf(tmp, sizeof tmp, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                 (unsigned long long)(off + t->nbytes));
        buf_puts(&h, tmp);
        off += t->nbytes;
    }
    buf_puts(&h, "}");
    while (!h.oom && h.len % 8) buf_puts(&h, " ");
    if (h.oom) {
        free(h.p), free(order);
        return tgs_err("out of memory");
    }
    size_t total = 8 + h.len + (size_t)off;
    unsigned char *b = malloc(total);
    if (!b) {
        free(h.p), free(order);
        return tgs_err("out of memory for a checkpoint of %zu bytes", total);
    }
    uint64_t n = h.len;
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(n >> (8 * i));
    memcpy(b + 8, h.p, h.len);
    size_t at = 8 + h.len;
    for (int k = 0; k < c->n; k++) {
        const tgs_ckpt_tensor *t = &c->t[order[k]];
        /* little-endian on disk; this code assumes a little-endian host, as the stream code does */
        if (t->nbytes) memcpy(b + at, t->data, (size_t)t->nbytes);
        at += (size_t)t->nbytes;
    }
    free(h.p), free(order);
    *out = b, *outlen = total;
    return 0;
}

int64_t tgs_ckpt_tensor_nonfinite(const tgs_ckpt_tensor *t, double *value) {
    int64_t n = (int64_t)(t->nbytes / (uint64_t)dtype_size(t->dtype));
    if (t->dtype == TGS_F32) {
        const float *x = t->data;
        for (int64_t i = 0; i < n; i++)
            if (!isfinite(x[i])) return *value = x[i], i;
    } else if (t->dtype == TGS_F64) {
        const double *x = t->data;
        for (int64_t i = 0; i < n; i++)
            if (!isfinite(x[i])) return *value = x[i], i;
    }
    return -1;
}

const char *tgs_nonfinite_name(double v) { return isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf"; }

int tgs_ckpt_save(const tgs_ckpt *c, const char *path) {
    unsigned char *b;
    size_t n;
    /* a checkpoint is the last good state: a NaN in it would be loaded
     * and spread through every prediction made from it */
    for (int k = 0; k < c->n; k++) {
        double v;
        int64_t at = tgs_ckpt_tensor_nonfinite(&c->t[k], &v);
        if (at >= 0)
            return tgs_err("%s: tensor '%s' holds %s at element %lld; not written (a checkpoint holds finite numbers only)",
                           path, c->t[k].name, tgs_nonfinite_name(v), (long long)at);
    }
    if (tgs_ckpt_serialize(c, &b, &n) < 0) return tgs_err_prefix("%s", path);
    tgs_outfile o;
    if (tgs_outfile_open(&o, path) < 0) {
        free(b);
        return -1;
    }
    if (fwrite(b, 1, n, o.fp) != n) {
        int e = errno;
        free(b);
        tgs_outfile_abort(&o);
        errno = e;
        return tgs_err("%s: write error:", path);
    }
    free(b);
    return tgs_outfile_commit(&o);
}

/* ---- the header ---- */

typedef struct {
    uint64_t begin, end;
    int index;
} span;

static int by_begin(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static int by_name_ptr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* -1 with a message when two of the n names are the same */
static int unique_names(char **names, int n, const char *what) {
    if (n < 2) return 0;
    char **s = malloc(sizeof *s * (size_t)n);
    if (!s) return tgs_err("out of memory");
    memcpy(s, names, sizeof *s * (size_t)n);
    qsort(s, (size_t)n, sizeof *s, by_name_ptr);
    for (int i = 1; i < n; i++)
        if (strcmp(s[i - 1], s[i]) == 0) {
            tgs_err("%s '%.200s' appears twice", what, s[i]);
            free(s);
            return -1;
        }
    free(s);
    return 0;
}

/* "__metadata__": {"key": "value", ...} */
static int parse_metadata(tgs_json_cur *j, tgs_ckpt *c) {
    if (tgs_json_expect(j, '{') < 0) return -1;
    tgs_json_ws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        return 0;
    }
    for (;;) {
        char *k = NULL, *v = NULL;
        if (tgs_json_string(j, &k) < 0) return -1;
        if (tgs_json_expect(j, ':') < 0) {
            free(k);
            return -1;
        }
        tgs_json_ws(j);
        if (j->p < j->end && *j->p != '"') {
            free(k);
            return tgs_json_err(j, "a metadata value is not a string");
        }
        if (tgs_json_string(j, &v) < 0) {
            free(k);
            return -1;
        }
        if (tgs_grow((void **)&c->meta, &c->metacap, c->nmeta, sizeof *c->meta) < 0) {
            free(k), free(v);
            return -1;
        }
        c->meta[c->nmeta].key = k, c->meta[c->nmeta].value = v;
        c->nmeta++;
        tgs_json_ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        return tgs_json_expect(j, '}');
    }
}

/* {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, keys in any order */
static int parse_tensor_info(tgs_json_cur *j, tgs_ckpt_tensor *t, uint64_t off[2]) {
    int have_dtype = 0, have_shape = 0, have_off = 0;
    if (tgs_json_expect(j, '{') < 0) return -1;
    for (;;) {
        char *k;
        if (tgs_json_string(j, &k) < 0) return -1;
        if (tgs_json_expect(j, ':') < 0) {
            free(k);
            return -1;
        }
        if (strcmp(k, "dtype") == 0 && !have_dtype) {
            char *d;
            const char *at = j->p;
            if (tgs_json_string(j, &d) < 0) {
                free(k);
                return -1;
            }
            t->dtype = 0;
            for (int i = 0; i < NDTYPES; i++)
                if (strcmp(d, dtypes[i].name) == 0) t->dtype = dtypes[i].dtype;
            if (!t->dtype) {
                char m[128];
                snprintf(m, sizeof m, "dtype '%.20s' %s", d,
                         known_foreign_dtype(d) ? "is not one tgs reads (U8 U16 I32 I64 F32 F64)" : "is unknown");
                free(d), free(k);
                j->p = at;
                return tgs_json_err(j, m);
            }
            free(d);
            have_dtype = 1;
        } else if (strcmp(k, "shape") == 0 && !have_shape) {
            uint64_t v[TGS_CKPT_MAX_DIMS];
            if (tgs_json_uint_array(j, v, TGS_CKPT_MAX_DIMS, &t->ndim, "a shape") < 0) {
                free(k);
                return -1;
            }
            for (int i = 0; i < t->ndim; i++) {
                if (v[i] > ((uint64_t)1 << 40)) {
                    free(k);
                    return tgs_json_err(j, "a dimension past 2^40");
                }
                t->shape[i] = (int64_t)v[i];
            }
            have_shape = 1;
        } else if (strcmp(k, "data_offsets") == 0 && !have_off) {
            int n = 0;
            if (tgs_json_uint_array(j, off, 2, &n, "data_offsets") < 0) {
                free(k);
                return -1;
            }
            if (n != 2) {
                free(k);
                return tgs_json_err(j, "data_offsets is not [begin, end]");
            }
            have_off = 1;
        } else {
            char m[128];
            int dup = !strcmp(k, "dtype") || !strcmp(k, "shape") || !strcmp(k, "data_offsets");
            snprintf(m, sizeof m, "%s key '%.40s' in a tensor entry", dup ? "a repeated" : "an unknown", k);
            free(k);
            return tgs_json_err(j, m);
        }
        free(k);
        tgs_json_ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (tgs_json_expect(j, '}') < 0) return -1;
        break;
    }
    if (!have_dtype || !have_shape || !have_off)
        return tgs_json_err(j, !have_dtype ? "a tensor entry without dtype" : !have_shape ? "a tensor entry without shape"
                                                                                       : "a tensor entry without data_offsets");
    return 0;
}

static int parse_header(tgs_ckpt *c, tgs_json_cur *j, span **spans_out) {
    span *sp = NULL;
    int spcap = 0, seen_meta = 0;
    *spans_out = NULL;
    if (j->p >= j->end || *j->p != '{') return tgs_json_err(j, "the header does not start with '{'");
    j->p++;
    tgs_json_ws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
    } else {
        for (;;) {
            char *k;
            const char *at = j->p;
            if (tgs_json_string(j, &k) < 0) goto fail;
            if (tgs_json_expect(j, ':') < 0) {
                free(k);
                goto fail;
            }
            if (strcmp(k, "__metadata__") == 0) {
                free(k);
                if (seen_meta++) {
                    j->p = at;
                    tgs_json_err(j, "__metadata__ appears twice");
                    goto fail;
                }
                if (parse_metadata(j, c) < 0) goto fail;
            } else {
                if (tgs_grow((void **)&c->t, &c->cap, c->n, sizeof *c->t) < 0 ||
                    tgs_grow((void **)&sp, &spcap, c->n, sizeof *sp) < 0) {
                    free(k);
                    goto fail;
                }
                tgs_ckpt_tensor *t = &c->t[c->n];
                memset(t, 0, sizeof *t);
                uint64_t off[2] = {0, 0};
                if (parse_tensor_info(j, t, off) < 0) {
                    free(k);
                    goto fail;
                }
                t->name = k;
                c->n++;
                if (check_name(k, "tensor name") < 0) {
                    tgs_err_prefix("header byte %zu", j->base + (size_t)(at - j->start));
                    goto fail;
                }
                int64_t count = shape_count(t->ndim, t->shape);
                uint64_t es = (uint64_t)dtype_size(t->dtype);
                if (count < 0 || off[1] < off[0] || (uint64_t)count > (off[1] - off[0]) / es ||
                    (uint64_t)count * es != off[1] - off[0]) {
                    char s[160];
                    tgs_ckpt_shape_str(s, sizeof s, t->ndim, t->shape);
                    tgs_err("tensor '%.200s': %s %s needs %lld bytes, data_offsets [%llu, %llu] give %lld", k,
                            tgs_ckpt_dtype_name(t->dtype), s, count < 0 ? -1LL : (long long)((uint64_t)count * es),
                            (unsigned long long)off[0], (unsigned long long)off[1],
                            off[1] < off[0] ? -1LL : (long long)(off[1] - off[0]));
                    goto fail;
                }
                t->nbytes = off[1] - off[0];
                sp[c->n - 1] = (span){off[0], off[1], c->n - 1};
            }
            tgs_json_ws(j);
            if (j->p < j->end && *j->p == ',') {
                j->p++;
                continue;
            }
            if (tgs_json_expect(j, '}') < 0) goto fail;
            break;
        }
    }
    tgs_json_ws(j);
    if (j->p != j->end) {
        tgs_json_err(j, "text after the JSON object");
        goto fail;
    }
    *spans_out = sp;
    return 0;
fail:
    free(sp);
    return -1;
}

int tgs_ckpt_parse(tgs_ckpt *c, const unsigned char *buf, size_t len, const char *name) {
    tgs_ckpt_init(c);
    span *sp = NULL;
    if (len < 8) return tgs_err("%s: %zu bytes, too short for a safetensors file (8-byte header length first)", name, len);
    uint64_t n = 0;
    for (int i = 0; i < 8; i++) n |= (uint64_t)buf[i] << (8 * i);
    if (n > TGS_CKPT_MAX_HEADER) return tgs_err("%s: header length %llu is larger than the %llu bytes allowed", name, (unsigned long long)n, (unsigned long long)TGS_CKPT_MAX_HEADER);
    if (n > len - 8)
        return tgs_err("%s: header length %llu runs past the end of the file (%zu bytes)", name, (unsigned long long)n, len);
    if (n < 2) return tgs_err("%s: header length %llu is too short for a JSON object", name, (unsigned long long)n);
    tgs_json_cur j = {(const char *)buf + 8, (const char *)buf + 8, (const char *)buf + 8 + n, 8};
    if (parse_header(c, &j, &sp) < 0) goto fail;
    char **names = malloc(sizeof *names * (size_t)(c->n > c->nmeta ? c->n + 1 : c->nmeta + 1));
    if (!names) {
        tgs_err("out of memory");
        goto fail;
    }
    for (int i = 0; i < c->n; i++) names[i] = c->t[i].name;
    if (unique_names(names, c->n, "tensor") < 0) {
        free(names);
        goto fail;
    }
    for (int i = 0; i < c->nmeta; i++) names[i] = c->meta[i].key;
    if (unique_names(names, c->nmeta, "metadata key") < 0) {
        free(names);
        goto fail;
    }
    free(names);
    for (int i = 0; i < c->nmeta; i++)
        if (check_name(c->meta[i].key, "metadata key") < 0) goto fail;

    /* the tensors tile the buffer exactly */
    uint64_t blen = (uint64_t)len - 8 - n, at = 0;
    if (c->n) qsort(sp, (size_t)c->n, sizeof *sp, by_begin);
    for (int i = 0; i < c->n; i++) {
        if (sp[i].begin != at) {
            tgs_err("%s: tensor '%.200s' starts at byte %llu of the buffer, %s at %llu", name, c->t[sp[i].index].name,
                    (unsigned long long)sp[i].begin, sp[i].begin > at ? "leaving a gap: the one before ends" : "overlapping: the one before ends",
                    (unsigned long long)at);
            goto fail;
        }
        if (sp[i].end > blen) {
            tgs_err("%s: tensor '%.200s' ends at byte %llu, past the buffer's %llu (truncated file?)", name,
                    c->t[sp[i].index].name, (unsigned long long)sp[i].end, (unsigned long long)blen);
            goto fail;
        }
        at = sp[i].end;
    }
    if (at != blen) {
        tgs_err("%s: the tensors cover %llu bytes of a %llu-byte buffer (%s)", name, (unsigned long long)at,
                (unsigned long long)blen, at < blen ? "trailing bytes" : "truncated");
        goto fail;
    }
    for (int i = 0; i < c->n; i++) {
        tgs_ckpt_tensor *t = &c->t[sp[i].index];
        if (!(t->data = alloc_data(t->nbytes))) {
            tgs_err("%s: out of memory for tensor '%s'", name, t->name);
            goto fail;
        }
        if (t->nbytes) memcpy(t->data, buf + 8 + n + sp[i].begin, (size_t)t->nbytes);
    }
    free(sp);
    return 0;
fail:
    free(sp);
    if (strncmp(tgs_errmsg(), name, strlen(name)) != 0) tgs_err_prefix("%s", name);
    return -1;
}

int tgs_ckpt_load(tgs_ckpt *c, const char *path) {
    tgs_ckpt_init(c);
    FILE *fp = fopen(path, "rb");
    if (!fp) return tgs_err("%s:", path);
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? 2 * cap : 1 << 20;
            unsigned char *p = realloc(buf, cap);
            if (!p) {
                free(buf), fclose(fp);
                return tgs_err("%s: out of memory", path);
            }
            buf = p;
        }
        size_t got = fread(buf + len, 1, cap - len, fp);
        len += got;
        if (got == 0) break;
    }
    int bad = ferror(fp), e = errno;
    fclose(fp);
    if (bad) {
        free(buf);
        errno = e;
        return tgs_err("%s: read error:", path); /* a directory: "Is a directory" */
    }
    int rc = tgs_ckpt_parse(c, buf, len, path);
    free(buf);
    return rc;
}
