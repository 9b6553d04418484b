/* Checkpoints (lib/common/checkpoint.c, json.c, nn/ckpt_params.c) and the
 * training helpers (lib/common/train.c): safetensors written and read back bit for bit, the
 * package's layout (order, padding, offsets), a model's parameters and
 * optimizer state through a file, and every kind of damage refused with
 * one message and no crash (each prefix of a file, each byte flipped,
 * hand-made bad headers). */
#include "check.h"
#include "checkpoint.h"
#include "err.h"
#include "json.h"
#include "nn/ckpt_params.h"
#include "nn/model.h"
#include "nn/nn.h"
#include "nn/optim.h"
#include "rng.h"
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TINY "resunet in=3 widths=4,8,16 blocks=1,1,1"

static uint64_t rd_u64(const unsigned char *b) {
    uint64_t n = 0;
    for (int i = 0; i < 8; i++) n |= (uint64_t)b[i] << (8 * i);
    return n;
}

/* A checkpoint of every dtype, scalars, an empty tensor, awkward floats
 * and metadata that needs escaping. */
static void sample_ckpt(tgs_ckpt *c) {
    tgs_ckpt_init(c);
    float f[24];
    tgs_rng r;
    tgs_rng_seed(&r, 5, 0);
    for (int i = 0; i < 24; i++) f[i] = tgs_rng_normal(&r);
    uint32_t bits[4] = {0x7fc00001u, 0xff800000u, 0x80000000u, 0x00000001u}; /* a NaN payload, -inf, -0, a denormal */
    memcpy(f, bits, sizeof bits);
    int64_t i64 = -1234567890123LL, iv[3] = {1, -2, 3};
    double d = 0.1, dv[2] = {-1e300, 5e-324};
    uint8_t u8[5] = {0, 1, 127, 128, 255};
    uint16_t u16[2] = {1, 65535};
    int32_t i32[2] = {-7, 7};
    CHECKF(tgs_ckpt_add(c, "w.weight", TGS_F32, 4, (int64_t[]){2, 3, 2, 2}, f) == 0 &&
               tgs_ckpt_add(c, "a.bias", TGS_F32, 1, (int64_t[]){4}, f + 4) == 0 &&
               tgs_ckpt_add(c, "step", TGS_I64, 0, NULL, &i64) == 0 && tgs_ckpt_add(c, "iv", TGS_I64, 1, (int64_t[]){3}, iv) == 0 &&
               tgs_ckpt_add(c, "d", TGS_F64, 0, NULL, &d) == 0 && tgs_ckpt_add(c, "dv", TGS_F64, 1, (int64_t[]){2}, dv) == 0 &&
               tgs_ckpt_add(c, "bytes", TGS_U8, 1, (int64_t[]){5}, u8) == 0 &&
               tgs_ckpt_add(c, "u16", TGS_U16, 2, (int64_t[]){1, 2}, u16) == 0 &&
               tgs_ckpt_add(c, "i32", TGS_I32, 1, (int64_t[]){2}, i32) == 0 &&
               tgs_ckpt_add(c, "empty", TGS_F32, 2, (int64_t[]){0, 3}, f) == 0 &&
               tgs_ckpt_add(c, "sal\xc3\xa9 \"quoted\"\\", TGS_F32, 0, NULL, f + 7) == 0 &&
               tgs_ckpt_meta_set(c, "format", "tgs") == 0 &&
               tgs_ckpt_meta_set(c, "options", "{\"a\":\"b\\\"c\",\"n\":1}\n\ttab") == 0 &&
               tgs_ckpt_meta_set(c, "\xe2\x82\xac", "euro \xf0\x9f\x98\x80") == 0,
           "build a checkpoint of every dtype", "%s", tgs_errmsg());
}

static int same_ckpt(const tgs_ckpt *a, const tgs_ckpt *b) {
    if (a->n != b->n || a->nmeta != b->nmeta) return 0;
    for (int i = 0; i < a->n; i++) {
        const tgs_ckpt_tensor *x = &a->t[i], *y = tgs_ckpt_find(b, x->name);
        if (!y || x->dtype != y->dtype || x->ndim != y->ndim || x->nbytes != y->nbytes) return 0;
        if (memcmp(x->shape, y->shape, sizeof x->shape[0] * (size_t)x->ndim) || memcmp(x->data, y->data, x->nbytes)) return 0;
    }
    for (int i = 0; i < a->nmeta; i++) {
        const char *v = tgs_ckpt_meta_get(b, a->meta[i].key);
        if (!v || strcmp(v, a->meta[i].value)) return 0;
    }
    return 1;
}

static void test_round_trip(void) {
    tgs_ckpt c, d, e;
    sample_ckpt(&c);
    unsigned char *buf, *buf2;
    size_t len, len2;
    CHECK(tgs_ckpt_serialize(&c, &buf, &len) == 0, "serialize");
    uint64_t n = rd_u64(buf);
    CHECKF(n % 8 == 0 && buf[8] == '{' && (buf[8 + n - 1] == ' ' || buf[8 + n - 1] == '}'), "header padded to 8 with spaces",
           "N = %llu", (unsigned long long)n);
    CHECKF(tgs_ckpt_parse(&d, buf, len, "mem") == 0, "parse what was written", "%s", tgs_errmsg());
    CHECK(same_ckpt(&c, &d), "round trip: every tensor and metadata value bit for bit");
    CHECK(tgs_ckpt_serialize(&d, &buf2, &len2) == 0 && len2 == len && memcmp(buf, buf2, len) == 0,
          "round trip: written again, the same bytes");
    /* the safetensors package's order: 8-byte elements first, then by name */
    const char *want[] = {"d", "dv", "iv", "step", "a.bias", "empty", "i32", "sal\xc3\xa9 \"quoted\"\\", "w.weight", "u16", "bytes"};
    char *h = (char *)buf + 8, *prev = h;
    int ordered = 1;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char key[64];
        size_t k = 0;
        key[k++] = '"';
        for (const char *q = want[i]; *q; q++) {
            if (*q == '"' || *q == '\\') key[k++] = '\\';
            key[k++] = *q;
        }
        key[k++] = '"', key[k++] = ':', key[k] = 0;
        char *at = strstr(h, key);
        if (!at || at < prev) ordered = 0;
        if (at) prev = at;
    }
    CHECK(ordered, "tensors ordered by element size, then name");
    /* in that order, every tensor starts aligned to its element size in the file */
    int aligned = 1;
    uint64_t off = 8 + n;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const tgs_ckpt_tensor *t = tgs_ckpt_find(&d, want[i]);
        int es = t->dtype == TGS_I64 || t->dtype == TGS_F64 ? 8 : t->dtype == TGS_U8 ? 1 : t->dtype == TGS_U16 ? 2 : 4;
        aligned &= off % (uint64_t)es == 0;
        off += t->nbytes;
    }
    CHECK(aligned && off == len, "each tensor aligned to its element size in the file");
    char path[] = "/tmp/tgs-ckpt-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    /* the bytes above keep a NaN payload and -inf; a file holds finite
     * numbers only, so make those two finite before saving */
    CHECKF(tgs_ckpt_save(&c, path) < 0 && strstr(tgs_errmsg(), "'w.weight' holds NaN at element 0"),
           "save refuses the NaN", "%s", tgs_errmsg());
    tgs_ckpt_tensor *w = NULL;
    for (int i = 0; i < c.n; i++)
        if (!strcmp(c.t[i].name, "w.weight")) w = &c.t[i];
    ((float *)w->data)[0] = 1.5f, ((float *)w->data)[1] = -2.5f;
    free(buf);
    tgs_ckpt_serialize(&c, &buf, &len);
    CHECKF(tgs_ckpt_save(&c, path) == 0, "save to a file", "%s", tgs_errmsg());
    CHECKF(tgs_ckpt_load(&e, path) == 0 && same_ckpt(&c, &e), "load from the file, the same", "%s", tgs_errmsg());
    FILE *fp = fopen(path, "rb");
    unsigned char *file = malloc(len + 1);
    size_t got = fp ? fread(file, 1, len + 1, fp) : 0;
    if (fp) fclose(fp);
    CHECK(got == len && memcmp(file, buf, len) == 0, "the file holds exactly the serialized bytes");
    unlink(path);
    tgs_ckpt_free(&e);
    CHECK(tgs_ckpt_load(&e, path) < 0 && strstr(tgs_errmsg(), path) && strstr(tgs_errmsg(), "No such file"),
          "a missing file: one message naming it");
    tgs_ckpt_free(&e);
    const int64_t *st = tgs_ckpt_expect(&d, "step", TGS_I64, 1);
    CHECK(st && *st == -1234567890123LL, "expect: the scalar");
    CHECK(!tgs_ckpt_expect(&d, "step", TGS_F32, 1) && strstr(tgs_errmsg(), "is I64 []"), "expect: the wrong dtype named");
    CHECK(!tgs_ckpt_expect(&d, "nope", TGS_F32, 1) && strstr(tgs_errmsg(), "no tensor 'nope'"), "expect: a missing tensor named");
    CHECK(tgs_ckpt_add(&c, "step", TGS_I64, 0, NULL, st) < 0, "add refuses a repeated name");
    CHECK(tgs_ckpt_add(&c, "", TGS_I64, 0, NULL, st) < 0, "add refuses an empty name");
    CHECK(tgs_ckpt_add(&c, "x", 99, 0, NULL, st) < 0, "add refuses an unknown dtype");
    free(file), free(buf), free(buf2);
    tgs_ckpt_free(&c), tgs_ckpt_free(&d);
}

/* A file with this header text and buffer; returns the parse result. */
static int parse_text(const char *header, size_t buflen, int pad) {
    size_t hl = strlen(header), n = hl;
    while (pad && n % 8) n++;
    unsigned char *b = calloc(8 + n + buflen + 1, 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memcpy(b + 8, header, hl);
    memset(b + 8 + hl, ' ', n - hl);
    tgs_ckpt c;
    int rc = tgs_ckpt_parse(&c, b, 8 + n + buflen, "bad.ckpt");
    tgs_ckpt_free(&c);
    free(b);
    return rc;
}

static void refuses(const char *header, size_t buflen, const char *want, const char *name) {
    int rc = parse_text(header, buflen, 1);
    const char *m = tgs_errmsg();
    CHECKF(rc < 0 && strstr(m, want) && strncmp(m, "bad.ckpt: ", 10) == 0 && !strchr(m, '\n'), name, "rc %d: %s", rc, m);
}

static void test_damage(void) {
    CHECK(parse_text("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 1) == 0, "a hand-made header parses");
    CHECK(parse_text("{}", 0, 1) == 0, "an empty checkpoint parses");
    CHECK(parse_text(" {}", 0, 1) < 0, "the header must start with '{'");
    refuses("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8, "ends too soon", "an unclosed object");
    refuses("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} x", 8, "text after the JSON", "text after the object");
    refuses("{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "dtype 'F16' is not one tgs reads", "F16 refused by name");
    refuses("{\"a\":{\"dtype\":\"Q7\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "dtype 'Q7' is unknown", "an unknown dtype");
    refuses("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "needs 12 bytes", "shape and offsets disagree");
    refuses("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "non-negative integer", "a negative dim");
    refuses("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8, "non-negative integer", "a float dim");
    refuses("{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,8]}}", 8, "too large", "a dim past 64 bits");
    refuses("{\"a\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776],\"data_offsets\":[0,8]}}", 8, "needs", "a shape whose size overflows");
    refuses("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "data_offsets [8, 0]", "offsets backwards");
    refuses("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
            "overlapping", "overlapping tensors");
    refuses("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "leaving a gap", "a gap in the buffer");
    refuses("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12, "trailing bytes", "bytes after the tensors");
    refuses("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "past the buffer", "a tensor past the end");
    refuses("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
            "tensor 'a' appears twice", "a repeated name");
    refuses("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "repeated key", "a repeated key in an entry");
    refuses("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4, "unknown key 'x'", "an unknown key in an entry");
    refuses("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "without shape", "an entry without shape");
    refuses("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, "not [begin, end]", "one offset");
    refuses("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, "more than 8", "9 dims");
    refuses("{\"__metadata__\":{\"a\":1}}", 0, "not a string", "a metadata value that is not a string");
    refuses("{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}}", 0, "metadata key 'a' appears twice", "a repeated metadata key");
    refuses("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "__metadata__ appears twice", "two __metadata__ objects");
    refuses("{\"\xff\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "not valid UTF-8", "a name that is not UTF-8");
    refuses("{\"\xc0\xaf\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "not valid UTF-8", "an overlong UTF-8 form");
    refuses("{\"\\ud800\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "surrogate", "a lone surrogate");
    refuses("{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "NUL", "a NUL in a name");
    refuses("{\"\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "empty tensor name", "an empty name");
    refuses("{\"a\nb\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "control character", "a raw newline in a name");
    refuses("{\"a\\x\":{}}", 0, "bad escape", "a bad escape");
    refuses("{\"a\":[1,2]}", 0, "expected '{'", "an entry that is not an object");

    /* header lengths */
    unsigned char b[16] = {0};
    tgs_ckpt c;
    CHECK(tgs_ckpt_parse(&c, b, 5, "x.ckpt") < 0 && strstr(tgs_errmsg(), "too short"), "a 5-byte file");
    b[0] = 0xff, b[7] = 0x7f;
    CHECK(tgs_ckpt_parse(&c, b, 16, "x.ckpt") < 0 && strstr(tgs_errmsg(), "header length"), "an absurd header length");
    memset(b, 0, sizeof b), b[0] = 100;
    CHECK(tgs_ckpt_parse(&c, b, 16, "x.ckpt") < 0 && strstr(tgs_errmsg(), "runs past the end"), "a header length past the end");
    tgs_ckpt_free(&c);

    /* every prefix of a real file, and every byte of it changed: an error
     * or (for a change the format cannot see, in the data) success; never
     * a crash, and always one line */
    tgs_ckpt s;
    sample_ckpt(&s);
    unsigned char *buf;
    size_t len;
    tgs_ckpt_serialize(&s, &buf, &len);
    int bad_prefix = 0, multi_line = 0, data_ok = 0;
    for (size_t k = 0; k < len; k++) {
        if (tgs_ckpt_parse(&c, buf, k, "cut.ckpt") == 0) bad_prefix++;
        if (strchr(tgs_errmsg(), '\n')) multi_line++;
        tgs_ckpt_free(&c);
    }
    CHECKF(bad_prefix == 0 && multi_line == 0, "every truncation of a checkpoint refused in one line", "%d accepted, %d multi-line",
           bad_prefix, multi_line);
    unsigned char *mut = malloc(len);
    uint64_t n = rd_u64(buf);
    for (size_t k = 0; k < len; k++)
        for (int v = 0; v < 3; v++) {
            memcpy(mut, buf, len);
            mut[k] = v == 0 ? (unsigned char)(buf[k] ^ 0x01) : v == 1 ? (unsigned char)(buf[k] ^ 0x80) : (unsigned char)'"';
            if (tgs_ckpt_parse(&c, mut, len, "flip.ckpt") == 0 && k >= 8 + n) data_ok++;
            if (strchr(tgs_errmsg(), '\n')) multi_line++;
            tgs_ckpt_free(&c);
        }
    CHECKF(multi_line == 0 && data_ok > 0, "every byte changed: no crash, messages one line", "%d multi-line", multi_line);
    free(mut), free(buf);
    tgs_ckpt_free(&s);
}

static void test_json(void) {
    char buf[256];
    int64_t n = tgs_json_put_str(buf, 0, sizeof buf, "a\"b\\c\n\x01\xc3\xa9");
    CHECK(n > 0 && strcmp(buf, "\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\"") == 0, "json_put_str escapes");
    CHECK(tgs_json_put_str(buf, 0, 4, "abcdef") < 0, "json_put_str: too small a buffer");
    tgs_ckpt_kv *kv;
    int k;
    const char *js = " {\"lr\": 0.001, \"model\": \"resunet \\\"x\\\"\", \"on\": true, \"n\": -1e-5, \"z\": null} ";
    CHECK(tgs_json_flat_parse(js, strlen(js), &kv, &k) == 0 && k == 5 && !strcmp(kv[0].value, "0.001") &&
              !strcmp(kv[1].value, "resunet \"x\"") && !strcmp(kv[2].value, "true") && !strcmp(kv[3].value, "-1e-5") &&
              !strcmp(kv[4].value, "null"),
          "flat JSON: strings unescaped, the rest as written");
    tgs_json_kv_free(kv, k);
    static const char *const bad[] = {"{\"a\":1,\"a\":2}", "{\"a\":[1]}", "{\"a\":1} x", "{\"a\":01}", "{\"a\":1.}", "{\"a\"1}", "[]", "{\"a\":-}"};
    int refused = 0;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) refused += tgs_json_flat_parse(bad[i], strlen(bad[i]), &kv, &k) < 0;
    CHECKF(refused == (int)(sizeof bad / sizeof bad[0]), "flat JSON: repeats, nesting, trailing text, bad numbers refused",
           "%d of %zu", refused, sizeof bad / sizeof bad[0]);
}

static void test_loss_mix(void) {
    float w[TGS_LOSS_NPARTS];
    char buf[256];
    CHECK(tgs_loss_mix_parse("lovasz-sym=0.5,bce=1,cls=0.1", w) == 0 && w[TGS_LOSS_BCE] == 1 && w[TGS_LOSS_LOVASZ_SYM] == 0.5f &&
              w[TGS_LOSS_CLS] == 0.1f && w[TGS_LOSS_LOVASZ] == 0,
          "loss mix: parse");
    tgs_loss_mix_format(w, buf, sizeof buf);
    CHECKF(strcmp(buf, "bce=1,lovasz-sym=0.5,cls=0.1") == 0, "loss mix: format in the canonical order", "%s", buf);
    CHECK(tgs_loss_mix_parse("deep=0.4,lovasz=1", w) == 0 && w[TGS_LOSS_DEEP] == 0.4f && w[TGS_LOSS_LOVASZ] == 1,
          "loss mix: deep beside a map loss");
    tgs_loss_mix_format(w, buf, sizeof buf);
    CHECKF(strcmp(buf, "lovasz=1,deep=0.4") == 0, "loss mix: deep formatted last", "%s", buf);
    static const char *const bad[] = {"", "bce", "bce=", "bce=x", "bce=-1", "bce=1,", "bce=1,bce=2", "dice=0", "mse=1", "bce=nan",
                                      "deep=1", "cls=1,deep=0.5"};
    int refused = 0;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) refused += tgs_loss_mix_parse(bad[i], w) < 0;
    CHECKF(refused == (int)(sizeof bad / sizeof bad[0]), "loss mix: bad specs refused", "%d", refused);
    char num[32];
    CHECK(strcmp(tgs_fmt_float(num, sizeof num, 0.1f), "0.1") == 0 && strtof(tgs_fmt_float(num, sizeof num, 1.0f / 3), NULL) == 1.0f / 3,
          "fmt_float: shortest text that reads back");
}

/* A tiny model's parameters, and Adam's state after a few steps, through a file. */
static void test_model_state(void) {
    struct tgs_model_opts mo;
    tgs_model_parse(&mo, TINY);
    struct tgs_params *a = tgs_params_new(tgs_backend_cpu()), *b = tgs_params_new(tgs_backend_cpu());
    CHECKF(tgs_model_params(a, &mo, 1) == 0 && tgs_model_params(b, &mo, 2) == 0, "declare a tiny model's parameters", "%s",
           tgs_errmsg());
    tgs_net net;
    float w[TGS_LOSS_NPARTS] = {1, 1, 0, 0, 0, 0, 0.1f};
    CHECKF(tgs_net_build(&net, a, &mo, TGS_NET_TRAIN, 2, 3, 16, w) == 0, "build the training net", "%s", tgs_errmsg());
    struct tgs_optim_opts oo;
    tgs_optim_defaults(&oo, TGS_OPTIM_ADAM);
    tgs_optim_state sa, sb;
    tgs_optim_state_init(&sa, &oo, a);
    tgs_optim_state_init(&sb, &oo, b);
    float x[2 * 3 * 16 * 16], y[2 * 16 * 16], sal[2] = {1, 0};
    tgs_rng r;
    tgs_rng_seed(&r, 3, 0);
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++) x[i] = tgs_rng_normal(&r);
    for (size_t i = 0; i < sizeof y / sizeof y[0]; i++) y[i] = i < 256 ? x[i] > 0 : 0;
    tgs_tensor_set(net.g, net.x, x), tgs_tensor_set(net.g, net.y, y), tgs_tensor_set(net.g, net.salt, sal);
    for (int s = 1; s <= 3; s++) {
        tgs_params_zero_grad(a);
        tgs_graph_forward(net.g);
        tgs_graph_backward(net.g, net.total);
        tgs_optim_state_step(&sa, 1e-2f, s);
    }
    tgs_ckpt c, d;
    tgs_ckpt_init(&c);
    CHECKF(tgs_ckpt_put_params(&c, a) == 0 && tgs_optim_state_put(&sa, &c) == 0, "put parameters and Adam state", "%s",
           tgs_errmsg());
    CHECK(tgs_ckpt_find(&c, "enc.0.0.conv1.weight") && tgs_ckpt_find(&c, "optim.exp_avg.enc.0.0.conv1.weight") &&
              tgs_ckpt_find(&c, "optim.exp_avg_sq.stem.bn.weight") && tgs_ckpt_find(&c, "stem.bn.running_var") &&
              !tgs_ckpt_find(&c, "optim.exp_avg.stem.bn.running_var"),
          "names: parameters as the model's, state as optim.<part>.<param>, none for buffers");
    unsigned char *buf;
    size_t len;
    tgs_ckpt_serialize(&c, &buf, &len);
    CHECKF(tgs_ckpt_parse(&d, buf, len, "mem") == 0 && tgs_ckpt_get_params(&d, b, 1, NULL) == 0 &&
               tgs_optim_state_get(&sb, &d) == 0,
           "get them back into another model", "%s", tgs_errmsg());
    int same = 1;
    for (int i = 0; i < tgs_params_count(a); i++) {
        struct tgs_tensor *ta = tgs_params_at(a, i), *tb = tgs_params_find(b, ta->name);
        same &= tb && memcmp(ta->data, tb->data, (size_t)ta->size * 4) == 0;
        if (sa.state[i]) same &= memcmp(sa.state[i], sb.state[i], (size_t)ta->size * 8) == 0;
    }
    CHECK(same, "parameters, BN running stats and Adam state bit for bit");
    int matched = -1;
    CHECK(tgs_ckpt_get_params(&d, b, 0, &matched) == 0 && matched == tgs_params_count(b), "non-strict: every tensor matched");

    /* a checkpoint of another model */
    struct tgs_model_opts mo2;
    tgs_model_parse(&mo2, "resunet in=3 widths=4,8,32 blocks=1,1,1");
    struct tgs_params *other = tgs_params_new(tgs_backend_cpu());
    tgs_model_params(other, &mo2, 0);
    CHECK(tgs_ckpt_get_params(&d, other, 1, NULL) < 0 && strstr(tgs_errmsg(), "the model's is F32"), "strict: a misshapen tensor refused");
    CHECK(tgs_ckpt_get_params(&d, other, 0, &matched) < 0 && strstr(tgs_errmsg(), "enc.2"), "init: a same-named tensor of another shape refused");
    tgs_ckpt e;
    tgs_ckpt_init(&e);
    for (int i = 0; i < d.n; i++)
        if (strcmp(d.t[i].name, "seg.bias")) tgs_ckpt_add(&e, d.t[i].name, d.t[i].dtype, d.t[i].ndim, d.t[i].shape, d.t[i].data);
    CHECK(tgs_ckpt_get_params(&e, b, 1, NULL) < 0 && strstr(tgs_errmsg(), "no tensor 'seg.bias'"), "strict: a missing tensor refused");
    CHECK(tgs_ckpt_get_params(&e, b, 0, &matched) == 0 && matched == tgs_params_count(b) - 1, "init: the others loaded, counted");
    tgs_ckpt_add(&e, "seg.bias", TGS_F32, 1, (int64_t[]){1}, tgs_params_find(b, "seg.bias")->data);
    tgs_ckpt_add(&e, "extra.weight", TGS_F32, 1, (int64_t[]){1}, tgs_params_find(b, "seg.bias")->data);
    CHECK(tgs_ckpt_get_params(&e, b, 1, NULL) < 0 && strstr(tgs_errmsg(), "'extra.weight' is not a parameter"),
          "strict: an extra tensor refused");
    struct tgs_optim_opts sgd;
    tgs_optim_defaults(&sgd, TGS_OPTIM_SGD);
    sgd.momentum = 0.9f;
    tgs_optim_state ss;
    tgs_optim_state_init(&ss, &sgd, b);
    CHECK(tgs_optim_state_get(&ss, &d) < 0 && strstr(tgs_errmsg(), "optim.momentum_buffer."), "SGD state from an Adam run refused");
    tgs_optim_state_free(&ss);

    /* a checkpoint is finite: the writer refuses NaN and Inf, and so do
     * the readers of a model's tensors and of the optimizer's */
    tgs_ckpt_tensor *wt = NULL, *ot = NULL;
    for (int i = 0; i < d.n; i++) {
        if (!strcmp(d.t[i].name, "enc.0.0.conv1.weight")) wt = &d.t[i];
        if (!strcmp(d.t[i].name, "optim.exp_avg_sq.stem.bn.weight")) ot = &d.t[i];
    }
    CHECK(wt && ot, "the tensors to spoil are there");
    if (wt && ot) {
        float keep = ((float *)wt->data)[5];
        ((float *)wt->data)[5] = NAN;
        char path[] = "/tmp/tgs-ckpt-nan-XXXXXX";
        int fd = mkstemp(path);
        close(fd);
        unlink(path);
        CHECKF(tgs_ckpt_save(&d, path) < 0 && strstr(tgs_errmsg(), "tensor 'enc.0.0.conv1.weight' holds NaN at element 5") &&
                   access(path, F_OK) != 0,
               "save: a NaN weight refused, naming it, and no file written", "%s", tgs_errmsg());
        CHECKF(tgs_ckpt_get_params(&d, b, 1, NULL) < 0 && strstr(tgs_errmsg(), "'enc.0.0.conv1.weight' holds NaN at element 5"),
               "get_params: a NaN weight refused", "%s", tgs_errmsg());
        CHECK(tgs_ckpt_get_params(&d, b, 0, &matched) < 0, "get_params (--init): a NaN weight refused");
        ((float *)wt->data)[5] = keep;
        ((float *)ot->data)[0] = -INFINITY;
        CHECKF(tgs_optim_state_get(&sb, &d) < 0 && strstr(tgs_errmsg(), "'optim.exp_avg_sq.stem.bn.weight' holds -Inf at element 0"),
               "optimizer state: -Inf refused", "%s", tgs_errmsg());
        double nan = NAN;
        tgs_ckpt f;
        tgs_ckpt_init(&f);
        tgs_ckpt_add(&f, "train.metric", TGS_F64, 0, NULL, &nan);
        CHECK(tgs_ckpt_save(&f, path) < 0 && strstr(tgs_errmsg(), "'train.metric' holds NaN"), "save: an F64 NaN refused too");
        tgs_ckpt_free(&f);
    }

    /* model info */
    tgs_model_info info;
    tgs_ckpt_meta_set(&d, "format", "tgs");
    tgs_ckpt_meta_set(&d, "arch", TINY);
    tgs_ckpt_meta_set(&d, "size", "104");
    tgs_ckpt_meta_set(&d, "norm", "0.5,0.25");
    CHECK(tgs_model_info_get(&d, &info) == 0 && info.size == 104 && info.mean == 0.5f && info.std == 0.25f && info.mo.nlevels == 3,
          "model info from the metadata");
    tgs_ckpt_meta_set(&d, "format", "pt");
    CHECK(tgs_model_info_get(&d, &info) < 0 && strstr(tgs_errmsg(), "not a tgs checkpoint"), "model info: another format refused");

    free(buf);
    tgs_ckpt_free(&c), tgs_ckpt_free(&d), tgs_ckpt_free(&e);
    tgs_net_free(&net);
    tgs_optim_state_free(&sa), tgs_optim_state_free(&sb);
    tgs_params_free(a), tgs_params_free(b), tgs_params_free(other);
}

/* The weight average: the update against the formula in double, the swap
 * and its undo, and the trained weights through a checkpoint beside it. */
static void test_ema(void) {
    struct tgs_model_opts mo;
    tgs_model_parse(&mo, TINY);
    struct tgs_params *ps = tgs_params_new(tgs_backend_cpu()), *back = tgs_params_new(tgs_backend_cpu());
    tgs_model_params(ps, &mo, 1), tgs_model_params(back, &mo, 5);
    tgs_ema e, f;
    CHECK(tgs_ema_init(&e, ps, 1.0f) < 0 && strstr(tgs_errmsg(), "not in (0, 1)"), "ema: a decay of 1 refused");
    CHECKF(tgs_ema_init(&e, ps, 0.9f) == 0, "ema: init", "%s", tgs_errmsg());
    int n = tgs_params_count(ps);
    double **want = calloc((size_t)n, sizeof *want);
    for (int i = 0; i < n; i++) {
        struct tgs_tensor *t = tgs_params_at(ps, i);
        want[i] = malloc((size_t)t->size * sizeof **want);
        for (int64_t k = 0; k < t->size; k++) want[i][k] = t->data[k];
    }
    /* three updates, each after the weights moved; the decay ramps up from
     * 2/11 (t = 1) and is capped at 0.9 from t = 80 */
    double worst = 0;
    const int64_t steps[] = {1, 2, 500};
    for (int u = 0; u < 3; u++) {
        double d = fmin(0.9, (1.0 + (double)steps[u]) / (10.0 + (double)steps[u]));
        for (int i = 0; i < n; i++) {
            struct tgs_tensor *t = tgs_params_at(ps, i);
            for (int64_t k = 0; k < t->size; k++) {
                t->data[k] = t->data[k] * 0.5f + (float)(u + 1) * 0.25f;
                want[i][k] = d * want[i][k] + (1 - d) * t->data[k];
            }
        }
        tgs_ema_update(&e, steps[u]);
    }
    for (int i = 0; i < n; i++)
        for (int64_t k = 0; k < tgs_params_at(ps, i)->size; k++)
            worst = fmax(worst, fabs(e.avg[i][k] - want[i][k]) / (fabs(want[i][k]) + 1e-3));
    CHECKF(worst < 1e-6, "ema: three updates agree with the formula in double", "worst relative error %g", worst);
    struct tgs_tensor *t0 = tgs_params_at(ps, 0);
    float live0 = t0->data[0], avg0 = e.avg[0][0];
    tgs_ema_swap(&e);
    CHECK(t0->data[0] == avg0 && e.avg[0][0] == live0, "ema: swap puts the average in the model");
    tgs_ema_swap(&e);
    CHECK(t0->data[0] == live0 && e.avg[0][0] == avg0, "ema: a second swap undoes it");
    tgs_ckpt c;
    tgs_ckpt_init(&c);
    CHECKF(tgs_ema_put_live(&e, &c) == 0 && tgs_ckpt_find(&c, "train.live.stem.conv.weight") &&
               tgs_ckpt_find(&c, "train.live.stem.bn.running_var"),
           "ema: the trained weights and buffers as train.live.<name>", "%s", tgs_errmsg());
    tgs_ema_init(&f, back, 0.9f);
    CHECKF(tgs_ema_get_live(&f, &c) == 0, "ema: get them back", "%s", tgs_errmsg());
    int same = 1;
    for (int i = 0; i < n; i++) {
        struct tgs_tensor *a = tgs_params_at(ps, i), *b = tgs_params_find(back, a->name);
        same &= b && memcmp(a->data, b->data, (size_t)a->size * 4) == 0;
    }
    CHECK(same, "ema: the trained weights bit for bit");
    tgs_ckpt d;
    tgs_ckpt_init(&d);
    CHECK(tgs_ema_get_live(&f, &d) < 0 && strstr(tgs_errmsg(), "has no tensor 'train.live."), "ema: a checkpoint without them refused");
    for (int i = 0; i < n; i++) free(want[i]);
    free(want);
    tgs_ckpt_free(&c), tgs_ckpt_free(&d);
    tgs_ema_free(&e), tgs_ema_free(&f);
    tgs_params_free(ps), tgs_params_free(back);
}

int main(void) {
    tgs_cpu_set_threads(1);
    test_ema();
    test_round_trip();
    test_damage();
    test_json();
    test_loss_mix();
    test_model_state();
    CHECK_DONE();
}
