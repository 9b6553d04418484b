"""Shared by the tests/torch/gen_*.py scripts: write PyTorch reference cases
that tests/unit/opcheck.h reads (one sample per case: "case", "in0".., "dout",
"out", "grad0"..). Run a generator with Debian's python3 (python3-torch,
python3-numpy): /usr/bin/python3 tests/torch/gen_op_X.py"""
import os
import sys

import numpy as np
import torch

TOP = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(TOP, "formats"))
import tgs_stream  # noqa: E402

torch.set_default_dtype(torch.float64)  # references in double, stored as float32


def f32(t):
    return np.ascontiguousarray(t.detach().cpu().numpy().astype(np.float32))


def adam_steps(model, x, y, c, first, after):
    """The whole-model reference: 3 Adam steps (lr 1e-3) on BCE(seg, y) +
    0.5 BCE(cls, c), as tests/unit/test_torch_models.c runs them. Into the
    dict first: step 1's outputs, loss and gradients ("g:" + name) and the
    3 losses; into after: every float tensor after the steps ("a:" + name)."""
    import torch.nn.functional as F

    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    losses = []
    for step in range(3):
        seg, cls = model(x)
        loss = F.binary_cross_entropy_with_logits(seg, y) + 0.5 * F.binary_cross_entropy_with_logits(cls, c)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if step == 0:
            first["seg"], first["cls"], first["loss"] = f32(seg), f32(cls), f32(loss.reshape(1))
            for k, q in model.named_parameters():
                first["g:" + k] = f32(q.grad)
        losses.append(loss.item())
        opt.step()
    first["losses"] = np.array(losses, dtype=np.float32)
    for k, v in model.state_dict().items():
        if v.is_floating_point():
            after["a:" + k] = f32(v)


def run_case(name, fn, inputs, grad=None, seed=0):
    """inputs: numpy arrays (float32 values); grad: which get gradients
    (default all). fn maps torch tensors to one output tensor. The inputs
    are rounded to float32 first so both sides start from the same values."""
    grad = [True] * len(inputs) if grad is None else grad
    ts = [torch.tensor(np.asarray(a, dtype=np.float32).astype(np.float64), requires_grad=g)
          for a, g in zip(inputs, grad)]
    out = fn(*ts)
    g = torch.Generator().manual_seed(seed)
    dout = (torch.rand(out.shape, generator=g) * 2 - 1).to(torch.float32).to(torch.float64)
    if any(grad):
        out.backward(dout)
    s = {"case": name}
    for i, t in enumerate(ts):
        s[f"in{i}"] = f32(t)
    s["dout"] = f32(dout)
    s["out"] = f32(out)
    for i, t in enumerate(ts):
        if grad[i]:
            s[f"grad{i}"] = f32(t.grad)
    return s


def rand(shape, seed, lo=-1.0, hi=1.0):
    r = np.random.default_rng(seed)
    return (lo + (hi - lo) * r.random(shape)).astype(np.float32)


def mask(shape, seed):
    return (np.random.default_rng(seed).random(shape) > 0.5).astype(np.float32)


def save(rel, samples):
    path = os.path.join(TOP, rel)
    tmp = path + ".tmp"
    tgs_stream.write(tmp, samples)
    os.replace(tmp, path)
    print(f"{rel}: {len(samples)} cases, {os.path.getsize(path)} bytes")
