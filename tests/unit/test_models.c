/* The models and the graph planner as a whole: spec strings, memory reuse
 * that changes no result, determinism, Monte Carlo dropout, and a tiny
 * resunet that learns a fixed batch. (Each op is checked on its own in
 * test_op_*.c; unet-ref against PyTorch in test_unetref.c.) */
#include "check.h"
#include "err.h"
#include "model.h"
#include "nn.h"
#include "optim.h"
#include "train.h"
#include "rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TINY "resunet in=3 widths=4,8,16 blocks=1,1,1 dropout=0.2 scse=2 hypercolumn=1"
#define TINY_HCW TINY " hcw=3" /* the hypercolumn cut to 3 channels a level */

struct net {
    struct tgs_params *ps;
    struct tgs_graph *g;
    struct tgs_tensor *x, *y, *c, *loss;
    struct tgs_model_out out;
};

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
    if (tgs_graph_plan(n->g, mode) < 0) return -1;
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
    test_learns(TINY);
    test_learns(TINY_HCW);
    test_unet_ref_memory();
    CHECK_DONE();
}
