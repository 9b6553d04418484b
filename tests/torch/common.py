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
