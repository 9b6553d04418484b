/* Tests of lib/common/nn/loss.c and nn/cpu/loss.c: BCE, MSE, Dice, focal, boundary, Lovasz
 * hinge and its symmetric form.
 *
 *   fd     central differences (opcheck_fd) on random logits and 0/1
 *          targets, the weight set large so that gradients are O(1) and
 *          the check (error relative to max(1, largest gradient)) means
 *          something for losses that are means. Smooth losses: eps 1e-2
 *          (truncation ~eps^2 |f'''| < 1e-4; float rounding of the output
 *          ~M 6e-8 / eps < 1e-3 relative), tolerance 2e-3 (worst seen
 *          5.4e-4). Lovasz: piecewise linear, so exact but for the output's
 *          rounding unless a step crosses a kink or reorders the sort: eps
 *          1e-3, logits kept 0.1 from the hinge (|x| = 1) by their ranges,
 *          and the drawn inputs checked first to have every error more than
 *          2 eps from every other of its image; tolerance 5e-3 (worst seen
 *          1.2e-3; inputs with a pair 0.9e-3 apart gave up to 6e-3).
 *   torch  against tests/data/torch/loss.tsr (tests/torch/gen_loss.py,
 *          float64; Lovasz is Berman's lovasz_losses.py): atol 1e-7, rtol
 *          1e-5 on the output and the logits' gradient. The outputs are
 *          O(1) sums in double rounded once to float; the gradients are
 *          float expressions of a few ops, O(1e-2), good to ~1e-8 (every
 *          case but one passes at atol 1e-9, rtol 1e-7; that one by an ulp).
 *          The map cases (3,1,9,11) hold an empty and a full mask.
 * Then hand-computed values, phi against a brute-force EDT, results that
 * do not depend on the thread count, forward-only in an inference plan,
 * and each builder's refusals. */
#include "opcheck.h"
#include "nn/cpu/ops_cpu.h"

#define IN(...) .ndim = (int)(sizeof((int32_t[]){__VA_ARGS__}) / sizeof(int32_t)), .ne = {__VA_ARGS__}
#define LOGITS(lo_, hi_, margin_, ...) {IN(__VA_ARGS__), .grad = 1, .lo = lo_, .hi = hi_, .margin = margin_}
#define TARGET(...) {IN(__VA_ARGS__), .fill = OPCHECK_MASK}

#define FD_TOL 2e-3
#define FD_EPS 1e-2f
#define FD_TOL_LOVASZ 5e-3
#define FD_EPS_LOVASZ 1e-3f
#define ATOL 1e-7
#define RTOL 1e-5

struct loss_ctx {
    enum tgs_op kind;
    float weight, alpha, gamma;
};

static struct tgs_tensor *build_loss(struct tgs_graph *g, struct tgs_tensor **in, void *ctx)
{
    const struct loss_ctx *c = ctx;
    if (c->kind == TGS_OP_LOSS_FOCAL) return tgs_loss_focal(g, in[0], in[1], c->weight, c->alpha, c->gamma);
    return tgs_loss(g, c->kind, in[0], in[1], c->weight);
}

/* ---- finite differences ---- */

/* weights ~10 x what the loss is a mean over */
static struct loss_ctx fd_bce = {TGS_OP_LOSS_BCE, 840, 0, 0}, fd_bce_p = {TGS_OP_LOSS_BCE, 50, 0, 0},
                       fd_mse = {TGS_OP_LOSS_MSE, 300, 0, 0}, fd_dice = {TGS_OP_LOSS_DICE, 1000, 0, 0},
                       fd_dice_p = {TGS_OP_LOSS_DICE, 60, 0, 0}, fd_focal = {TGS_OP_LOSS_FOCAL, 840, 0.25f, 2},
                       fd_focal_na = {TGS_OP_LOSS_FOCAL, 840, -1, 0.5f},
                       fd_focal_p = {TGS_OP_LOSS_FOCAL, 50, 0.75f, 3},
                       fd_bnd = {TGS_OP_LOSS_BOUNDARY, 840, 0, 0}, fd_bnd3 = {TGS_OP_LOSS_BOUNDARY, 600, 0, 0},
                       fd_lov = {TGS_OP_LOSS_LOVASZ, 100, 0, 0}, fd_lov_p = {TGS_OP_LOSS_LOVASZ, 30, 0, 0},
                       fd_lsym = {TGS_OP_LOSS_LOVASZ_SYM, 100, 0, 0};

#define FD(name, ctx, x, y) {name, 2, {x, y}, build_loss, &ctx, FD_TOL, FD_EPS, 0}
#define FD_LOV(name, ctx, x, y) {name, 2, {x, y}, build_loss, &ctx, FD_TOL_LOVASZ, FD_EPS_LOVASZ, 0}

static const struct opcheck_case fd_cases[] = {
    FD("bce_map", fd_bce, LOGITS(-3, 3, 0, 2, 1, 6, 7), TARGET(2, 1, 6, 7)),
    FD("bce_presence", fd_bce_p, LOGITS(-3, 3, 0, 5, 1), TARGET(5, 1)),
    FD("mse_patches", fd_mse, LOGITS(-2, 2, 0, 2, 3, 5), TARGET(2, 3, 5)),
    FD("dice_map", fd_dice, LOGITS(-2, 2, 0, 3, 1, 5, 6), TARGET(3, 1, 5, 6)),
    FD("dice_presence", fd_dice_p, LOGITS(-2, 2, 0, 6), TARGET(6)),
    FD("focal_map", fd_focal, LOGITS(-3, 3, 0, 2, 1, 6, 7), TARGET(2, 1, 6, 7)),
    FD("focal_noalpha_g0.5", fd_focal_na, LOGITS(-3, 3, 0, 2, 1, 6, 7), TARGET(2, 1, 6, 7)),
    FD("focal_presence_g3", fd_focal_p, LOGITS(-3, 3, 0, 5, 1), TARGET(5, 1)),
    FD("boundary_map", fd_bnd, LOGITS(-3, 3, 0, 2, 1, 6, 7), TARGET(2, 1, 6, 7)),
    FD("boundary_nhw", fd_bnd3, LOGITS(-3, 3, 0, 2, 5, 6), TARGET(2, 5, 6)),
    /* all hinges active (|x| < 0.9), only the y = 0 ones (x > 1.1), only
     * the y = 1 ones (x < -1.1) */
    FD_LOV("lovasz_active", fd_lov, LOGITS(-0.9f, 0.9f, 0.05f, 4, 1, 3, 3), TARGET(4, 1, 3, 3)),
    FD_LOV("lovasz_pos", fd_lov, LOGITS(1.1f, 3, 0, 3, 1, 3, 4), TARGET(3, 1, 3, 4)),
    FD_LOV("lovasz_neg", fd_lov, LOGITS(-3, -1.1f, 0, 3, 1, 3, 4), TARGET(3, 1, 3, 4)),
    FD_LOV("lovasz_presence", fd_lov_p, LOGITS(-0.9f, 0.9f, 0.05f, 5, 1), TARGET(5, 1)),
    FD_LOV("lovasz_sym_active", fd_lsym, LOGITS(-0.9f, 0.9f, 0.05f, 4, 1, 3, 3), TARGET(4, 1, 3, 3)),
    FD_LOV("lovasz_sym_pos", fd_lsym, LOGITS(1.1f, 3, 0, 3, 1, 3, 4), TARGET(3, 1, 3, 4)),
};

/* The Lovasz cases' precondition: draw their inputs as opcheck_fd does
 * and check that in each image every t = x (2y - 1) (errors are 1 - t)
 * is more than 2 eps from every other and from the hinge at t = 1, so no
 * step of the finite differences reorders the sort or crosses a kink. */
static void check_lovasz_separation(const struct opcheck_case *c)
{
    int64_t n = 1;
    for (int i = 0; i < c->in[0].ndim; i++) n *= c->in[0].ne[i];
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    tgs_rng r;
    tgs_rng_seed(&r, 1234, 0);
    opcheck_fill(x, n, &c->in[0], &r);
    opcheck_fill(y, n, &c->in[1], &r);
    int64_t per = n / c->in[0].ne[0];
    double gap = INFINITY;
    for (int64_t i = 0; i < n; i++) {
        double ti = (double)x[i] * (2 * y[i] - 1);
        gap = fmin(gap, fabs(1 - ti));
        for (int64_t j = i + 1; j < (i / per + 1) * per; j++)
            gap = fmin(gap, fabs(ti - (double)x[j] * (2 * y[j] - 1)));
    }
    char name[160];
    snprintf(name, sizeof name, "fd %s: inputs separated by more than 2 eps", c->name);
    CHECKF(gap > 2 * c->fd_eps, name, "closest pair or kink %.3g apart, eps %.3g", gap, (double)c->fd_eps);
    free(x);
    free(y);
}

/* ---- torch references ---- */

static struct loss_ctx t_bce = {TGS_OP_LOSS_BCE, 1, 0, 0}, t_bce_p = {TGS_OP_LOSS_BCE, 0.5f, 0, 0},
                       t_bce_w = {TGS_OP_LOSS_BCE, 2.5f, 0, 0}, t_mse = {TGS_OP_LOSS_MSE, 1, 0, 0},
                       t_mse_w = {TGS_OP_LOSS_MSE, 0.7f, 0, 0}, t_dice = {TGS_OP_LOSS_DICE, 1, 0, 0},
                       t_dice_w = {TGS_OP_LOSS_DICE, 2.5f, 0, 0}, t_focal = {TGS_OP_LOSS_FOCAL, 1, 0.25f, 2},
                       t_focal_na = {TGS_OP_LOSS_FOCAL, 2, -1, 1.5f}, t_bnd = {TGS_OP_LOSS_BOUNDARY, 1, 0, 0},
                       t_bnd_w = {TGS_OP_LOSS_BOUNDARY, 0.5f, 0, 0}, t_lov = {TGS_OP_LOSS_LOVASZ, 1, 0, 0},
                       t_lov_w = {TGS_OP_LOSS_LOVASZ, 1.5f, 0, 0}, t_lsym = {TGS_OP_LOSS_LOVASZ_SYM, 0.8f, 0, 0},
                       t_lsym1 = {TGS_OP_LOSS_LOVASZ_SYM, 1, 0, 0};

#define MAP 3, 1, 9, 11
#define BLOBS 2, 1, 12, 10
#define TC(name, ctx, ...) {name, 2, {{IN(__VA_ARGS__), .grad = 1}, {IN(__VA_ARGS__)}}, build_loss, &ctx, 0, 0, 0}

static const struct opcheck_case torch_cases[] = {
    TC("bce_map", t_bce, MAP),
    TC("bce_presence", t_bce_p, 5, 1),
    TC("bce_noise_w", t_bce_w, 2, 1, 7, 6),
    TC("mse_map", t_mse, MAP),
    TC("mse_patches_w", t_mse_w, 2, 3, 5),
    TC("dice_map", t_dice, MAP),
    TC("dice_blobs_w", t_dice_w, BLOBS),
    TC("dice_presence", t_dice, 5, 1),
    TC("focal_map", t_focal, MAP),
    TC("focal_noalpha_w", t_focal_na, BLOBS),
    TC("focal_presence", t_focal, 5, 1),
    TC("boundary_map", t_bnd, MAP),
    TC("boundary_blobs_w", t_bnd_w, BLOBS),
    TC("lovasz_map", t_lov, MAP),
    TC("lovasz_blobs_w", t_lov_w, BLOBS),
    TC("lovasz_presence", t_lov, 5, 1),
    TC("lovasz_sym_map", t_lsym, MAP),
    TC("lovasz_sym_blobs", t_lsym1, BLOBS),
};

/* The same references (copied as NAME_infer), forward only in an
 * inference plan. */
#define TI(name, ctx, ...) {name, 2, {{IN(__VA_ARGS__)}, {IN(__VA_ARGS__)}}, build_loss, &ctx, 0, 0, 1}
static const struct opcheck_case infer_cases[] = {
    TI("bce_map_infer", t_bce, MAP),
    TI("dice_map_infer", t_dice, MAP),
    TI("focal_map_infer", t_focal, MAP),
    TI("boundary_map_infer", t_bnd, MAP),
    TI("lovasz_sym_map_infer", t_lsym, MAP),
};

/* ---- hand-computed cases ---- */

/* One loss on given data: forward, backward from 1, the output, the
 * logits' gradient (when grad), and the node's saved state (when saved). */
static int run_loss(const struct loss_ctx *c, int ndim, const int32_t *ne, const float *x, const float *y,
                    float *out, float *grad, float *saved)
{
    struct tgs_params *ps = tgs_params_new(tgs_backend_cpu());
    struct tgs_graph *g = ps ? tgs_graph_new(ps) : NULL;
    int rc = -1;
    if (!g) goto done;
    struct tgs_tensor *in[2] = {tgs_input(g, "x", ndim, ne), tgs_input(g, "y", ndim, ne)};
    tgs_requires_grad(in[0]);
    struct tgs_tensor *l = build_loss(g, in, (void *)c);
    if (!l) {
        tgs_err("build: %s", tgs_graph_error(g));
        goto done;
    }
    if (tgs_graph_plan(g, TGS_PLAN_TRAIN) < 0) goto done;
    tgs_tensor_set(g, in[0], x);
    tgs_tensor_set(g, in[1], y);
    if (tgs_graph_forward(g) < 0 || tgs_graph_backward(g, l) < 0) goto done;
    tgs_tensor_get(g, l, out);
    if (grad) tgs_tensor_get_grad(g, in[0], grad);
    if (saved) {
        struct tgs_node *n = tgs_graph_node(g, 0);
        memcpy(saved, n->saved, (size_t)n->saved_floats * sizeof *saved);
    }
    rc = 0;
done:
    tgs_graph_free(g);
    tgs_params_free(ps);
    return rc;
}

static double max_abs_diff(const float *a, const float *b, int64_t n)
{
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

static void test_bce_mse_focal(void)
{
    float x[4] = {0, 0, 0, 0}, y[4] = {0, 1, 0, 1}, out, gr[4];
    struct loss_ctx bce = {TGS_OP_LOSS_BCE, 1, 0, 0};
    int ok = run_loss(&bce, 1, (int32_t[]){4}, x, y, &out, gr, NULL) == 0;
    CHECKF(ok && fabs(out - log(2.0)) < 1e-6, "bce of logit 0 is log 2", "%.8g (%s)", out, tgs_errmsg());
    float gw[4] = {0.125f, -0.125f, 0.125f, -0.125f};
    CHECK(ok && max_abs_diff(gr, gw, 4) < 1e-7, "bce of logit 0: gradient (0.5 - y) / M");
    float big[2] = {100, -100}, yb[2] = {0, 1};
    ok = run_loss(&bce, 1, (int32_t[]){2}, big, yb, &out, gr, NULL) == 0;
    CHECKF(ok && fabs(out - 100) < 1e-4 && fabs(gr[0] - 0.5) < 1e-6 && fabs(gr[1] + 0.5) < 1e-6,
           "bce of confidently wrong logits +-100 is 100, finite", "%.8g, grad %g %g", out, gr[0], gr[1]);

    struct loss_ctx bce3 = {TGS_OP_LOSS_BCE, 3, 0, 0};
    float xs[4] = {0.3f, -1.2f, 2.0f, 0.7f}, o3;
    ok = run_loss(&bce, 1, (int32_t[]){4}, xs, y, &out, NULL, NULL) == 0 &&
         run_loss(&bce3, 1, (int32_t[]){4}, xs, y, &o3, NULL, NULL) == 0;
    CHECKF(ok && fabs(o3 - 3 * out) < 1e-6, "weight 3 triples the loss", "%.8g vs 3 x %.8g", o3, out);

    struct loss_ctx mse = {TGS_OP_LOSS_MSE, 1, 0, 0};
    float xm[3] = {1, 2, 3}, ym[3] = {0, 0, 1}, gm[3], gmw[3] = {2.0f / 3, 4.0f / 3, 4.0f / 3};
    ok = run_loss(&mse, 1, (int32_t[]){3}, xm, ym, &out, gm, NULL) == 0;
    CHECKF(ok && fabs(out - 3) < 1e-6 && max_abs_diff(gm, gmw, 3) < 1e-6, "mse of (1,2,3) and (0,0,1) is 3",
           "%.8g", out);

    struct loss_ctx focal = {TGS_OP_LOSS_FOCAL, 1, 0.25f, 2};
    float x0 = 0, y1 = 1;
    ok = run_loss(&focal, 1, (int32_t[]){1}, &x0, &y1, &out, NULL, NULL) == 0;
    CHECKF(ok && fabs(out - 0.25 * 0.25 * log(2.0)) < 1e-7, "focal of logit 0, y 1: alpha (1/2)^2 log 2", "%.8g",
           out);
    struct loss_ctx focal_bce = {TGS_OP_LOSS_FOCAL, 1, -1, 0};
    float gf[4];
    ok = run_loss(&focal_bce, 1, (int32_t[]){4}, xs, y, &o3, gf, NULL) == 0 &&
         run_loss(&bce, 1, (int32_t[]){4}, xs, y, &out, gr, NULL) == 0;
    CHECKF(ok && fabs(o3 - out) < 1e-7 && max_abs_diff(gf, gr, 4) < 1e-7, "focal with gamma 0, no alpha is bce",
           "%.8g vs %.8g", o3, out);
    struct loss_ctx focal_def = {TGS_OP_LOSS_FOCAL, 1, 0.25f, 2};
    ok = run_loss(&focal_def, 1, (int32_t[]){4}, xs, y, &o3, NULL, NULL) == 0;
    struct tgs_params *ps = tgs_params_new(tgs_backend_cpu());
    struct tgs_graph *g = tgs_graph_new(ps);
    struct tgs_tensor *a = tgs_input(g, "x", 1, (int32_t[]){4}), *b = tgs_input(g, "y", 1, (int32_t[]){4});
    struct tgs_tensor *l = tgs_loss(g, TGS_OP_LOSS_FOCAL, a, b, 1);
    ok = ok && l && tgs_graph_plan(g, TGS_PLAN_INFER) == 0;
    if (ok) {
        tgs_tensor_set(g, a, xs);
        tgs_tensor_set(g, b, y);
        ok = tgs_graph_forward(g) == 0;
        tgs_tensor_get(g, l, &out);
    }
    CHECKF(ok && out == o3, "tgs_loss(FOCAL) is alpha 0.25, gamma 2", "%.8g vs %.8g", out, o3);
    tgs_graph_free(g);
    tgs_params_free(ps);
}

/* (3,1,4,5): an L-shaped mask, an empty one and a full one */
static const int32_t HNE[4] = {3, 1, 4, 5};
static void hand_masks(float *y)
{
    static const float m0[20] = {0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0};
    for (int i = 0; i < 20; i++) y[i] = m0[i], y[20 + i] = 0, y[40 + i] = 1;
}

static void test_dice(void)
{
    float x[60], y[60], out, gr[60];
    hand_masks(y);
    for (int i = 0; i < 60; i++) x[i] = y[i] > 0 ? 20 : -20;
    struct loss_ctx dice = {TGS_OP_LOSS_DICE, 1, 0, 0};
    int ok = run_loss(&dice, 4, HNE, x, y, &out, gr, NULL) == 0;
    CHECKF(ok && out >= 0 && out < 1e-6, "dice of a confident perfect prediction (empty and full masks too) ~ 0",
           "%.8g", out);
    /* empty mask, p = 1/2 everywhere: 1 - 1 / (20 / 2 + 1) */
    float x0[20] = {0}, y0[20] = {0};
    ok = run_loss(&dice, 4, (int32_t[]){1, 1, 4, 5}, x0, y0, &out, gr, NULL) == 0;
    CHECKF(ok && fabs(out - (1 - 1.0 / 11)) < 1e-6, "dice of an empty mask at p = 1/2 is 1 - 1/11", "%.8g", out);
    /* dd/dp = (2I + 1) / (S + 1)^2 = 1/121, times p(1-p) = 1/4 */
    CHECKF(ok && fabs(gr[0] - 1.0 / 484) < 1e-8, "dice of an empty mask: gradient pushes p down", "%.8g", gr[0]);
}

static void test_lovasz(void)
{
    float x[60], y[60], out, gr[60], zero[60] = {0};
    hand_masks(y);
    for (int i = 0; i < 60; i++) x[i] = y[i] > 0 ? 2.0f : -2.0f;
    struct loss_ctx lov = {TGS_OP_LOSS_LOVASZ, 1, 0, 0}, sym = {TGS_OP_LOSS_LOVASZ_SYM, 1, 0, 0};
    int ok = run_loss(&lov, 4, HNE, x, y, &out, gr, NULL) == 0;
    CHECK(ok && out == 0 && max_abs_diff(gr, zero, 60) == 0, "lovasz of a perfect margin prediction is 0, no grad");
    ok = run_loss(&sym, 4, HNE, x, y, &out, gr, NULL) == 0;
    CHECK(ok && out == 0 && max_abs_diff(gr, zero, 60) == 0, "symmetric lovasz of it too");
    /* an empty mask: the hinge on the largest error, 1 + max x */
    float xe[4] = {-0.5f, 0.3f, -2, 0.1f}, ye[4] = {0}, ge[4], gew[4] = {0, 1, 0, 0};
    ok = run_loss(&lov, 2, (int32_t[]){1, 4}, xe, ye, &out, ge, NULL) == 0;
    CHECKF(ok && fabs(out - 1.3) < 1e-6 && max_abs_diff(ge, gew, 4) < 1e-7,
           "lovasz of an empty mask is relu(largest error)", "%.8g", out);
    /* a full mask: the mean of the hinges: e = 1 - x = (0.5, -1, 2, 1) */
    float xf[4] = {0.5f, 2, -1, 0}, yf[4] = {1, 1, 1, 1}, gfw[4] = {-0.25f, 0, -0.25f, -0.25f};
    ok = run_loss(&lov, 2, (int32_t[]){1, 4}, xf, yf, &out, ge, NULL) == 0;
    CHECKF(ok && fabs(out - 0.875) < 1e-6 && max_abs_diff(ge, gfw, 4) < 1e-7,
           "lovasz of a full mask is the mean hinge", "%.8g", out);
    /* both in one batch: the mean over images */
    float xb[8], yb[8], gb[8];
    memcpy(xb, xe, sizeof xe), memcpy(xb + 4, xf, sizeof xf);
    memcpy(yb, ye, sizeof ye), memcpy(yb + 4, yf, sizeof yf);
    ok = run_loss(&lov, 2, (int32_t[]){2, 4}, xb, yb, &out, gb, NULL) == 0;
    CHECKF(ok && fabs(out - (1.3 + 0.875) / 2) < 1e-6 && fabs(gb[1] - 0.5) < 1e-7 && fabs(gb[4] + 0.125) < 1e-7,
           "lovasz is a mean over images", "%.8g", out);
    /* ties: equal errors are ranked by index, so the same bytes each time */
    float xt[6] = {0.5f, 0.5f, -0.5f, 0.5f, -0.5f, 0.5f}, yt[6] = {1, 1, 0, 0, 1, 0}, g1[6], g2[6], o2;
    ok = run_loss(&lov, 1, (int32_t[]){6}, xt, yt, &out, g1, NULL) == 0 &&
         run_loss(&lov, 1, (int32_t[]){6}, xt, yt, &o2, g2, NULL) == 0;
    CHECK(ok && out == o2 && memcmp(g1, g2, sizeof g1) == 0, "lovasz with tied errors is deterministic");
}

/* phi by brute force: the distance to the nearest pixel of the other class */
static void phi_brute(float *phi, const float *y, int h, int w)
{
    int npos = 0;
    for (int i = 0; i < h * w; i++) npos += y[i] > 0.5f;
    for (int i = 0; i < h * w; i++) {
        if (npos == 0 || npos == h * w) {
            phi[i] = 0;
            continue;
        }
        double best = INFINITY;
        for (int j = 0; j < h * w; j++) {
            if ((y[j] > 0.5f) == (y[i] > 0.5f)) continue;
            double di = i / w - j / w, dj = i % w - j % w;
            best = fmin(best, sqrt(di * di + dj * dj));
        }
        phi[i] = (float)(y[i] > 0.5f ? -(best - 1) : best);
    }
}

static void test_boundary(void)
{
    /* a 3x3 square in a 5x6 image; phi by hand */
    static const float y[30] = {
        0, 0, 0, 0, 0, 0,
        0, 1, 1, 1, 0, 0,
        0, 1, 1, 1, 0, 0,
        0, 1, 1, 1, 0, 0,
        0, 0, 0, 0, 0, 0,
    };
    const float r2 = (float)M_SQRT2, r5 = sqrtf(5);
    const float want[30] = {
        r2, 1, 1,  1, r2, r5,
        1,  0, 0,  0, 1,  2,
        1,  0, -1, 0, 1,  2,
        1,  0, 0,  0, 1,  2,
        r2, 1, 1,  1, r2, r5,
    };
    float x[30] = {0}, out, phi[32], gr[30];
    struct loss_ctx bnd = {TGS_OP_LOSS_BOUNDARY, 1, 0, 0};
    int ok = run_loss(&bnd, 4, (int32_t[]){1, 1, 5, 6}, x, y, &out, gr, phi) == 0;
    CHECKF(ok && max_abs_diff(phi, want, 30) < 1e-6, "boundary phi of a 3x3 square is the hand-computed one",
           "max diff %g", ok ? max_abs_diff(phi, want, 30) : -1.0);
    double sum = 0;
    for (int i = 0; i < 30; i++) sum += want[i];
    CHECKF(ok && fabs(out - 0.5 * sum / 30) < 1e-6, "boundary loss at p = 1/2 is mean(phi) / 2", "%.8g", out);
    CHECKF(ok && fabs(gr[0] - r2 / 4 / 30) < 1e-7, "boundary gradient is phi p (1 - p) / M", "%.8g", gr[0]);

    float xe[60], ye[60], ge[60], zero[60] = {0}, ph[64];
    hand_masks(ye);
    for (int i = 0; i < 60; i++) xe[i] = (float)(i % 7) - 3;
    ok = run_loss(&bnd, 4, HNE, xe, ye, &out, ge, ph) == 0;
    CHECK(ok && max_abs_diff(ph + 20, zero, 40) == 0 && max_abs_diff(ge + 20, zero, 40) == 0,
          "boundary: empty and full masks have phi = 0, no gradient");
    float wb[20];
    phi_brute(wb, ye, 4, 5);
    CHECK(ok && max_abs_diff(ph, wb, 20) < 1e-6, "boundary phi of an L shape is the brute-force one");

    /* random masks of odd sizes, one with a single salt pixel and one with
     * a single background pixel, against brute force */
    enum { N = 4, H = 13, W = 17 };
    /* pr: saved_floats is rounded up to 16 */
    float *xr = calloc(N * H * W, sizeof *xr), *yr = malloc(N * H * W * sizeof *yr),
          *pr = malloc((N * H * W + 16) * sizeof *pr), *wr = malloc(N * H * W * sizeof *wr);
    tgs_rng r;
    tgs_rng_seed(&r, 7, 0);
    for (int i = 0; i < N * H * W; i++) yr[i] = tgs_rng_uniform(&r) < (i < 2 * H * W ? 0.3f : 0.5f);
    for (int i = 0; i < H * W; i++) yr[2 * H * W + i] = i == 100, yr[3 * H * W + i] = i != 37;
    ok = run_loss(&bnd, 3, (int32_t[]){N, H, W}, xr, yr, &out, NULL, pr) == 0;
    for (int k = 0; k < N; k++) phi_brute(wr + k * H * W, yr + k * H * W, H, W);
    CHECKF(ok && max_abs_diff(pr, wr, N * H * W) < 1e-5, "boundary phi of random 13x17 masks is the brute-force one",
           "max diff %g", ok ? max_abs_diff(pr, wr, N * H * W) : -1.0);
    free(xr), free(yr), free(pr), free(wr);
}

/* ---- threads ---- */

/* Every loss on (7,1,37,41) logits (two chunks' worth for the elementwise
 * ones, 7 images for the others) gives the same bytes with 1, 2 and 5
 * threads: partial sums are per chunk or per image, added in order. */
static void test_threads(void)
{
    enum { N = 7, H = 37, W = 41, M = N * H * W };
    float *x = malloc(M * sizeof *x), *y = malloc(M * sizeof *y), *g[3], out[3];
    tgs_rng r;
    tgs_rng_seed(&r, 99, 0);
    for (int i = 0; i < M; i++) x[i] = 6 * tgs_rng_uniform(&r) - 3;
    for (int k = 0; k < N; k++)
        for (int i = 0; i < H * W; i++)
            y[k * H * W + i] = k == 1 ? 0 : k == 2 ? 1 : (float)(hypot(i / W - 18 + k, i % W - 20) < 6 + k);
    for (int t = 0; t < 3; t++) g[t] = malloc(M * sizeof *g[t]);
    static const struct loss_ctx ls[] = {
        {TGS_OP_LOSS_BCE, 1, 0, 0},      {TGS_OP_LOSS_MSE, 1, 0, 0},    {TGS_OP_LOSS_DICE, 1, 0, 0},
        {TGS_OP_LOSS_FOCAL, 1, 0.25f, 2}, {TGS_OP_LOSS_BOUNDARY, 1, 0, 0}, {TGS_OP_LOSS_LOVASZ, 1, 0, 0},
        {TGS_OP_LOSS_LOVASZ_SYM, 1, 0, 0},
    };
    static const int nth[3] = {1, 2, 5};
    for (size_t k = 0; k < sizeof ls / sizeof ls[0]; k++) {
        int ok = 1;
        for (int t = 0; t < 3; t++) {
            tgs_cpu_set_threads(nth[t]);
            ok &= run_loss(&ls[k], 4, (int32_t[]){N, 1, H, W}, x, y, &out[t], g[t], NULL) == 0;
        }
        int same = ok && memcmp(&out[0], &out[1], 4) == 0 && memcmp(&out[0], &out[2], 4) == 0 &&
                   memcmp(g[0], g[1], M * 4) == 0 && memcmp(g[0], g[2], M * 4) == 0;
        char name[96];
        snprintf(name, sizeof name, "%s: same bytes with 1, 2 and 5 threads", tgs_op_name(ls[k].kind));
        CHECKF(same, name, "out %.9g %.9g %.9g (%s)", out[0], out[1], out[2], ok ? "" : tgs_errmsg());
    }
    tgs_cpu_set_threads(0);
    for (int t = 0; t < 3; t++) free(g[t]);
    free(x);
    free(y);
}

/* ---- refusals ---- */

static void bad(const char *name, enum tgs_op kind, int nd0, const int32_t *ne0, int nd1, const int32_t *ne1,
                float alpha, float gamma, const char *want)
{
    struct tgs_params *ps = tgs_params_new(tgs_backend_cpu());
    struct tgs_graph *g = tgs_graph_new(ps);
    struct tgs_tensor *a = tgs_input(g, "x", nd0, ne0), *b = nd1 ? tgs_input(g, "y", nd1, ne1) : NULL;
    struct tgs_tensor *l = kind == TGS_OP_LOSS_FOCAL ? tgs_loss_focal(g, a, b, 1, alpha, gamma)
                                                     : tgs_loss(g, kind, a, b, 1);
    const char *e = tgs_graph_error(g);
    CHECKF(!l && e && strstr(e, want), name, "got %s", e ? e : "no error");
    tgs_graph_free(g);
    tgs_params_free(ps);
}

static void test_bad(void)
{
    const int32_t map[4] = {2, 1, 5, 6}, other[4] = {2, 1, 5, 7}, two[4] = {2, 2, 5, 6};
    bad("bad: logits and target of other shapes", TGS_OP_LOSS_DICE, 4, map, 4, other, 0, 0, "loss_dice");
    bad("bad: target of other rank", TGS_OP_LOSS_BCE, 4, map, 2, map, 0, 0, "loss_bce");
    bad("bad: boundary of 2-channel maps", TGS_OP_LOSS_BOUNDARY, 4, two, 4, two, 0, 0, "loss_boundary");
    bad("bad: boundary of (N,1) logits", TGS_OP_LOSS_BOUNDARY, 2, map, 2, map, 0, 0, "loss_boundary");
    bad("bad: a kind that is not a loss", TGS_OP_RELU, 4, map, 4, map, 0, 0, "relu");
    bad("bad: focal with gamma < 0", TGS_OP_LOSS_FOCAL, 4, map, 4, map, 0.25f, -1, "loss_focal");
    bad("bad: focal with alpha > 1", TGS_OP_LOSS_FOCAL, 4, map, 4, map, 1.5f, 2, "loss_focal");
    bad("bad: no target", TGS_OP_LOSS_LOVASZ, 4, map, 0, NULL, 0, 0, "loss_lovasz");

    struct tgs_params *ps = tgs_params_new(tgs_backend_cpu());
    struct tgs_graph *g = tgs_graph_new(ps);
    struct tgs_tensor *a = tgs_input(g, "x", 1, (int32_t[]){3}), *b = tgs_input(g, "y", 1, (int32_t[]){3});
    struct tgs_tensor *l = tgs_loss(g, TGS_OP_LOSS_MSE, a, b, NAN);
    const char *e = tgs_graph_error(g);
    CHECKF(!l && e && strstr(e, "loss_mse"), "bad: a weight that is not finite", "got %s", e ? e : "no error");
    tgs_graph_free(g);
    tgs_params_free(ps);
}

int main(void)
{
    for (size_t i = 0; i < sizeof fd_cases / sizeof fd_cases[0]; i++) {
        if (fd_cases[i].fd_eps == FD_EPS_LOVASZ) check_lovasz_separation(&fd_cases[i]);
        opcheck_fd(&fd_cases[i]), opcheck_backends(&fd_cases[i]);
    }
    struct opcheck_refs rf;
    if (opcheck_refs_load(&rf, "tests/data/torch/loss.tsr") < 0) {
        CHECKF(0, "load torch references", "%s", tgs_errmsg());
    } else {
        for (size_t i = 0; i < sizeof torch_cases / sizeof torch_cases[0]; i++)
            opcheck_torch(&rf, &torch_cases[i], ATOL, RTOL), opcheck_backends(&torch_cases[i]);
        for (size_t i = 0; i < sizeof infer_cases / sizeof infer_cases[0]; i++)
            opcheck_torch(&rf, &infer_cases[i], ATOL, RTOL), opcheck_backends(&infer_cases[i]);
        for (int i = 0; i <= rf.n; i++) tgs_sample_free(&rf.s[i]);
        free(rf.s);
    }
    test_bce_mse_focal();
    test_dice();
    test_lovasz();
    test_boundary();
    test_threads();
    test_bad();
    CHECK_DONE();
}
