/* sim: a backend that runs anywhere and holds host code to the device
 * contract. It computes with the CPU backend's kernels, so its results are
 * the CPU's bytes, but its memory is what a GPU's is to the host: out of
 * reach. Every allocation is its own mapping kept PROT_NONE, and opened
 * (read and write) only for the length of a backend call: an op's forward
 * or backward, an upload, a download, an optimizer update. A host read or
 * write of tensor memory anywhere else is a SIGSEGV at the line that did
 * it. It also counts the bytes that cross each way, the figure a CUDA
 * backend's transfers will have.
 *
 * One process, one set of mappings: calls nest (an op may be run from
 * inside another backend call), so the memory closes when the outermost
 * call returns. Not for two threads calling the backend at once; the CPU
 * kernels' own worker threads run inside a call, while it is open. */
#include "nn/nn.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct region {
    void *p;
    size_t len; /* whole pages */
};

static struct {
    struct region *r;
    int n, cap;
    int depth; /* backend calls under way */
    struct tgs_traffic traffic;
} sim;

static const struct tgs_backend *cpu(void) { return tgs_backend_cpu(); }

static void protect_all(int prot) {
    for (int i = 0; i < sim.n; i++) mprotect(sim.r[i].p, sim.r[i].len, prot);
}

static void open_mem(void) {
    if (sim.depth++ == 0) protect_all(PROT_READ | PROT_WRITE);
}

static void close_mem(void) {
    if (--sim.depth == 0) protect_all(PROT_NONE);
}

static void *sim_alloc(size_t bytes) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t len = (bytes + page - 1) / page * page;
    if (len == 0) len = page;
    if (sim.n == sim.cap) {
        int cap = sim.cap ? 2 * sim.cap : 64;
        struct region *r = realloc(sim.r, sizeof *r * (size_t)cap);
        if (!r) return NULL;
        sim.r = r, sim.cap = cap;
    }
    /* anonymous pages come zeroed, as alloc promises */
    void *p = mmap(NULL, len, sim.depth ? PROT_READ | PROT_WRITE : PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    sim.r[sim.n++] = (struct region){p, len};
    return p;
}

static void sim_free(void *p) {
    for (int i = 0; i < sim.n; i++)
        if (sim.r[i].p == p) {
            munmap(p, sim.r[i].len);
            sim.r[i] = sim.r[--sim.n];
            return;
        }
}

static void sim_zero(float *p, int64_t n) {
    open_mem();
    cpu()->zero(p, n);
    close_mem();
}

static void sim_upload(float *dst, const float *host, int64_t n) {
    open_mem();
    cpu()->upload(dst, host, n);
    close_mem();
    sim.traffic.up_bytes += (uint64_t)n * sizeof(float), sim.traffic.up_calls++;
}

static void sim_download(float *host, const float *src, int64_t n) {
    open_mem();
    cpu()->download(host, src, n);
    close_mem();
    sim.traffic.down_bytes += (uint64_t)n * sizeof(float), sim.traffic.down_calls++;
}

static void sim_copy(float *dst, const float *src, int64_t n) {
    open_mem();
    cpu()->copy(dst, src, n);
    close_mem();
}

static void sim_optim_update(const struct tgs_optim_opts *o, float lr, int64_t step, float *param, const float *grad,
                             float *state, int64_t n) {
    open_mem();
    cpu()->optim_update(o, lr, step, param, grad, state, n);
    close_mem();
}

static double sim_clip_grad_norm(float *const *grads, const int64_t *sizes, int count, double max_norm) {
    open_mem();
    double norm = cpu()->clip_grad_norm(grads, sizes, count, max_norm);
    close_mem();
    return norm;
}

static void sim_ema_update(float *avg, const float *x, int64_t n, float decay) {
    open_mem();
    cpu()->ema_update(avg, x, n, decay);
    close_mem();
}

static void sim_swap(float *a, float *b, int64_t n) {
    open_mem();
    cpu()->swap(a, b, n);
    close_mem();
}

static int sim_threads(void) { return cpu()->threads(); }

static void sim_traffic(struct tgs_traffic *t) { *t = sim.traffic; }

/* Every op is the CPU's, run with the memory open. The sizes an op asks
 * for are worked out from shapes alone, on the host. */
static int sim_forward(struct tgs_node *n, const struct tgs_exec *x) {
    open_mem();
    int rc = cpu()->ops[n->op]->forward(n, x);
    close_mem();
    return rc;
}

static int sim_backward(struct tgs_node *n, const struct tgs_exec *x) {
    open_mem();
    int rc = cpu()->ops[n->op]->backward(n, x);
    close_mem();
    return rc;
}

static int64_t sim_saved_floats(const struct tgs_node *n) {
    const struct tgs_op_impl *c = cpu()->ops[n->op];
    return c->saved_floats ? c->saved_floats(n) : 0;
}

static int64_t sim_work_floats(const struct tgs_node *n) {
    const struct tgs_op_impl *c = cpu()->ops[n->op];
    return c->work_floats ? c->work_floats(n) : 0;
}

static const struct tgs_op_impl sim_op = {
    .forward = sim_forward,
    .backward = sim_backward,
    .saved_floats = sim_saved_floats,
    .work_floats = sim_work_floats,
};

/* The CPU's table with each entry the wrapper above (where the CPU has
 * the op: a graph holding one it lacks is refused by the plan). */
static const struct tgs_op_impl *sim_ops[TGS_OP_COUNT];

static struct tgs_backend sim_backend = {
    .name = "sim",
    .alloc = sim_alloc,
    .free = sim_free,
    .zero = sim_zero,
    .upload = sim_upload,
    .download = sim_download,
    .copy = sim_copy,
    .optim_update = sim_optim_update,
    .clip_grad_norm = sim_clip_grad_norm,
    .ema_update = sim_ema_update,
    .swap = sim_swap,
    .threads = sim_threads,
    .traffic = sim_traffic,
    .ops = sim_ops,
};

const struct tgs_backend *tgs_backend_sim(void) {
    if (!sim_backend.ctx) {
        for (int op = 0; op < TGS_OP_COUNT; op++) sim_ops[op] = cpu()->ops[op] ? &sim_op : NULL;
        sim_backend.ctx = &sim;
    }
    return &sim_backend;
}
