"""Reference cases for lib/common/nn/cpu/op_elem.c (add, mul, scale, concat), read by
tests/unit/test_op_elem.c; the case names and shapes must match its table.

Regenerate (deterministic: fixed seeds):
    /usr/bin/python3 tests/torch/gen_op_elem.py
which writes tests/data/torch/op_elem.tsr."""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import rand, run_case, save  # noqa: E402

A = (2, 3, 5, 7)  # (N,C,H,W), odd sizes
# the broadcast patterns of b against A: none, channel gate, spatial gate,
# per-channel bias, scalar
PATTERNS = [("none", A), ("nc11", (2, 3, 1, 1)), ("n1hw", (2, 1, 5, 7)), ("1c11", (1, 3, 1, 1)),
            ("1111", (1, 1, 1, 1))]


def main():
    torch.manual_seed(0)
    cases = []
    seed = 1
    for opname, fn in (("add", lambda a, b: a + b), ("mul", lambda a, b: a * b)):
        for pat, bshape in PATTERNS:
            cases.append(run_case(f"{opname}_{pat}", fn, [rand(A, seed), rand(bshape, seed + 1)], seed=seed))
            seed += 2
        # 2-D and 3-D shapes: a (N,C) row bias, a (B,L,C) broadcast along L
        cases.append(run_case(f"{opname}_2d", fn, [rand((3, 7), seed), rand((1, 7), seed + 1)], seed=seed))
        cases.append(run_case(f"{opname}_3d", fn, [rand((2, 5, 4), seed + 2), rand((2, 1, 4), seed + 3)],
                              seed=seed + 2))
        seed += 4
        # only one side wants a gradient
        cases.append(run_case(f"{opname}_b_nograd", fn, [rand(A, seed), rand((1, 3, 1, 1), seed + 1)],
                              grad=[True, False], seed=seed))
        cases.append(run_case(f"{opname}_a_nograd", fn, [rand(A, seed + 2), rand((2, 1, 5, 7), seed + 3)],
                              grad=[False, True], seed=seed + 2))
        seed += 4
        # the same tensor on both sides: x + x, x * x
        cases.append(run_case(f"{opname}_self", lambda x, f=fn: f(x, x), [rand(A, seed)], seed=seed))
        seed += 1
    cases.append(run_case("scale_4d", lambda a: a * -0.75, [rand(A, seed)], seed=seed))
    cases.append(run_case("scale_2d", lambda a: a * 2.5, [rand((3, 7), seed + 1)], seed=seed + 1))
    seed += 2
    cat = lambda a, b: torch.cat([a, b], dim=1)  # noqa: E731
    cases.append(run_case("concat_4d", cat, [rand((2, 3, 5, 7), seed), rand((2, 2, 5, 7), seed + 1)], seed=seed))
    cases.append(run_case("concat_2d", cat, [rand((3, 4), seed + 2), rand((3, 5), seed + 3)], seed=seed + 2))
    cases.append(run_case("concat_3d", cat, [rand((2, 3, 5), seed + 4), rand((2, 1, 5), seed + 5)], seed=seed + 4))
    cases.append(run_case("concat_b_nograd", cat, [rand((2, 1, 3, 3), seed + 6), rand((2, 4, 3, 3), seed + 7)],
                          grad=[True, False], seed=seed + 6))
    cases.append(run_case("concat_self", lambda x: torch.cat([x, x], dim=1), [rand((2, 3, 4, 5), seed + 8)],
                          seed=seed + 8))
    # forward only, in an inference plan: cat(a * gate, a + bias)
    cases.append(run_case("infer_chain", lambda a, g, b: torch.cat([a * g, a + b], dim=1),
                          [rand(A, seed + 9), rand((2, 3, 1, 1), seed + 10), rand((1, 3, 1, 1), seed + 11)],
                          grad=[False] * 3, seed=seed + 9))
    save("tests/data/torch/op_elem.tsr", cases)


if __name__ == "__main__":
    main()
