"""Reference cases for lib/common/nn/cpu/op_act.c (relu, elu, gelu, sigmoid,
softmax, dropout, dropout2d), read by tests/unit/test_op_act.c; the case
names and shapes must match its table.

Regenerate (deterministic: fixed seeds):
    /usr/bin/python3 tests/torch/gen_op_act.py
which writes tests/data/torch/op_act.tsr.

Dropout's masks cannot come from torch's generator: the C op hashes (node
seed, step, index), so this script computes the same hash (drop_mask below,
op_act.c's comment describes it) and has torch apply the mask with the
inverted 1/(1-p) scaling, as torch.nn.Dropout/Dropout2d do. The test graph
holds the dropout as its node 0 and runs at step 0."""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import rand, run_case, save  # noqa: E402

M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def drop_mask(n, p, node_index=0, step=0):
    """keep (1.0) or drop (0.0) for elements (or planes) 0..n-1"""
    seed = mix64((node_index * GOLDEN + 0x632BE59BD9B4E019) & M64)
    key = mix64(seed ^ mix64(step))
    thr = int(float(np.float32(p)) * 2.0 ** 32)
    keep = np.empty(n)
    for e in range(n):
        h = mix64((key + ((e >> 1) + 1) * GOLDEN) & M64)
        bits = (h >> 32) if e & 1 else (h & 0xFFFFFFFF)
        keep[e] = 0.0 if bits < thr else 1.0
    return keep


def dropout_fn(shape, p):
    m = torch.tensor(drop_mask(int(np.prod(shape)), p).reshape(shape))
    return lambda x: x * m / (1 - float(np.float32(p)))


def dropout2d_fn(shape, p):
    m = torch.tensor(drop_mask(shape[0] * shape[1], p).reshape(shape[0], shape[1], 1, 1))
    return lambda x: x * m / (1 - float(np.float32(p)))


def main():
    torch.manual_seed(0)
    A = (2, 3, 5, 7)
    sm = lambda x: torch.softmax(x, dim=-1)  # noqa: E731
    cases = [
        run_case("relu", F.relu, [rand(A, 1)], seed=1),
        run_case("elu_1", lambda x: F.elu(x, alpha=1.0), [rand(A, 2, -3, 3)], seed=2),
        run_case("elu_05", lambda x: F.elu(x, alpha=0.5), [rand(A, 3, -3, 3)], seed=3),
        run_case("gelu", F.gelu, [rand(A, 4, -4, 4)], seed=4),
        run_case("sigmoid", torch.sigmoid, [rand(A, 5, -12, 12)], seed=5),
        run_case("sigmoid_2d", torch.sigmoid, [rand((4, 9), 6, -3, 3)], seed=6),
        run_case("softmax_rows7", sm, [rand((3, 4, 7), 7, -3, 3)], seed=7),
        # exp(100) overflows float: only the max-subtracted form survives
        run_case("softmax_big", sm, [rand((3, 7), 8, -50, 100)], seed=8),
        run_case("softmax_1", sm, [rand((5, 1), 9)], seed=9),
        run_case("dropout_2d", dropout_fn((6, 11), 0.3), [rand((6, 11), 10)], seed=10),
        run_case("dropout_4d", dropout_fn(A, 0.5), [rand(A, 11)], seed=11),
        run_case("dropout2d", dropout2d_fn((3, 4, 5, 6), 0.5), [rand((3, 4, 5, 6), 12)], seed=12),
    ]
    save("tests/data/torch/op_act.tsr", cases)


if __name__ == "__main__":
    main()
