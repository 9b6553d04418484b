"""Reference cases for lib/common/nn/cpu/op_attn.c (attn_bias: Swin's
relative position bias and shifted-window mask added to attention
scores), read by tests/unit/test_op_attn.c; the case names and shapes must
match its table. The last case's table is a larger window's (a stage
smaller than the model's window). The bias and mask are the Swin reference code's
(swin_ref.py: relative_position_index, img_mask).

Regenerate (deterministic: fixed seeds):
    /usr/bin/python3 tests/torch/gen_op_attn.py
which writes tests/data/torch/op_attn.tsr."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import rand, run_case, save  # noqa: E402
from swin_ref import attn_bias  # noqa: E402

# name, images B, heads, ws, shift, H, W, the table's window tw
CASES = [("attn_bias_noshift", 2, 2, 2, 0, 4, 4, 2),
         ("attn_bias_shift", 1, 3, 4, 2, 8, 8, 4),
         ("attn_bias_shift_rect", 2, 2, 3, 1, 6, 9, 3),
         ("attn_bias_one_window", 2, 2, 4, 0, 4, 4, 4),
         ("attn_bias_table_of_7", 2, 2, 3, 0, 3, 3, 7)]


def main():
    cases = []
    seed = 300
    for name, B, heads, ws, shift, H, W, tw in CASES:
        BW, N = B * (H // ws) * (W // ws), ws * ws
        s, t = rand((BW, heads, N, N), seed), rand(((2 * tw - 1) ** 2, heads), seed + 1)
        cases.append(run_case(name, lambda s, t, a=(ws, shift, H, W): attn_bias(s, t, *a), [s, t], seed=seed))
        seed += 2
    save("tests/data/torch/op_attn.tsr", cases)


if __name__ == "__main__":
    main()
