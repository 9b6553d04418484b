/* checkpoint: safetensors files (formats/safetensors.md). A model's
 * parameters go in and out of them through nn/ckpt_params.h.
 *
 * A checkpoint in memory is a list of named tensors (each its own copy of
 * the data, aligned) and a list of metadata strings:
 *
 *     tgs_ckpt c;
 *     tgs_ckpt_init(&c);
 *     tgs_ckpt_meta_set(&c, "format", "tgs");
 *     tgs_ckpt_put_params(&c, ps);                  // every parameter and buffer (nn/ckpt_params.h)
 *     tgs_ckpt_add(&c, "train.step", TGS_I64, 0, NULL, &step);
 *     if (tgs_ckpt_save(&c, "run/last.ckpt") < 0) die("%s", tgs_errmsg());
 *     tgs_ckpt_free(&c);
 *
 * tgs_ckpt_save writes the layout the safetensors package writes (tensors
 * ordered by element size, largest first, then by name; the header padded
 * with spaces to a multiple of 8) to a temporary file renamed into place,
 * so a checkpoint is never seen half written. tgs_ckpt_load reads a file
 * whole and checks everything before it returns: the header length, the
 * JSON, each dtype, shape and offset, the tensors covering the buffer with
 * no gap or overlap, the names; anything wrong is one line of tgs_err
 * naming the file, never a crash. Dtypes read and written: U8 U16 I32 I64
 * F32 F64 (the stream's enum tgs_dtype); others are refused by name. */
#ifndef TGS_CHECKPOINT_H
#define TGS_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "json.h"
#include "stream.h"

#define TGS_CKPT_MAX_DIMS 8
#define TGS_CKPT_MAX_NAME 1024                           /* bytes of a tensor name or metadata key */
#define TGS_CKPT_MAX_HEADER ((uint64_t)100 * 1000 * 1000) /* as the safetensors package */

typedef struct {
    char *name;
    int dtype; /* enum tgs_dtype: TGS_U8, TGS_U16, TGS_I32, TGS_I64, TGS_F32, TGS_F64 */
    int ndim;  /* 0: a scalar */
    int64_t shape[TGS_CKPT_MAX_DIMS];
    uint64_t nbytes;
    void *data; /* owned, 64-byte aligned, nbytes long (at least 1 byte allocated) */
} tgs_ckpt_tensor;

typedef tgs_json_kv tgs_ckpt_kv;

typedef struct {
    tgs_ckpt_tensor *t;
    int n, cap;
    tgs_ckpt_kv *meta; /* in insertion order (load: file order) */
    int nmeta, metacap;
} tgs_ckpt;

void tgs_ckpt_init(tgs_ckpt *c);
void tgs_ckpt_free(tgs_ckpt *c);

/* Add a tensor, copying nbytes = product(shape) * dtype size from data.
 * -1 for a repeated or bad name, an unknown dtype, a negative dim. */
int tgs_ckpt_add(tgs_ckpt *c, const char *name, int dtype, int ndim, const int64_t *shape, const void *data);
/* The tensor called name, or NULL. */
const tgs_ckpt_tensor *tgs_ckpt_find(const tgs_ckpt *c, const char *name);
/* The tensor called name if it is dtype with count elements (any shape):
 * its data; else NULL and a message naming what is wrong ("has no tensor
 * 'x'", "tensor 'x' is F32 [3], expected I64 [1]"). For scalars and small
 * vectors of state. */
const void *tgs_ckpt_expect(const tgs_ckpt *c, const char *name, int dtype, int64_t count);

/* Metadata: set (replacing) and get (NULL when absent). */
int tgs_ckpt_meta_set(tgs_ckpt *c, const char *key, const char *value);
const char *tgs_ckpt_meta_get(const tgs_ckpt *c, const char *key);

/* Write c to path atomically (lib/common/outfile.h). Metadata is written
 * only when there is some. Refused, writing nothing, when an F32 or F64
 * tensor holds a NaN or an infinity: a checkpoint is a good state. */
int tgs_ckpt_save(const tgs_ckpt *c, const char *path);
/* The bytes tgs_ckpt_save writes, in one malloc'd buffer (tests, fuzzing). */
int tgs_ckpt_serialize(const tgs_ckpt *c, unsigned char **buf, size_t *len);
/* Read and validate path into c (initialised here; free it even on error).
 * Messages start with the path. */
int tgs_ckpt_load(tgs_ckpt *c, const char *path);
/* The same on bytes in memory; name is used in messages. */
int tgs_ckpt_parse(tgs_ckpt *c, const unsigned char *buf, size_t len, const char *name);

/* The index of t's first NaN or infinity (F32, F64; other dtypes have
 * none) with *value set to it, or -1 when every element is finite. */
int64_t tgs_ckpt_tensor_nonfinite(const tgs_ckpt_tensor *t, double *value);
/* "NaN", "+Inf" or "-Inf" for a value that is not finite. */
const char *tgs_nonfinite_name(double v);

/* safetensors dtype names: "F32" for TGS_F32 ..., NULL for others. */
const char *tgs_ckpt_dtype_name(int dtype);
/* "[2, 3]" into buf, for messages */
void tgs_ckpt_shape_str(char *buf, size_t cap, int ndim, const int64_t *shape);

#endif
