"""Reference cases for lib/common/nn/cpu/op_pool.c (maxpool2, avgpool, gap,
upsample2, upcat), read by tests/unit/test_op_pool.c; the case names and shapes
must match its table.

Regenerate (deterministic: fixed seeds):
    /usr/bin/python3 tests/torch/gen_op_pool.py
which writes tests/data/torch/op_pool.tsr.

Odd sizes throughout (pooling floors them). Widths are chosen so that the
C kernels' four-at-a-time paths and their scalar remainders both run.
maxpool_ties has values in {-1, 0, 1}, so most windows tie: torch gives the
gradient to the first maximum in row-major order."""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import rand, run_case, save  # noqa: E402


def up(x):
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def main():
    mp = lambda x: F.max_pool2d(x, 2)  # noqa: E731
    cases = [
        run_case("maxpool_7x9", mp, [rand((2, 3, 7, 9), 1)], seed=1),
        run_case("maxpool_6x19", mp, [rand((1, 2, 6, 19), 2)], seed=2),
        run_case("maxpool_2x2", mp, [rand((3, 1, 2, 2), 3)], seed=3),
        run_case("maxpool_ties", mp, [np.round(rand((2, 2, 4, 10), 4))], seed=4),
        run_case("avgpool_k2_7x9", lambda x: F.avg_pool2d(x, 2), [rand((2, 3, 7, 9), 5)], seed=5),
        run_case("avgpool_k3_7x9", lambda x: F.avg_pool2d(x, 3), [rand((2, 3, 7, 9), 6)], seed=6),
        run_case("avgpool_k1", lambda x: F.avg_pool2d(x, 1), [rand((2, 2, 3, 4), 7)], seed=7),
        run_case("gap_5x7", lambda x: x.mean(dim=(2, 3)), [rand((2, 3, 5, 7), 8)], seed=8),
        run_case("gap_1x1", lambda x: x.mean(dim=(2, 3)), [rand((2, 3, 1, 1), 9)], seed=9),
        run_case("upsample_1x1", up, [rand((2, 3, 1, 1), 10)], seed=10),
        run_case("upsample_3x5", up, [rand((2, 3, 3, 5), 11)], seed=11),
        run_case("upsample_8x8", up, [rand((2, 2, 8, 8), 12)], seed=12),
        run_case("upsample_5x13", up, [rand((1, 2, 5, 13), 13)], seed=13),
        run_case("upsample_2x1", up, [rand((1, 1, 2, 1), 14)], seed=14),
        # upcat: inputs upsampled 0, 1, 2 (and 3) times, then concatenated
        run_case("upcat_0_1_2", lambda a, b, c: torch.cat([a, up(b), up(up(c))], 1),
                 [rand((2, 2, 12, 8), 15), rand((2, 3, 6, 4), 16), rand((2, 1, 3, 2), 17)], seed=15),
        run_case("upcat_1_0", lambda a, b: torch.cat([up(a), b], 1),
                 [rand((1, 4, 5, 7), 18), rand((1, 2, 10, 14), 19)], seed=18),
        run_case("upcat_3", lambda a: up(up(up(a))), [rand((2, 2, 2, 3), 20)], seed=20),
    ]
    save("tests/data/torch/op_pool.tsr", cases)


if __name__ == "__main__":
    main()
