"""The Swin-Transformer reference code (microsoft/Swin-Transformer,
models/swin_transformer.py) that the tests/torch generators share:
window_partition, window_reverse, the relative position index, the
shifted-window attention mask (img_mask), and a pre-norm Swin block with
q, k, v as three linears, k without bias (as lib/common/nn/layers.c builds
it)."""
import torch
import torch.nn as nn
import torch.nn.functional as F


def window_partition(x, ws):
    B, H, W, C = x.shape
    x = x.view(B, H // ws, ws, W // ws, ws, C)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, ws * ws, C)


def window_reverse(windows, ws, H, W):
    B = windows.shape[0] // (H * W // ws // ws)
    x = windows.view(B, H // ws, W // ws, ws, ws, -1)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(B, H, W, -1)


def relative_position_index(ws, tw=None):
    """(N, N) indices into a table of ((2tw-1)^2) offsets; tw = ws is Swin's"""
    tw = tw or ws
    coords = torch.stack(torch.meshgrid([torch.arange(ws), torch.arange(ws)], indexing="ij"))
    flat = torch.flatten(coords, 1)
    rel = (flat[:, :, None] - flat[:, None, :]).permute(1, 2, 0).contiguous()
    rel[:, :, 0] += tw - 1
    rel[:, :, 1] += tw - 1
    rel[:, :, 0] *= 2 * tw - 1
    return rel.sum(-1)


def attn_mask(H, W, ws, shift):
    """(nW, N, N): 0 within a region of the rolled image, -100 across"""
    img_mask = torch.zeros((1, H, W, 1))
    slices = (slice(0, -ws), slice(-ws, -shift), slice(-shift, None))
    cnt = 0
    for h in slices:
        for w in slices:
            img_mask[:, h, w, :] = cnt
            cnt += 1
    mw = window_partition(img_mask, ws).squeeze(-1)
    am = mw.unsqueeze(1) - mw.unsqueeze(2)
    return am.masked_fill(am != 0, -100.0).masked_fill(am == 0, 0.0)


def attn_bias(s, table, ws, shift, H, W):
    """what the op attn_bias computes: s (B*nW, heads, N, N)"""
    BW, heads, N, _ = s.shape
    tw = next(t for t in range(ws, 33) if (2 * t - 1) ** 2 == table.shape[0])
    bias = table[relative_position_index(ws, tw).view(-1)].view(N, N, -1).permute(2, 0, 1)
    s = s + bias.unsqueeze(0)
    if shift:
        mask = attn_mask(H, W, ws, shift).to(s.dtype)
        nW = mask.shape[0]
        s = (s.view(BW // nW, nW, heads, N, N) + mask.unsqueeze(1).unsqueeze(0)).view(-1, heads, N, N)
    return s


class WindowAttention(nn.Module):
    def __init__(self, C, heads, ws):
        super().__init__()
        self.heads, self.ws = heads, ws
        self.q, self.v, self.proj = nn.Linear(C, C), nn.Linear(C, C), nn.Linear(C, C)
        self.k = nn.Linear(C, C, bias=False)  # the softmax cancels a bias of k
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * ws - 1) ** 2, heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def forward(self, x, shift, H, W):
        """x (B*nW, N, C) windows"""
        BW, N, C = x.shape
        h, d = self.heads, C // self.heads

        def split(t):
            return t.reshape(BW, N, h, d).permute(0, 2, 1, 3)
        q, k, v = split(self.q(x)) * d ** -0.5, split(self.k(x)), split(self.v(x))
        s = attn_bias(q @ k.transpose(-2, -1), self.relative_position_bias_table, self.ws, shift, H, W)
        x = (F.softmax(s, -1) @ v).transpose(1, 2).reshape(BW, N, C)
        return self.proj(x)


class Mlp(nn.Module):
    def __init__(self, C, hidden):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(C, hidden), nn.Linear(hidden, C)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class SwinBlock(nn.Module):
    """pre-norm; x (B,H,W,C); no drop path (its masks are the C side's hash)"""

    def __init__(self, C, heads, ws, shift, mlp):
        super().__init__()
        self.ws, self.shift = ws, shift
        self.norm1, self.attn = nn.LayerNorm(C), WindowAttention(C, heads, ws)
        self.norm2, self.mlp = nn.LayerNorm(C), Mlp(C, mlp * C)

    def forward(self, x):
        B, H, W, C = x.shape
        h = self.norm1(x)
        if self.shift:
            h = torch.roll(h, shifts=(-self.shift, -self.shift), dims=(1, 2))
        h = window_reverse(self.attn(window_partition(h, self.ws), self.shift, H, W), self.ws, H, W)
        if self.shift:
            h = torch.roll(h, shifts=(self.shift, self.shift), dims=(1, 2))
        x = x + h
        return x + self.mlp(self.norm2(x))
