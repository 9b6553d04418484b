"""bench/fit_torch.py: does tgs-train fit resunet as fast as PyTorch does?

Trains the PyTorch twin of lib/common/model.c's resunet (scse=8, hypercolumn,
dropout=0, one input channel) on an unaugmented sample stream the way
tgs-train trains (reflect pad 101 -> 112, loss on the 101 x 101 crop:
pixel BCE + per-image soft Dice + 0.1 x salt-presence BCE, Adam, batches of
16 drawn from a fresh shuffle each epoch) and prints its train losses by
epoch beside those of a tgs-train log.csv of the same recipe, when given.
The two runs share recipe and data, not weights or shuffles, so their curves
agree within run-to-run noise when the engine is right (bench/fit.sh runs
both; make bench-fit).

    /usr/bin/python3 bench/fit_torch.py [--epochs N] [--lr LR] [--widths a,b,..]
        [--blocks a,b,..] [--seed N] [--threads N] [--ours LOG.csv] STREAM
Needs python3-torch and python3-numpy (Debian).
"""
import argparse
import csv
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "formats"))
import tgs_stream  # noqa: E402


def conv_bn_relu(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class ResBlock(nn.Module):
    """model.c's res_block: conv3x3(stride)-BN-ReLU-conv3x3-BN + shortcut, ReLU"""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        sc = x if self.down is None else self.down(x)
        return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))) + sc)


class SCSE(nn.Module):
    """layers.c's tgs_layer_scse: x * channel gate + x * spatial gate"""

    def __init__(self, c, r=8):
        super().__init__()
        mid = max(c // r, 1)
        self.fc1, self.fc2, self.sse = nn.Linear(c, mid), nn.Linear(mid, c), nn.Conv2d(c, 1, 1)

    def forward(self, x):
        g = torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean((2, 3))))))[:, :, None, None]
        return x * g + x * torch.sigmoid(self.sse(x))


def up(x, steps):
    """bilinear x2 (align_corners=False) steps times, as tgs_upcat does"""
    for _ in range(steps):
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    return x


class ResUNet(nn.Module):
    def __init__(self, widths, blocks):
        super().__init__()
        w, n = widths, len(widths)
        self.stem = conv_bn_relu(1, w[0])
        self.enc = nn.ModuleList()
        for i in range(n):
            self.enc.append(nn.Sequential(*[ResBlock(w[i - 1] if i and b == 0 else w[i], w[i],
                                                     2 if i and b == 0 else 1) for b in range(blocks[i])]))
        self.cls = nn.Linear(w[-1], 1)
        self.dec = nn.ModuleList(nn.Sequential(conv_bn_relu(w[i + 1] + w[i], w[i]), conv_bn_relu(w[i], w[i]),
                                               SCSE(w[i])) for i in range(n - 2, -1, -1))
        self.head = conv_bn_relu(sum(w[:-1]), w[0])
        self.seg = nn.Conv2d(w[0], 1, 1)

    def forward(self, x):
        x = self.stem(x)
        skip = []
        for e in self.enc:
            x = e(x)
            skip.append(x)
        cls = self.cls(x.mean((2, 3)))[:, 0]
        dec = []
        for d, i in zip(self.dec, range(len(skip) - 2, -1, -1)):
            x = d(torch.cat([up(x, 1), skip[i]], 1))
            dec.append(x)
        hc = torch.cat([up(dec[-1 - k], k) for k in range(len(dec))], 1)  # finest first
        return self.seg(self.head(hc)), cls


def load(path, side):
    xs, ys = [], []
    for s in tgs_stream.read(path):
        xs.append(s["image"][0].astype(np.float32) / 255)
        ys.append(s["mask"][0].astype(np.float32))
    h = xs[0].shape[0]
    lo = (side - h) // 2
    x = np.pad(np.stack(xs), ((0, 0), (lo, side - h - lo), (lo, side - h - lo)), mode="reflect")
    return torch.tensor(x[:, None]), torch.tensor(np.stack(ys)[:, None]), lo, h


def losses(seg, cls, y, lo, h):
    z = seg[:, :, lo:lo + h, lo:lo + h]
    bce = F.binary_cross_entropy_with_logits(z, y)
    p, t = torch.sigmoid(z).flatten(1), y.flatten(1)
    dice = (1 - (2 * (p * t).sum(1) + 1) / (p.sum(1) + t.sum(1) + 1)).mean()
    present = F.binary_cross_entropy_with_logits(cls, (t.sum(1) > 0).to(cls.dtype))
    return bce, dice, present


def ours_rows(path):
    if not path:
        return {}
    with open(path) as f:
        return {int(r["epoch"]): r for r in csv.DictReader(f)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("stream")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--lr", type=float, default=0.002)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--widths", default="12,24,48,96,192")
    ap.add_argument("--blocks", default="1,1,1,1,1")
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--ours", help="tgs-train's log.csv of the same recipe, printed alongside")
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    if a.threads:
        torch.set_num_threads(a.threads)
    widths = [int(v) for v in a.widths.split(",")]
    blocks = [int(v) for v in a.blocks.split(",")]
    x, y, lo, h = load(a.stream, a.size)
    net = ResUNet(widths, blocks)
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    ours = ours_rows(a.ours)
    print("epoch  torch: bce    dice    cls    img/s |  tgs: bce    dice    cls    img/s")
    n, rates = len(x), []
    for ep in range(1, a.epochs + 1):
        net.train()
        t0, perm, tot, k = time.time(), torch.randperm(n), np.zeros(3), 0
        for b in range(0, n, a.batch):
            idx = perm[b:b + a.batch]
            seg, cls = net(x[idx])
            parts = losses(seg, cls, y[idx], lo, h)
            opt.zero_grad()
            (parts[0] + parts[1] + 0.1 * parts[2]).backward()
            opt.step()
            tot += [v.item() * len(idx) for v in parts]
            k += len(idx)
        rates.append(n / (time.time() - t0))
        line = f"{ep:5d}  {tot[0] / k:11.4f} {tot[1] / k:7.4f} {tot[2] / k:6.4f} {rates[-1]:6.1f} |"
        r = ours.get(ep)
        if r:
            line += f"  {float(r['train_bce']):9.4f} {float(r['train_dice']):7.4f} " \
                    f"{float(r['train_cls']):6.4f} {float(r['img_s']):6.1f}"
        print(line, flush=True)
    if ours:
        mine = [float(ours[e]["img_s"]) for e in sorted(ours)]
        print(f"img/s median: torch {np.median(rates):.1f}, tgs {np.median(mine):.1f}, "
              f"ratio tgs/torch {np.median(mine) / np.median(rates):.2f} "
              f"(torch {torch.__version__}, {torch.get_num_threads()} threads)")


if __name__ == "__main__":
    main()
