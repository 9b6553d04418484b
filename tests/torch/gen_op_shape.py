"""Reference cases for lib/common/nn/cpu/op_shape.c (reshape, permute, window
partition and merge, roll), read by tests/unit/test_op_shape.c; the case
names and shapes must match its table. The window and roll references are
the Swin-Transformer reference code's (microsoft/Swin-Transformer,
models/swin_transformer.py: window_partition, window_reverse, torch.roll).

Regenerate (deterministic: fixed seeds):
    /usr/bin/python3 tests/torch/gen_op_shape.py
which writes tests/data/torch/op_shape.tsr."""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import rand, run_case, save  # noqa: E402


def window_partition(x, ws):
    B, H, W, C = x.shape
    x = x.view(B, H // ws, ws, W // ws, ws, C)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, ws * ws, C)


def window_reverse(windows, ws, H, W):
    B = windows.shape[0] // (H * W // ws // ws)
    x = windows.view(B, H // ws, W // ws, ws, ws, -1)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(B, H, W, -1)


RESHAPES = [("reshape_4d_2d", (2, 3, 4, 5), (6, 20)), ("reshape_3d_4d", (2, 3, 10), (2, 5, 3, 2)),
            ("reshape_2d_1d", (3, 7), (21,))]
PERMUTES = [("permute_2d_10", (5, 7), (1, 0)),
            ("permute_3d_021", (2, 3, 4), (0, 2, 1)),
            ("permute_3d_201", (2, 3, 4), (2, 0, 1)),
            ("permute_3d_102", (3, 4, 5), (1, 0, 2)),
            ("permute_4d_0231", (2, 3, 4, 5), (0, 2, 3, 1)),
            ("permute_4d_0312", (2, 3, 4, 5), (0, 3, 1, 2)),
            ("permute_4d_0213", (2, 3, 4, 5), (0, 2, 1, 3)),
            ("permute_4d_3210", (2, 3, 4, 5), (3, 2, 1, 0)),
            ("permute_4d_1302", (2, 3, 4, 5), (1, 3, 0, 2)),
            ("permute_4d_0123", (2, 3, 4, 5), (0, 1, 2, 3))]
WINDOW_PARTS = [("window_part_ws2", (2, 4, 6, 3), 2), ("window_part_ws4", (2, 8, 4, 3), 4),
                ("window_part_ws4_wide", (2, 4, 8, 3), 4)]
WINDOW_MERGES = [("window_merge_ws2", (12, 4, 3), 2, 4, 6), ("window_merge_ws4", (4, 16, 3), 4, 8, 4)]
ROLLS = [("roll_p1p2", (2, 5, 6, 3), 1, 2), ("roll_m2m3", (2, 5, 6, 3), -2, -3),
         ("roll_swin_shift", (2, 8, 8, 3), -2, -2), ("roll_swin_back", (2, 8, 8, 3), 2, 2),
         ("roll_beyond", (2, 5, 6, 3), 7, -13), ("roll_0m1", (1, 4, 4, 2), 0, -1)]


def main():
    cases = []
    seed = 100
    for name, shape, ne in RESHAPES:
        cases.append(run_case(name, lambda x, ne=ne: x.reshape(ne), [rand(shape, seed)], seed=seed))
        seed += 1
    for name, shape, axes in PERMUTES:
        cases.append(run_case(name, lambda x, a=axes: x.permute(*a), [rand(shape, seed)], seed=seed))
        seed += 1
    for name, shape, ws in WINDOW_PARTS:
        cases.append(run_case(name, lambda x, ws=ws: window_partition(x, ws), [rand(shape, seed)], seed=seed))
        seed += 1
    for name, shape, ws, h, w in WINDOW_MERGES:
        cases.append(run_case(name, lambda x, ws=ws, h=h, w=w: window_reverse(x, ws, h, w), [rand(shape, seed)],
                              seed=seed))
        seed += 1
    for name, shape, sh, sw in ROLLS:
        cases.append(run_case(name, lambda x, s=(sh, sw): torch.roll(x, shifts=s, dims=(1, 2)), [rand(shape, seed)],
                              seed=seed))
        seed += 1
    # forward only, in an inference plan: the shifted-window data path
    # roll -> partition -> merge -> roll back, then to channels first
    cases.append(run_case(
        "infer_swin_path",
        lambda x: torch.roll(window_reverse(window_partition(torch.roll(x, (-2, -2), (1, 2)), 4), 4, 8, 12),
                             (2, 2), (1, 2)).permute(0, 3, 1, 2),
        [rand((2, 8, 12, 3), seed)], grad=[False], seed=seed))
    save("tests/data/torch/op_shape.tsr", cases)


if __name__ == "__main__":
    main()
