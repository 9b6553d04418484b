"""PyTorch reference for a whole unet-ref training step (tests/unit/test_unetref.c).

The model is ../shared/bench/torch_ref.py's UNetRef, copied below (it is
checked against that file when ../shared is present), at small widths
(4, 8, 12, 16, 24) so the reference stays small: batch 2, 1 x 32 x 32.
Recorded, in float64 and stored as float32: the input and targets, every
parameter and buffer before training ("p:NAME"), the two outputs and the
loss of the first step, every parameter's gradient in that step
("g:NAME"), the loss of each of 3 Adam steps (lr 1e-3), and every
parameter and buffer after them ("a:NAME").

Regenerate: /usr/bin/python3 tests/torch/gen_unetref.py"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from common import TOP, adam_steps, f32, save


def block(cin, cout):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class UNetRef(nn.Module):
    def __init__(self, cin=1, widths=(16, 32, 64, 128, 256)):
        super().__init__()
        self.enc = nn.ModuleList()
        c = cin
        for w in widths:
            self.enc.append(block(c, w))
            c = w
        self.dec = nn.ModuleList()
        for w in reversed(widths[:-1]):
            self.dec.append(block(c + w, w))
            c = w
        self.seg = nn.Conv2d(c, 1, 1)
        self.cls = nn.Linear(widths[-1], 1)

    def forward(self, x):
        skips = []
        for i, b in enumerate(self.enc):
            x = b(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        deep = x
        for b, s in zip(self.dec, reversed(skips[:-1])):
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            x = b(torch.cat([x, s], 1))
        return self.seg(x), self.cls(deep.mean((2, 3)))


WIDTHS = (4, 8, 12, 16, 24)


def check_same_as_shared():
    path = os.path.join(TOP, "..", "shared", "bench")
    if not os.path.exists(os.path.join(path, "torch_ref.py")):
        print("../shared/bench/torch_ref.py absent: not compared")
        return
    sys.path.insert(0, path)
    import torch_ref
    torch.manual_seed(0)
    a = torch_ref.UNetRef(1, WIDTHS).state_dict()
    torch.manual_seed(0)
    b = UNetRef(1, WIDTHS).state_dict()
    assert list(a) == list(b) and all(a[k].shape == b[k].shape and torch.equal(a[k], b[k]) for k in a)
    print("same model as ../shared/bench/torch_ref.py")


def main():
    check_same_as_shared()
    torch.manual_seed(0)
    model = UNetRef(1, WIDTHS).double()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 1, 32, 32, generator=g).float().double()
    y = (torch.rand(2, 1, 32, 32, generator=g) > 0.5).double()
    c = torch.tensor([[1.0], [0.0]], dtype=torch.float64)
    # BN affine parameters away from their (1, 0) start, so a mistake in
    # how gamma or beta enter is seen; then float32-representable weights,
    # as the C side stores them
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
        for t in model.state_dict().values():
            if t.is_floating_point():
                t.copy_(t.float().double())
    s = {"case": "unetref", "x": f32(x), "y": f32(y), "c": f32(c)}
    for k, v in model.state_dict().items():
        if v.is_floating_point():
            s["p:" + k] = f32(v)
    adam_steps(model, x, y, c, s, s)
    save("tests/data/torch/unetref.tsr", [s])


if __name__ == "__main__":
    main()
