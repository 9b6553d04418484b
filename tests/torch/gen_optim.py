"""Reference numbers for lib/common/nn/optim.c, from PyTorch.

Regenerate (deterministic: fixed seeds, one thread; commit the result):
    /usr/bin/python3 tests/torch/gen_optim.py
which writes tests/data/torch/optim.tsr, read by tests/unit/test_optim.c.

The file is a tensor stream (formats/tensor-stream.md), one sample per case;
every sample has a "test" string saying which of these it is:

  meta   torch: the torch version that wrote the file
  optim  case, optim ("sgd"/"adam"/"adamw"), momentum, weight_decay, beta1,
         beta2, eps (f32), nesterov (i32), lrs (f32, steps): the lr of each
         step, param0 (f32, n), grads (f32, steps x n), params (f32, steps x n):
         the params after each step, state (f32, k x n, absent when k is 0):
         the state after the last step, in optim.h's layout (momentum_buffer,
         or exp_avg then exp_avg_sq)
  sched  case, spec: the schedule in tgs_sched_parse's grammar, base_lr (f32),
         lrs (f64, steps): torch's lr at t = 0, 1, ...
  clip   case, max_norm (f64), count (i32), g0.. (f32): the grads before,
         total (f64): the norm torch returned, a0.. (f32): the grads after

Every hyperparameter is rounded to float32 before torch sees it, so torch
and the C code (whose options are floats) start from the same numbers.
"""
import os
import sys

import numpy as np
import torch

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "formats"))
import tgs_stream  # noqa: E402

OUT = os.path.join(TOP, "tests", "data", "torch", "optim.tsr")


def f32(x):
    """x rounded to float32, as a Python float."""
    return float(np.float32(x))


def optim_case(rng, name, kind, lrs, n=37, momentum=0.0, nesterov=False, weight_decay=0.0,
               betas=(0.9, 0.999), eps=1e-8):
    """Run torch's optimizer for len(lrs) steps on one tensor of n params."""
    steps = len(lrs)
    lrs = [f32(x) for x in lrs]
    momentum, weight_decay, eps = f32(momentum), f32(weight_decay), f32(eps)
    betas = (f32(betas[0]), f32(betas[1]))
    p0 = rng.standard_normal(n).astype(np.float32)
    # gradients over four decades, with an exact zero and a sign flip between
    # steps, so small, large and vanishing updates are all exercised
    grads = (rng.standard_normal((steps, n)) * 10.0 ** rng.uniform(-3, 1, (steps, n))).astype(np.float32)
    grads[:, 3] = 0.0
    grads[1::2, 5] = -grads[0::2, 5][: grads[1::2, 5].shape[0]]

    p = torch.nn.Parameter(torch.tensor(p0))
    if kind == "sgd":
        opt = torch.optim.SGD([p], lr=lrs[0], momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
    elif kind == "adam":
        opt = torch.optim.Adam([p], lr=lrs[0], betas=betas, eps=eps, weight_decay=weight_decay)
    else:
        opt = torch.optim.AdamW([p], lr=lrs[0], betas=betas, eps=eps, weight_decay=weight_decay)
    params = np.zeros((steps, n), np.float32)
    for k in range(steps):
        p.grad = torch.tensor(grads[k])
        for group in opt.param_groups:
            group["lr"] = lrs[k]
        opt.step()
        params[k] = p.detach().numpy()
    st = opt.state[p]
    if kind == "sgd":
        state = [st["momentum_buffer"]] if momentum != 0.0 else []
    else:
        state = [st["exp_avg"], st["exp_avg_sq"]]

    sample = {
        "test": "optim", "case": name, "optim": kind,
        "momentum": np.float32(momentum), "nesterov": np.int32(nesterov),
        "weight_decay": np.float32(weight_decay), "beta1": np.float32(betas[0]),
        "beta2": np.float32(betas[1]), "eps": np.float32(eps),
        "lrs": np.array(lrs, np.float32), "param0": p0, "grads": grads, "params": params,
    }
    if state:
        sample["state"] = np.stack([s.detach().numpy() for s in state]).astype(np.float32)
    return sample


def lrs_of(make_sched, base_lr, steps):
    """torch's lr at t = 0 .. steps-1 for the scheduler make_sched(optimizer)."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=base_lr)
    sched = make_sched(opt)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()  # no grads: a no-op that keeps torch from warning about the order
        sched.step()
    return np.array(out, np.float64)


def sched_cases(steps=50):
    L = torch.optim.lr_scheduler
    out = []

    def add(name, spec, base_lr, make_sched=None, lrs=None):
        base_lr = f32(base_lr)
        if lrs is None:
            lrs = lrs_of(make_sched, base_lr, steps)
        out.append({"test": "sched", "case": name, "spec": spec, "base_lr": np.float32(base_lr),
                    "lrs": np.asarray(lrs, np.float64)})

    add("step", "step:7:0.5", 0.1, lambda o: L.StepLR(o, step_size=7, gamma=f32(0.5)))
    add("step_gamma_0.1", "step:10:0.1", 0.3, lambda o: L.StepLR(o, step_size=10, gamma=f32(0.1)))
    # restarts at 5, 15, 35
    add("cosine_restarts", "cosine:5:2:1e-4", 0.1,
        lambda o: L.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2, eta_min=f32(1e-4)))
    add("cosine_tmult1", "cosine:12", 0.05, lambda o: L.CosineAnnealingWarmRestarts(o, T_0=12))
    add("cosine_tmult3", "cosine:3:3:0.001", 1.0,
        lambda o: L.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=3, eta_min=f32(0.001)))
    W = 10
    add("warmup_constant", "constant,warmup=10", 0.01, lambda o: L.LambdaLR(o, lambda t: min(1.0, (t + 1) / W)))
    add("constant", "constant", 0.02, lambda o: L.LambdaLR(o, lambda t: 1.0))
    Wn, d = 20, 64
    add("noam", "noam:20:64,lr=2", 2.0,
        lambda o: L.LambdaLR(o, lambda t: d ** -0.5 * min((t + 1) ** -0.5, (t + 1) * Wn ** -1.5)))
    # warmup on top of another kind multiplies: torch's ChainedScheduler of a
    # LinearLR from 1/W to 1 over W-1 steps and the kind's own scheduler
    Ws = 5
    add("warmup_step", "step:7:0.5,warmup=5", 0.1,
        lambda o: L.ChainedScheduler([L.LinearLR(o, start_factor=1.0 / Ws, end_factor=1.0, total_iters=Ws - 1),
                                      L.StepLR(o, step_size=7, gamma=f32(0.5))]))
    # CosineAnnealingWarmRestarts is not chainable, so the same product by hand
    # from torch's own cosine numbers
    Wc = 8
    cos = lrs_of(lambda o: L.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2, eta_min=f32(1e-4)), f32(0.1), steps)
    add("warmup_cosine", "cosine:5:2:1e-4,warmup=8", 0.1,
        lrs=[c * min(1.0, (t + 1) / Wc) for t, c in enumerate(cos)])
    # the warmup rule written out, to catch a ChainedScheduler that means
    # something else in another torch version
    ws = out[-2]["lrs"]
    want = [f32(0.1) * 0.5 ** (t // 7) * min(1.0, (t + 1) / Ws) for t in range(steps)]
    assert np.allclose(ws, want, rtol=1e-12), "ChainedScheduler(LinearLR, StepLR) is not the product"
    return out


def clip_cases(rng):
    out = []
    for name, sizes, max_norm in [("clip_above", (5, 37, 100), 1.0), ("clip_below", (5, 37, 100), 100.0),
                                  ("clip_single", (64,), 0.5), ("clip_tiny", (3, 1), 1e-3)]:
        grads = [rng.standard_normal(s).astype(np.float32) for s in sizes]
        ps = []
        for g in grads:
            p = torch.nn.Parameter(torch.zeros(g.shape))
            p.grad = torch.tensor(g)
            ps.append(p)
        total = float(torch.nn.utils.clip_grad_norm_(ps, max_norm))
        s = {"test": "clip", "case": name, "max_norm": np.float64(max_norm), "count": np.int32(len(sizes))}
        for k, g in enumerate(grads):
            s["g%d" % k] = g
        s["total"] = np.float64(total)
        for k, p in enumerate(ps):
            s["a%d" % k] = p.grad.detach().numpy().astype(np.float32)
        out.append(s)
    return out


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    rng = np.random.RandomState(20240611)
    samples = [{"test": "meta", "torch": torch.__version__}]
    samples += [
        optim_case(rng, "sgd", "sgd", [0.1] * 6),
        optim_case(rng, "sgd_wd_lr_varying", "sgd", [0.1, 0.05, 0.2, 0.01, 0.1, 0.07], weight_decay=0.01),
        optim_case(rng, "sgd_momentum", "sgd", [0.05] * 6, momentum=0.9),
        optim_case(rng, "sgd_momentum_wd", "sgd", [0.1, 0.05, 0.02, 0.1, 0.1, 0.01], momentum=0.9,
                   weight_decay=1e-3),
        optim_case(rng, "sgd_nesterov", "sgd", [0.05] * 6, momentum=0.9, nesterov=True, weight_decay=0.01),
        optim_case(rng, "sgd_block_tail", "sgd", [0.01] * 5, n=67, momentum=0.5, nesterov=True),
        optim_case(rng, "adam", "adam", [1e-3] * 6),
        optim_case(rng, "adam_wd", "adam", [1e-3, 2e-3, 5e-4, 1e-3, 3e-3, 1e-3], weight_decay=0.01,
                   betas=(0.8, 0.99), eps=1e-6),
        optim_case(rng, "adam_long", "adam", [3e-3] * 30, n=19),
        optim_case(rng, "adamw", "adamw", [3e-3] * 6, weight_decay=0.01),
        optim_case(rng, "adamw_strong_decay", "adamw", [0.01, 0.02, 0.005, 0.01, 0.01, 0.03], n=67,
                   weight_decay=0.5, betas=(0.5, 0.9), eps=1e-4),
    ]
    samples += sched_cases()
    samples += clip_cases(rng)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    tgs_stream.write(OUT, samples)
    print("%s: %d samples, %d bytes (torch %s)" % (os.path.relpath(OUT, TOP), len(samples), os.path.getsize(OUT),
                                                  torch.__version__))


if __name__ == "__main__":
    main()
