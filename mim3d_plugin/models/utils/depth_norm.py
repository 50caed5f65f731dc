"""Depth normalisation of Mask3D's depth input and target (and its inverse for predictions).

- ``'log'`` (default): ``n = log(d / depth_norm_scale)``. Relative (scale-free) errors, the same
  loss weight for a 0.5 m error at 2 m indoors and a 5 m error at 20 m on nuScenes, no clipping;
  the prediction ``depth_norm_scale * exp(n)`` is positive by construction.
- ``'linear'``: ``n = d / depth_norm_scale`` (metres over a typical range, e.g. 10 m indoors,
  60 m driving).
- ``'standardize'``: MultiMAE's robust per-image standardisation (Bachmann et al., ECCV 2022,
  ``standardize_depth_map``): the valid depths of each image are sorted, the lowest and highest
  ``depth_trunc`` (10 %) dropped, and ``n = (d - mean) / sqrt(var + 1e-6)`` with the mean and
  (unbiased) variance of the rest. Scale-free; predictions are mapped back to metres with the
  statistics of the same image's depth input.
"""
from typing import Tuple

import torch
from torch import Tensor

DEPTH_NORMS = ('log', 'linear', 'standardize')


def robust_depth_stats(depth: Tensor, trunc: float = 0.1) -> Tuple[Tensor, Tensor]:
    """Per-image mean and std of the valid depths without the lowest / highest ``trunc`` fraction.

    MultiMAE ``standardize_depth_map`` (sort, drop ``trunc`` at both ends, mean and unbiased
    variance, ``std = sqrt(var + 1e-6)``).

    Args:
        depth (Tensor): ``(B, H, W)`` metres, 0 = invalid.
        trunc (float): fraction dropped at each end, in [0, 0.5).

    Returns:
        tuple[Tensor, Tensor]: ``(B, 1, 1)`` mean and std (mean 0, std 1 for an image without
        enough valid pixels).
    """
    d = depth.flatten(1)
    valid = d > 0
    n = valid.sum(1)  # (B,)
    ranked = torch.sort(torch.where(valid, d, torch.full_like(d, float('inf'))), dim=1)[0]  # valid first
    pos = torch.arange(d.shape[1], device=d.device).unsqueeze(0)
    keep = (pos >= (trunc * n).long().unsqueeze(1)) & (pos < ((1 - trunc) * n).long().unsqueeze(1))
    count = keep.sum(1).to(d.dtype)
    vals = torch.where(keep, ranked, torch.zeros_like(ranked))
    mean = vals.sum(1) / count.clamp(min=1)
    dev = torch.where(keep, ranked - mean.unsqueeze(1), torch.zeros_like(ranked))
    var = (dev**2).sum(1) / (count - 1).clamp(min=1)  # unbiased, as torch.var
    enough = count >= 2
    mean = torch.where(enough, mean, torch.zeros_like(mean))
    std = torch.where(enough, torch.sqrt(var + 1e-6), torch.ones_like(var))
    return mean.view(-1, 1, 1), std.view(-1, 1, 1)


def normalize_depth(depth: Tensor,
                    depth_norm: str = 'log',
                    scale: float = 1.,
                    trunc: float = 0.1) -> Tuple[Tensor, Tensor]:
    """Depth ``(B, H, W)`` metres (0 = invalid) -> (normalised depth, 0 where invalid; valid mask).

    ``depth_norm``: ``'log'`` (``log(d / scale)``), ``'linear'`` (``d / scale``) or ``'standardize'`` (per image,
    robust mean / std of the valid depths without the ``trunc`` fraction at each end; MultiMAE).
    """
    valid = depth > 0
    if depth_norm == 'standardize':
        mean, std = robust_depth_stats(depth, trunc)
        n = (depth - mean) / std
    else:
        d = depth.clamp(min=1e-3) / scale
        n = d.log() if depth_norm == 'log' else d
    return torch.where(valid, n, torch.zeros_like(n)), valid


def encode_depth_input(depth: Tensor, depth_norm: str = 'log', scale: float = 1., trunc: float = 0.1) -> Tensor:
    """Encoder depth input of Mask3D: ``(B, H, W)`` metres -> ``(B, 2, H, W)`` = (normalised depth, validity)."""
    n, valid = normalize_depth(depth, depth_norm, scale, trunc)
    return torch.stack([n, valid.to(n.dtype)], dim=1)
