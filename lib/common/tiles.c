#include "tiles.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "err.h"
#include "pngio.h"
#include "stream.h"

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }


/* s for a one-line message: bytes outside printable ASCII as \xNN. */
static const char *printable(const char *s, char *buf, size_t n) {
    size_t k = 0;
    for (; *s && k + 5 < n; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < ' ' || c > '~' || c == '\\') k += (size_t)snprintf(buf + k, n - k, "\\x%02x", c);
        else buf[k++] = (char)c;
    }
    buf[k] = 0;
    return buf;
}

int tgs_id_log_add(tgs_id_log *log, const char *id, long where) {
    if (log->n == log->cap) {
        long cap = log->cap ? 2 * log->cap : 256;
        tgs_id_at *p = realloc(log->at, sizeof *p * (size_t)cap);
        if (!p) return tgs_err("out of memory for %ld ids", cap);
        log->at = p, log->cap = cap;
    }
    char *copy = strdup(id);
    if (!copy) return tgs_err("out of memory");
    log->at[log->n].id = copy;
    log->at[log->n++].where = where;
    return 0;
}

/* By id, then by place, so each id's run starts where it was first met. */
static int cmp_id_at(const void *a, const void *b) {
    const tgs_id_at *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x->where > y->where) - (x->where < y->where);
}

int tgs_id_log_check(const tgs_id_log *log, const char *path, const char *unit) {
    if (log->n < 2) return 0;
    tgs_id_at *s = malloc(sizeof *s * (size_t)log->n);
    if (!s) return tgs_err("%s: out of memory checking %ld ids", path, log->n);
    memcpy(s, log->at, sizeof *s * (size_t)log->n);
    qsort(s, (size_t)log->n, sizeof *s, cmp_id_at);
    /* the repeat met first: the earliest second place of a run */
    long first = 0;
    for (long i = 1; i < log->n; i++)
        if (strcmp(s[i - 1].id, s[i].id) == 0 && (!first || s[i].where < s[first].where)) first = i;
    int rc = 0;
    if (first) rc = tgs_err("%s: %s %ld: id %s repeats %s %ld", path, unit, s[first].where, s[first].id, unit, s[first - 1].where);
    free(s);
    return rc;
}

void tgs_id_log_free(tgs_id_log *log) {
    for (long i = 0; i < log->n; i++) free(log->at[i].id);
    free(log->at);
    memset(log, 0, sizeof *log);
}

static int idlist_add(tgs_idlist *ids, const char *id, size_t len) {
    if (ids->n == ids->cap) {
        int cap = ids->cap ? 2 * ids->cap : 256;
        char **p = realloc(ids->id, sizeof *p * (size_t)cap);
        if (!p) return tgs_err("out of memory");
        ids->id = p, ids->cap = cap;
    }
    char *s = malloc(len + 1);
    if (!s) return tgs_err("out of memory");
    memcpy(s, id, len);
    s[len] = 0;
    ids->id[ids->n++] = s;
    return 0;
}

void tgs_idlist_free(tgs_idlist *ids) {
    for (int i = 0; i < ids->n; i++) free(ids->id[i]);
    free(ids->id);
    memset(ids, 0, sizeof *ids);
}

int tgs_ids_from_dir(tgs_idlist *ids, const char *dir) {
    memset(ids, 0, sizeof *ids);
    DIR *d = opendir(dir);
    if (!d) return tgs_err("%s:", dir);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len <= 4 || strcmp(e->d_name + len - 4, ".png") != 0) continue;
        /* the name becomes the id record (UTF-8) and a CSV field */
        char shown[1024];
        int rc = 0;
        if (!tgs_utf8_valid(e->d_name, len, NULL))
            rc = tgs_err("%s/%s: the file name is not UTF-8", dir, printable(e->d_name, shown, sizeof shown));
        else if (idlist_add(ids, e->d_name, len - 4) < 0)
            rc = -1;
        else if (!tgs_id_valid(ids->id[ids->n - 1]))
            rc = tgs_err("%s/%s: the name is not a valid tile id (printable ASCII, no '/', ',' or '\"')", dir,
                         printable(e->d_name, shown, sizeof shown));
        if (rc < 0) {
            closedir(d);
            tgs_idlist_free(ids);
            return -1;
        }
    }
    closedir(d);
    if (ids->n == 0) return tgs_err("%s: no .png files", dir);
    qsort(ids->id, (size_t)ids->n, sizeof *ids->id, cmp_str);
    return 0;
}

int tgs_ids_from_file(tgs_idlist *ids, const char *path) {
    memset(ids, 0, sizeof *ids);
    tgs_csv c;
    if (tgs_csv_open(&c, path) < 0) return -1;
    tgs_id_log seen = {0};
    int rc;
    while ((rc = tgs_csv_next(&c)) > 0) {
        const char *id = c.field[0];
        if (c.line == 1 && strcmp(id, "id") == 0) continue; /* a CSV header */
        if (!tgs_id_valid(id)) {
            rc = tgs_err("%s: line %ld: '%s' is not a valid tile id", path, c.line, id);
            break;
        }
        if ((rc = idlist_add(ids, id, strlen(id))) < 0 || (rc = tgs_id_log_add(&seen, id, c.line)) < 0) break;
    }
    tgs_csv_close(&c);
    if (rc == 0 && ids->n == 0) rc = tgs_err("%s: no ids", path);
    if (rc == 0) rc = tgs_id_log_check(&seen, path, "line");
    tgs_id_log_free(&seen);
    if (rc < 0) tgs_idlist_free(ids);
    return rc < 0 ? -1 : 0;
}

/* ---- depths ---- */

static const tgs_depths *sort_ctx;
static int cmp_depth_idx(const void *a, const void *b) {
    return strcmp(sort_ctx->id[*(const int *)a], sort_ctx->id[*(const int *)b]);
}

int tgs_depths_load(tgs_depths *d, const char *path) {
    memset(d, 0, sizeof *d);
    tgs_csv c;
    if (tgs_csv_open(&c, path) < 0) return -1;
    static const char *const header[] = {"id", "z"};
    if (tgs_csv_expect_header(&c, header, 2) < 0) {
        tgs_csv_close(&c);
        return -1;
    }
    tgs_idlist ids = {0};
    tgs_id_log seen = {0};
    float *z = NULL;
    int rc, cap = 0;
    while ((rc = tgs_csv_next(&c)) > 0) {
        char *end;
        if (c.nfield != 2) {
            rc = tgs_err("%s: line %ld: %d fields, expected 2 (id,z)", path, c.line, c.nfield);
            break;
        }
        if (!tgs_id_valid(c.field[0])) {
            rc = tgs_err("%s: line %ld: '%s' is not a valid tile id", path, c.line, c.field[0]);
            break;
        }
        double v = strtod(c.field[1], &end);
        if (end == c.field[1] || *end || v != v || v < -1e7 || v > 1e7) {
            rc = tgs_err("%s: line %ld: depth '%s' is not a number", path, c.line, c.field[1]);
            break;
        }
        if (ids.n == cap) {
            cap = cap ? 2 * cap : 1024;
            float *p = realloc(z, sizeof *p * (size_t)cap);
            if (!p) {
                rc = tgs_err("out of memory");
                break;
            }
            z = p;
        }
        z[ids.n] = (float)v;
        if ((rc = idlist_add(&ids, c.field[0], strlen(c.field[0]))) < 0 || (rc = tgs_id_log_add(&seen, c.field[0], c.line)) < 0)
            break;
    }
    tgs_csv_close(&c);
    if (rc == 0 && ids.n == 0) rc = tgs_err("%s: no rows", path);
    if (rc == 0) rc = tgs_id_log_check(&seen, path, "line"); /* a tile with two depths */
    tgs_id_log_free(&seen);
    if (rc < 0) {
        tgs_idlist_free(&ids);
        free(z);
        return -1;
    }
    /* sort ids and depths together through an index permutation */
    int n = ids.n, *perm = malloc(sizeof *perm * (size_t)n);
    d->id = malloc(sizeof *d->id * (size_t)n);
    d->z = malloc(sizeof *d->z * (size_t)n);
    if (!perm || !d->id || !d->z) {
        free(perm), free(d->id), free(d->z), free(z);
        tgs_idlist_free(&ids);
        return tgs_err("out of memory");
    }
    tgs_depths tmp = {.id = ids.id};
    for (int i = 0; i < n; i++) perm[i] = i;
    sort_ctx = &tmp;
    qsort(perm, (size_t)n, sizeof *perm, cmp_depth_idx);
    for (int i = 0; i < n; i++) d->id[i] = ids.id[perm[i]], d->z[i] = z[perm[i]];
    d->n = n;
    free(perm), free(z), free(ids.id);
    d->zmin = d->zmax = d->z[0];
    for (int i = 0; i < n; i++) {
        if (d->z[i] < d->zmin) d->zmin = d->z[i];
        if (d->z[i] > d->zmax) d->zmax = d->z[i];
    }
    return 0;
}

int tgs_depths_find(const tgs_depths *d, const char *id, float *z) {
    int lo = 0, hi = d->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(d->id[mid], id);
        if (c == 0) {
            *z = d->z[mid];
            return 0;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return tgs_err("no depth for tile %s", id);
}

void tgs_depths_free(tgs_depths *d) {
    for (int i = 0; i < d->n; i++) free(d->id[i]);
    free(d->id);
    free(d->z);
    memset(d, 0, sizeof *d);
}

/* ---- tiles ---- */

int tgs_tile_read(const char *dir, const char *id, enum tgs_tile_kind kind, int w, int h, uint8_t *out) {
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s.png", dir, id) >= sizeof path) return tgs_err("%s/%s.png: path too long", dir, id);
    tgs_gray g;
    if (tgs_png_read_gray(path, &g) < 0) return -1;
    if (g.w != w || g.h != h) {
        tgs_gray_free(&g);
        return tgs_err("%s: is %dx%d, expected %dx%d", path, g.w, g.h, w, h);
    }
    size_t n = (size_t)w * (size_t)h;
    for (size_t i = 0; i < n; i++) {
        uint16_t v = g.px[i];
        out[i] = kind == TGS_TILE_MASK ? v != 0 : (uint8_t)(g.bit_depth == 16 ? v >> 8 : v);
    }
    tgs_gray_free(&g);
    return 0;
}

/* ---- neighbours ---- */

int tgs_neighbors_parse(const char *name, enum tgs_neighbors *mode) {
    if (strcmp(name, "none") == 0) *mode = TGS_NEIGHBORS_NONE;
    else if (strcmp(name, "depth") == 0) *mode = TGS_NEIGHBORS_DEPTH;
    else return tgs_err("unknown neighbour mode '%s' (none, depth)", name);
    return 0;
}

typedef struct {
    float z;
    const char *id;
    int index;
} depth_key;

static int cmp_depth_key(const void *a, const void *b) {
    const depth_key *x = a, *y = b;
    if (x->z != y->z) return x->z < y->z ? -1 : 1;
    return strcmp(x->id, y->id); /* equal depths: by id, so the order is total */
}

int tgs_neighbors_find(enum tgs_neighbors mode, const tgs_idlist *ids, const tgs_depths *d, int *prev, int *next) {
    int n = ids->n;
    if (mode == TGS_NEIGHBORS_NONE) {
        for (int i = 0; i < n; i++) prev[i] = next[i] = i;
        return 0;
    }
    if (!d) return tgs_err("--neighbors depth needs --depths");
    depth_key *k = malloc(sizeof *k * (size_t)n);
    if (!k) return tgs_err("out of memory");
    for (int i = 0; i < n; i++) {
        if (tgs_depths_find(d, ids->id[i], &k[i].z) < 0) {
            free(k);
            return -1;
        }
        k[i].id = ids->id[i];
        k[i].index = i;
    }
    qsort(k, (size_t)n, sizeof *k, cmp_depth_key);
    for (int r = 0; r < n; r++) {
        int i = k[r].index;
        prev[i] = k[r > 0 ? r - 1 : r].index;
        next[i] = k[r < n - 1 ? r + 1 : r].index;
    }
    free(k);
    return 0;
}
