"""PyTorch references for lib/common/nn/cpu/op_conv.c: conv2d, convt2x2, linear and
matmul. Regenerate (deterministic: fixed seeds) with
    /usr/bin/python3 tests/torch/gen_op_conv.py
which writes tests/data/torch/op_conv.tsr, read by tests/unit/test_op_conv.c.
The case names and input shapes must match the cases there. Torch runs in
float64 on inputs rounded to float32."""
import torch
import torch.nn.functional as F

from common import rand, run_case, save


def conv(stride, pad, dil):
    def f(x, w, b=None):
        return F.conv2d(x, w, b, stride=stride, padding=pad, dilation=dil)
    return f


def convt(x, w, b=None):
    return F.conv_transpose2d(x, w, b, stride=2)


def linear(x, w, b=None):
    return F.linear(x, w, b)


def matmul(ta, tb):
    def f(a, b):
        return (a.transpose(-1, -2) if ta else a) @ (b.transpose(-1, -2) if tb else b)
    return f


# (name, fn, input shapes, which inputs get gradients)
CASES = [
    # conv2d
    ("conv_3x3_p1", conv(1, 1, 1), [(2, 3, 7, 6), (5, 3, 3, 3)], None),
    ("conv_3x3_p1_bias", conv(1, 1, 1), [(3, 4, 5, 8), (6, 4, 3, 3), (6,)], None),
    ("conv_1x1_bias", conv(1, 0, 1), [(2, 4, 5, 7), (3, 4, 1, 1), (3,)], None),
    ("conv_1x1_pad1", conv(1, 1, 1), [(2, 2, 4, 5), (3, 2, 1, 1)], None),
    ("conv_5x5_s2_p2", conv(2, 2, 1), [(2, 3, 9, 11), (4, 3, 5, 5), (4,)], None),
    ("conv_3x3_s2_p1_nodx", conv(2, 1, 1), [(2, 3, 8, 7), (4, 3, 3, 3)], [False, True]),
    ("conv_dil2", conv(1, 2, 2), [(2, 2, 9, 8), (3, 2, 3, 3), (3,)], None),
    ("conv_2x3_p1", conv(1, 1, 1), [(2, 3, 6, 7), (4, 3, 2, 3)], None),
    ("conv_2x3_s2", conv(2, 0, 1), [(2, 3, 7, 9), (2, 3, 2, 3), (2,)], None),
    ("conv_batch5", conv(1, 1, 1), [(5, 6, 10, 9), (7, 6, 3, 3), (7,)], None),
    ("conv_3x3_p1_infer", conv(1, 1, 1), [(2, 3, 7, 6), (5, 3, 3, 3), (5,)], [False, False, False]),
    # convt2x2
    ("convt_bias", convt, [(2, 3, 4, 5), (3, 4, 2, 2), (4,)], None),
    ("convt_nobias", convt, [(3, 2, 3, 3), (2, 5, 2, 2)], None),
    # linear
    ("lin_2d_bias", linear, [(5, 7), (4, 7), (4,)], None),
    ("lin_2d_nobias", linear, [(3, 6), (5, 6)], None),
    ("lin_3d_bias", linear, [(2, 3, 6), (5, 6), (5,)], None),
    ("lin_3d_nobias", linear, [(2, 4, 5), (3, 5)], None),
    ("lin_4d_bias", linear, [(2, 2, 3, 4), (6, 4), (6,)], None),
    ("lin_big", linear, [(40, 48), (36, 48), (36,)], None),
]
for b in (0, 1):
    for ta in (0, 1):
        for tb in (0, 1):
            M, K, N, B = 4, 6, 5, 3
            sa = (K, M) if ta else (M, K)
            sb = (N, K) if tb else (K, N)
            if b:
                sa, sb = (B,) + sa, (B,) + sb
            CASES.append((f"mm_{'b' if b else '2d'}_{'t' if ta else 'n'}{'t' if tb else 'n'}", matmul(ta, tb),
                          [sa, sb], None))
CASES.append(("mm_b_big_nt", matmul(0, 1), [(4, 24, 20), (4, 28, 20)], None))


def main():
    samples = []
    for i, (name, fn, shapes, grad) in enumerate(CASES):
        inputs = [rand(s, seed=100 + 10 * i + j) for j, s in enumerate(shapes)]
        samples.append(run_case(name, fn, inputs, grad=grad, seed=i))
    # one tensor as both operands: both gradient contributions must add up
    samples.append(run_case("mm_self_nt", lambda a: a @ a.transpose(-1, -2), [rand((3, 4, 6), seed=999)], seed=99))
    samples.append(run_case("conv_self", lambda a: F.conv2d(a, a, padding=1), [rand((2, 2, 3, 3), seed=998)], seed=98))
    samples.append(run_case("convt_self", lambda a: F.conv_transpose2d(a, a, stride=2), [rand((2, 2, 2, 2), seed=997)],
                            seed=97))
    samples.append(run_case("lin_self", lambda a: F.linear(a, a), [rand((4, 4), seed=996)], seed=96))
    save("tests/data/torch/op_conv.tsr", samples)


if __name__ == "__main__":
    main()
