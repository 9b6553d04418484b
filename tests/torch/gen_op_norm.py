"""Reference cases for lib/common/nn/cpu/op_norm.c (batchnorm with and without the
fused ReLU, and with the fused residual add and ReLU, in training and eval
mode; layernorm), read by tests/unit/test_op_norm.c; the case names and
shapes must match its table.

Regenerate (deterministic: fixed seeds):
    /usr/bin/python3 tests/torch/gen_op_norm.py
which writes tests/data/torch/op_norm.tsr.

Batchnorm cases have inputs x, gamma, beta, running mean, running var (the
last two without gradient) and two more records, "run_mean" and "run_var":
the running statistics after the one forward, which torch updates in place
(a clone of in3/in4 is updated, so the records in3/in4 keep the values
before)."""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import f32, rand, run_case, save  # noqa: E402

EPS = 1e-5


def bn_case(name, xshape, seed, relu, training, momentum=0.1, xlo=-1.0, xhi=1.0, xgrad=True, residual=False):
    """residual: relu(bn(x) + r) with a sixth input r (with its gradient),
    bimodal with |r| >= 3 as the C test's fd inputs; relu is then implied."""
    C = xshape[1]
    after = {}

    def fn(x, gamma, beta, rm, rv, *r):
        rm2, rv2 = rm.clone(), rv.clone()
        y = F.batch_norm(x, rm2, rv2, gamma, beta, training=training, momentum=momentum, eps=EPS)
        after["run_mean"], after["run_var"] = rm2, rv2
        if r:
            return F.relu(y + r[0])
        return F.relu(y) if relu else y

    inputs = [rand(xshape, seed, xlo, xhi), rand((C,), seed + 1, 0.5, 1.5), rand((C,), seed + 2, -0.5, 0.5),
              rand((C,), seed + 3, -0.5, 0.5), rand((C,), seed + 4, 0.5, 2.0)]
    grad = [xgrad, True, True, False, False]
    if residual:
        r = rand(xshape, seed + 5, -1.0, 1.0)
        inputs.append((np.sign(r) * (3.0 + np.abs(r))).astype(np.float32))
        grad.append(True)
    s = run_case(name, fn, inputs, grad=grad, seed=seed)
    s["run_mean"] = f32(after["run_mean"])
    s["run_var"] = f32(after["run_var"])
    return s


def ln_case(name, xshape, seed, xlo=-1.0, xhi=1.0):
    C = xshape[-1]
    fn = lambda x, g, b: F.layer_norm(x, (C,), g, b, eps=EPS)  # noqa: E731
    return run_case(name, fn, [rand(xshape, seed, xlo, xhi), rand((C,), seed + 1, 0.5, 1.5),
                               rand((C,), seed + 2, -0.5, 0.5)], seed=seed)


def main():
    torch.manual_seed(0)
    cases = [
        bn_case("bn_train_4d", (2, 3, 5, 7), 1, relu=False, training=True),
        bn_case("bn_train_4d_relu", (2, 3, 5, 7), 11, relu=True, training=True),
        bn_case("bn_train_4d_big_relu", (4, 5, 9, 11), 21, relu=True, training=True, momentum=0.3),
        # a channel mean far from zero: the statistics must not cancel
        bn_case("bn_train_4d_offset", (3, 2, 6, 5), 31, relu=False, training=True, xlo=20.0, xhi=22.0),
        bn_case("bn_train_4d_xnograd", (2, 3, 4, 4), 41, relu=True, training=True, xgrad=False),
        bn_case("bn_train_2d", (6, 5), 51, relu=False, training=True),
        bn_case("bn_train_2d_relu", (32, 4), 61, relu=True, training=True),
        bn_case("bn_eval_4d", (2, 3, 5, 7), 71, relu=False, training=False),
        bn_case("bn_eval_4d_relu", (2, 3, 5, 7), 81, relu=True, training=False),
        bn_case("bn_eval_2d_relu", (6, 5), 91, relu=True, training=False),
        bn_case("bn_train_4d_add_relu", (2, 3, 5, 7), 131, relu=True, training=True, residual=True),
        bn_case("bn_eval_4d_add_relu", (2, 3, 5, 7), 141, relu=True, training=False, residual=True),
        ln_case("ln_2d", (4, 16), 101),
        ln_case("ln_3d", (2, 5, 7), 111),
        ln_case("ln_4d_offset", (2, 3, 2, 9), 121, xlo=30.0, xhi=31.0),
    ]
    save("tests/data/torch/op_norm.tsr", cases)


if __name__ == "__main__":
    main()
