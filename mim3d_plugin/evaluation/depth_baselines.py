"""Trivial depth-completion baselines for Mask3D's pretext evaluation (issue 24, item 4).

A masked-depth model is only shown to use the image when it beats what can be read off the *visible* depth
alone. Each baseline sees exactly the depth input the model sees (the valid pixels of the depth patches that were
not dropped) and no image; it copies the visible depth where it is given and fills every dropped patch:

- ``'row_median'``: the median visible depth of the same patch row (the band of ``patch_size`` image rows); on a
  driving camera depth is mostly a function of the image row (the ground plane), which makes this strong;
- ``'nearest_patch'``: the median visible depth of the nearest visible patch that holds any valid pixel (Euclidean
  distance between patch centres in the patch grid, ties to the lower row-major index).

A patch row with no visible depth takes the nearest patch row that has some (ties to the upper row); an image with
no visible depth at all takes the median visible depth of the whole batch. Medians are lower medians
(``torch.nanmedian``: for an even count the smaller of the two middle values).
"""
from typing import Dict, Sequence

import torch
from torch import Tensor

DEPTH_BASELINES = ('row_median', 'nearest_patch')


def _fill_empty(values: Tensor, centres: Tensor) -> Tensor:
    """values (K,) with NaN for empty cells; centres (K, D) -> every NaN takes the nearest non-NaN value (ties to
    the lower index); all NaN stays NaN."""
    have = ~values.isnan()
    if have.all() or not have.any():
        return values
    dist = ((centres[:, None] - centres[have][None])**2).sum(-1)  # (K, K_have), exact on the integer grid
    return torch.where(have, values, values[have][dist.argmin(1)])


def visible_depth_baselines(depth: Tensor,
                            dropped: Tensor,
                            patch_size: int,
                            names: Sequence[str] = DEPTH_BASELINES) -> Dict[str, Tensor]:
    """Depth maps of the trivial baselines from the visible depth.

    Args:
        depth (Tensor): ``(M, H, W)`` true depth in metres, 0 = no point; ``H`` and ``W`` multiples of
            ``patch_size``.
        dropped (Tensor): ``(M, H, W)`` bool, True on the pixels of dropped depth patches (patch-aligned, as
            :meth:`DepthPriorHead.predict`'s ``depth_mask``).
        patch_size (int): px per depth patch.
        names (Sequence[str]): baselines to compute, of ``DEPTH_BASELINES``.

    Returns:
        dict: ``name -> (M, H, W)`` depth in metres: the true depth on visible pixels, the baseline's estimate on
        the dropped patches.

    Raises:
        ValueError: an unknown name, shapes that differ or are not multiples of ``patch_size``, a mask that is not
        patch-aligned, or no visible valid depth in the whole batch (nothing to fill from, e.g. monocular
        evaluation with ``depth_mask_ratio=1``).
    """
    unknown = sorted(set(names) - set(DEPTH_BASELINES))
    if unknown:
        raise ValueError(f'visible_depth_baselines: unknown baselines {unknown}; known: {DEPTH_BASELINES}')
    if depth.shape != dropped.shape or depth.dim() != 3:
        raise ValueError(f'visible_depth_baselines: depth {tuple(depth.shape)} and dropped {tuple(dropped.shape)} '
                         'must both be (M, H, W)')
    m, H, W = depth.shape
    p = patch_size
    if H % p or W % p:
        raise ValueError(f'visible_depth_baselines: image {H}x{W} px is not a multiple of patch_size {p}')
    h, w = H // p, W // p
    cells = dropped.reshape(m, h, p, w, p).permute(0, 1, 3, 2, 4).reshape(m, h, w, p * p)
    if not (cells.all(-1) | ~cells.any(-1)).all():
        raise ValueError('visible_depth_baselines: the dropped mask is not constant over each depth patch')
    seen = depth.double().masked_fill((depth <= 0) | dropped, float('nan'))  # visible valid depth, NaN elsewhere
    if seen.isnan().all():
        raise ValueError('visible_depth_baselines: no visible valid depth in the batch (depth_mask_ratio=1?); the '
                         'baselines fill dropped patches from the visible depth')
    batch_median = seen.nanmedian()
    seen_cells = seen.reshape(m, h, p, w, p).permute(0, 1, 3, 2, 4).reshape(m, h, w, p * p)
    rows = torch.arange(h, dtype=torch.float64, device=depth.device)
    cols = torch.arange(w, dtype=torch.float64, device=depth.device)
    grid = torch.stack(torch.meshgrid(rows, cols, indexing='ij'), -1).reshape(-1, 2)
    out = {}
    for name in names:
        fill = torch.empty(m, h, w, dtype=torch.float64, device=depth.device)
        for i in range(m):
            if name == 'row_median':
                per_row = _fill_empty(seen_cells[i].reshape(h, w * p * p).nanmedian(1).values, rows[:, None])
                fill[i] = per_row[:, None].expand(h, w)
            else:
                per_patch = _fill_empty(seen_cells[i].nanmedian(-1).values.reshape(-1), grid)
                fill[i] = per_patch.reshape(h, w)
        fill = torch.where(fill.isnan(), batch_median, fill)
        fill_px = fill.repeat_interleave(p, 1).repeat_interleave(p, 2).to(depth.dtype)
        out[name] = torch.where(dropped, fill_px, depth)
    return out
