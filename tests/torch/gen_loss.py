"""PyTorch references for lib/common/nn/cpu/loss.c, written to tests/data/torch/loss.tsr
(case names match tests/unit/test_loss.c). in0 = logits (gradient checked),
in1 = 0/1 target (no gradient). The map cases are (3,1,9,11) with image 1
empty and image 2 full, so the no-boundary / no-salt paths are compared too.

    /usr/bin/python3 tests/torch/gen_loss.py
"""
import itertools

import numpy as np
import torch
import torch.nn.functional as F
from torch.autograd import Variable

from common import mask, rand, run_case, save

# ---- Lovasz hinge: Berman's lovasz_losses.py (binary part), verbatim but
# for its three .float() casts, made .double() so the reference stays in
# float64 (common.py's default dtype; torch.dot refuses mixed dtypes) ----


def lovasz_grad(gt_sorted):
    """
    Computes gradient of the Lovasz extension w.r.t sorted errors
    See Alg. 1 in paper
    """
    p = len(gt_sorted)
    gts = gt_sorted.sum()
    intersection = gts - gt_sorted.double().cumsum(0)
    union = gts + (1 - gt_sorted).double().cumsum(0)
    jaccard = 1. - intersection / union
    if p > 1:  # cover 1-pixel case
        jaccard[1:p] = jaccard[1:p] - jaccard[0:-1]
    return jaccard


def lovasz_hinge(logits, labels, per_image=True, ignore=None):
    """
    Binary Lovasz hinge loss
      logits: [B, H, W] Variable, logits at each pixel (between -\\infty and +\\infty)
      labels: [B, H, W] Tensor, binary ground truth masks (0 or 1)
      per_image: compute the loss per image instead of per batch
      ignore: void class id
    """
    if per_image:
        loss = mean(lovasz_hinge_flat(*flatten_binary_scores(log.unsqueeze(0), lab.unsqueeze(0), ignore))
                    for log, lab in zip(logits, labels))
    else:
        loss = lovasz_hinge_flat(*flatten_binary_scores(logits, labels, ignore))
    return loss


def lovasz_hinge_flat(logits, labels):
    """
    Binary Lovasz hinge loss
      logits: [P] Variable, logits at each prediction (between -\\infty and +\\infty)
      labels: [P] Tensor, binary ground truth labels (0 or 1)
      ignore: label to ignore
    """
    if len(labels) == 0:
        # only void pixels, the gradients should be 0
        return logits.sum() * 0.
    signs = 2. * labels.double() - 1.
    errors = (1. - logits * Variable(signs))
    errors_sorted, perm = torch.sort(errors, dim=0, descending=True)
    perm = perm.data
    gt_sorted = labels[perm]
    grad = lovasz_grad(gt_sorted)
    loss = torch.dot(F.relu(errors_sorted), Variable(grad))
    return loss


def flatten_binary_scores(scores, labels, ignore=None):
    """
    Flattens predictions in the batch (binary case)
    Remove labels equal to 'ignore'
    """
    scores = scores.view(-1)
    labels = labels.view(-1)
    if ignore is None:
        return scores, labels
    valid = (labels != ignore)
    vscores = scores[valid]
    vlabels = labels[valid]
    return vscores, vlabels


def isnan(x):
    return x != x


def mean(l, ignore_nan=False, empty=0):
    """
    nanmean compatible with generators.
    """
    l = iter(l)
    if ignore_nan:
        l = itertools.filterfalse(isnan, l)
    try:
        n = 1
        acc = next(l)
    except StopIteration:
        if empty == 'raise':
            raise ValueError('Empty mean')
        return empty
    for n, v in enumerate(l, 2):
        acc += v
    if n == 1:
        return acc
    return acc / n

# ---- the other losses, from their formulas (see loss.c) ----


def dice(x, y, s=1.0):
    """1 - (2 sum p y + s) / (sum p + sum y + s) per image, mean over images"""
    p = torch.sigmoid(x).reshape(x.shape[0], -1)
    y = y.reshape(y.shape[0], -1)
    return (1 - (2 * (p * y).sum(1) + s) / (p.sum(1) + y.sum(1) + s)).mean()


def focal(x, y, alpha, gamma):
    """torchvision.ops.sigmoid_focal_loss, reduction 'mean'"""
    p = torch.sigmoid(x)
    ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce * ((1 - p_t) ** gamma)
    if alpha >= 0:
        loss = (alpha * y + (1 - alpha) * (1 - y)) * loss
    return loss.mean()


def edt(a):
    """scipy.ndimage.distance_transform_edt: each nonzero pixel's distance to
    the nearest zero pixel (0 on zeros); brute force without scipy"""
    try:
        from scipy.ndimage import distance_transform_edt
        return distance_transform_edt(a)
    except ImportError:
        pass
    zi, zj = np.nonzero(a == 0)
    out = np.zeros(a.shape)
    for i, j in zip(*np.nonzero(a)):
        out[i, j] = np.sqrt(((zi - i) ** 2 + (zj - j) ** 2).min())
    return out


def phi(y):
    """Kervadec's one_hot2dist for one binary (H,W) mask; 0 when no boundary"""
    pos = y > 0.5
    if not pos.any() or pos.all():
        return np.zeros(y.shape)
    neg = ~pos
    return edt(neg) * neg - (edt(pos) - 1) * pos


def boundary(x, y):
    """mean over pixels of sigmoid(x) * phi(y), phi per (H,W) image"""
    yy = y.detach().numpy()
    ph = np.stack([phi(im) for im in yy.reshape(-1, *yy.shape[-2:])]).reshape(yy.shape)
    return (torch.sigmoid(x) * torch.tensor(ph)).mean()


def lovasz_sym(x, y):
    return (lovasz_hinge(x, y) + lovasz_hinge(-x, 1 - y)) / 2


# ---- inputs ----

def blobs(shape, seed, empty=None, full=None):
    """(n,1,h,w) masks of one or two random ellipses each; image `empty`
    all 0, image `full` all 1"""
    n, _, h, w = shape
    r = np.random.default_rng(seed)
    ii, jj = np.mgrid[0:h, 0:w]
    m = np.zeros((n, 1, h, w), np.float32)
    for k in range(n):
        for _ in range(r.integers(1, 3)):
            ci, cj = r.uniform(0, h), r.uniform(0, w)
            ri, rj = r.uniform(1.5, h / 2), r.uniform(1.5, w / 2)
            m[k, 0] = np.maximum(m[k, 0], (((ii - ci) / ri) ** 2 + ((jj - cj) / rj) ** 2 <= 1))
    if empty is not None:
        m[empty] = 0
    if full is not None:
        m[full] = 1
    return m


MAP = (3, 1, 9, 11)


def case(name, fn, x, y, seed):
    return run_case(name, lambda a, b: fn(a, b).reshape(1), [x, y], grad=[True, False], seed=seed)


def main():
    torch.manual_seed(0)
    ym = blobs(MAP, 1, empty=1, full=2)
    xm = rand(MAP, 2, -3, 3)
    yb = blobs((2, 1, 12, 10), 3)
    xb = rand((2, 1, 12, 10), 4, -2, 2)
    yp = np.array([[1], [0], [1], [1], [0]], np.float32)
    xp = rand((5, 1), 5, -3, 3)
    s = []
    s.append(case("bce_map", lambda x, y: F.binary_cross_entropy_with_logits(x, y), xm, ym, 10))
    s.append(case("bce_presence", lambda x, y: 0.5 * F.binary_cross_entropy_with_logits(x, y), xp, yp, 11))
    s.append(case("bce_noise_w", lambda x, y: 2.5 * F.binary_cross_entropy_with_logits(x, y),
                  rand((2, 1, 7, 6), 6, -8, 8), mask((2, 1, 7, 6), 7), 12))
    s.append(case("mse_map", lambda x, y: F.mse_loss(x, y), xm, ym, 13))
    s.append(case("mse_patches_w", lambda x, y: 0.7 * F.mse_loss(x, y),
                  rand((2, 3, 5), 8), rand((2, 3, 5), 9), 14))
    s.append(case("dice_map", dice, xm, ym, 15))
    s.append(case("dice_blobs_w", lambda x, y: 2.5 * dice(x, y), xb, yb, 16))
    s.append(case("dice_presence", dice, xp, yp, 17))
    s.append(case("focal_map", lambda x, y: focal(x, y, 0.25, 2.0), xm, ym, 18))
    s.append(case("focal_noalpha_w", lambda x, y: 2.0 * focal(x, y, -1.0, 1.5), xb, yb, 19))
    s.append(case("focal_presence", lambda x, y: focal(x, y, 0.25, 2.0), xp, yp, 20))
    s.append(case("boundary_map", boundary, xm, ym, 21))
    s.append(case("boundary_blobs_w", lambda x, y: 0.5 * boundary(x, y), xb, yb, 22))
    s.append(case("lovasz_map", lovasz_hinge, xm, ym, 23))
    s.append(case("lovasz_blobs_w", lambda x, y: 1.5 * lovasz_hinge(x, y), xb, yb, 24))
    s.append(case("lovasz_presence", lovasz_hinge, xp, yp, 25))
    s.append(case("lovasz_sym_map", lambda x, y: 0.8 * lovasz_sym(x, y), xm, ym, 26))
    s.append(case("lovasz_sym_blobs", lovasz_sym, xb, yb, 27))
    # the same references, checked forward-only in an inference plan
    for c in [c for c in s if c["case"] in ("bce_map", "dice_map", "focal_map", "boundary_map", "lovasz_sym_map")]:
        s.append({k: (v + "_infer" if k == "case" else v) for k, v in c.items() if k in ("case", "in0", "in1", "out")})
    save("tests/data/torch/loss.tsr", s)


if __name__ == "__main__":
    main()
