/* model: unet-ref, resunet and swinunet (see model.h). */
#include "nn/model.h"
#include "err.h"
#include "nn/layers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tgs_model_defaults(struct tgs_model_opts *o, enum tgs_arch arch) {
    memset(o, 0, sizeof *o);
    o->arch = arch;
    o->in_ch = 1;
    o->nlevels = 5;
    static const int widths[] = {16, 32, 64, 128, 256}, blocks[] = {1, 2, 2, 2, 2};
    for (int i = 0; i < 5; i++) o->widths[i] = widths[i], o->blocks[i] = blocks[i];
    if (arch == TGS_ARCH_RESUNET) {
        /* TGS_MODEL_DEFAULT_MEANS: the tools' default model, sized for 2 cores */
        for (int i = 0; i < 5; i++) o->widths[i] = 8 << i, o->blocks[i] = 1;
        o->dropout = 0.2f;
        o->scse = 8;
        o->hypercolumn = 1;
    }
    if (arch == TGS_ARCH_SWINUNET) {
        /* levels 12, 24 (stem), 48, 96, 192 (stages): resunet 12..192's widths */
        static const int depths[] = {2, 2, 2}, heads[] = {3, 6, 12};
        o->embed = 48;
        o->nstages = 3;
        for (int i = 0; i < 3; i++) o->depths[i] = depths[i], o->heads[i] = heads[i];
        o->window = 7;
        o->mlp = 4;
        o->drop_path = 0.1f;
        o->widths[0] = 12, o->widths[1] = 24;
        for (int i = 0; i < 5; i++) o->blocks[i] = 0;
        o->scse = 8;
        o->hypercolumn = 1;
        o->hc_width = 8;
        o->conv_tokens = 1; /* patch tokens learn nothing in tgs-mae here (pipelines/RESULTS.md) */
    }
}

static const char *arch_name(enum tgs_arch a) {
    return a == TGS_ARCH_UNET_REF ? "unet-ref" : a == TGS_ARCH_RESUNET ? "resunet" : "swinunet";
}

/* "16,32,64" into v; returns the count, -1 on a bad list */
static int parse_ints(const char *s, int *v, int max) {
    int n = 0;
    while (*s) {
        char *end;
        long x = strtol(s, &end, 10);
        if (end == s || x < 1 || x > 4096 || n == max) return -1;
        v[n++] = (int)x;
        s = end;
        if (*s == ',') s++;
        else if (*s) return -1;
    }
    return n;
}

/* swinunet's own keys; an unknown key is an error. *swin_key is set when
 * one was given (other architectures refuse them). */
static int parse_swin_key(struct tgs_model_opts *o, const char *k, const char *v, int *nd, int *nh, int *swin_key,
                          int *tokens_key) {
    char *end;
    *swin_key = 1;
    if (strcmp(k, "embed") == 0) {
        long x = strtol(v, &end, 10);
        if (*end || end == v || x < 1 || x > 1024) return tgs_err("model: embed '%s': want 1 to 1024 channels", v);
        o->embed = (int)x;
    } else if (strcmp(k, "depths") == 0) {
        if ((*nd = parse_ints(v, o->depths, TGS_MODEL_MAX_LEVELS - 2)) < 1)
            return tgs_err("model: depths '%s': want 1 to %d positive integers", v, TGS_MODEL_MAX_LEVELS - 2);
    } else if (strcmp(k, "heads") == 0) {
        if ((*nh = parse_ints(v, o->heads, TGS_MODEL_MAX_LEVELS - 2)) < 1)
            return tgs_err("model: heads '%s': want 1 to %d positive integers", v, TGS_MODEL_MAX_LEVELS - 2);
    } else if (strcmp(k, "window") == 0) {
        long x = strtol(v, &end, 10);
        if (*end || end == v || x < 1 || x > 32) return tgs_err("model: window '%s': want 1 to 32", v);
        o->window = (int)x;
    } else if (strcmp(k, "mlp") == 0) {
        long x = strtol(v, &end, 10);
        if (*end || end == v || x < 1 || x > 16) return tgs_err("model: mlp '%s': want a ratio 1 to 16", v);
        o->mlp = (int)x;
    } else if (strcmp(k, "drop_path") == 0) {
        double x = strtod(v, &end);
        if (*end || end == v || !(x >= 0 && x < 1)) return tgs_err("model: drop_path '%s': want 0 <= p < 1", v);
        o->drop_path = (float)x;
    } else if (strcmp(k, "tokens") == 0) {
        if (strcmp(v, "patch") && strcmp(v, "conv")) return tgs_err("model: tokens '%s': want patch or conv", v);
        o->conv_tokens = strcmp(v, "conv") == 0;
        *tokens_key = 1;
    } else if (strcmp(k, "stem") == 0) {
        int w[TGS_MODEL_MAX_LEVELS];
        if (parse_ints(v, w, TGS_MODEL_MAX_LEVELS) != 2) return tgs_err("model: stem '%s': want 2 widths", v);
        o->widths[0] = w[0], o->widths[1] = w[1];
    } else {
        *swin_key = 0;
        return tgs_err("model: unknown option '%s'", k);
    }
    return 0;
}

/* swinunet's options agree; its levels' widths and count derived */
static int swin_check_opts(struct tgs_model_opts *o, int nw, int nb, int nd, int nh) {
    if (nw >= 0 || nb >= 0) return tgs_err("model: swinunet takes stem= and embed=, not widths= or blocks=");
    if (nd > 0 && nh < 0 && nd != o->nstages) return tgs_err("model: %d depths for %d heads", nd, o->nstages);
    if (nh > 0 && nd < 0 && nh != o->nstages) return tgs_err("model: %d heads for %d depths", nh, o->nstages);
    if (nd > 0 && nh > 0 && nd != nh) return tgs_err("model: %d depths for %d heads", nd, nh);
    if (nd > 0) o->nstages = nd;
    else if (nh > 0) o->nstages = nh;
    o->nlevels = 2 + o->nstages;
    for (int i = 0; i < o->nstages; i++) {
        o->widths[2 + i] = o->embed << i;
        if (o->widths[2 + i] > 4096) return tgs_err("model: stage %d has %d channels (most 4096)", i, o->widths[2 + i]);
        if (o->widths[2 + i] % o->heads[i])
            return tgs_err("model: stage %d's %d channels do not split into %d heads", i, o->widths[2 + i],
                           o->heads[i]);
    }
    for (int i = o->nstages; i < TGS_MODEL_MAX_LEVELS - 2; i++) o->depths[i] = o->heads[i] = 0;
    for (int i = o->nlevels; i < TGS_MODEL_MAX_LEVELS; i++) o->widths[i] = 0;
    if (o->hc_width && !o->hypercolumn) return tgs_err("model: hcw needs hypercolumn=1");
    return 0;
}

/* saved: the spec comes from a checkpoint, and a key its writer did not
 * write takes the value of that time: a swinunet without tokens= was
 * written before the key existed, when every swinunet had patch tokens. */
static int parse_spec(struct tgs_model_opts *o, const char *spec, int saved) {
    char buf[512];
    if (strlen(spec) >= sizeof buf) return tgs_err("model: spec too long");
    strcpy(buf, spec);
    char *save = NULL, *tok = strtok_r(buf, " ", &save);
    if (!tok) return tgs_err("model: empty spec");
    if (strcmp(tok, "unet-ref") == 0) tgs_model_defaults(o, TGS_ARCH_UNET_REF);
    else if (strcmp(tok, "resunet") == 0) tgs_model_defaults(o, TGS_ARCH_RESUNET);
    else if (strcmp(tok, "swinunet") == 0) tgs_model_defaults(o, TGS_ARCH_SWINUNET);
    else return tgs_err("model: unknown architecture '%s' (unet-ref, resunet, swinunet)", tok);
    int nw = -1, nb = -1, nd = -1, nh = -1, swin_key = 0, tokens_key = 0;
    while ((tok = strtok_r(NULL, " ", &save))) {
        char *eq = strchr(tok, '=');
        if (!eq) return tgs_err("model: '%s' is not key=value", tok);
        *eq = 0;
        const char *k = tok, *v = eq + 1;
        char *end;
        if (strcmp(k, "widths") == 0) {
            if ((nw = parse_ints(v, o->widths, TGS_MODEL_MAX_LEVELS)) < 2)
                return tgs_err("model: widths '%s': want 2 to %d positive integers", v, TGS_MODEL_MAX_LEVELS);
        } else if (strcmp(k, "blocks") == 0) {
            if ((nb = parse_ints(v, o->blocks, TGS_MODEL_MAX_LEVELS)) < 2)
                return tgs_err("model: blocks '%s': want 2 to %d positive integers", v, TGS_MODEL_MAX_LEVELS);
        } else if (strcmp(k, "in") == 0) {
            long x = strtol(v, &end, 10);
            if (*end || x < 1 || x > 64) return tgs_err("model: in '%s': want 1 to 64 channels", v);
            o->in_ch = (int)x;
        } else if (strcmp(k, "dropout") == 0) {
            double x = strtod(v, &end);
            if (*end || end == v || !(x >= 0 && x < 1)) return tgs_err("model: dropout '%s': want 0 <= p < 1", v);
            o->dropout = (float)x;
        } else if (strcmp(k, "scse") == 0) {
            long x = strtol(v, &end, 10);
            if (*end || end == v || x < 0 || x > 256) return tgs_err("model: scse '%s': want a ratio 0 to 256", v);
            o->scse = (int)x;
        } else if (strcmp(k, "hypercolumn") == 0) {
            if (strcmp(v, "0") && strcmp(v, "1")) return tgs_err("model: hypercolumn '%s': want 0 or 1", v);
            o->hypercolumn = *v == '1';
        } else if (strcmp(k, "hcw") == 0) {
            long x = strtol(v, &end, 10);
            if (*end || end == v || x < 0 || x > 4096) return tgs_err("model: hcw '%s': want 0 to 4096 channels", v);
            o->hc_width = (int)x;
        } else if (strcmp(k, "ds") == 0) {
            if (strcmp(v, "0") && strcmp(v, "1")) return tgs_err("model: ds '%s': want 0 or 1", v);
            o->deep_sup = *v == '1';
        } else if (parse_swin_key(o, k, v, &nd, &nh, &swin_key, &tokens_key) < 0) {
            return -1;
        }
    }
    if (o->arch == TGS_ARCH_SWINUNET) {
        if (saved && !tokens_key) o->conv_tokens = 0;
        return swin_check_opts(o, nw, nb, nd, nh);
    }
    if (swin_key)
        return tgs_err("model: %s takes no swinunet options (embed depths heads window mlp drop_path stem tokens)",
                       arch_name(o->arch));
    if (nw > 0) o->nlevels = nw;
    if (nb > 0 && nb != o->nlevels) return tgs_err("model: %d blocks for %d levels", nb, o->nlevels);
    if (nw > 0 && nb < 0)
        for (int i = 0; i < o->nlevels; i++) o->blocks[i] = i ? 2 : 1;
    if (o->arch == TGS_ARCH_UNET_REF && (o->dropout > 0 || o->scse || o->hypercolumn || o->hc_width || o->deep_sup))
        return tgs_err("model: unet-ref takes only widths and in");
    if (o->hc_width && !o->hypercolumn) return tgs_err("model: hcw needs hypercolumn=1");
    return 0;
}

int tgs_model_parse(struct tgs_model_opts *o, const char *spec) { return parse_spec(o, spec, 0); }
int tgs_model_parse_saved(struct tgs_model_opts *o, const char *spec) { return parse_spec(o, spec, 1); }

int tgs_model_spec_saved(const char *spec, char *buf, size_t size) {
    struct tgs_model_opts o;
    if (parse_spec(&o, spec, 1) < 0) return -1;
    tgs_model_format(&o, buf, size);
    return 0;
}

static void put_ints(char *buf, size_t size, const int *v, int n) {
    size_t len = strlen(buf);
    for (int i = 0; i < n && len < size; i++) len += snprintf(buf + len, size - len, "%s%d", i ? "," : "", v[i]);
}

/* a new architecture writes every key: its defaults may change */
static void swin_format(const struct tgs_model_opts *o, char *buf, size_t size) {
    snprintf(buf, size, "swinunet in=%d embed=%d depths=", o->in_ch, o->embed);
    put_ints(buf, size, o->depths, o->nstages);
    size_t len = strlen(buf);
    snprintf(buf + len, size - len, " heads=");
    put_ints(buf, size, o->heads, o->nstages);
    len = strlen(buf);
    snprintf(buf + len, size - len,
             " window=%d mlp=%d drop_path=%g stem=%d,%d tokens=%s dropout=%g scse=%d hypercolumn=%d hcw=%d%s", o->window,
             o->mlp, o->drop_path, o->widths[0], o->widths[1], o->conv_tokens ? "conv" : "patch", o->dropout, o->scse,
             o->hypercolumn, o->hc_width, o->deep_sup ? " ds=1" : "");
}

void tgs_model_format(const struct tgs_model_opts *o, char *buf, size_t size) {
    if (o->arch == TGS_ARCH_SWINUNET) {
        swin_format(o, buf, size);
        return;
    }
    snprintf(buf, size, "%s in=%d widths=", arch_name(o->arch), o->in_ch);
    put_ints(buf, size, o->widths, o->nlevels);
    if (o->arch != TGS_ARCH_RESUNET) return;
    size_t len = strlen(buf);
    snprintf(buf + len, size - len, " blocks=");
    put_ints(buf, size, o->blocks, o->nlevels);
    len = strlen(buf);
    snprintf(buf + len, size - len, " dropout=%g scse=%d hypercolumn=%d", o->dropout, o->scse, o->hypercolumn);
    len = strlen(buf);
    if (o->hc_width) snprintf(buf + len, size - len, " hcw=%d", o->hc_width); /* absent in older checkpoints */
    len = strlen(buf);
    if (o->deep_sup) snprintf(buf + len, size - len, " ds=1"); /* likewise */
}

int tgs_model_stride(const struct tgs_model_opts *o) { return 1 << (o->nlevels - 1); }

/* ---- unet-ref ---- */

/* torch_ref.py's block(): Sequential(conv, BN, ReLU, conv, BN, ReLU), so the
 * parameters are PREFIX.0 (conv), .1 (BN), .3 (conv), .4 (BN). */
static struct tgs_tensor *ref_block(struct tgs_graph *g, struct tgs_tensor *x, const char *prefix, int cout) {
    char nm[128];
    snprintf(nm, sizeof nm, "%s.0", prefix);
    x = tgs_layer_conv(g, x, nm, cout, 3, 1, 1, 0);
    snprintf(nm, sizeof nm, "%s.1", prefix);
    x = tgs_layer_bn(g, x, nm, 1);
    snprintf(nm, sizeof nm, "%s.3", prefix);
    x = tgs_layer_conv(g, x, nm, cout, 3, 1, 1, 0);
    snprintf(nm, sizeof nm, "%s.4", prefix);
    return tgs_layer_bn(g, x, nm, 1);
}

static int build_unet_ref(struct tgs_graph *g, const struct tgs_model_opts *o, struct tgs_tensor *x,
                          struct tgs_model_out *out) {
    struct tgs_tensor *skip[TGS_MODEL_MAX_LEVELS];
    char nm[64];
    for (int i = 0; i < o->nlevels; i++) {
        snprintf(nm, sizeof nm, "enc.%d", i);
        x = ref_block(g, i ? tgs_maxpool2(g, x) : x, nm, o->widths[i]);
        skip[i] = x;
    }
    struct tgs_tensor *deep = x;
    for (int j = 0, i = o->nlevels - 2; i >= 0; i--, j++) {
        snprintf(nm, sizeof nm, "dec.%d", j);
        x = ref_block(g, tgs_upcat(g, 2, (struct tgs_tensor *[]){x, skip[i]}, (int[]){1, 0}), nm, o->widths[i]);
    }
    out->seg = tgs_layer_conv(g, x, "seg", 1, 1, 1, 0, 1);
    out->cls = tgs_layer_linear(g, tgs_gap(g, deep), "cls", 1, 1);
    return 0;
}

/* ---- resunet ---- */

/* ResNet's basic block: conv3x3(stride)-BN-ReLU-conv3x3-BN, plus the input
 * (through a 1x1 conv and BN when the shape changes), then ReLU. */
static struct tgs_tensor *res_block(struct tgs_graph *g, struct tgs_tensor *x, const char *prefix, int cout,
                                    int stride) {
    char nm[128];
    struct tgs_tensor *sc = x;
    if (!x) return NULL;
    if (stride != 1 || x->ne[1] != cout) {
        snprintf(nm, sizeof nm, "%s.down.conv", prefix);
        sc = tgs_layer_conv(g, x, nm, cout, 1, stride, 0, 0);
        snprintf(nm, sizeof nm, "%s.down.bn", prefix);
        sc = tgs_layer_bn(g, sc, nm, 0);
    }
    snprintf(nm, sizeof nm, "%s.conv1", prefix);
    struct tgs_tensor *y = tgs_layer_conv(g, x, nm, cout, 3, stride, 1, 0);
    snprintf(nm, sizeof nm, "%s.bn1", prefix);
    y = tgs_layer_bn(g, y, nm, 1);
    snprintf(nm, sizeof nm, "%s.conv2", prefix);
    y = tgs_layer_conv(g, y, nm, cout, 3, 1, 1, 0);
    snprintf(nm, sizeof nm, "%s.bn2", prefix);
    return tgs_layer_bn_add_relu(g, y, nm, sc);
}

static struct tgs_tensor *conv_bn_relu(struct tgs_graph *g, struct tgs_tensor *x, const char *prefix, int cout) {
    char nm[128];
    snprintf(nm, sizeof nm, "%s.conv", prefix);
    x = tgs_layer_conv(g, x, nm, cout, 3, 1, 1, 0);
    snprintf(nm, sizeof nm, "%s.bn", prefix);
    return tgs_layer_bn(g, x, nm, 1);
}

static int resunet_encoder(struct tgs_graph *g, const struct tgs_model_opts *o, struct tgs_tensor *x,
                           struct tgs_model_enc *enc) {
    char nm[64];
    x = conv_bn_relu(g, x, "stem", o->widths[0]);
    for (int i = 0; i < o->nlevels; i++) {
        for (int b = 0; b < o->blocks[i]; b++) {
            snprintf(nm, sizeof nm, "enc.%d.%d", i, b);
            x = res_block(g, x, nm, o->widths[i], i > 0 && b == 0 ? 2 : 1);
        }
        enc->skip[i] = x;
    }
    enc->nlevels = o->nlevels;
    return 0;
}

/* ---- swinunet ----
 * Tokens are (B,H,W,C), channels last, as in the Swin reference code
 * (microsoft/Swin-Transformer, models/swin_transformer.py); its parameter
 * names, but q, k, v as three linears (the engine has no slicing op). */

/* The window side and shift of block b of a stage of side h x w: Swin
 * takes one unshifted window of the whole stage once it is no larger than
 * the window. */
static void swin_window(const struct tgs_model_opts *o, int h, int w, int b, int *ws, int *shift) {
    int side = h < w ? h : w;
    *ws = side <= o->window ? side : o->window;
    *shift = side <= o->window || b % 2 == 0 ? 0 : o->window / 2;
}

/* Every stage's windows tile it: -1 with a message naming the sizes. */
static int swin_check_size(const struct tgs_model_opts *o, int H, int W) {
    for (int i = 0; i < o->nstages; i++) {
        int h = H / 4 >> i, w = W / 4 >> i, ws, shift;
        swin_window(o, h, w, 0, &ws, &shift);
        if (h % ws || w % ws)
            return tgs_err("swinunet stage %d is %dx%d (input %dx%d / %d), which windows of %d do not tile: "
                           "give an input whose side / %d is a multiple of %d (112 for window 7 and 3 stages), "
                           "or another window",
                           i, h, w, H, W, 4 << i, ws, 4 << i, ws);
    }
    return 0;
}

/* The stem (stride 1 and 2 levels), then patch embedding and the stages;
 * each stage's tokens, LN-ed, are a level (as NCHW). The stochastic depth
 * rises linearly from 0 at the first block to drop_path at the last. The
 * embedding is Swin's 4x4 stride-4 conv of the pixels, or (tokens=conv) a
 * 3x3 stride-2 conv of the stem's stride-2 level: (N,embed,H/4,W/4) both. */
static int swin_encoder(struct tgs_graph *g, const struct tgs_model_opts *o, struct tgs_tensor *x,
                        struct tgs_model_enc *enc) {
    char nm[96];
    enc->skip[0] = conv_bn_relu(g, x, "stem", o->widths[0]);
    enc->skip[1] = res_block(g, enc->skip[0], "stem2", o->widths[1], 2);
    struct tgs_tensor *t = o->conv_tokens ? tgs_layer_conv(g, enc->skip[1], "patch.proj", o->embed, 3, 2, 1, 1)
                                          : tgs_layer_conv(g, x, "patch.proj", o->embed, 4, 4, 0, 1);
    t = tgs_layer_ln(g, tgs_permute(g, t, (int32_t[]){0, 2, 3, 1}), "patch.norm"); /* (N,H/4,W/4,embed) */
    int total = 0, k = 0;
    for (int i = 0; i < o->nstages; i++) total += o->depths[i];
    for (int i = 0; i < o->nstages; i++) {
        if (i) {
            snprintf(nm, sizeof nm, "stages.%d.merge", i);
            t = tgs_layer_patch_merge(g, t, nm);
        }
        for (int b = 0; b < o->depths[i]; b++, k++) {
            snprintf(nm, sizeof nm, "stages.%d.blocks.%d", i, b);
            int ws, shift;
            swin_window(o, t ? t->ne[1] : 0, t ? t->ne[2] : 0, b, &ws, &shift);
            t = tgs_layer_swin_block(g, t, nm, o->heads[i], ws, shift, o->window, o->mlp,
                                     total > 1 ? o->drop_path * k / (total - 1) : 0);
        }
        snprintf(nm, sizeof nm, "stages.%d.norm", i);
        enc->skip[2 + i] = tgs_permute(g, tgs_layer_ln(g, t, nm), (int32_t[]){0, 3, 1, 2});
    }
    enc->nlevels = o->nlevels;
    return 0;
}

/* The U-Net decoder with its heads, on an encoder's levels: skip[i] has
 * widths[i] channels at stride 2^i, i < o->nlevels; the deepest feeds the
 * salt-presence head. Shared by every encoder. */
static int unet_decoder(struct tgs_graph *g, const struct tgs_model_opts *o, struct tgs_tensor *const *skip,
                        const int *widths, struct tgs_model_out *out) {
    char nm[64];
    struct tgs_tensor *x = skip[o->nlevels - 1];
    /* Dropout point 1: the deepest features, which both heads read. */
    struct tgs_tensor *deep = o->dropout > 0 ? tgs_dropout2d(g, x, o->dropout) : x;
    struct tgs_tensor *cls = tgs_gap(g, deep);
    if (o->dropout > 0) cls = tgs_dropout(g, cls, o->dropout);
    out->cls = tgs_layer_linear(g, cls, "cls", 1, 1);

    struct tgs_tensor *dec[TGS_MODEL_MAX_LEVELS];
    int ndec = 0;
    x = deep;
    for (int j = 0, i = o->nlevels - 2; i >= 0; i--, j++) {
        x = tgs_upcat(g, 2, (struct tgs_tensor *[]){x, skip[i]}, (int[]){1, 0});
        snprintf(nm, sizeof nm, "dec.%d.a", j);
        x = conv_bn_relu(g, x, nm, widths[i]);
        snprintf(nm, sizeof nm, "dec.%d.b", j);
        x = conv_bn_relu(g, x, nm, widths[i]);
        if (o->scse) {
            snprintf(nm, sizeof nm, "dec.%d.scse", j);
            x = tgs_layer_scse(g, x, nm, o->scse);
        }
        dec[ndec++] = x;
        /* Deep supervision: this level's own guess at the mask, so the loss
         * reaches the coarse levels directly rather than only through the
         * head (the 1st-place TGS entry's decoder did this). */
        if (o->deep_sup && i > 0) {
            snprintf(nm, sizeof nm, "aux.%d", j);
            struct tgs_tensor *a = tgs_layer_conv(g, x, nm, 1, 1, 1, 0, 1);
            for (int s = 0; s < i; s++) a = tgs_upsample2(g, a);
            out->aux[out->naux++] = a;
        }
    }
    /* The hypercolumn: every decoder level brought up to full resolution
     * (bilinear x2 steps) and stacked, so the head sees coarse context and
     * fine detail at once (Hariharan et al.; used by the top TGS entries).
     * With hcw, each level is first cut to hcw channels by a 1x1 conv at
     * its own resolution: the full-resolution stack, and the 3x3 head conv
     * on it, are then sum(widths)/(levels*hcw) times cheaper (the head was
     * 40% of the convolution FLOPs of widths 12..192 without it). */
    if (o->hypercolumn) {
        if (o->hc_width)
            for (int d = 0; d < ndec; d++) {
                snprintf(nm, sizeof nm, "hc.%d.conv", d);
                dec[d] = tgs_layer_conv(g, dec[d], nm, o->hc_width, 1, 1, 0, 0);
                snprintf(nm, sizeof nm, "hc.%d.bn", d);
                dec[d] = tgs_layer_bn(g, dec[d], nm, 1);
            }
        /* finest first: dec[ndec - 1 - i] comes up i x2 steps */
        struct tgs_tensor *src[TGS_MODEL_MAX_LEVELS];
        int steps[TGS_MODEL_MAX_LEVELS];
        for (int i = 0; i < ndec; i++) src[i] = dec[ndec - 1 - i], steps[i] = i;
        x = ndec > 1 ? tgs_upcat(g, ndec, src, steps) : dec[0];
    }
    /* Dropout point 2: before the segmentation head. */
    if (o->dropout > 0) x = tgs_dropout2d(g, x, o->dropout / 2);
    x = conv_bn_relu(g, x, "head", widths[0]);
    out->seg = tgs_layer_conv(g, x, "seg", 1, 1, 1, 0, 1);
    return 0;
}

static int build_resunet(struct tgs_graph *g, const struct tgs_model_opts *o, struct tgs_tensor *x,
                         struct tgs_model_out *out) {
    struct tgs_model_enc enc;
    resunet_encoder(g, o, x, &enc);
    return unet_decoder(g, o, enc.skip, o->widths, out);
}

static int check_input(struct tgs_graph *g, const struct tgs_model_opts *o, const struct tgs_tensor *x) {
    if (!x) return tgs_err("model: no input (%s)", tgs_graph_error(g) ? tgs_graph_error(g) : "?");
    int s = tgs_model_stride(o);
    if (x->ndim != 4 || x->ne[1] != o->in_ch || x->ne[2] % s || x->ne[3] % s)
        return tgs_err("model: input must be (N,%d,H,W) with H and W multiples of %d", o->in_ch, s);
    if (o->arch == TGS_ARCH_SWINUNET) return swin_check_size(o, x->ne[2], x->ne[3]);
    return 0;
}

static int build_swinunet(struct tgs_graph *g, const struct tgs_model_opts *o, struct tgs_tensor *x,
                          struct tgs_model_out *out) {
    struct tgs_model_enc enc;
    swin_encoder(g, o, x, &enc);
    return unet_decoder(g, o, enc.skip, o->widths, out);
}

int tgs_model_build_encoder(struct tgs_graph *g, const struct tgs_model_opts *o, struct tgs_tensor *x,
                            struct tgs_model_enc *enc) {
    memset(enc, 0, sizeof *enc);
    if (check_input(g, o, x) < 0) return -1;
    if (o->arch == TGS_ARCH_UNET_REF) return tgs_err("model: %s has no encoder to pretrain", arch_name(o->arch));
    if (o->arch == TGS_ARCH_SWINUNET) swin_encoder(g, o, x, enc);
    else resunet_encoder(g, o, x, enc);
    if (!enc->skip[enc->nlevels - 1])
        return tgs_err("model: %s", tgs_graph_error(g) ? tgs_graph_error(g) : "build failed");
    return 0;
}

int tgs_model_build(struct tgs_graph *g, const struct tgs_model_opts *o, struct tgs_tensor *x,
                    struct tgs_model_out *out) {
    memset(out, 0, sizeof *out);
    if (check_input(g, o, x) < 0) return -1;
    if (o->arch == TGS_ARCH_UNET_REF) build_unet_ref(g, o, x, out);
    else if (o->arch == TGS_ARCH_SWINUNET) build_swinunet(g, o, x, out);
    else build_resunet(g, o, x, out);
    if (!out->seg || !out->cls) return tgs_err("model: %s", tgs_graph_error(g) ? tgs_graph_error(g) : "build failed");
    return 0;
}
