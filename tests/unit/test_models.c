/* The models and the graph planner as a whole: spec strings, memory reuse
 * that changes no result, determinism, Monte Carlo dropout, and a tiny
 * resunet that learns a fixed batch. (Each op is checked on its own in
 * test_op_*.c; unet-ref against PyTorch in test_unetref.c.) */
#include "check.h"
#include "err.h"
#include "nn/model.h"
#include "nn/nn.h"
#include "nn/optim.h"
#include "train.h"
#include "rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TINY "resunet in=3 widths=4,8,16 blocks=1,1,1 dropout=0.2 scse=2 hypercolumn=1"
#define TINY_HCW TINY " hcw=3" /* the hypercolumn cut to 3 channels a level */
/* at 16 x 16: stage 0 (side 4) shifts its second block, stage 1 (side 2)
 * is one window; drop path and dropout on */
#define TINY_SWIN "swinunet in=3 embed=8 depths=2,2 heads=2,2 window=2 mlp=2 drop_path=0.2 stem=4,8 dropout=0.2 scse=2 hcw=3"
#define TINY_SWIN_PATCH TINY_SWIN " tokens=patch"
#define SWIN_DEFAULT                                                                                                   \
    "swinunet in=1 embed=48 depths=2,2,2 heads=3,6,12 window=7 mlp=4 drop_path=0.1 stem=12,24 tokens=conv dropout=0 "  \
    "scse=8 hypercolumn=1 hcw=8"

struct net {
    struct tgs_params *ps;
    struct tgs_graph *g;
    struct tgs_tensor *x, *y, *c, *loss;
    struct tgs_model_out out;
};

/* or-ed into net_make's mode: plan to rerun from the first dropout */
#define REPLAY 8

static int net_make(struct net *n, const char *spec, int mode, int batch, int size)
{
    struct tgs_model_opts mo;
    memset(n, 0, sizeof *n);
    if (tgs_model_parse(&mo, spec) < 0) return -1;
    n->ps = tgs_params_new(tgs_backend_cpu());
    n->g = tgs_graph_new(n->ps);
    n->x = tgs_input(n->g, "x", 4, (int32_t[]){batch, mo.in_ch, size, size});
    if (tgs_model_build(n->g, &mo, n->x, &n->out) < 0) return -1;
    if ((mode & 1) == TGS_PLAN_TRAIN) {
        n->y = tgs_input(n->g, "y", 4, (int32_t[]){batch, 1, size, size});
        n->c = tgs_input(n->g, "c", 2, (int32_t[]){batch, 1});
        n->loss = tgs_add(n->g, tgs_loss(n->g, TGS_OP_LOSS_BCE, n->out.seg, n->y, 1),
                          tgs_loss(n->g, TGS_OP_LOSS_BCE, n->out.cls, n->c, 0.5f));
        if (!n->loss) return tgs_err("%s", tgs_graph_error(n->g));
    }
    if (tgs_params_alloc(n->ps, 7) < 0) return -1;
    if ((mode & REPLAY) && tgs_graph_replay_from(n->g, tgs_graph_first_random(n->g)) < 0) return -1;
    if (tgs_graph_plan(n->g, mode & ~REPLAY) < 0) return -1;
    tgs_rng r;
    tgs_rng_seed(&r, 99, 0);
    int64_t most = n->x->size;
    float *v = malloc(most * sizeof(float));
    for (int64_t i = 0; i < n->x->size; i++) v[i] = tgs_rng_normal(&r);
    tgs_tensor_set(n->g, n->x, v);
    if (n->y) {
        /* a learnable target: salt where the first channel is bright, and
         * presence where any pixel is salt */
        for (int b = 0; b < batch; b++)
            for (int i = 0; i < size * size; i++) v[b * size * size + i] = v[(int64_t)b * mo.in_ch * size * size + i] > 0.3f;
        tgs_tensor_set(n->g, n->y, v);
        float cv[64];
        for (int b = 0; b < batch; b++) cv[b] = 1;
        tgs_tensor_set(n->g, n->c, cv);
    }
    free(v);
    return 0;
}

static void net_free(struct net *n)
{
    tgs_graph_free(n->g);
    tgs_params_free(n->ps);
}

/* One training step's output and all gradients, concatenated. */
static float *step_bytes(struct net *n, int64_t *len)
{
    tgs_params_zero_grad(n->ps);
    tgs_graph_exec(n->g)->step = 1;
    if (tgs_graph_forward(n->g) < 0 || tgs_graph_backward(n->g, n->loss) < 0) return NULL;
    int64_t total = n->out.seg->size + tgs_params_numel(n->ps, TGS_TENSOR_PARAM), k = 0;
    float *v = malloc(total * sizeof(float));
    tgs_tensor_get(n->g, n->out.seg, v);
    k = n->out.seg->size;
    for (int i = 0; i < tgs_params_count(n->ps); i++) {
        struct tgs_tensor *t = tgs_params_at(n->ps, i);
        if (!(t->flags & TGS_TENSOR_PARAM)) continue;
        memcpy(v + k, t->grad, t->size * sizeof(float));
        k += t->size;
    }
    *len = total;
    return v;
}

static void test_specs(void)
{
    struct tgs_model_opts o, p;
    char buf[512];
    CHECK(tgs_model_parse(&o, TINY) == 0, "spec: parse resunet");
    tgs_model_format(&o, buf, sizeof buf);
    CHECK(tgs_model_parse(&p, buf) == 0 && memcmp(&o, &p, sizeof o) == 0, "spec: format then parse is the same");
    CHECK(tgs_model_parse(&o, "unet-ref") == 0 && o.nlevels == 5 && o.widths[4] == 256, "spec: unet-ref defaults");
    CHECK(tgs_model_parse(&o, "vgg") < 0 && strstr(tgs_errmsg(), "vgg"), "spec: unknown architecture refused");
    CHECK(tgs_model_parse(&o, "resunet widths=4,x") < 0, "spec: bad widths refused");
    CHECK(tgs_model_parse(&o, "resunet widths=4,8 blocks=1,1,1") < 0, "spec: blocks of another length refused");
    CHECK(tgs_model_parse(&o, "resunet dropout=1.5") < 0, "spec: dropout out of range refused");
    CHECK(tgs_model_parse(&o, "unet-ref dropout=0.1") < 0, "spec: unet-ref refuses resunet options");
    CHECK(tgs_model_parse(&o, TINY_HCW) == 0 && o.hc_width == 3, "spec: hcw parsed");
    tgs_model_format(&o, buf, sizeof buf);
    CHECK(strstr(buf, " hcw=3") && tgs_model_parse(&p, buf) == 0 && memcmp(&o, &p, sizeof o) == 0,
          "spec: hcw formatted and parsed back");
    tgs_model_parse(&o, TINY);
    tgs_model_format(&o, buf, sizeof buf);
    CHECK(!strstr(buf, "hcw"), "spec: no hcw written when it is off (older checkpoints' specs stay as they were)");
    CHECK(tgs_model_parse(&o, "resunet hypercolumn=0 hcw=4") < 0 && strstr(tgs_errmsg(), "hcw needs hypercolumn"),
          "spec: hcw without the hypercolumn refused");
    CHECK(tgs_model_parse(&o, "resunet hcw=-1") < 0, "spec: negative hcw refused");
    CHECK(tgs_model_parse(&o, "unet-ref hcw=4") < 0 && strstr(tgs_errmsg(), "unet-ref takes only"),
          "spec: unet-ref refuses hcw as a resunet option");
    struct net n;
    CHECK(net_make(&n, "resunet in=3 widths=4,8,16", TGS_PLAN_TRAIN, 1, 10) < 0 && strstr(tgs_errmsg(), "multiples"),
          "build: input not a multiple of the model stride refused");
    net_free(&n);
}

/* swinunet's spec: defaults, round trips, refusals; older specs' bytes */
static void test_swin_specs(void)
{
    struct tgs_model_opts o, p;
    char buf[512];
    CHECK(tgs_model_parse(&o, "resunet") == 0, "spec: parse resunet defaults");
    tgs_model_format(&o, buf, sizeof buf);
    CHECKF(strcmp(buf, "resunet in=1 " TGS_MODEL_DEFAULT_MEANS) == 0,
           "spec: resunet's defaults are what --help says (TGS_MODEL_DEFAULT_MEANS)", "%s", buf);
    CHECK(tgs_model_parse(&o, "swinunet") == 0, "swinunet spec: defaults parse");
    tgs_model_format(&o, buf, sizeof buf);
    CHECKF(strcmp(buf, SWIN_DEFAULT) == 0, "swinunet spec: the defaults formatted", "%s", buf);
    CHECKF(o.nlevels == 5 && o.widths[0] == 12 && o.widths[1] == 24 && o.widths[2] == 48 && o.widths[4] == 192 &&
               tgs_model_stride(&o) == 16,
           "swinunet spec: levels 12,24,48,96,192 at stride 16", "%d levels, stride %d", o.nlevels,
           tgs_model_stride(&o));
    CHECK(tgs_model_parse(&p, buf) == 0 && memcmp(&o, &p, sizeof o) == 0, "swinunet spec: format then parse is the same");
    CHECK(o.conv_tokens, "swinunet spec: tokens=conv by default");
    /* checkpoints from before tokens= have none: patch tokens, as then;
     * the same spec given today means today's default */
    static const char old_spec[] = "swinunet in=1 embed=48 depths=2,2,2 heads=3,6,12 window=7 mlp=4 drop_path=0.1 "
                                   "stem=12,24 dropout=0 scse=8 hypercolumn=1 hcw=8";
    struct tgs_model_opts q = o;
    q.conv_tokens = 0;
    CHECK(tgs_model_parse_saved(&p, old_spec) == 0 && memcmp(&q, &p, sizeof q) == 0,
          "swinunet spec: a saved spec without tokens= (older checkpoints) is patch tokens");
    CHECK(tgs_model_parse(&p, old_spec) == 0 && memcmp(&o, &p, sizeof o) == 0,
          "swinunet spec: the same spec given now is today's default, conv tokens");
    CHECK(tgs_model_parse_saved(&p, SWIN_DEFAULT) == 0 && memcmp(&o, &p, sizeof o) == 0,
          "swinunet spec: a saved spec with tokens= means what it says");
    CHECK(tgs_model_parse_saved(&p, "resunet") == 0 && tgs_model_parse(&q, "resunet") == 0 &&
              memcmp(&q, &p, sizeof q) == 0,
          "spec: a saved resunet spec parses as today's");
    static const char *const specs[] = {
        TINY_SWIN,
        "swinunet embed=32 depths=1,3,2,1 heads=2,4,8,8 window=4 mlp=3 drop_path=0.25 stem=8,16 dropout=0.1 scse=0 "
        "hypercolumn=0 hcw=0 ds=1 in=2",
        "swinunet depths=4 heads=4",
        "swinunet tokens=conv embed=24",
        "swinunet tokens=patch embed=24",
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        char name[300];
        snprintf(name, sizeof name, "swinunet spec: %s round trips", specs[i]);
        int ok = tgs_model_parse(&o, specs[i]) == 0;
        tgs_model_format(&o, buf, sizeof buf);
        CHECKF(ok && tgs_model_parse(&p, buf) == 0 && memcmp(&o, &p, sizeof o) == 0, name, "%s", buf);
    }
    static const char *const bad[][2] = {
        {"swinunet depths=2,2", "depths for 3 heads"},
        {"swinunet depths=2,2 heads=3,6,12", "depths for 3 heads"},
        {"swinunet heads=5,6,12", "do not split into 5 heads"},
        {"swinunet widths=8,16,32", "not widths"},
        {"swinunet blocks=1,1,1,1,1", "not widths"},
        {"swinunet window=0", "window"},
        {"swinunet window=33", "window"},
        {"swinunet mlp=0", "mlp"},
        {"swinunet drop_path=1", "drop_path"},
        {"swinunet drop_path=x", "drop_path"},
        {"swinunet stem=12", "stem"},
        {"swinunet stem=12,24,48", "stem"},
        {"swinunet embed=0", "embed"},
        {"swinunet depths=1,1,1,1,1,1", "depths"},
        {"swinunet embed=1024 depths=1,1,1,1,1 heads=1,1,1,1,1", "channels"},
        {"swinunet hypercolumn=0", "hcw needs hypercolumn"},
        {"swinunet colour=1", "unknown option 'colour'"},
        {"swinunet tokens=pixels", "tokens 'pixels': want patch or conv"},
        {"resunet embed=32", "no swinunet options"},
        {"resunet tokens=conv", "no swinunet options"},
        {"unet-ref window=7", "no swinunet options"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[200];
        snprintf(name, sizeof name, "swinunet spec: '%s' refused", bad[i][0]);
        CHECKF(tgs_model_parse(&o, bad[i][0]) < 0 && strstr(tgs_errmsg(), bad[i][1]), name, "%s",
               tgs_model_parse(&o, bad[i][0]) < 0 ? tgs_errmsg() : "accepted");
    }
}

/* The default swinunet at 112 x 112 (tgs-train's padded tiles): output
 * shapes; other sizes refused with a message; the encoder alone has the
 * full model's encoder parameters, by name and shape. */
static void test_swin_build(void)
{
    struct net n;
    int ok = net_make(&n, "swinunet", TGS_PLAN_INFER, 2, 112) == 0;
    CHECKF(ok, "swinunet 112: builds and plans", "%s", tgs_errmsg());
    if (ok) {
        CHECKF(n.out.seg->ndim == 4 && n.out.seg->ne[0] == 2 && n.out.seg->ne[1] == 1 && n.out.seg->ne[2] == 112 &&
                   n.out.seg->ne[3] == 112 && n.out.cls->ndim == 2 && n.out.cls->ne[0] == 2 && n.out.cls->ne[1] == 1,
               "swinunet 112: seg (2,1,112,112), cls (2,1)", "seg ndim %d", n.out.seg->ndim);
        CHECK(tgs_graph_forward(n.g) == 0, "swinunet 112: forward runs");
        float cls[2];
        tgs_tensor_get(n.g, n.out.cls, cls);
        CHECK(isfinite(cls[0]) && isfinite(cls[1]), "swinunet 112: finite outputs");
    }
    struct net full = n;
    ok = net_make(&n, "swinunet", TGS_PLAN_INFER, 1, 96) < 0 && strstr(tgs_errmsg(), "windows of 7 do not tile");
    CHECKF(ok, "swinunet: 96 x 96 (stage 0 of 24 x 24) refused, naming the window", "%s", tgs_errmsg());
    net_free(&n);
    ok = net_make(&n, "swinunet", TGS_PLAN_INFER, 1, 104) < 0 && strstr(tgs_errmsg(), "multiples of 16");
    CHECKF(ok, "swinunet: 104 x 104 refused (stride 16)", "%s", tgs_errmsg());
    net_free(&n);
    ok = net_make(&n, "swinunet window=8", TGS_PLAN_INFER, 1, 128) == 0;
    CHECKF(ok, "swinunet window=8: 128 x 128 builds (32, 16, 8)", "%s", tgs_errmsg());
    net_free(&n);

    struct tgs_model_opts mo;
    tgs_model_parse(&mo, "swinunet");
    /* as tgs-train: the parameters declared on a stride-sized input (each
     * stage one window smaller than 7), then the net at 112 */
    struct tgs_params *ps = tgs_params_new(tgs_backend_cpu());
    ok = tgs_model_params(ps, &mo, 1) == 0;
    struct tgs_graph *g = tgs_graph_new(ps);
    struct tgs_model_out mout;
    ok = ok && tgs_model_build(g, &mo, tgs_input(g, "x", 4, (int32_t[]){2, 1, 112, 112}), &mout) == 0 &&
         tgs_graph_plan(g, TGS_PLAN_INFER) == 0 && tgs_graph_forward(g) == 0;
    CHECKF(ok, "swinunet: parameters declared at 16 x 16 serve the net at 112 x 112", "%s", tgs_errmsg());
    tgs_graph_free(g);
    tgs_params_free(ps);
    ps = tgs_params_new(tgs_backend_cpu());
    g = tgs_graph_new(ps);
    struct tgs_model_enc enc;
    struct tgs_tensor *x = tgs_input(g, "x", 4, (int32_t[]){2, 1, 112, 112});
    ok = tgs_model_build_encoder(g, &mo, x, &enc) == 0;
    CHECKF(ok, "swinunet encoder alone: builds", "%s", tgs_errmsg());
    const struct tgs_tensor *deep = ok ? enc.skip[enc.nlevels - 1] : NULL;
    CHECK(deep && enc.nlevels == 5 && deep->ne[0] == 2 && deep->ne[1] == 192 && deep->ne[2] == 7 && deep->ne[3] == 7,
          "swinunet encoder alone: deepest level (2,192,7,7), NCHW at stride 16");
    int same = ok && full.ps, nenc = ok ? tgs_params_count(ps) : 0, nfull_enc = 0;
    for (int i = 0; same && i < nenc; i++) {
        struct tgs_tensor *t = tgs_params_at(ps, i), *u = tgs_params_find(full.ps, t->name);
        if (!u || u->ndim != t->ndim || memcmp(u->ne, t->ne, sizeof t->ne)) same = 0;
    }
    for (int i = 0; full.ps && i < tgs_params_count(full.ps); i++) {
        const char *nm = tgs_params_at(full.ps, i)->name;
        nfull_enc += !strncmp(nm, "stem", 4) || !strncmp(nm, "patch.", 6) || !strncmp(nm, "stages.", 7);
    }
    CHECKF(same && nenc == nfull_enc && nenc > 0,
           "swinunet encoder alone: the full model's encoder tensors, by name and shape", "%d tensors, full model's %d",
           nenc, nfull_enc);
    tgs_graph_free(g);
    tgs_params_free(ps);
    if (full.ps) net_free(&full);
}

static void test_reuse_and_determinism(const char *spec)
{
    struct net a, b, c;
    int ok = net_make(&a, spec, TGS_PLAN_TRAIN, 2, 16) == 0;
    ok = ok && net_make(&b, spec, TGS_PLAN_TRAIN | TGS_PLAN_NO_REUSE, 2, 16) == 0;
    ok = ok && net_make(&c, spec, TGS_PLAN_TRAIN, 2, 16) == 0;
    CHECKF(ok, "tiny resunet builds and plans", "%s: %s", spec, tgs_errmsg());
    if (!ok) return;
    int64_t la, lb, lc;
    float *va = step_bytes(&a, &la), *vb = step_bytes(&b, &lb), *vc = step_bytes(&c, &lc);
    CHECK(va && vb && la == lb && memcmp(va, vb, la * sizeof(float)) == 0,
          "memory reuse changes no output or gradient (bytewise)");
    CHECK(va && vc && la == lc && memcmp(va, vc, la * sizeof(float)) == 0, "the same seed gives the same bytes");
    int64_t ma[4], mb[4];
    tgs_graph_memory(a.g, ma);
    tgs_graph_memory(b.g, mb);
    CHECKF(ma[1] < mb[1], "gradient buffers are reused", "%lld vs %lld bytes", (long long)ma[1], (long long)mb[1]);
    free(va), free(vb), free(vc);
    net_free(&a), net_free(&b), net_free(&c);
}

static void test_mc_dropout(void)
{
    struct net n;
    if (net_make(&n, TINY, TGS_PLAN_INFER, 2, 16) < 0) {
        CHECKF(0, "mc dropout graph", "%s", tgs_errmsg());
        return;
    }
    int64_t sz = n.out.seg->size;
    float *o[4];
    struct tgs_exec *x = tgs_graph_exec(n.g);
    for (int k = 0; k < 4; k++) {
        o[k] = malloc(sz * sizeof(float));
        x->mc_dropout = k >= 2;
        x->step = 1 + (k & 1);
        tgs_graph_forward(n.g);
        tgs_tensor_get(n.g, n.out.seg, o[k]);
    }
    CHECK(memcmp(o[0], o[1], sz * 4) == 0, "eval without mc dropout: deterministic across steps");
    CHECK(memcmp(o[2], o[3], sz * 4) != 0, "mc dropout: passes at different steps differ");
    CHECK(memcmp(o[0], o[2], sz * 4) != 0, "mc dropout: differs from the plain eval pass");
    x->mc_dropout = 1, x->step = 2;
    tgs_graph_forward(n.g);
    tgs_tensor_get(n.g, n.out.seg, o[0]);
    CHECK(memcmp(o[0], o[3], sz * 4) == 0, "mc dropout: the same step repeats exactly");
    for (int k = 0; k < 4; k++) free(o[k]);
    net_free(&n);
}

/* Monte Carlo passes rerun from the first dropout (tgs-mcdrop): the same
 * bytes as whole passes, on a plan that reuses memory, for every pass */
static void test_mc_replay(const char *spec)
{
    struct net a, b;
    int ok = net_make(&a, spec, TGS_PLAN_INFER | REPLAY, 2, 16) == 0 && net_make(&b, spec, TGS_PLAN_INFER, 2, 16) == 0;
    CHECKF(ok, "replay: builds and plans", "%s: %s", spec, tgs_errmsg());
    if (!ok) return;
    int k = tgs_graph_first_random(a.g), nn = tgs_graph_nnodes(a.g);
    CHECKF(k > 0 && k < nn && tgs_graph_node(a.g, k)->op == TGS_OP_DROPOUT2D, "replay: the first dropout is inside the graph",
           "%s: node %d of %d", spec, k, nn);
    int64_t sz = a.out.seg->size;
    float *va = malloc(sz * sizeof(float)), *vb = malloc(sz * sizeof(float)), *c = malloc(2 * sizeof(float)),
          *d = malloc(2 * sizeof(float));
    int same = 1, differ = 0;
    float first = 0;
    for (int pass = 0; pass < 3; pass++) {
        struct tgs_exec *xa = tgs_graph_exec(a.g), *xb = tgs_graph_exec(b.g);
        xa->mc_dropout = xb->mc_dropout = 1;
        xa->step = xb->step = 11 + (uint64_t)pass;
        ok = tgs_graph_forward_from(a.g, pass ? k : 0) == 0 && tgs_graph_forward(b.g) == 0;
        tgs_tensor_get(a.g, a.out.seg, va), tgs_tensor_get(b.g, b.out.seg, vb);
        tgs_tensor_get(a.g, a.out.cls, c), tgs_tensor_get(b.g, b.out.cls, d);
        same &= ok && memcmp(va, vb, sz * sizeof(float)) == 0 && memcmp(c, d, 2 * sizeof(float)) == 0;
        if (pass == 0) first = va[0];
        else differ |= va[0] != first;
    }
    CHECKF(same, "replay: passes rerun from the first dropout give the bytes of whole passes", "%s", spec);
    CHECK(differ, "replay: ... and the passes differ (the dropout reran)");
    CHECK(tgs_graph_forward_from(b.g, k) < 0 && strstr(tgs_errmsg(), "planned to rerun from"),
          "replay: refused on a graph not planned for it");
    CHECK(tgs_graph_forward_from(a.g, k + 1) < 0, "replay: refused from a node after the planned one");
    free(va), free(vb), free(c), free(d);
    net_free(&a), net_free(&b);
}

/* tgs_net_build's modes: only a Monte Carlo net is planned to rerun from
 * its first dropout, and only it pays for the features kept for that */
static void test_net_modes(const char *spec)
{
    struct tgs_model_opts o;
    struct tgs_params *ps = tgs_params_new(tgs_backend_cpu());
    tgs_net mc, plain;
    int ok = ps && tgs_model_parse(&o, spec) == 0 && tgs_model_params(ps, &o, 5) == 0 &&
             tgs_net_build(&mc, ps, &o, TGS_NET_INFER_MC, 2, 3, 16, NULL) == 0 &&
             tgs_net_build(&plain, ps, &o, TGS_NET_INFER, 2, 3, 16, NULL) == 0;
    CHECKF(ok, "net modes: build", "%s: %s", spec, tgs_errmsg());
    if (!ok) {
        tgs_params_free(ps);
        return;
    }
    int k = tgs_graph_first_random(mc.g);
    CHECKF(mc.replay == k && k > 0 && plain.replay == 0, "net modes: the Monte Carlo net reruns from its first dropout",
           "%s: replay %d and %d, first dropout %d", spec, mc.replay, plain.replay, k);
    CHECK(tgs_graph_forward_from(plain.g, k) < 0, "net modes: ... and the plain net refuses to");
    int64_t bm[4], bp[4];
    tgs_graph_memory(mc.g, bm), tgs_graph_memory(plain.g, bp);
    CHECKF(bm[0] > bp[0], "net modes: the kept features cost the Monte Carlo net memory, the plain net none",
           "%s: %lld against %lld bytes", spec, (long long)bm[0], (long long)bp[0]);
    tgs_net_free(&mc), tgs_net_free(&plain);
    tgs_params_free(ps);
}

static void test_learns(const char *spec)
{
    struct net n;
    if (net_make(&n, spec, TGS_PLAN_TRAIN, 4, 16) < 0) {
        CHECKF(0, "learning graph", "%s", tgs_errmsg());
        return;
    }
    struct tgs_optim_opts oo;
    tgs_optim_defaults(&oo, TGS_OPTIM_ADAM);
    tgs_optim_state opt;
    tgs_optim_state_init(&opt, &oo, n.ps);
    float first = 0, last = 0;
    for (int s = 1; s <= 40; s++) {
        tgs_graph_exec(n.g)->step = s;
        tgs_params_zero_grad(n.ps);
        tgs_graph_forward(n.g);
        tgs_graph_backward(n.g, n.loss);
        tgs_tensor_get(n.g, n.loss, &last);
        if (s == 1) first = last;
        tgs_optim_state_step(&opt, 1e-2f, s);
    }
    CHECKF(isfinite(last) && last < 0.5f * first, "tiny resunet learns a fixed batch", "%s: loss %.4f -> %.4f", spec,
           first, last);
    tgs_optim_state_free(&opt);
    net_free(&n);
}

/* Deep supervision (ds=1): the spec, the aux maps' shapes, and that the
 * loss 'deep' is the mix's map parts on the aux maps, averaged over them,
 * recomputed here from the maps themselves (BCE and Dice by their
 * formulas in lib/common/nn/cpu/loss.c); and that its gradient reaches aux.*. */
static double ref_bce(const float *x, const float *y, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += fmax(x[i], 0) - (double)x[i] * y[i] + log1p(exp(-fabs((double)x[i])));
    return s / n;
}

static double ref_dice(const float *x, const float *y, int images, int per)
{
    double s = 0;
    for (int b = 0; b < images; b++) {
        double in = 0, sp = 0, sy = 0;
        for (int i = b * per; i < (b + 1) * per; i++) {
            double p = 1 / (1 + exp(-(double)x[i]));
            in += p * y[i], sp += p, sy += y[i];
        }
        s += 1 - (2 * in + 1) / (sp + sy + 1);
    }
    return s / images;
}

static void test_deep_supervision(void)
{
    const char *spec = "resunet in=3 widths=4,8,16,32 blocks=1,1,1,1 dropout=0 scse=2 hypercolumn=1 ds=1";
    struct tgs_model_opts o, p;
    char buf[512];
    CHECK(tgs_model_parse(&o, spec) == 0 && o.deep_sup == 1, "ds: parsed");
    tgs_model_format(&o, buf, sizeof buf);
    CHECK(strstr(buf, " ds=1") && tgs_model_parse(&p, buf) == 0 && memcmp(&o, &p, sizeof o) == 0,
          "ds: formatted and parsed back");
    CHECK(tgs_model_parse(&p, "resunet ds=2") < 0 && tgs_model_parse(&p, "unet-ref ds=1") < 0,
          "ds: a value not 0 or 1, and ds on unet-ref, refused");

    enum { N = 2, S = 16 };
    struct tgs_params *ps = tgs_params_new(tgs_backend_cpu());
    float w[TGS_LOSS_NPARTS] = {0};
    w[TGS_LOSS_BCE] = 1, w[TGS_LOSS_DICE] = 0.5f, w[TGS_LOSS_DEEP] = 0.4f;
    tgs_net net;
    if (tgs_model_params(ps, &o, 5) < 0 || tgs_net_build(&net, ps, &o, TGS_NET_TRAIN, N, 3, S, w) < 0) {
        CHECKF(0, "ds: build the training net", "%s", tgs_errmsg());
        tgs_params_free(ps);
        return;
    }
    int shapes = net.out.naux == 2;
    for (int a = 0; a < net.out.naux; a++)
        shapes &= net.out.aux[a]->ndim == 4 && net.out.aux[a]->ne[0] == N && net.out.aux[a]->ne[1] == 1 &&
                  net.out.aux[a]->ne[2] == S && net.out.aux[a]->ne[3] == S;
    CHECKF(shapes, "ds: an (N,1,S,S) aux map per decoder level below full resolution", "naux %d", net.out.naux);

    static float x[N * 3 * S * S], y[N * S * S], aux[N * S * S];
    float salt[N] = {1, 1};
    tgs_rng r;
    tgs_rng_seed(&r, 11, 0);
    for (int i = 0; i < N * 3 * S * S; i++) x[i] = tgs_rng_normal(&r);
    for (int i = 0; i < N * S * S; i++) y[i] = x[i] > 0.2f;
    tgs_tensor_set(net.g, net.x, x), tgs_tensor_set(net.g, net.y, y), tgs_tensor_set(net.g, net.salt, salt);
    tgs_params_zero_grad(ps);
    tgs_graph_exec(net.g)->step = 1;
    int ok = tgs_graph_forward(net.g) == 0 && tgs_graph_backward(net.g, net.total) == 0;
    CHECKF(ok, "ds: forward and backward", "%s", tgs_errmsg());
    double want = 0;
    for (int a = 0; a < net.out.naux; a++) {
        tgs_tensor_get(net.g, net.out.aux[a], aux);
        want += ref_bce(aux, y, N * S * S) + 0.5 * ref_dice(aux, y, N, S * S);
    }
    want /= net.out.naux;
    float deep = 0, bce = 0, dice = 0, total = 0;
    tgs_tensor_get(net.g, net.part[TGS_LOSS_DEEP], &deep);
    tgs_tensor_get(net.g, net.part[TGS_LOSS_BCE], &bce);
    tgs_tensor_get(net.g, net.part[TGS_LOSS_DICE], &dice);
    tgs_tensor_get(net.g, net.total, &total);
    CHECKF(fabs(deep - want) < 1e-5 * fabs(want), "ds: deep = the mix's map parts on each aux map, averaged",
           "%.7g vs %.7g", (double)deep, want);
    double sum = (double)bce + 0.5 * dice + 0.4 * deep;
    CHECKF(fabs(total - sum) < 1e-5 * fabs(sum), "ds: total = bce + 0.5 dice + 0.4 deep", "%.7g vs %.7g", (double)total,
           sum);
    struct tgs_tensor *aw = tgs_params_find(ps, "aux.0.weight");
    double g2 = 0;
    for (int64_t i = 0; aw && i < aw->size; i++) g2 += (double)aw->grad[i] * aw->grad[i];
    CHECKF(aw && g2 > 0, "ds: the deep loss's gradient reaches aux.0", "%s, |grad|^2 %g", aw ? "found" : "no aux.0.weight",
           g2);
    tgs_net_free(&net);

    w[TGS_LOSS_DEEP] = 0;
    tgs_model_parse(&p, "resunet in=3 widths=4,8,16,32 blocks=1,1,1,1");
    struct tgs_params *ps2 = tgs_params_new(tgs_backend_cpu());
    w[TGS_LOSS_DEEP] = 0.4f;
    CHECK(tgs_model_params(ps2, &p, 5) == 0 && tgs_net_build(&net, ps2, &p, TGS_NET_TRAIN, N, 3, S, w) < 0 &&
              strstr(tgs_errmsg(), "ds=1"),
          "ds: the loss deep on a model without aux maps refused");
    tgs_params_free(ps2);
    tgs_params_free(ps);
}

static void test_unet_ref_memory(void)
{
    struct net t, i;
    int ok = net_make(&t, "unet-ref", TGS_PLAN_TRAIN, 2, 32) == 0 && net_make(&i, "unet-ref", TGS_PLAN_INFER, 2, 32) == 0;
    CHECKF(ok, "unet-ref plans", "%s", tgs_errmsg());
    if (ok) {
        int64_t mt[4], mi[4];
        tgs_graph_memory(t.g, mt);
        tgs_graph_memory(i.g, mi);
        CHECKF(mi[0] * 3 < mt[0], "inference reuses activation memory", "%lld vs %lld", (long long)mi[0],
               (long long)mt[0]);
        CHECKF(tgs_params_numel(t.ps, TGS_TENSOR_PARAM) == 1964066, "unet-ref has torch_ref.py's 1,964,066 parameters", "%lld", (long long)tgs_params_numel(t.ps, TGS_TENSOR_PARAM));
    }
    net_free(&t), net_free(&i);
}

int main(void)
{
    tgs_cpu_set_threads(2);
    test_specs();
    test_reuse_and_determinism(TINY);
    test_reuse_and_determinism(TINY_HCW);
    test_mc_dropout();
    test_mc_replay(TINY);
    test_net_modes(TINY);
    test_mc_replay(TINY_HCW);
    test_learns(TINY);
    test_learns(TINY_HCW);
    test_deep_supervision();
    test_unet_ref_memory();
    test_swin_specs();
    test_swin_build();
    test_reuse_and_determinism(TINY_SWIN);
    test_mc_replay(TINY_SWIN);
    test_net_modes(TINY_SWIN);
    test_learns(TINY_SWIN);
    test_reuse_and_determinism(TINY_SWIN_PATCH);
    test_learns(TINY_SWIN_PATCH);
    CHECK_DONE();
}
