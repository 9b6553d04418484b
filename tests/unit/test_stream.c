/* Unit tests of the stream library: round trips through memory, every
 * dtype, sample grouping, and each kind of damage the reader must name. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "crc32.h"
#include "err.h"
#include "stream.h"

/* Write samples into a memory buffer; returns its size. */
static size_t write_two_samples(char **buf) {
    size_t len = 0;
    FILE *fp = open_memstream(buf, &len);
    tgs_writer w;
    tgs_writer_init(&w, fp);
    tgs_sample s = {0};
    for (int k = 0; k < 2; k++) {
        tgs_sample_clear(&s);
        tgs_sample_put_str(&s, "id", k ? "tile-b" : "tile-a");
        uint32_t dims[3] = {1, 2, 3};
        tgs_record *r = tgs_sample_put(&s, "image", TGS_F32, 3, dims);
        for (int i = 0; i < 6; i++) ((float *)r->data)[i] = (float)(i + 10 * k) * 0.5f;
        tgs_sample_put_f32(&s, "depth", 100.0f + (float)k);
        tgs_write_sample(&w, &s);
    }
    tgs_sample_free(&s);
    fclose(fp);
    return len;
}

/* Read all samples from a buffer: returns samples read, or -1 on error. */
static int read_all(const char *buf, size_t len, tgs_sample *last) {
    FILE *fp = fmemopen((void *)buf, len, "rb");
    tgs_reader r;
    tgs_reader_from_fp(&r, fp, "mem");
    tgs_sample cur = {0};
    int rc, n = 0;
    while ((rc = tgs_read_sample(&r, &cur)) > 0) {
        tgs_sample t = *last; /* keep the sample just read; recycle the older one */
        *last = cur, cur = t;
        n++;
    }
    tgs_sample_free(&cur);
    fclose(fp);
    return rc < 0 ? -1 : n;
}

static void test_crc(void) {
    /* the standard check value of CRC-32 */
    CHECK(tgs_crc32(0, "123456789", 9) == 0xCBF43926u, "crc32 check value");
    char big[1000];
    for (int i = 0; i < 1000; i++) big[i] = (char)(i * 7);
    uint32_t whole = tgs_crc32(0, big, 1000), parts = tgs_crc32(tgs_crc32(0, big, 333), big + 333, 667);
    CHECK(whole == parts, "crc32 continues across calls");
}

static void test_round_trip(void) {
    char *buf = NULL;
    size_t len = write_two_samples(&buf);
    tgs_sample s = {0};
    CHECK(read_all(buf, len, &s) == 2, "two samples read back");
    const char *id = tgs_sample_id(&s);
    CHECK(id && strcmp(id, "tile-b") == 0, "id survives");
    tgs_record *img = tgs_sample_get(&s, "image");
    CHECK(img && img->dtype == TGS_F32 && img->ndim == 3 && img->dims[2] == 3, "image header survives");
    CHECK(img && ((float *)img->data)[5] == 7.5f, "image data survives");
    tgs_record *d = tgs_sample_get(&s, "depth");
    CHECK(d && d->ndim == 0 && *(float *)d->data == 101.0f, "0-d record survives");
    /* cat: two streams back to back are one stream of four samples */
    char *two = malloc(2 * len);
    memcpy(two, buf, len), memcpy(two + len, buf, len);
    CHECK(read_all(two, 2 * len, &s) == 4, "concatenated streams read as one");
    free(two);
    tgs_sample_free(&s);
    free(buf);
}

static void test_dtypes(void) {
    int ok = 1;
    for (int dt = TGS_U8; dt <= TGS_STR; dt++) {
        char *buf = NULL;
        size_t len = 0;
        FILE *fp = open_memstream(&buf, &len);
        tgs_writer w;
        tgs_writer_init(&w, fp);
        tgs_record r = {0};
        uint32_t n = 5;
        tgs_record_init(&r, "x", dt, 1, &n);
        for (uint64_t i = 0; i < r.nbytes; i++) ((unsigned char *)r.data)[i] = (unsigned char)('a' + i % 26);
        tgs_write_record(&w, &r, TGS_FLAG_END_OF_SAMPLE);
        fclose(fp);
        tgs_sample s = {0};
        ok &= read_all(buf, len, &s) == 1 && s.n == 1 && s.rec[0].dtype == dt &&
              s.rec[0].nbytes == (uint64_t)tgs_dtype_size(dt) * 5 && memcmp(s.rec[0].data, r.data, r.nbytes) == 0;
        ok &= tgs_dtype_parse(tgs_dtype_name(dt)) == dt;
        tgs_sample_free(&s);
        tgs_record_free(&r);
        free(buf);
    }
    CHECK(ok, "every dtype round trips");
}

/* Damage a copy of a good stream and expect the reader to refuse it with
 * a message containing want. */
static void expect_refused(const char *name, const char *buf, size_t len, const char *want) {
    tgs_sample s = {0};
    int n = read_all(buf, len, &s);
    CHECKF(n < 0 && strstr(tgs_errmsg(), want), name, "got %d, message '%s', want '%s'", n, tgs_errmsg(), want);
    tgs_sample_free(&s);
}

static void test_damage(void) {
    char *buf = NULL;
    size_t len = write_two_samples(&buf);
    char *bad = malloc(len);
    memcpy(bad, buf, len), bad[0] = 'X';
    expect_refused("bad magic refused", bad, len, "bad magic");
    memcpy(bad, buf, len), bad[4] = 9;
    expect_refused("unknown version refused", bad, len, "version");
    memcpy(bad, buf, len), bad[len - 6] ^= 1; /* the depth's data: last 8 bytes are data, CRC */
    expect_refused("flipped data byte refused", bad, len, "data checksum");
    memcpy(bad, buf, len), bad[13] ^= 1;
    expect_refused("flipped header byte refused", bad, len, "header checksum");
    memcpy(bad, buf, len), bad[5] = 42;
    expect_refused("unknown dtype refused", bad, len, "unknown dtype");
    memcpy(bad, buf, len), bad[7] = 4;
    expect_refused("unknown flags refused", bad, len, "flag");
    expect_refused("truncated data refused", buf, len - 6, "truncated");
    expect_refused("truncated header refused", buf, 7, "truncated record header");
    expect_refused("truncated checksum refused", buf, len - 2, "truncated data checksum");
    /* drop the last record's end flag by cutting the stream inside a sample:
     * the first sample's records alone, without the last one */
    tgs_sample s = {0};
    FILE *fp = fmemopen(buf, len, "rb");
    tgs_reader r;
    tgs_reader_from_fp(&r, fp, "mem");
    tgs_record rec = {0};
    unsigned fl;
    tgs_read_record(&r, &rec, &fl);
    uint64_t after_first = r.offset;
    fclose(fp);
    expect_refused("stream ending inside a sample refused", buf, after_first, "ends inside sample");
    /* the message names the file and record */
    memcpy(bad, buf, len), bad[len - 6] ^= 1; /* the depth's data: last 8 bytes are data, CRC */
    read_all(bad, len, &s);
    CHECKF(strstr(tgs_errmsg(), "mem: record 6 'depth'") != NULL, "message names file, record and name", "'%s'", tgs_errmsg());
    tgs_record_free(&rec);
    tgs_sample_free(&s);
    free(bad);
    free(buf);
}

static void test_limits(void) {
    tgs_record r = {0};
    uint32_t dims[2] = {1u << 20, 1u << 20};
    CHECK(tgs_record_init(&r, "big", TGS_F32, 2, dims) < 0, "oversized record refused before allocating");
    uint32_t one = 1;
    CHECK(tgs_record_init(&r, "has space", TGS_U8, 1, &one) < 0, "name with a space refused");
    CHECK(tgs_record_init(&r, "", TGS_U8, 1, &one) < 0, "empty name refused");
    CHECK(tgs_record_init(&r, "s", TGS_STR, 0, NULL) < 0, "0-d string refused");
    tgs_record_free(&r);
    /* duplicate names in a sample are refused on read */
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    tgs_writer w;
    tgs_writer_init(&w, fp);
    tgs_record a = {0};
    tgs_record_init(&a, "x", TGS_U8, 1, &one);
    ((uint8_t *)a.data)[0] = 1;
    tgs_write_record(&w, &a, 0);
    tgs_write_record(&w, &a, TGS_FLAG_END_OF_SAMPLE);
    fclose(fp);
    expect_refused("repeated name in a sample refused", buf, len, "two records named 'x'");
    tgs_record_free(&a);
    free(buf);
}

/* A header that claims 4 GiB over a stream of a few bytes: refused as
 * truncated, after allocating only what arrived (fast, and fine under a
 * sanitizer's allocation limit). */
static void test_huge_claim(void) {
    unsigned char h[12 + 8 + 1 + 4 + 8] = {'T', 'G', 'S', 'R', 1, TGS_U8, 2, TGS_FLAG_END_OF_SAMPLE, 1, 0, 0, 0};
    uint32_t dims[2] = {1u << 16, 1u << 16};
    memcpy(h + 12, dims, 8);
    h[20] = 'x';
    uint32_t crc = tgs_crc32(0, h, 21);
    memcpy(h + 21, &crc, 4);
    memset(h + 25, 7, 8); /* 8 bytes of the claimed 4 GiB */
    expect_refused("4 GiB claim over a short stream is refused as truncated", (const char *)h, sizeof h,
                   "truncated data (8 of 4294967296 bytes)");
}

/* str records are UTF-8 (issue 21): the check itself, then the builder,
 * the writer and the reader each refuse text that is not. */
/* A 3-byte str record named name: the writer refuses it holding bad (and
 * holding a NUL), writes it holding "abc", and the reader refuses that
 * record with its byte 1 made bad_byte (its CRC made right), each with
 * why in the message. */
static void str_record_refused(const char *name, const char *bad, int bad_byte, const char *why) {
    char *buf = NULL, what[160], want[200];
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    tgs_writer w;
    tgs_writer_init(&w, fp);
    tgs_record r = {0};
    uint32_t three = 3;
    tgs_record_init(&r, name, TGS_STR, 1, &three);
    memcpy(r.data, bad, 3);
    snprintf(what, sizeof what, "writer refuses a str record '%s' holding \"%s\"", name, why);
    snprintf(want, sizeof want, "record '%s': %s", name, why);
    CHECKF(tgs_write_record(&w, &r, TGS_FLAG_END_OF_SAMPLE) < 0 && strstr(tgs_errmsg(), want), what, "'%s'", tgs_errmsg());
    memcpy(r.data, "a\0z", 3);
    snprintf(what, sizeof what, "writer refuses a str record '%s' holding a NUL", name);
    CHECKF(tgs_write_record(&w, &r, TGS_FLAG_END_OF_SAMPLE) < 0 && strstr(tgs_errmsg(), "NUL"), what, "'%s'", tgs_errmsg());
    memcpy(r.data, "abc", 3);
    tgs_write_record(&w, &r, TGS_FLAG_END_OF_SAMPLE);
    fclose(fp);
    snprintf(what, sizeof what, "only the good record '%s' was written", name);
    CHECK(len > 0 && w.nrecords == 1, what);
    char *at = buf + len - 7; /* the 3 bytes of text, then their CRC */
    at[1] = (char)bad_byte;
    uint32_t crc = tgs_crc32(0, at, 3);
    memcpy(at + 3, &crc, 4);
    snprintf(what, sizeof what, "reader refuses a str record '%s' with \"%s\"", name, why);
    snprintf(want, sizeof want, "mem: record 1 '%s' (byte 0): %s", name, why);
    expect_refused(what, buf, len, want);
    free(buf);
    tgs_record_free(&r);
}

static void test_utf8(void) {
    static const char *const good[] = {"", "28f865caaa", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf"};
    static const struct {
        const char *s;
        size_t at;
    } bad[] = {
        {"a\xff", 1},            /* never in UTF-8 */
        {"ab\x80", 2},           /* a continuation byte alone */
        {"\xc0\xaf", 0},         /* overlong '/' */
        {"\xe0\x80\xaf", 0},     /* overlong, 3 bytes */
        {"\xed\xa0\x80", 0},     /* a surrogate, U+D800 */
        {"\xf4\x90\x80\x80", 0}, /* past U+10FFFF */
        {"x\xe2\x82", 1},        /* cut short */
        {"\xc3(", 0},            /* lead byte, then no continuation */
    };
    int ok = 1;
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) ok &= tgs_utf8_valid(good[i], strlen(good[i]), NULL);
    CHECK(ok, "utf8: ASCII, 2-, 3- and 4-byte forms, U+10FFFF pass");
    ok = 1;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        size_t at = 99;
        int v = tgs_utf8_valid(bad[i].s, strlen(bad[i].s), &at);
        if (v || at != bad[i].at) {
            printf("# utf8 case %zu: valid %d, at %zu (want %zu)\n", i, v, at, bad[i].at);
            ok = 0;
        }
    }
    CHECK(ok, "utf8: bad bytes, overlongs, surrogates, > U+10FFFF, cut short refused at the right byte");

    tgs_sample s = {0};
    CHECKF(tgs_sample_put_str(&s, "id", "a\xff") < 0 && strstr(tgs_errmsg(), "record 'id': string is not valid UTF-8 (its byte 1)"),
           "put_str refuses text that is not UTF-8", "'%s'", tgs_errmsg());
    CHECK(tgs_sample_put_str(&s, "note", "\xc3\x96l\xc3\xbc") == 0, "put_str takes UTF-8");

    str_record_refused("note", "a\xc0z", 0xff, "string is not valid UTF-8 (its byte 1)");
    tgs_sample_free(&s);
}

/* The record named 'id' is a tile id: it names a file and a CSV field and
 * prints in one-line messages. */
static void test_tile_id(void) {
    static const char *const bad[] = {"", "a,b", "a b", "a/b", "a\"b", "a\nb", "\xc3\xa9", "a\tb"};
    int ok = tgs_id_valid("28f865caaa") && tgs_id_valid("a.b-c_d");
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) ok &= !tgs_id_valid(bad[i]);
    char longest[TGS_MAX_ID + 2];
    memset(longest, 'a', sizeof longest);
    longest[TGS_MAX_ID] = 0;
    ok &= tgs_id_valid(longest);
    longest[TGS_MAX_ID] = 'a', longest[TGS_MAX_ID + 1] = 0;
    ok &= !tgs_id_valid(longest);
    CHECK(ok, "tile ids: printable ASCII, no space / , \", 1 to 200 bytes");
    tgs_sample s = {0};
    CHECKF(tgs_sample_put_str(&s, "id", "c\nd") < 0 && strstr(tgs_errmsg(), "record 'id': not a tile id: its byte 1 is 0x0a"),
           "put_str refuses an id with a newline", "'%s'", tgs_errmsg());
    CHECK(tgs_sample_put_str(&s, "name", "c d") == 0, "... and takes the same text under another name");
    str_record_refused("id", "a,b", ',', "not a tile id: its byte 1 is 0x2c");
    tgs_sample_free(&s);
}

static void test_sample_edit(void) {
    tgs_sample s = {0};
    tgs_sample_put_str(&s, "id", "a");
    tgs_sample_put_f32(&s, "depth", 1);
    tgs_sample_put_f32(&s, "score", 2);
    tgs_sample_put_f32(&s, "depth", 3); /* replaces in place */
    CHECK(s.n == 3 && strcmp(s.rec[1].name, "depth") == 0 && *(float *)s.rec[1].data == 3, "put replaces in place");
    CHECK(tgs_sample_remove(&s, "depth") == 1 && s.n == 2 && strcmp(s.rec[1].name, "score") == 0, "remove keeps order");
    CHECK(tgs_sample_remove(&s, "nothing") == 0, "remove of a missing name is a no-op");
    tgs_sample_free(&s);

    /* a record shaped as another of the same sample, put when the record
     * array is full and must grow (and so move): tgs-refine apply's
     * prob_in, shaped as prob, read freed memory here under ASan */
    tgs_sample t = {0};
    uint32_t dims[3] = {1, 5, 7};
    char nm[16];
    tgs_sample_put(&t, "prob", TGS_F32, 3, dims);
    for (int k = 1; t.n < t.cap; k++) {
        snprintf(nm, sizeof nm, "r%d", k);
        tgs_sample_put_f32(&t, nm, (float)k);
    }
    const tgs_record *p = tgs_sample_get(&t, "prob");
    tgs_record *q = tgs_sample_put(&t, "prob_in", TGS_F32, p->ndim, p->dims);
    CHECK(q && q->ndim == 3 && q->dims[0] == 1 && q->dims[1] == 5 && q->dims[2] == 7 && q->nbytes == 35 * 4,
          "put with another record's dims while the record array grows");
    tgs_sample_free(&t);
}

int main(void) {
    test_crc();
    test_round_trip();
    test_dtypes();
    test_damage();
    test_limits();
    test_sample_edit();
    test_huge_claim();
    test_utf8();
    test_tile_id();
    CHECK_DONE();
}
