/* nn: the neural network engine: tensors, graphs (graph.c), parameter
 * sets (params.c), the ops (listed in ops.def, named by ops.c) with their
 * graph builders (op_*.c, loss.c), and the backend interface with its
 * device contract (struct tgs_backend below): the CPU backend (cpu/), the
 * sim backend that holds host code to the contract (sim/), and the two by
 * --device name (backend.c).
 *
 * A model is built once per input shape as a static graph of nodes, each an
 * op with up to TGS_NN_MAX_SRC inputs and one output tensor:
 *
 *     struct tgs_params *ps = tgs_params_new(tgs_backend_by_name("cpu"));
 *     struct tgs_graph *g = tgs_graph_new(ps);  // runs on ps's backend
 *     struct tgs_tensor *x = tgs_input(g, "image", 4, (int32_t[]){N, 1, 128, 128});
 *     struct tgs_tensor *w = tgs_param(g, "enc.0.conv1.weight", 4, (int32_t[]){16, 1, 3, 3}, TGS_INIT_KAIMING_UNIFORM);
 *     struct tgs_tensor *y = tgs_conv2d(g, x, w, NULL, 1, 1, 1);
 *     ...
 *     tgs_params_alloc(ps, seed);          // the parameters, initialised
 *     tgs_graph_plan(g, TGS_PLAN_TRAIN);   // sizes and allocates every buffer
 *     loop: tgs_tensor_set inputs; tgs_graph_forward(g); tgs_graph_backward(g, loss);
 *           be->optim_update per parameter (lib/common/train.c's tgs_optim_state_step)
 *
 * Builders return NULL on a bad shape with a tgs_err message, and return
 * NULL (keeping the first message) when given a NULL input, so a model is
 * built without checks at each line and checked once at the end.
 *
 * Memory: the plan sizes one arena for activations, one for the gradients
 * of activations (reused by liveness in the backward pass), one for what
 * ops save for backward, and one workspace; a step allocates nothing.
 * Parameters and their gradients live in a tgs_params set, shared by the
 * graphs built on it (a training graph and an inference graph, say).
 *
 * Tensors are float32, row-major, up to 4 dims; images are NCHW.
 * Gradient rule: every backward ACCUMULATES (+=) into its inputs' grads.
 * The executor zeroes an activation's gradient buffer just before its first
 * use; parameter gradients are zeroed by tgs_params_zero_grad. */
#ifndef TGS_NN_H
#define TGS_NN_H

#include <stddef.h>
#include <stdint.h>

#define TGS_NN_MAX_DIMS 4
#define TGS_NN_MAX_SRC 8

enum tgs_tensor_flag {
    TGS_TENSOR_INPUT = 1u << 0,  /* filled by the caller before forward */
    TGS_TENSOR_PARAM = 1u << 1,  /* trainable parameter, owned by a tgs_params */
    TGS_TENSOR_BUFFER = 1u << 2, /* non-trainable state in a tgs_params (BN running stats) */
    TGS_TENSOR_GRAD = 1u << 3,   /* a gradient flows to it */
    TGS_TENSOR_KEEP = 1u << 4,   /* read by the caller: its buffers never reused (tgs_keep) */
};

struct tgs_tensor {
    int32_t ne[TGS_NN_MAX_DIMS]; /* shape, outermost first; ne[i] = 1 for i >= ndim */
    int ndim;
    int64_t size;    /* elements */
    float *data;     /* backend memory, set by the plan (or by the params set) */
    float *grad;     /* backend memory; NULL when no gradient flows here */
    uint32_t flags;  /* enum tgs_tensor_flag */
    const char *name;
    int id;          /* index in its graph (-1 for params not yet used in one) */
    int producer;    /* index of the node that writes it, -1 for leaves */
};

/* The ops, from the op list (nn/ops.def: each op's sources and output). */
enum tgs_op {
    TGS_OP_NONE = 0, /* a leaf: input or parameter */
#define TGS_OP(suffix, impl, name) TGS_OP_##suffix,
#include "nn/ops.def"
    TGS_OP_COUNT
};

/* Per-op constants; which member is used is fixed by the op. */
struct tgs_conv_params { int32_t stride, pad, dil; };
struct tgs_bn_params {
    float eps, momentum;
    int relu;                        /* fused ReLU on the output */
    struct tgs_tensor *run_mean, *run_var; /* (C) buffers in the params set */
};
struct tgs_ln_params { float eps; };
struct tgs_act_params { float alpha; };           /* ELU */
struct tgs_drop_params { float p; uint64_t seed; }; /* seed: per node, mixed with the step */
struct tgs_matmul_params { int trans_a, trans_b; };
struct tgs_pool_params { int32_t k; };
struct tgs_upcat_params { int8_t steps[TGS_NN_MAX_SRC]; }; /* x2 steps of each input */
struct tgs_scale_params { float s; };
struct tgs_permute_params { int32_t axes[TGS_NN_MAX_DIMS]; };
struct tgs_window_params { int32_t ws, h, w; };   /* window size; image size for merge */
struct tgs_roll_params { int32_t sh, sw; };
struct tgs_attn_bias_params { int32_t ws, shift, h, w, tw; }; /* window, shift (0: no mask), image size,
                                                                the table's window */
struct tgs_loss_params { float weight; float alpha, gamma; }; /* output = weight * loss; focal alpha/gamma */

union tgs_op_params {
    struct tgs_conv_params conv;
    struct tgs_bn_params bn;
    struct tgs_ln_params ln;
    struct tgs_act_params act;
    struct tgs_drop_params drop;
    struct tgs_matmul_params mm;
    struct tgs_pool_params pool;
    struct tgs_upcat_params upcat;
    struct tgs_scale_params scale;
    struct tgs_permute_params perm;
    struct tgs_window_params win;
    struct tgs_roll_params roll;
    struct tgs_attn_bias_params ab;
    struct tgs_loss_params loss;
};

struct tgs_node {
    enum tgs_op op;
    int nsrc;
    struct tgs_tensor *src[TGS_NN_MAX_SRC];
    struct tgs_tensor *out;
    union tgs_op_params p;
    float *saved;     /* what forward keeps for backward, saved_floats long */
    int64_t saved_floats;
    int index;
};

/* What an op implementation sees besides its node. */
struct tgs_exec {
    const struct tgs_backend *be; /* the backend running the op, with its context (be->ctx) */
    int train;        /* batch statistics in BN; dropout on */
    int mc_dropout;   /* dropout on even when !train (Monte Carlo dropout) */
    uint64_t step;    /* mixed into dropout seeds: a new mask each step */
    float *work;      /* scratch shared by all ops, work_floats long */
    int64_t work_floats;
    int threads;      /* for the op's own loops */
    /* NULL, or TGS_PROFILE_SLOTS seconds the executor adds each node's wall
     * time to: [op] forward, [TGS_OP_COUNT + op] backward, [2 * TGS_OP_COUNT]
     * the zeroing of activation gradients. For finding where a step goes
     * (bench/step_profile); a GPU backend must synchronise for it to mean
     * anything. */
    double *profile;
};
#define TGS_PROFILE_SLOTS (2 * TGS_OP_COUNT + 1)

/* One backend: a table of op implementations plus memory functions. The CPU
 * backend (nn/cpu/) is the reference; a CUDA one fills the same table. */
struct tgs_op_impl {
    /* return 0, or -1 with a tgs_err message */
    int (*forward)(struct tgs_node *n, const struct tgs_exec *x);
    int (*backward)(struct tgs_node *n, const struct tgs_exec *x);
    /* floats of saved state and of workspace the node needs (NULL: none) */
    int64_t (*saved_floats)(const struct tgs_node *n);
    int64_t (*work_floats)(const struct tgs_node *n);
};

struct tgs_optim_opts; /* nn/optim.h */

/* Bytes that crossed between host and device, for backends that count. */
struct tgs_traffic {
    uint64_t up_bytes, up_calls;     /* host to device: upload */
    uint64_t down_bytes, down_calls; /* device to host: download */
};

/* The device contract. Tensor memory (tgs_tensor.data and .grad, a graph's
 * arenas, the optimizer state, the weight average) belongs to the backend:
 * host code holds its pointers but never reads or writes through them. It
 * moves data only with upload, download, copy and zero, and computes on
 * it only with an op or one of the training step's functions below. The
 * sim backend (nn/sim/) makes any other access a SIGSEGV, and counts the
 * bytes that cross. */
struct tgs_backend {
    const char *name;
    void *ctx;                      /* the backend's own state; ops reach it through tgs_exec.be */
    void *(*alloc)(size_t bytes);   /* zeroed; NULL on failure */
    void (*free)(void *p);
    void (*zero)(float *p, int64_t n);
    void (*upload)(float *dst, const float *host, int64_t n);
    void (*download)(float *host, const float *src, int64_t n);
    void (*copy)(float *dst, const float *src, int64_t n); /* device to device; no overlap */
    /* The training step outside the graph, on device memory (as llm.c
     * keeps AdamW on the GPU): one optimizer update of a parameter of n
     * floats (state: tgs_optim_state_per_elem(o) * n floats, NULL when 0);
     * the global L2 norm of the gradients, and their scaling to max_norm
     * when it is above 0 (the norm is the one number read back); the
     * weight average avg = decay * avg + (1 - decay) * x; a swap. */
    void (*optim_update)(const struct tgs_optim_opts *o, float lr, int64_t step, float *param, const float *grad,
                         float *state, int64_t n);
    double (*clip_grad_norm)(float *const *grads, const int64_t *sizes, int count, double max_norm);
    void (*ema_update)(float *avg, const float *x, int64_t n, float decay);
    void (*swap)(float *a, float *b, int64_t n);
    int (*threads)(void);                   /* for tgs_exec.threads */
    void (*traffic)(struct tgs_traffic *t); /* so far in this process; NULL when not counted */
    /* indexed by enum tgs_op; NULL where the backend lacks the op */
    const struct tgs_op_impl *const *ops;
};

/* A backend by --device name: "cpu", "sim"; NULL and a message naming
 * what there is for any other (and for "cuda" until it is written). */
const struct tgs_backend *tgs_backend_by_name(const char *name);
/* The names tgs_backend_by_name knows, for --help: "cpu, sim". */
const char *tgs_backend_names(void);
const struct tgs_backend *tgs_backend_sim(void);
const struct tgs_backend *tgs_backend_cpu(void);
/* What decides the CPU backend's bytes, for --version and bug reports:
 * the OpenBLAS build and the kernels it chose for this processor, and
 * whether the AVX2 direct convolutions run. */
const char *tgs_cpu_describe(void);
/* Threads for the CPU backend's own loops and OpenBLAS; 0 = all cores. */
void tgs_cpu_set_threads(int n);
int tgs_cpu_threads(void);

const char *tgs_op_name(enum tgs_op op);
/* "(2,3,4,5)" into buf, for messages; returns buf */
const char *tgs_shape_str(const struct tgs_tensor *t, char *buf, size_t cap);

/* ---- parameter sets ---- */

enum tgs_init {
    TGS_INIT_ZEROS = 1,
    TGS_INIT_ONES,
    TGS_INIT_KAIMING_UNIFORM, /* torch's default for conv/linear weights: U(+-1/sqrt(fan_in)) */
    TGS_INIT_FAN_IN_UNIFORM,  /* the same bound, for the biases (fan_in of the weight given) */
    TGS_INIT_NORMAL,          /* N(0, 0.02^2), for transformer weights */
    TGS_INIT_TRUNC_NORMAL,    /* N(0, 0.02^2) cut at 2 std (redrawn beyond), Swin's trunc_normal_(std=.02) */
};

struct tgs_params;

struct tgs_params *tgs_params_new(const struct tgs_backend *be);
void tgs_params_free(struct tgs_params *ps);
/* Declare or look up a parameter (flag TGS_TENSOR_PARAM) or buffer
 * (TGS_TENSOR_BUFFER). Looking up an existing name checks the shape.
 * fan_in is used by the uniform inits (0: from the shape). */
struct tgs_tensor *tgs_params_get(struct tgs_params *ps, const char *name, int ndim, const int32_t *ne,
                                  uint32_t flag, enum tgs_init init, int64_t fan_in);
/* Allocate and initialise what was declared (seeded); later declarations fail. */
int tgs_params_alloc(struct tgs_params *ps, uint64_t seed);
int tgs_params_count(const struct tgs_params *ps);
struct tgs_tensor *tgs_params_at(struct tgs_params *ps, int i);
struct tgs_tensor *tgs_params_find(struct tgs_params *ps, const char *name);
int64_t tgs_params_numel(const struct tgs_params *ps, uint32_t flag);
void tgs_params_zero_grad(struct tgs_params *ps);
const struct tgs_backend *tgs_params_backend(const struct tgs_params *ps);
int tgs_params_allocated(const struct tgs_params *ps);

/* ---- graphs ---- */

enum tgs_plan_mode {
    TGS_PLAN_INFER = 0, /* activations reuse memory by liveness; no gradients */
    TGS_PLAN_TRAIN = 1, /* activations kept for backward; gradients planned */
    TGS_PLAN_NO_REUSE = 2, /* or-ed in: every buffer its own memory (tests of the planner) */
};

struct tgs_graph;

struct tgs_graph *tgs_graph_new(struct tgs_params *ps);
void tgs_graph_free(struct tgs_graph *g);
/* The first error met while building, or NULL. */
const char *tgs_graph_error(const struct tgs_graph *g);
/* mode: enum tgs_plan_mode values, or-ed */
int tgs_graph_plan(struct tgs_graph *g, int mode);
/* exec settings: train, mc_dropout, step are read each call */
struct tgs_exec *tgs_graph_exec(struct tgs_graph *g);
int tgs_graph_forward(struct tgs_graph *g);
/* Rerunning the tail of a graph: Monte Carlo dropout's passes differ only
 * from the first dropout on, so the nodes before it need to run once per
 * input. tgs_graph_first_random: the first node whose output changes with
 * exec.step (a dropout), nn when none. tgs_graph_replay_from, before
 * planning: plan so that nodes k.. can be rerun alone (in inference, what
 * nodes before k make and nodes from k read is kept to the end).
 * tgs_graph_forward_from: run nodes k0..nn-1 only, k0 0 or the planned
 * k; the nodes before k0 must have run on the current inputs. */
int tgs_graph_first_random(const struct tgs_graph *g);
int tgs_graph_replay_from(struct tgs_graph *g, int k);
int tgs_graph_forward_from(struct tgs_graph *g, int k0);
/* Backward from a scalar loss (its gradient seeded with 1), or from any
 * tensor with a given output gradient dout (host memory, out->size floats). */
int tgs_graph_backward(struct tgs_graph *g, struct tgs_tensor *loss);
int tgs_graph_backward_from(struct tgs_graph *g, struct tgs_tensor *out, const float *dout);
int tgs_graph_nnodes(const struct tgs_graph *g);
struct tgs_node *tgs_graph_node(struct tgs_graph *g, int i);
/* Bytes the plan allocated: activations, activation gradients, saved, work. */
void tgs_graph_memory(const struct tgs_graph *g, int64_t bytes[4]);

/* Leaves. A graph input gets its own buffer; fill it with tgs_tensor_set. */
struct tgs_tensor *tgs_input(struct tgs_graph *g, const char *name, int ndim, const int32_t *ne);
/* A parameter of the graph's set, declared on first use. */
struct tgs_tensor *tgs_param(struct tgs_graph *g, const char *name, int ndim, const int32_t *ne,
                             enum tgs_init init, int64_t fan_in);
/* A non-trainable buffer of the set (BN running stats), declared on first use. */
struct tgs_tensor *tgs_buffer(struct tgs_graph *g, const char *name, int ndim, const int32_t *ne, enum tgs_init init);
/* Mark an input as needing its gradient (tests; inputs have none by default). */
void tgs_requires_grad(struct tgs_tensor *t);
/* t (and its gradient) is read by the caller after forward (backward)
 * although later ops read it too: the plan keeps its buffers to the end
 * instead of reusing them. */
void tgs_keep(struct tgs_tensor *t);
void tgs_tensor_set(struct tgs_graph *g, struct tgs_tensor *t, const float *host);
void tgs_tensor_get(struct tgs_graph *g, const struct tgs_tensor *t, float *host);
void tgs_tensor_get_grad(struct tgs_graph *g, const struct tgs_tensor *t, float *host);

/* Ops (op_*.c). Shapes in nn/ops.def. b may be NULL where marked [b]. */
struct tgs_tensor *tgs_conv2d(struct tgs_graph *g, struct tgs_tensor *x, struct tgs_tensor *w, struct tgs_tensor *b,
                              int stride, int pad, int dil);
struct tgs_tensor *tgs_convt2x2(struct tgs_graph *g, struct tgs_tensor *x, struct tgs_tensor *w, struct tgs_tensor *b);
struct tgs_tensor *tgs_linear(struct tgs_graph *g, struct tgs_tensor *x, struct tgs_tensor *w, struct tgs_tensor *b);
struct tgs_tensor *tgs_matmul(struct tgs_graph *g, struct tgs_tensor *a, struct tgs_tensor *b, int trans_a, int trans_b);
struct tgs_tensor *tgs_batchnorm(struct tgs_graph *g, struct tgs_tensor *x, struct tgs_tensor *gamma,
                                 struct tgs_tensor *beta, struct tgs_tensor *run_mean, struct tgs_tensor *run_var,
                                 float eps, float momentum, int relu);
/* relu(batchnorm(x) + r), r of x's shape: a ResNet block's end in one op */
struct tgs_tensor *tgs_batchnorm_add_relu(struct tgs_graph *g, struct tgs_tensor *x, struct tgs_tensor *gamma,
                                          struct tgs_tensor *beta, struct tgs_tensor *run_mean,
                                          struct tgs_tensor *run_var, float eps, float momentum, struct tgs_tensor *r);
struct tgs_tensor *tgs_layernorm(struct tgs_graph *g, struct tgs_tensor *x, struct tgs_tensor *gamma,
                                 struct tgs_tensor *beta, float eps);
struct tgs_tensor *tgs_relu(struct tgs_graph *g, struct tgs_tensor *x);
struct tgs_tensor *tgs_elu(struct tgs_graph *g, struct tgs_tensor *x, float alpha);
struct tgs_tensor *tgs_gelu(struct tgs_graph *g, struct tgs_tensor *x);
struct tgs_tensor *tgs_sigmoid(struct tgs_graph *g, struct tgs_tensor *x);
struct tgs_tensor *tgs_softmax(struct tgs_graph *g, struct tgs_tensor *x);
struct tgs_tensor *tgs_dropout(struct tgs_graph *g, struct tgs_tensor *x, float p);
struct tgs_tensor *tgs_dropout2d(struct tgs_graph *g, struct tgs_tensor *x, float p);
struct tgs_tensor *tgs_maxpool2(struct tgs_graph *g, struct tgs_tensor *x);
struct tgs_tensor *tgs_avgpool(struct tgs_graph *g, struct tgs_tensor *x, int k);
struct tgs_tensor *tgs_gap(struct tgs_graph *g, struct tgs_tensor *x);
struct tgs_tensor *tgs_upsample2(struct tgs_graph *g, struct tgs_tensor *x);
/* Concatenation along channels of xs[0..k-1], each first upsampled
 * steps[i] times by tgs_upsample2's bilinear x2 (the same bytes as those
 * nodes and tgs_concat), without the intermediate tensors: a U-Net
 * decoder's concat(upsample2(x), skip), a hypercolumn. k <= TGS_NN_MAX_SRC. */
struct tgs_tensor *tgs_upcat(struct tgs_graph *g, int k, struct tgs_tensor *const *xs, const int *steps);
struct tgs_tensor *tgs_add(struct tgs_graph *g, struct tgs_tensor *a, struct tgs_tensor *b);
struct tgs_tensor *tgs_mul(struct tgs_graph *g, struct tgs_tensor *a, struct tgs_tensor *b);
struct tgs_tensor *tgs_scale(struct tgs_graph *g, struct tgs_tensor *a, float s);
struct tgs_tensor *tgs_concat(struct tgs_graph *g, struct tgs_tensor *a, struct tgs_tensor *b);
struct tgs_tensor *tgs_reshape(struct tgs_graph *g, struct tgs_tensor *x, int ndim, const int32_t *ne);
struct tgs_tensor *tgs_permute(struct tgs_graph *g, struct tgs_tensor *x, const int32_t *axes);
struct tgs_tensor *tgs_window_partition(struct tgs_graph *g, struct tgs_tensor *x, int ws);
struct tgs_tensor *tgs_window_merge(struct tgs_graph *g, struct tgs_tensor *x, int ws, int h, int w);
struct tgs_tensor *tgs_roll(struct tgs_graph *g, struct tgs_tensor *x, int sh, int sw);
/* Swin's window attention logits plus what depends on the token positions
 * only (op_attn.c): scores (B*nW, heads, ws*ws, ws*ws) of the windows of
 * (B,h,w) images (rolled by -shift when shift > 0), table ((2ws-1)^2,
 * heads) the relative position bias; the mask of the shifted windows is
 * computed from the positions, so no constant tensor is needed. The table
 * may be a larger window's, ((2tw-1)^2, heads) with ws <= tw <= 32, of
 * which the offsets within ws are used: a model's parameters then keep
 * their shape when a small input makes a stage one window smaller than
 * the model's. */
struct tgs_tensor *tgs_attn_bias(struct tgs_graph *g, struct tgs_tensor *scores, struct tgs_tensor *table, int ws,
                                 int shift, int h, int w);
/* Losses (loss.c): a scalar tensor, weight * the loss; target gets no gradient. */
struct tgs_tensor *tgs_loss(struct tgs_graph *g, enum tgs_op kind, struct tgs_tensor *logits,
                            struct tgs_tensor *target, float weight);
struct tgs_tensor *tgs_loss_focal(struct tgs_graph *g, struct tgs_tensor *logits, struct tgs_tensor *target,
                                  float weight, float alpha, float gamma);

/* The generic node builder the ops above use: out gets shape ne, and a
 * gradient when any src has one. Returns NULL (and builds nothing) when
 * the graph already failed or a src is NULL. */
struct tgs_node *tgs_graph_add_node(struct tgs_graph *g, enum tgs_op op, int nsrc, struct tgs_tensor **src,
                                    int ndim, const int32_t *ne);
/* Record a build error (the first one wins) and return NULL, for builders:
 * `return tgs_graph_fail(g, "conv2d: x has %d channels, w wants %d", ...);` */
void *tgs_graph_fail(struct tgs_graph *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The backend a graph runs on (for builders that ask it for nothing but
 * tests that compare backends). */
const struct tgs_backend *tgs_graph_backend(const struct tgs_graph *g);

#endif
