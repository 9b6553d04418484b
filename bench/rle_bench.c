/* rle_bench: time tgs_rle_encode alone, on masks already in memory.
 *
 *   rle_bench [-n RUNS] [-o FILE] STREAM
 *   rle_bench -C [-n RUNS] STREAM
 *
 * Loads every sample's 'mask' record (u8, (H,W) or (1,H,W), all the same
 * size) of STREAM as 0/1, as tgs-rle encode does before encoding, then
 * encodes all of them RUNS times and prints the best pass:
 *   impl=c stage=core masks=N seconds=S masks_s=R
 * -o FILE writes each mask's RLE text on its own line (from the last
 * pass), for bench/run.sh to compare with numpy's.
 *
 * -C times the CRC-32 instead, what reading a stream checks: tgs_crc32
 * (the fast path this CPU has) and tgs_crc32_portable over STREAM's bytes
 * in memory, 64 KiB a call (about a record's size; the buffer is larger
 * than the caches, as the stream is), best of RUNS each:
 *   impl=crc32-NAME stage=crc32 bytes=N seconds=S gb_s=R */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crc32.h"
#include "err.h"
#include "rle.h"
#include "stream.h"

static void fatal(const char *msg) {
    fprintf(stderr, "rle_bench: %s\n", msg);
    exit(1);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* masks: n x h x w bytes, 0/1 */
static uint8_t *load(const char *path, long *n_out, int *h_out, int *w_out) {
    tgs_reader r;
    if (tgs_reader_open(&r, path) < 0) fatal(tgs_errmsg());
    tgs_sample s = {0};
    uint8_t *masks = NULL;
    long n = 0, cap = 0;
    int h = 0, w = 0, rc;
    static const int u8[] = {TGS_U8, 0};
    while ((rc = tgs_read_sample(&r, &s)) > 0) {
        const tgs_record *m = tgs_sample_get(&s, "mask");
        int c, mh, mw;
        if (!m) fatal("a sample has no 'mask' record");
        if (tgs_record_check_image(m, u8, &c, &mh, &mw) < 0) fatal(tgs_errmsg());
        if (c != 1) fatal("a mask has more than one channel");
        if (n == 0) h = mh, w = mw;
        if (mh != h || mw != w) fatal("masks of different sizes");
        size_t npx = (size_t)h * (size_t)w;
        if (n == cap) {
            cap = cap ? 2 * cap : 1024;
            masks = realloc(masks, npx * (size_t)cap);
            if (!masks) fatal("out of memory");
        }
        uint8_t *dst = masks + npx * (size_t)n++;
        const uint8_t *src = m->data;
        for (size_t i = 0; i < npx; i++) dst[i] = src[i] != 0;
    }
    if (rc < 0) fatal(tgs_errmsg());
    if (n == 0) fatal("no samples");
    tgs_sample_free(&s);
    tgs_reader_close(&r);
    *n_out = n, *h_out = h, *w_out = w;
    return masks;
}

/* -C: the CRC over the file's bytes, fast path then portable */
static void bench_crc(const char *path, int runs) {
    FILE *f = fopen(path, "rb");
    if (!f) fatal("cannot open the stream");
    size_t cap = 1 << 20, n = 0, got;
    unsigned char *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0)
        if ((n += got) == cap) buf = realloc(buf, cap *= 2);
    if (!buf) fatal("out of memory");
    fclose(f);
    enum { PIECE = 64 << 10 };
    for (int impl = 0; impl < 2; impl++) {
        double best = 1e30;
        uint32_t crc = 0;
        for (int k = 0; k < runs; k++) {
            double t0 = now();
            for (size_t i = 0; i < n; i += PIECE) {
                size_t len = n - i < PIECE ? n - i : PIECE;
                crc ^= impl ? tgs_crc32_portable(0, buf + i, len) : tgs_crc32(0, buf + i, len);
            }
            double dt = now() - t0;
            if (dt < best) best = dt;
        }
        printf("impl=crc32-%s stage=crc32 bytes=%zu seconds=%.4f gb_s=%.2f (xor of CRCs %08x)\n",
               impl ? "portable" : tgs_crc32_impl(), n, best, (double)n / best / 1e9, (unsigned)crc);
    }
    free(buf);
}

int main(int argc, char **argv) {
    int runs = 5, opt, crc = 0;
    const char *out_path = NULL;
    while ((opt = getopt(argc, argv, "Cn:o:")) != -1) {
        if (opt == 'n') runs = atoi(optarg);
        else if (opt == 'o') out_path = optarg;
        else if (opt == 'C') crc = 1;
        else fatal("usage: rle_bench [-C] [-n RUNS] [-o FILE] STREAM");
    }
    if (optind != argc - 1 || runs < 1) fatal("usage: rle_bench [-C] [-n RUNS] [-o FILE] STREAM");
    if (crc) {
        bench_crc(argv[optind], runs);
        return 0;
    }
    long n;
    int h, w;
    uint8_t *masks = load(argv[optind], &n, &h, &w);
    size_t npx = (size_t)h * (size_t)w, maxlen = tgs_rle_max_len(h, w);

    /* All the texts of a pass go into one buffer, as tgs-rle builds its
     * CSV, so a pass also pays for touching the output; its size is what
     * the first pass needed, so later passes do not grow it. */
    size_t *off = malloc(sizeof *off * (size_t)(n + 1)), cap = maxlen * 64;
    char *text = malloc(cap);
    if (!off || !text) fatal("out of memory");
    double best = 1e30;
    for (int k = 0; k < runs; k++) {
        double t0 = now();
        size_t len = 0;
        for (long i = 0; i < n; i++) {
            if (len + maxlen > cap) {
                cap *= 2;
                if (!(text = realloc(text, cap))) fatal("out of memory");
            }
            off[i] = len;
            len += tgs_rle_encode(masks + npx * (size_t)i, h, w, text + len) + 1; /* keep the NUL */
        }
        off[n] = len;
        double dt = now() - t0;
        if (dt < best) best = dt;
    }
    printf("impl=c stage=core masks=%ld seconds=%.4f masks_s=%.0f\n", n, best, (double)n / best);
    if (out_path) {
        FILE *f = fopen(out_path, "w");
        if (!f) fatal("cannot open the -o file");
        for (long i = 0; i < n; i++) fprintf(f, "%s\n", text + off[i]);
        if (fclose(f) != 0) fatal("write error on the -o file");
    }
    free(masks), free(off), free(text);
    return 0;
}
