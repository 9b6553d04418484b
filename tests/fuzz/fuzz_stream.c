/* fuzz_stream: libFuzzer target for the tensor stream reader.
 *
 * The input bytes are read as a stream, sample after sample, until the
 * reader says 0 (clean end) or -1 (error). Whatever the bytes, that must
 * end without a crash, a leak or undefined behaviour (ASan + UBSan abort on
 * those), and the answers must keep the reader's promises:
 *   -1  leaves a message naming the stream;
 *    0  only once every byte has been consumed;
 *    1  gives a sample whose records have the sizes their shapes say, and
 *       which tgs_write_sample writes back as exactly the bytes it was
 *       read from (the format has one encoding per sample).
 * A broken promise is abort()ed, so libFuzzer keeps the input.
 *
 * Checksums guard every header and data block, and random mutation almost
 * never keeps a CRC-32 right, so most mutants would stop at the first
 * checksum. Each input is therefore read twice: as it is, and as a copy
 * whose CRCs were recomputed along the record framing (fix_crcs), which
 * lets the mutations reach the checks after the checksums. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32.h"
#include "err.h"
#include "stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char NAME[] = "<fuzz>";

/* The reader allocates the data size a header claims before reading the
 * data (it cannot know the length of a pipe), so a 40-byte input claiming
 * 4 GiB would only measure the allocator and trip libFuzzer's malloc limit.
 * Inputs whose framing claims a record above this are skipped; the
 * truncated-data path is still reached by claims below it. */
#define CLAIM_MAX ((uint64_t)16 << 20)

static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

/* Walk buf along the record framing (12 fixed bytes, 4 per dim, the name,
 * header CRC, data, data CRC), as far as the headers make sense, and, if
 * fix is not NULL, write each record's right CRCs at their places in fix
 * (a copy of buf: only CRC bytes change, and no CRC covers another's
 * bytes). Returns -1 if some record claims more than CLAIM_MAX data bytes,
 * else 0. */
static int walk(const uint8_t *buf, size_t n, uint8_t *fix) {
    size_t pos = 0;
    while (n - pos >= 12) {
        const uint8_t *h = buf + pos;
        int dsize = tgs_dtype_size(h[5]);
        unsigned ndim = h[6], name_len = (unsigned)h[8] | (unsigned)h[9] << 8;
        if (!dsize || ndim > TGS_MAX_DIMS || name_len == 0 || name_len > TGS_MAX_NAME) return 0;
        size_t hlen = 12 + 4 * (size_t)ndim + name_len;
        if (n - pos < hlen) return 0;
        uint64_t nbytes = (uint64_t)dsize;
        for (unsigned i = 0; i < ndim; i++) {
            uint32_t d = get32(h + 12 + 4 * i);
            if (d && nbytes > CLAIM_MAX / d) return -1;
            nbytes *= d;
        }
        if (nbytes > CLAIM_MAX) return -1;
        if (n - pos < hlen + 4) return 0;
        if (fix) put32(fix + pos + hlen, tgs_crc32(0, h, hlen));
        pos += hlen + 4;
        if (n - pos < nbytes + 4) return 0;
        if (fix) put32(fix + pos + nbytes, tgs_crc32(0, buf + pos, (size_t)nbytes));
        pos += (size_t)nbytes + 4;
    }
    return 0;
}

/* Check what a good sample promises; abort() on a broken promise. */
static void check_sample(const tgs_sample *s, const uint8_t *bytes, size_t len) {
    if (s->n < 1) abort();
    for (int i = 0; i < s->n; i++) {
        const tgs_record *r = &s->rec[i];
        uint64_t want = (uint64_t)tgs_dtype_size(r->dtype);
        for (int d = 0; d < r->ndim; d++) want *= r->dims[d];
        if (r->nbytes != want || ((const char *)r->data)[r->nbytes] != 0) abort();
        if (r->dtype == TGS_STR && strlen(r->data) != r->nbytes) abort();
        /* the image check must answer, not crash, whatever the shape */
        static const int any[] = {TGS_U8, TGS_U16, TGS_I32, TGS_I64, TGS_F32, TGS_F64, TGS_STR, 0};
        int c, hh, w;
        (void)tgs_record_check_image(r, any, &c, &hh, &w);
    }
    (void)tgs_sample_id(s);

    /* Write it back: the same bytes, or the format has two encodings. */
    char *out = NULL;
    size_t outlen = 0;
    FILE *fp = open_memstream(&out, &outlen);
    if (!fp) abort();
    tgs_writer w;
    tgs_writer_init(&w, fp);
    if (tgs_write_sample(&w, s) < 0) abort();
    if (fclose(fp) != 0) abort();
    if (outlen != len || memcmp(out, bytes, len) != 0) abort();
    free(out);
}

/* Read every sample of buf[0..n) and check the reader's promises. */
static void read_all(const uint8_t *buf, size_t n) {
    /* fmemopen refuses a 0-byte buffer on some libcs */
    FILE *fp = n ? fmemopen((void *)buf, n, "r") : fopen("/dev/null", "r");
    if (!fp) abort();
    tgs_reader r;
    tgs_reader_from_fp(&r, fp, NAME);
    tgs_sample s = {0};
    for (;;) {
        uint64_t at = r.offset;
        tgs_err("%s", ""); /* so a -1 without a message shows */
        int rc = tgs_read_sample(&r, &s);
        if (rc == 1) {
            if (r.offset <= at || r.offset > n) abort();
            check_sample(&s, buf + at, (size_t)(r.offset - at));
            continue;
        }
        if (rc != 0 && rc != -1) abort();
        if (rc == 0 && r.offset != n) abort(); /* a "clean end" with bytes left */
        if (rc < 0 && strncmp(tgs_errmsg(), NAME, strlen(NAME)) != 0) abort(); /* no "<fuzz>: ..." message */
        break;
    }
    tgs_sample_free(&s);
    fclose(fp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (walk(data, size, NULL) < 0) return 0;
    read_all(data, size);
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) abort();
    memcpy(copy, data, size);
    walk(data, size, copy);
    if (memcmp(copy, data, size) != 0) read_all(copy, size);
    free(copy);
    return 0;
}
