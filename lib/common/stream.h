/* stream: the tensor stream format (formats/tensor-stream.md).
 *
 * A stream is a sequence of self-describing records; a record with the
 * end-of-sample flag closes a sample, so samples are the runs of records
 * between flags and streams concatenate with cat. Tools read a sample, keep
 * the records they do not use, add their own and write the sample on. */
#ifndef TGS_STREAM_H
#define TGS_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum tgs_dtype {
    TGS_U8 = 1,
    TGS_U16 = 2,
    TGS_I32 = 3,
    TGS_I64 = 4,
    TGS_F32 = 5,
    TGS_F64 = 6,
    TGS_STR = 7, /* UTF-8 bytes, no NUL; shape is (nbytes) */
};

#define TGS_MAX_DIMS 8
#define TGS_MAX_NAME 255
#define TGS_MAX_ID 200 /* bytes of a tile id */
#define TGS_RECORD_MAX_BYTES ((uint64_t)1 << 32) /* refuse larger: likely corrupt */
#define TGS_SAMPLE_MAX_RECORDS 256
#define TGS_FLAG_END_OF_SAMPLE 1u

typedef struct {
    char name[TGS_MAX_NAME + 1];
    int dtype;
    int ndim;
    uint32_t dims[TGS_MAX_DIMS];
    uint64_t nbytes; /* product(dims) * dtype size */
    void *data;      /* always followed by one NUL byte, so a TGS_STR is a C string */
    uint64_t cap;    /* bytes allocated for data, not counting the NUL */
} tgs_record;

/* A sample: records in stream order. Buffers of records past n are kept
 * for reuse, so reading sample after sample does not allocate. */
typedef struct {
    int n, cap;
    tgs_record *rec;
} tgs_sample;

typedef struct {
    FILE *fp;
    char path[512];     /* for messages: the file name, or <stdin> */
    uint64_t nrecords;  /* records read so far */
    uint64_t nsamples;  /* samples read so far */
    uint64_t offset;    /* bytes consumed so far */
    int owns_fp;
} tgs_reader;

typedef struct {
    FILE *fp;
    uint64_t nrecords, nsamples;
} tgs_writer;

/* Whether s[0..n) is UTF-8 as the format means it (no overlong forms,
 * surrogates or code points past U+10FFFF: what Python's strict decode
 * takes); if not, *bad (when not NULL) gets the offset of the first bad
 * byte. A str record must be UTF-8: the reader and the writer both check. */
int tgs_utf8_valid(const void *s, size_t n, size_t *bad);

/* Whether id is a tile id: 1 to TGS_MAX_ID bytes of printable ASCII
 * without space, '/', ',' or '"', so that it names a file, fills a CSV
 * field and prints in a one-line message as it is. The str record named
 * 'id' must be one: the reader and the writer both check. */
int tgs_id_valid(const char *id);

int tgs_dtype_size(int dtype);            /* bytes per element, 0 if unknown */
const char *tgs_dtype_name(int dtype);    /* "u8", ..., "?" if unknown */
int tgs_dtype_parse(const char *name);    /* inverse; 0 if unknown */

/* Open path for reading ("-" or NULL: stdin). */
int tgs_reader_open(tgs_reader *r, const char *path);
/* Read from an already open stream; name is used in messages. */
void tgs_reader_from_fp(tgs_reader *r, FILE *fp, const char *name);
void tgs_reader_close(tgs_reader *r);

/* Read one record into rec (its buffer is reused or grown). *flags gets the
 * record's flags. Returns 1 for a record, 0 at a clean end of stream, -1 on
 * error with a message "path: record N: what". */
int tgs_read_record(tgs_reader *r, tgs_record *rec, unsigned *flags);

/* Read one whole sample. Returns 1, 0 at a clean end, -1 on error (also
 * when the stream ends inside a sample, or a sample repeats a name). */
int tgs_read_sample(tgs_reader *r, tgs_sample *s);

void tgs_writer_init(tgs_writer *w, FILE *fp);
int tgs_write_record(tgs_writer *w, const tgs_record *rec, unsigned flags);
/* Write every record of s, flagging the last as the end of the sample. */
int tgs_write_sample(tgs_writer *w, const tgs_sample *s);

/* Set rec's header and make room for its data (contents undefined). */
int tgs_record_init(tgs_record *rec, const char *name, int dtype, int ndim, const uint32_t *dims);
void tgs_record_free(tgs_record *rec);
uint64_t tgs_record_count(const tgs_record *rec); /* number of elements */

void tgs_sample_clear(tgs_sample *s); /* n = 0; keeps buffers */
void tgs_sample_free(tgs_sample *s);
tgs_record *tgs_sample_get(const tgs_sample *s, const char *name);
/* Replace the record called name (keeping its place) or append one. Returns
 * the record, whose data the caller fills, or NULL on error. */
tgs_record *tgs_sample_put(tgs_sample *s, const char *name, int dtype, int ndim, const uint32_t *dims);
/* Shorthand for a TGS_STR record holding text, and a 0-d f32 record. */
int tgs_sample_put_str(tgs_sample *s, const char *name, const char *text);
int tgs_sample_put_f32(tgs_sample *s, const char *name, float value);
/* Remove a record if present; returns 1 if removed. */
int tgs_sample_remove(tgs_sample *s, const char *name);
/* The sample's id record as a C string, or NULL when it has none. */
const char *tgs_sample_id(const tgs_sample *s);

/* Check that rec is an image-like tensor (H,W) or (C,H,W) of one of the
 * dtypes in the 0-terminated list; on success gives C, H, W. The message
 * names the record; the caller adds the file and sample. */
int tgs_record_check_image(const tgs_record *rec, const int *dtypes, int *c, int *h, int *w);

#endif
