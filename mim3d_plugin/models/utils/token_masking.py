"""Token and unit masking shared by the encoders and pretext heads: MAE random masking, a given mask, the
inverse scatter with mask tokens, Mask3D's visible-depth encoder, the 2D sin-cos position embedding of a
non-square grid, and mask units -> feature cells."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
from torch import Tensor


def sincos_pos_embed_2d(hw: Tuple[int, int], dims: int, temperature: float = 10000., cls_token: bool = False) -> Tensor:
    """Fixed 2D sin-cos position embedding on a (h, w) grid, tokens in row-major order.

    Matches the patch order of ``PatchEmbed`` (``flatten(2)`` of (B, C, h, w)): token ``r*w + c``
    encodes row ``r`` and column ``c``. (mmpretrain's ``build_2d_sincos_position_embedding``
    orders tokens column-major, which is only equivalent for square grids.)

    Args:
        hw (tuple[int, int]): patch grid (h, w).
        dims (int): embedding width, divisible by 4.
        temperature (float): frequency base.
        cls_token (bool): prepend a zero embedding for the class token.

    Returns:
        Tensor: (1, h*w (+1), dims).
    """
    if dims % 4:
        raise ValueError(f'sin-cos position embedding needs dims divisible by 4, got {dims}')
    h, w = hw
    rows, cols = torch.meshgrid(
        torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing='ij')
    omega = 1. / temperature**(torch.arange(dims // 4, dtype=torch.float32) / (dims // 4))
    out_w = cols.flatten()[:, None] * omega[None]
    out_h = rows.flatten()[:, None] * omega[None]
    emb = torch.cat([out_w.sin(), out_w.cos(), out_h.sin(), out_h.cos()], dim=1)[None]
    if cls_token:
        emb = torch.cat([torch.zeros(1, 1, dims), emb], dim=1)
    return emb


def random_masking(x: Tensor,
                   mask_ratio: float,
                   generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Tensor, Tensor]:
    """MAE per-sample random masking (keep ``int(L * (1 - mask_ratio))`` tokens).

    Args:
        x (Tensor): (B, L, C) tokens.
        mask_ratio (float): fraction dropped, in [0, 1].
        generator (torch.Generator, optional): for reproducible (evaluation) masks.

    Returns:
        tuple: visible tokens (B, L_keep, C), mask (B, L) with 1 = dropped, ids_restore (B, L).
    """
    if not 0. <= mask_ratio <= 1.:
        raise ValueError(f'mask_ratio must be in [0, 1], got {mask_ratio}')
    B, L, C = x.shape
    len_keep = int(L * (1 - mask_ratio))
    noise = torch.rand(B, L, device=x.device, generator=generator)
    ids_shuffle = torch.argsort(noise, dim=1)
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    ids_keep = ids_shuffle[:, :len_keep]
    visible = torch.gather(x, 1, ids_keep[..., None].expand(-1, -1, C))
    mask = torch.ones(B, L, device=x.device, dtype=x.dtype)
    mask[:, :len_keep] = 0
    mask = torch.gather(mask, 1, ids_restore)
    return visible, mask, ids_restore


def restore_full_grid(visible: Tensor, ids_restore: Tensor, mask_token: Tensor) -> Tensor:
    """Scatter visible tokens back to the full grid, mask token at dropped positions.

    Args:
        visible (Tensor): (B, L_keep, C).
        ids_restore (Tensor): (B, L) from :func:`random_masking`.
        mask_token (Tensor): (1, 1, C).

    Returns:
        Tensor: (B, L, C) in patch (row-major) order.
    """
    B, L = ids_restore.shape
    fill = mask_token.to(visible.dtype).expand(B, L - visible.shape[1], -1)
    full = torch.cat([visible, fill], dim=1)
    return torch.gather(full, 1, ids_restore[..., None].expand(-1, -1, full.shape[-1]))


def given_masking(x: Tensor, drop: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """:func:`random_masking` with the dropped tokens given: ``drop`` ``(B, L)`` bool, True = dropped, the same
    number per sample (kept tokens stay in their order).

    Raises:
        ValueError: ``drop`` of another shape, or samples that drop different numbers of tokens.
    """
    B, L, C = x.shape
    if tuple(drop.shape) != (B, L):
        raise ValueError(f'given_masking: drop must be {(B, L)}, got {tuple(drop.shape)}')
    counts = drop.sum(1)
    if (counts != counts[0]).any():
        raise ValueError(f'given_masking: every sample must drop the same number of tokens, got {counts.tolist()}')
    ids_shuffle = torch.argsort(drop.to(torch.int8), dim=1, stable=True)  # kept first, in order
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    len_keep = L - int(counts[0])
    visible = torch.gather(x, 1, ids_shuffle[:, :len_keep, None].expand(-1, -1, C))
    return visible, drop.to(x.dtype), ids_restore


def encode_visible_depth(x: Tensor,
                         mask_ratio: float,
                         layers: nn.ModuleList,
                         norm: nn.Module,
                         proj: nn.Module,
                         generator: Optional[torch.Generator] = None,
                         drop: Optional[Tensor] = None) -> Tuple[Tensor, Tensor, Tensor]:
    """Mask3D's depth encoder on embedded depth patches: drop ``mask_ratio`` of them (MAE random masking) or the
    patches ``drop`` ``(B, L)`` (True = dropped) when given, run ``layers`` on the visible ones only, then ``norm``
    and ``proj`` (to the fusion width).

    Args:
        x (Tensor): ``(B, L, C_d)`` depth patch embeddings with their position embedding.

    Returns:
        tuple: visible latents ``(B, L_keep, C)``, mask ``(B, L)`` 1 = dropped, ids_restore ``(B, L)``.
    """
    if drop is None:
        x, mask, ids_restore = random_masking(x, mask_ratio, generator)
    else:
        x, mask, ids_restore = given_masking(x, drop)
    if x.shape[1] > 0:
        for layer in layers:
            x = layer(x)
    return proj(norm(x)), mask, ids_restore


def units_to_cells(units: Tensor, hw: Sequence[int]) -> Tensor:
    """Mask units ``(..., h_m, w_m)`` -> the ``(..., h, w)`` cells of a finer grid they cover (``h_m | h``,
    ``w_m | w``; e.g. 32 px units on a stride-16 map: each unit covers 2 x 2 cells)."""
    h, w = hw
    if h % units.shape[-2] or w % units.shape[-1]:
        raise ValueError(f'units_to_cells: a {tuple(units.shape[-2:])} unit grid does not divide the {(h, w)} grid')
    return units.repeat_interleave(h // units.shape[-2], -2).repeat_interleave(w // units.shape[-1], -1)
