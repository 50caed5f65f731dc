"""Patch helpers shared by the masked-image heads: MAE patch order, norm-pix targets."""
from typing import Tuple

from torch import Tensor


def patchify(x: Tensor, patch_size: int) -> Tensor:
    """(B, C, H, W) -> (B, h*w, p*p*C), patches row-major, pixels ordered (p, q, c) as MAE."""
    B, C, H, W = x.shape
    p = patch_size
    if H % p or W % p:
        raise ValueError(f'patchify: {H}x{W} not divisible by patch size {p}')
    h, w = H // p, W // p
    x = x.reshape(B, C, h, p, w, p).permute(0, 2, 4, 3, 5, 1)
    return x.reshape(B, h * w, p * p * C)


def normalize_patches(patches: Tensor, eps: float = 1e-6) -> Tensor:
    """MAE's ``norm_pix`` target: each patch ``(..., L, p*p*C)`` minus its mean over its values, divided by
    ``sqrt(var + eps)`` (mmpretrain ``MAEPretrainHead.construct_target``)."""
    mean = patches.mean(dim=-1, keepdim=True)
    var = patches.var(dim=-1, keepdim=True)
    return (patches - mean) / (var + eps)**.5


def unpatchify(x: Tensor, hw: Tuple[int, int], patch_size: int, channels: int) -> Tensor:
    """Inverse of :func:`patchify`: (B, h*w, p*p*C) -> (B, C, h*p, w*p)."""
    B = x.shape[0]
    h, w = hw
    p = patch_size
    if x.shape[1] != h * w or x.shape[2] != p * p * channels:
        raise ValueError(f'unpatchify: got {tuple(x.shape)} for grid {hw}, patch {p}, '
                         f'{channels} channels')
    x = x.reshape(B, h, w, p, p, channels).permute(0, 5, 1, 3, 2, 4)
    return x.reshape(B, channels, h * p, w * p)
