"""PyTorch reference for a whole resunet training step (tests/unit/test_unetref.c,
case "resunet"), as gen_unetref.py is for unet-ref.

The model is lib/common/model.c's resunet, written in torch with the C
side's parameter names (so the state dict loads by name): a stem, residual
blocks (1x1 shortcut where the shape changes), a decoder of upsample +
concatenate + two conv-BN-ReLU + concurrent scSE per level, the hypercolumn
(every decoder level brought up by bilinear x2 steps, finest first), a
conv-BN-ReLU head and a 1x1 seg conv, and
the salt-presence linear on the deepest features' global average. Spec:
"resunet widths=4,8,12 blocks=1,1,1 scse=2 hypercolumn=1 dropout=0"
(level 0's block keeps its shape, so both shortcut kinds are crossed;
dropout off: its masks come from the C side's hash, which op_act's
references cover; no hcw: the stream format's 256 records a sample hold
this model's three copies of the state dict and no more), batch 2,
1 x 32 x 32.

Recorded as gen_unetref.py does: input and targets, every parameter and
buffer before training ("p:NAME"), outputs, loss and every gradient of the
first step ("g:NAME"), the losses of 3 Adam steps (lr 1e-3), every
parameter and buffer after them ("a:NAME").

Regenerate: /usr/bin/python3 tests/torch/gen_resunet.py"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from common import adam_steps, f32, save

WIDTHS, BLOCKS, SCSE_R = (4, 8, 12), (1, 1, 1), 2
SPEC = "resunet widths=4,8,12 blocks=1,1,1 scse=2 hypercolumn=1 dropout=0"


class ConvBN(nn.Module):
    """model.c's conv_bn_relu (k=3) and the hcw cut (k=1): names conv, bn"""

    def __init__(self, cin, cout, k=3):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, padding=k // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class Down(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1, stride, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return self.bn(self.conv(x))


class ResBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        if stride != 1 or cin != cout:
            self.down = Down(cin, cout, stride)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)

    def forward(self, x):
        sc = self.down(x) if hasattr(self, "down") else x
        return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))) + sc)


class CSE(nn.Module):
    def __init__(self, c, mid):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(c, mid), nn.Linear(mid, c)


class SCSE(nn.Module):
    def __init__(self, c, r):
        super().__init__()
        self.cse = CSE(c, max(c // r, 1))
        self.sse = nn.Conv2d(c, 1, 1)

    def forward(self, x):
        g = torch.sigmoid(self.cse.fc2(F.relu(self.cse.fc1(x.mean((2, 3))))))[:, :, None, None]
        return x * g + x * torch.sigmoid(self.sse(x))


class DecLevel(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.a, self.b, self.scse = ConvBN(cin, cout), ConvBN(cout, cout), SCSE(cout, SCSE_R)



def up(x, steps):
    for _ in range(steps):
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    return x


class ResUNet(nn.Module):
    def __init__(self):
        super().__init__()
        w, n = WIDTHS, len(WIDTHS)
        self.stem = ConvBN(1, w[0])
        self.enc = nn.ModuleList(
            nn.ModuleList(ResBlock(w[i - 1] if i and b == 0 else w[i], w[i], 2 if i and b == 0 else 1)
                          for b in range(BLOCKS[i])) for i in range(n))
        self.cls = nn.Linear(w[-1], 1)
        self.dec = nn.ModuleList(DecLevel(w[i + 1] + w[i], w[i]) for i in range(n - 2, -1, -1))
        self.head = ConvBN(sum(w[:-1]), w[0])
        self.seg = nn.Conv2d(w[0], 1, 1)

    def forward(self, x):
        x = self.stem(x)
        skip = []
        for level in self.enc:
            for blk in level:
                x = blk(x)
            skip.append(x)
        cls = self.cls(x.mean((2, 3)))
        dec = []
        for d, i in zip(self.dec, range(len(skip) - 2, -1, -1)):
            x = d.scse(d.b(d.a(torch.cat([up(x, 1), skip[i]], 1))))
            dec.append(x)
        x = torch.cat([up(dec[-1 - k], k) for k in range(len(dec))], 1)  # finest first
        return self.seg(self.head(x)), cls


def main():
    torch.manual_seed(0)
    model = ResUNet().double()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 1, 32, 32, generator=g).float().double()
    y = (torch.rand(2, 1, 32, 32, generator=g) > 0.5).double()
    c = torch.tensor([[1.0], [0.0]], dtype=torch.float64)
    with torch.no_grad():  # as gen_unetref.py: BN affine away from (1, 0), float32 values
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
        for t in model.state_dict().values():
            if t.is_floating_point():
                t.copy_(t.float().double())
    s = {"case": "resunet", "spec": SPEC, "x": f32(x), "y": f32(y), "c": f32(c)}
    for k, v in model.state_dict().items():
        if v.is_floating_point():
            s["p:" + k] = f32(v)
    adam_steps(model, x, y, c, s, s)
    save("tests/data/torch/resunet.tsr", [s])


if __name__ == "__main__":
    main()
