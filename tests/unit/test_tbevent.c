/* Unit tests of the TensorBoard event writer (tbevent.h): CRC-32C against
 * its known check value, the masked CRC, records byte for byte as
 * tensorboard 2.21's own writer (RecordWriter over protobuf) writes them,
 * records read back by a small decoder here (lengths, CRCs, the Event's
 * fields), the tags of log.csv's columns, and an events file made from a
 * log: what it holds, appended to when the log grows, replaced when the
 * log is cut, its start read back. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "tbevent.h"

static size_t unhex(const char *h, uint8_t *out) {
    size_t n = 0;
    for (; h[0] && h[1]; h += 2) {
        unsigned v;
        sscanf(h, "%2x", &v);
        out[n++] = (uint8_t)v;
    }
    return n;
}

static uint64_t le(const uint8_t *p, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* ---- a decoder, apart from the writer's code ---- */

#define MAXV 32
typedef struct {
    double wall;
    int64_t step;
    int has_step;
    char version[32];
    int nv;
    char tag[MAXV][160];
    float value[MAXV];
    int has_value[MAXV];
} event;

static int varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
    *v = 0;
    for (int s = 0; *p < end && s < 64; s += 7) {
        uint8_t c = *(*p)++;
        *v |= (uint64_t)(c & 0x7f) << s;
        if (!(c & 0x80)) return 0;
    }
    return -1;
}

static int parse_value(const uint8_t *p, const uint8_t *end, event *e) {
    if (e->nv == MAXV) return -1;
    int i = e->nv++;
    while (p < end) {
        uint64_t key, n;
        if (varint(&p, end, &key) < 0) return -1;
        if (key == (1 << 3 | 2)) {
            if (varint(&p, end, &n) < 0 || n >= sizeof e->tag[i] || n > (uint64_t)(end - p)) return -1;
            memcpy(e->tag[i], p, n), e->tag[i][n] = 0, p += n;
        } else if (key == (2 << 3 | 5) && end - p >= 4) {
            uint32_t u = (uint32_t)le(p, 4);
            memcpy(&e->value[i], &u, 4), e->has_value[i] = 1, p += 4;
        } else return -1;
    }
    return 0;
}

/* One Event's fields; -1 on anything unexpected. */
static int parse_event(const uint8_t *p, size_t len, event *e) {
    const uint8_t *end = p + len;
    memset(e, 0, sizeof *e);
    while (p < end) {
        uint64_t key, n, u;
        if (varint(&p, end, &key) < 0) return -1;
        if (key == (1 << 3 | 1) && end - p >= 8) {
            u = le(p, 8), memcpy(&e->wall, &u, 8), p += 8;
        } else if (key == (2 << 3 | 0)) {
            if (varint(&p, end, &u) < 0) return -1;
            e->step = (int64_t)u, e->has_step = 1;
        } else if (key == (3 << 3 | 2)) {
            if (varint(&p, end, &n) < 0 || n >= sizeof e->version || n > (uint64_t)(end - p)) return -1;
            memcpy(e->version, p, n), e->version[n] = 0, p += n;
        } else if (key == (5 << 3 | 2)) { /* Summary: repeated Value = 1 */
            if (varint(&p, end, &n) < 0 || n > (uint64_t)(end - p)) return -1;
            const uint8_t *q = p, *qend = p + n;
            while (q < qend) {
                uint64_t k2, m;
                if (varint(&q, qend, &k2) < 0 || k2 != (1 << 3 | 2) || varint(&q, qend, &m) < 0 || m > (uint64_t)(qend - q) ||
                    parse_value(q, q + m, e) < 0)
                    return -1;
                q += m;
            }
            p = qend;
        } else return -1;
    }
    return 0;
}

/* The records of buf into ev (up to max): their count, or -1 at a bad
 * length or CRC (*why says which). */
static int parse_records(const uint8_t *buf, size_t n, event *ev, int max, const char **why) {
    size_t at = 0;
    int k = 0;
    while (at < n) {
        if (n - at < 12) return *why = "a truncated header", -1;
        uint64_t len = le(buf + at, 8);
        if (le(buf + at + 8, 4) != tgs_tfrecord_crc(buf + at, 8)) return *why = "the length's CRC", -1;
        if (len > n - at - 12 || n - at - 12 - len < 4) return *why = "a length past the end", -1;
        const uint8_t *data = buf + at + 12;
        if (le(data + len, 4) != tgs_tfrecord_crc(data, len)) return *why = "the data's CRC", -1;
        if (k == max || parse_event(data, len, &ev[k]) < 0) return *why = "the Event", -1;
        k++;
        at += 12 + len + 4;
    }
    return k;
}

/* ---- the tests ---- */

static void test_crc(void) {
    CHECKF(tgs_crc32c(0, "123456789", 9) == 0xE3069283u, "crc32c(\"123456789\") is 0xE3069283", "got 0x%08X",
           tgs_crc32c(0, "123456789", 9));
    CHECK(tgs_crc32c(tgs_crc32c(0, "1234", 4), "56789", 5) == 0xE3069283u, "crc32c continues over more bytes");
    CHECK(tgs_crc32c(0, "", 0) == 0, "crc32c of nothing is 0");
    uint32_t c = 0xE3069283u, want = ((c >> 15) | (c << 17)) + 0xa282ead8u;
    CHECKF(tgs_tfrecord_crc("123456789", 9) == want && want == 0xc78ab0e5u, "the masked crc: rotated by 15 and offset",
           "got 0x%08X, want 0x%08X (tensorboard's masked_crc32c: 0xc78ab0e5)", tgs_tfrecord_crc("123456789", 9), want);
}

/* Golden records, from tensorboard 2.21's RecordWriter over
 * event_pb2.Event(...).SerializeToString(). */
static void test_golden(void) {
    uint8_t want[256];
    tgs_tbbuf b = {0};
    size_t n = unhex("1800000000000000a37f4b2209000000000000f83f1a0d627261696e2e4576656e743a322a28646c", want);
    CHECK(tgs_tbevent_put_version(&b, 1.5) == 0 && b.n == n && memcmp(b.p, want, n) == 0,
          "the version record as tensorboard writes it (wall_time 1.5)");
    b.n = 0;
    n = unhex("2c00000000000000f4aecc450900001040fc54d94110ac022a1e0a110a0a6c6f73732f747261696e150000803e0a090a026c72156f"
              "12833a191e712a",
              want);
    const char *tags[] = {"loss/train", "lr"};
    float values[] = {0.25f, 1e-3f};
    CHECK(tgs_tbevent_put_scalars(&b, 1700000000.25, 300, tags, values, 2) == 0 && b.n == n && memcmp(b.p, want, n) == 0,
          "a scalars record as tensorboard writes it (step 300, two values)");
    free(b.p);
}

static void test_round_trip(void) {
    tgs_tbbuf b = {0};
    const char *tags[] = {"loss/train", "val/map", "a-tag-of-more-than-one-hundred-and-twenty-seven-bytes-so-"
                                                   "that-its-length-and-its-value's-take-two-varint-bytes-each-xxxxxxxxxxxxxxxxxxxx"};
    float values[] = {-1.5f, 0.0f, 3.0e38f};
    int rc = tgs_tbevent_put_version(&b, 1234.5);
    rc |= tgs_tbevent_put_scalars(&b, 1240.25, 1234567, tags, values, 3);
    rc |= tgs_tbevent_put_scalars(&b, 1300, 0, tags, values, 0);
    event ev[4];
    const char *why = "";
    int k = rc == 0 ? parse_records(b.p, b.n, ev, 4, &why) : -1;
    CHECKF(k == 3, "three records read back: lengths and CRCs check", "%d records (%s)", k, why);
    if (k == 3) {
        CHECK(ev[0].wall == 1234.5 && strcmp(ev[0].version, "brain.Event:2") == 0 && ev[0].nv == 0,
              "the first: wall time and file version");
        int same = ev[1].wall == 1240.25 && ev[1].step == 1234567 && ev[1].nv == 3;
        for (int i = 0; i < 3 && same; i++)
            same = strcmp(ev[1].tag[i], tags[i]) == 0 && ev[1].has_value[i] && ev[1].value[i] == values[i];
        CHECK(same && strlen(tags[2]) > 127, "the second: step, wall time, three tags and values (0.0 written, a long tag)");
        CHECK(ev[2].step == 0 && !ev[2].has_step && ev[2].nv == 0, "step 0 left out, as proto3 does");
    }
    /* a bit flipped anywhere is caught */
    b.p[3] ^= 1;
    CHECK(parse_records(b.p, b.n, ev, 4, &why) < 0 && strcmp(why, "the length's CRC") == 0, "a bad length is caught by its CRC");
    b.p[3] ^= 1, b.p[20] ^= 1;
    CHECK(parse_records(b.p, b.n, ev, 4, &why) < 0 && strcmp(why, "the data's CRC") == 0, "bad data is caught by its CRC");
    free(b.p);
}

static void test_tags(void) {
    static const char *const cases[][2] = {
        {"train_loss", "loss/train"}, {"val_loss", "loss/val"},   {"train_bce", "train/bce"},
        {"train_lovasz_sym", "train/lovasz_sym"}, {"val_map", "val/map"}, {"val_iou", "val/iou"},
        {"val_map50", "val/map50"}, {"lr", "lr"}, {"stage", "stage"}, {"step", "step"},
        {"img_s", "speed/img_s"}, {"seconds", "speed/seconds"}, {"train_", "train_"}, {"_loss", "_loss"},
    };
    int bad = -1;
    char tag[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0] && bad < 0; i++) {
        tgs_tbevent_tag(cases[i][0], tag, sizeof tag);
        if (strcmp(tag, cases[i][1]) != 0) bad = (int)i;
    }
    CHECKF(bad < 0, "the tags of log.csv's columns", "'%s' gives '%s', want '%s'", cases[bad][0], tag, cases[bad][1]);
}

static char *write_tmp(char *path, const char *text) {
    FILE *fp = fopen(path, "w");
    if (!fp) return NULL;
    fputs(text, fp);
    fclose(fp);
    return path;
}

static size_t slurp(const char *path, uint8_t **out) {
    FILE *fp = fopen(path, "rb");
    size_t n = 0, cap = 0;
    *out = NULL;
    if (!fp) return 0;
    for (;;) {
        if (n == cap) *out = realloc(*out, cap = cap ? 2 * cap : 4096);
        size_t got = fread(*out + n, 1, cap - n, fp);
        if (!got) break;
        n += got;
    }
    fclose(fp);
    return n;
}

static void test_from_log(void) {
    char dir[] = "/tmp/tgs-unit-XXXXXX";
    if (!mkdtemp(dir)) return;
    char log[64], events[64];
    snprintf(log, sizeof log, "%s/log.csv", dir);
    snprintf(events, sizeof events, "%s/events.out.tfevents.tgs", dir);
    write_tmp(log, "epoch,step,lr,train_loss,val_loss,img_s,seconds\n"
                   "1,3,0.01,1.5,,90.5,2.5\n"
                   "2,6,0.01,1.25,1.75,91,3\n");
    tgs_tbbuf b = {0};
    event ev[8];
    const char *why = "";
    int k = tgs_tbevent_from_log(&b, log, 0, 1000) == 0 ? parse_records(b.p, b.n, ev, 8, &why) : -1;
    CHECKF(k == 3, "a log of 2 rows: the version and 2 events", "%d (%s)", k, why);
    if (k == 3) {
        CHECK(ev[0].wall == 1000 && ev[1].wall == 1002.5 && ev[2].wall == 1005.5, "wall times: the start plus the seconds so far");
        CHECK(ev[1].step == 1 && ev[2].step == 2, "steps: the epochs");
        CHECKF(ev[1].nv == 5 && strcmp(ev[1].tag[0], "step") == 0 && ev[1].value[0] == 3 && strcmp(ev[1].tag[2], "loss/train") == 0 &&
                   ev[1].value[2] == 1.5f && strcmp(ev[1].tag[3], "speed/img_s") == 0,
               "a scalar per column but epoch, the empty val_loss left out", "%d values", ev[1].nv);
        CHECK(ev[2].nv == 6 && strcmp(ev[2].tag[3], "loss/val") == 0 && ev[2].value[3] == 1.75f && ev[2].value[5] == 3,
              "row 2: val_loss there, seconds last");
    }
    /* anchored at epoch 1: its end is at 2000 */
    tgs_tbbuf b1 = {0};
    k = tgs_tbevent_from_log(&b1, log, 1, 2000) == 0 ? parse_records(b1.p, b1.n, ev, 8, &why) : -1;
    CHECK(k == 3 && ev[0].wall == 1997.5 && ev[1].wall == 2000 && ev[2].wall == 2003, "an anchor after the start: the rows before go back");
    free(b1.p);

    /* the file: appended to as the log grows, replaced when it is cut */
    uint8_t *f1 = NULL, *f2 = NULL, *f3 = NULL;
    size_t n1 = 0, n2 = 0, n3 = 0;
    if (tgs_tbevent_write_log(events, log, 0, 1000) == 0) n1 = slurp(events, &f1);
    CHECK(n1 == b.n && memcmp(f1, b.p, n1) == 0 && access(events, F_OK) == 0, "the file holds the log's events");
    FILE *fp = fopen(log, "a");
    fputs("3,9,0.005,1.125,1.5,92,2\n", fp);
    fclose(fp);
    ino_t ino1 = 0, ino2 = 0;
    struct stat st;
    if (stat(events, &st) == 0) ino1 = st.st_ino;
    if (tgs_tbevent_write_log(events, log, 0, 1000) == 0) n2 = slurp(events, &f2);
    if (stat(events, &st) == 0) ino2 = st.st_ino;
    k = parse_records(f2, n2, ev, 8, &why);
    CHECKF(n2 > n1 && memcmp(f1, f2, n1) == 0 && ino1 == ino2 && k == 4 && ev[3].step == 3 && ev[3].wall == 1007.5,
           "a row more: appended to the same file", "%zu -> %zu bytes, %d records (%s)", n1, n2, k, why);
    double start = 0;
    CHECK(tgs_tbevent_read_start(events, &start) == 0 && start == 1000, "its start read back");
    write_tmp(log, "epoch,step,lr,train_loss,val_loss,img_s,seconds\n"
                   "1,3,0.01,1.5,,90.5,2.5\n");
    if (tgs_tbevent_write_log(events, log, 0, 1000) == 0) n3 = slurp(events, &f3);
    k = parse_records(f3, n3, ev, 8, &why);
    CHECKF(k == 2 && ev[1].step == 1 && n3 < n1, "the log cut to one row: the file replaced, one event", "%d records", k);
    write_tmp(log, "epoch,step\n1\n");
    CHECK(tgs_tbevent_write_log(events, log, 0, 1000) < 0, "a row short of fields is an error");
    write_tmp(log, "step,lr\n1,2\n");
    CHECK(tgs_tbevent_write_log(events, log, 0, 1000) < 0, "a log with no epoch column is an error");
    CHECK(tgs_tbevent_read_start(log, &start) < 0, "a file that is no events file has no start");
    unlink(log), unlink(events), rmdir(dir);
    free(f1), free(f2), free(f3), free(b.p);
}

int main(void) {
    test_crc();
    test_golden();
    test_round_trip();
    test_tags();
    test_from_log();
    CHECK_DONE();
}
