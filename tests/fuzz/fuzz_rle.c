/* fuzz_rle: libFuzzer target for the RLE decoder (and the CSV reader that
 * feeds it in tgs-rle decode).
 *
 * The bytes, as a NUL-terminated string, are decoded as the RLE of a
 * 101 x 101 tile and of a 7 x 5 one (h != w, so a swapped row/column in the
 * index arithmetic shows). If the first byte is a control character (below
 * ' ', which no RLE text starts with), the bytes after it are also read as
 * a CSV file, and each row's second field decoded the same way.
 *
 * Any input must end in 0 or a clean -1 with a message, never a crash, a
 * leak or undefined behaviour; where a decode succeeds, the mask holds only
 * 0/1, and encoding it and decoding that gives the same mask back, and the
 * encoding is a fixed point (encode(decode(encode(m))) == encode(m)), and
 * fits in tgs_rle_max_len bytes (the buffer is exactly that long, so ASan
 * catches an overrun). A broken property is abort()ed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "err.h"
#include "rle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Decode text as an h x w mask and check the round trip where it works. */
static void decode_one(const char *text, int h, int w) {
    size_t npx = (size_t)h * (size_t)w, cap = tgs_rle_max_len(h, w);
    uint8_t *mask = malloc(npx), *again = malloc(npx);
    char *enc = malloc(cap), *enc2 = malloc(cap);
    if (!mask || !again || !enc || !enc2) abort();
    tgs_err("%s", "");
    int rc = tgs_rle_decode(text, h, w, mask);
    if (rc < 0) {
        if (rc != -1 || !*tgs_errmsg()) abort(); /* refused without saying why */
    } else {
        if (rc != 0) abort();
        uint8_t any = 0; /* OR, not a compare per pixel: libFuzzer traces each compare */
        for (size_t i = 0; i < npx; i++) any |= mask[i];
        if (any > 1) abort();
        size_t len = tgs_rle_encode(mask, h, w, enc);
        if (len >= cap || strlen(enc) != len) abort();
        if (tgs_rle_decode(enc, h, w, again) != 0) abort(); /* our own output refused */
        if (memcmp(mask, again, npx) != 0) abort();
        size_t len2 = tgs_rle_encode(again, h, w, enc2);
        if (len2 != len || memcmp(enc, enc2, len) != 0) abort();
    }
    free(mask), free(again), free(enc), free(enc2);
}

/* Read buf[0..n) as a CSV file; decode each row's second field. */
static void csv_all(const uint8_t *buf, size_t n) {
    tgs_csv c;
    memset(&c, 0, sizeof c);
    /* fmemopen refuses a 0-byte buffer on some libcs */
    c.fp = n ? fmemopen((void *)buf, n, "r") : fopen("/dev/null", "r");
    if (!c.fp) abort();
    c.owns_fp = 1;
    snprintf(c.path, sizeof c.path, "<fuzz>");
    long rows = 0;
    for (;;) {
        tgs_err("%s", "");
        int rc = tgs_csv_next(&c);
        if (rc == 0) break;
        if (rc < 0) {
            if (rc != -1 || strncmp(tgs_errmsg(), "<fuzz>: line ", 13) != 0) abort();
            break;
        }
        if (rc != 1 || c.nfield < 1 || c.line <= rows) abort();
        rows = c.line;
        for (int i = 0; i < c.nfield; i++)
            if (strchr(c.field[i], '\n')) abort(); /* a row runs past its line */
        if (c.nfield >= 2) {
            decode_one(c.field[1], 101, 101);
            decode_one(c.field[1], 7, 5);
        }
    }
    tgs_csv_close(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) abort();
    memcpy(text, data, size);
    text[size] = 0;
    decode_one(text, 101, 101);
    decode_one(text, 7, 5);
    free(text);
    if (size > 0 && data[0] < ' ') csv_all(data + 1, size - 1);
    return 0;
}
