"""PyTorch references for swinunet (tests/unit/test_torch_models.c):

  swin_blocks  two Swin blocks on x (2,8,8,16), 2 heads, window 4, MLP
               ratio 2: the first unshifted, the second shifted by 2 with
               Swin's mask (swin_ref.py: the reference code's
               window_partition, roll and img_mask); output, input gradient
               and every parameter's gradient for a random output gradient.
  swinunet     a whole training step of lib/common/nn/model.c's swinunet,
               written in torch with the C side's parameter names, as
               gen_resunet.py is for resunet: the stem (conv-BN-ReLU, then
               a stride-2 residual block), the 4x4 patch embedding + LN, two
               stages of two blocks (stage 0 at side 8 shifts its second
               block; stage 1 at side 4 = window takes one unshifted
               window), patch merging (2x2 tokens concatenated row-major,
               LN, linear without bias), each stage's LN-ed tokens as a
               level, and resunet's decoder, hypercolumn cut to hcw, head
               and presence head. Spec below, batch 2, 1 x 32 x 32; drop
               path and dropout off (their masks are the C side's hash).
               Recorded as gen_resunet.py does, over three samples of the
               same case name (a sample holds at most 256 records): the
               parameters before ("p:"), the first step's outputs and
               gradients ("g:"), and the parameters after 3 Adam steps
               ("a:").

  swinunet_conv  the same with tokens=conv: stage 0's tokens a 3x3
               stride-2 conv (with bias) of the stem's stride-2 level, not
               the 4x4 patch embedding of the pixels; its own file.

Regenerate: /usr/bin/python3 tests/torch/gen_swinunet.py"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import adam_steps, f32, save  # noqa: E402
from gen_resunet import ConvBN, DecLevel, ResBlock, up  # noqa: E402
from swin_ref import SwinBlock  # noqa: E402

SPEC = ("swinunet embed=8 depths=2,2 heads=2,4 window=4 mlp=2 drop_path=0 stem=4,8 dropout=0 scse=2 "
        "hypercolumn=1 hcw=3")
STEM, EMBED, DEPTHS, HEADS, WINDOW, MLP, HCW, SIDE = (4, 8), 8, (2, 2), (2, 4), 4, 2, 3, 32


class Merge(nn.Module):
    def __init__(self, C):
        super().__init__()
        self.norm, self.reduction = nn.LayerNorm(4 * C), nn.Linear(4 * C, 2 * C, bias=False)

    def forward(self, x):
        B, H, W, C = x.shape
        x = x.reshape(B, H // 2, 2, W // 2, 2, C).permute(0, 1, 3, 2, 4, 5).reshape(B, H // 2, W // 2, 4 * C)
        return self.reduction(self.norm(x))


class Stage(nn.Module):
    def __init__(self, i, C, side):
        super().__init__()
        if i:
            self.merge = Merge(C // 2)
        ws = min(side, WINDOW)
        self.blocks = nn.ModuleList(
            SwinBlock(C, HEADS[i], ws, WINDOW // 2 if b % 2 and side > WINDOW else 0, MLP) for b in range(DEPTHS[i]))
        self.norm = nn.LayerNorm(C)

    def forward(self, x):
        if hasattr(self, "merge"):
            x = self.merge(x)
        for b in self.blocks:
            x = b(x)
        return x, self.norm(x).permute(0, 3, 1, 2)


class PatchEmbed(nn.Module):
    """Swin's 4x4 stride-4 conv of the pixels, or (tokens=conv) a 3x3
    stride-2 conv of the stem's stride-2 level"""
    def __init__(self, conv):
        super().__init__()
        self.proj = nn.Conv2d(STEM[1], EMBED, 3, 2, 1) if conv else nn.Conv2d(1, EMBED, 4, 4)
        self.norm = nn.LayerNorm(EMBED)

    def forward(self, x):
        return self.norm(self.proj(x).permute(0, 2, 3, 1))


class SwinUNet(nn.Module):
    def __init__(self, conv=False):
        super().__init__()
        w = list(STEM) + [EMBED << i for i in range(len(DEPTHS))]
        self.w, self.conv = w, conv
        self.stem, self.stem2 = ConvBN(1, w[0]), ResBlock(w[0], w[1], 2)
        self.patch = PatchEmbed(conv)
        self.stages = nn.ModuleList(Stage(i, EMBED << i, SIDE // 4 >> i) for i in range(len(DEPTHS)))
        self.cls = nn.Linear(w[-1], 1)
        n = len(w)
        self.dec = nn.ModuleList(DecLevel(w[i + 1] + w[i], w[i]) for i in range(n - 2, -1, -1))
        self.hc = nn.ModuleList(ConvBN(w[i], HCW, 1) for i in range(n - 2, -1, -1))
        self.head = ConvBN(HCW * (n - 1), w[0])
        self.seg = nn.Conv2d(w[0], 1, 1)

    def forward(self, x):
        skip = [self.stem(x)]
        skip.append(self.stem2(skip[0]))
        t = self.patch(skip[1] if self.conv else x)
        for st in self.stages:
            t, s = st(t)
            skip.append(s)
        x = skip[-1]
        cls = self.cls(x.mean((2, 3)))
        dec = []
        for d, i in zip(self.dec, range(len(skip) - 2, -1, -1)):
            x = d.scse(d.b(d.a(torch.cat([up(x, 1), skip[i]], 1))))
            dec.append(x)
        dec = [h(v) for h, v in zip(self.hc, dec)]
        x = torch.cat([up(dec[-1 - k], k) for k in range(len(dec))], 1)  # finest first
        return self.seg(self.head(x)), cls


def perturb(model, g):
    """norm affines away from (1, 0), bias tables well above their 0.02
    init (so a mistake in how they enter shows), all float32 values"""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm2d, nn.LayerNorm)):
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
        for k, p in model.named_parameters():
            if k.endswith("relative_position_bias_table"):
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
        for t in model.state_dict().values():
            if t.is_floating_point():
                t.copy_(t.float().double())


def blocks_case():
    torch.manual_seed(2)
    blocks = nn.ModuleDict({"blocks": nn.ModuleList([SwinBlock(16, 2, 4, 0, 2), SwinBlock(16, 2, 4, 2, 2)])}).double()
    g = torch.Generator().manual_seed(3)
    perturb(blocks, g)
    x = torch.randn(2, 8, 8, 16, generator=g).float().double().requires_grad_()
    out = x
    for b in blocks["blocks"]:
        out = b(out)
    dout = torch.randn(out.shape, generator=g).float().double()
    out.backward(dout)
    s = {"case": "swin_blocks", "x": f32(x), "dout": f32(dout), "out": f32(out), "dx": f32(x.grad)}
    for k, p in blocks.named_parameters():
        s["p:" + k], s["g:" + k] = f32(p), f32(p.grad)
    return s


def model_cases(conv=False):
    name, spec = ("swinunet_conv", SPEC + " tokens=conv") if conv else ("swinunet", SPEC)
    torch.manual_seed(0)
    model = SwinUNet(conv).double()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 1, SIDE, SIDE, generator=g).float().double()
    y = (torch.rand(2, 1, SIDE, SIDE, generator=g) > 0.5).double()
    c = torch.tensor([[1.0], [0.0]], dtype=torch.float64)
    perturb(model, g)
    p = {"case": name, "spec": spec, "x": f32(x), "y": f32(y), "c": f32(c)}
    for k, v in model.state_dict().items():
        if v.is_floating_point():
            p["p:" + k] = f32(v)
    gs, a = {"case": name}, {"case": name}
    adam_steps(model, x, y, c, gs, a)
    print(f"{name}: {len(p) - 5} tensors, {len(gs) - 5} parameters")
    return [p, gs, a]


def main():
    save("tests/data/torch/swinunet.tsr", [blocks_case()] + model_cases())
    save("tests/data/torch/swinunet_conv.tsr", model_cases(conv=True))


if __name__ == "__main__":
    main()
