"""Image panels (``(H, W, 3)`` uint8 RGB numpy arrays) built from model tensors.

All functions take CPU or GPU tensors and return numpy arrays ready for mmengine's
``Visualizer.add_image`` (Local / TensorBoard / W&B backends).
"""
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def denormalize(img: Tensor, mean: Sequence[float], std: Sequence[float], bgr_to_rgb: bool = False) -> np.ndarray:
    """``(3, H, W)`` normalised image (data-preprocessor output) -> ``(H, W, 3)`` uint8 RGB.

    ``mean``/``std`` are the preprocessor's (in its output channel order, RGB when it converted BGR -> RGB).
    """
    x = img.detach().float().cpu() * torch.tensor(std).view(3, 1, 1) + torch.tensor(mean).view(3, 1, 1)
    if bgr_to_rgb:
        x = x.flip(0)
    return x.clamp(0, 255).byte().permute(1, 2, 0).numpy()


def mask_overlay(img: np.ndarray, hidden: Tensor, darken: float = 0.25) -> np.ndarray:
    """Darken the hidden mask units of ``img`` ``(H, W, 3)``; ``hidden`` ``(h, w)`` bool, upsampled to ``(H, W)``."""
    m = F.interpolate(hidden.float()[None, None].cpu(), size=img.shape[:2], mode='nearest')[0, 0].numpy() > 0.5
    out = img.astype(np.float32)
    out[m] *= darken
    return out.astype(np.uint8)


def colorize_depth(depth: Tensor,
                   max_depth: Optional[float] = None,
                   size: Optional[Sequence[int]] = None,
                   cmap: str = 'turbo') -> np.ndarray:
    """``(h, w)`` metres (0 = no value, drawn black) -> ``(H, W, 3)`` uint8 with a fixed colour scale.

    Args:
        max_depth (float, optional): depth of the top colour (default: the map's max); use the same for a
            prediction and its target so the colours compare.
        size (Sequence[int], optional): ``(H, W)`` to resize to (nearest, so sparse LiDAR points stay sharp).
    """
    import matplotlib
    d = depth.detach().float().cpu()
    if size is not None and tuple(d.shape) != tuple(size):
        d = F.interpolate(d[None, None], size=tuple(size), mode='nearest')[0, 0]
    top = float(max_depth) if max_depth else max(float(d.max()), 1e-6)
    rgb = matplotlib.colormaps[cmap]((d / top).clamp(0, 1).numpy())[..., :3]
    rgb[d.numpy() <= 0] = 0.0
    return (rgb * 255).astype(np.uint8)


def pca_rgb(maps: Sequence[Tensor], size: Optional[Sequence[int]] = None) -> list:
    """Joint 3-component PCA of several ``(C, Y, X)`` feature maps -> one ``(Y, X, 3)`` uint8 image each.

    The maps share one projection and one colour scale (e.g. a student BEV and its teacher target), so equal
    colours mean equal features. Rows are drawn top to bottom as stored (BEV: index 0 = y_min at the top).
    """
    flat = torch.cat([m.detach().float().cpu().flatten(1).t() for m in maps])  # (sum YX, C)
    flat = flat - flat.mean(0, keepdim=True)
    q = min(3, flat.shape[1])
    _, _, v = torch.pca_lowrank(flat, q=q, center=False)
    proj = flat @ v[:, :q]
    lo, hi = proj.quantile(0.02, dim=0), proj.quantile(0.98, dim=0)
    proj = ((proj - lo) / (hi - lo).clamp(min=1e-6)).clamp(0, 1)
    if q < 3:
        proj = torch.cat([proj, proj.new_zeros(proj.shape[0], 3 - q)], 1)
    out, start = [], 0
    for m in maps:
        n = m.shape[-2] * m.shape[-1]
        img = proj[start:start + n].t().reshape(3, m.shape[-2], m.shape[-1])
        start += n
        if size is not None:
            img = F.interpolate(img[None], size=tuple(size), mode='nearest')[0]
        out.append((img.permute(1, 2, 0).numpy() * 255).astype(np.uint8))
    return out


def _pad_to(img: np.ndarray, h: int, w: int) -> np.ndarray:
    out = np.full((h, w, 3), 255, np.uint8)
    out[:img.shape[0], :img.shape[1]] = img
    return out


def hstack(images: Sequence[np.ndarray], gap: int = 4) -> np.ndarray:
    """Side by side with a white gap (heights padded to the tallest)."""
    h = max(i.shape[0] for i in images)
    parts = []
    for k, img in enumerate(images):
        parts.append(_pad_to(img, h, img.shape[1]))
        if k < len(images) - 1:
            parts.append(np.full((h, gap, 3), 255, np.uint8))
    return np.concatenate(parts, axis=1)


def vstack(images: Sequence[np.ndarray], gap: int = 4) -> np.ndarray:
    """One above the other with a white gap (widths padded to the widest)."""
    w = max(i.shape[1] for i in images)
    parts = []
    for k, img in enumerate(images):
        parts.append(_pad_to(img, img.shape[0], w))
        if k < len(images) - 1:
            parts.append(np.full((gap, w, 3), 255, np.uint8))
    return np.concatenate(parts, axis=0)
