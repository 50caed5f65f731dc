"""Temporal stereo of BEVStereo4D: a per-pixel matching cost over the depth bins between a camera's current image
features and the same camera's features in the previous frame, moved there by the ego motion.

Reproduces ``DepthNet.gen_grid`` and ``DepthNet.calculate_cost_volumn`` of BEVDet dev2.x
(``mmdet3d/models/necks/view_transformer.py``; Sense-X/GeoMIM ``bevdet/``, the detector of GeoMIM's best rows;
Li et al., "BEVStereo", AAAI 2023, and Huang, "BEVPoolv2 / BEVStereo4D" in BEVDet's technical report): every cell of
the current stride-4 feature map is lifted at every depth bin into 3D, carried into the previous frame by the ego
motion, projected into the same camera's previous image, and the previous stride-4 feature sampled there
(``grid_sample``, zero padding); the cost is the L1 distance over channels, negated and soft-maxed over the bins.

Unlike the official code, the two frames' geometry is given as the projections the pipeline already builds (each
frame's ``lidar2img``, image augmentation folded in, and ``cur2adj``), so the previous frame may have its own image
augmentation (the official code requires the same one for both: ``sequential=True``), and nothing assumes 6 cameras
or batch size 1.
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from mim3d_plugin.geometry import frustum_to_points
from mim3d_plugin.geometry.frames import apply_transform
from mim3d_plugin.geometry.projection import project_points


def stereo_sampling_grid(frustum: Tensor,
                         cur2img: Tensor,
                         adj2img: Tensor,
                         cur2adj: Tensor,
                         image_size: Tuple[int, int],
                         pixels: str = 'center',
                         min_depth: float = 1e-3) -> Tuple[Tensor, Tensor]:
    """Where each (cell, depth bin) of the current image lands in the previous image, as a ``grid_sample`` grid.

    Args:
        frustum (Tensor): ``(D, h, w, 3)`` ``(u, v, d)`` of the current stride-s cells (px, px, m), from
            :func:`mim3d_plugin.geometry.create_frustum` with the same ``pixels`` convention.
        cur2img (Tensor): ``(B, N, 4, 4)`` current BEV frame -> current augmented pixels (``lidar2img``).
        adj2img (Tensor): ``(B, N, 4, 4)`` previous BEV frame -> previous augmented pixels of the same cameras.
        cur2adj (Tensor): ``(B, 4, 4)`` current BEV frame -> previous BEV frame (m): the ego motion.
        image_size (tuple[int, int]): ``(H, W)`` px of the network input.
        pixels (str): ``'center'`` (cell ``j`` covers pixel ``(j + 0.5) s``: ``align_corners=False``) or
            ``'linspace'`` (official: cell ``j`` at ``j (W - 1) / (w - 1)``, normalised by ``W - 1`` with
            ``align_corners=True``).
        min_depth (float): a point at or behind this depth (m) in the previous camera is invalid (official 1e-3).

    Returns:
        tuple: ``grid`` ``(B * N, D * h, w, 2)`` normalised (x, y) for ``F.grid_sample`` (invalid points at -2,
        outside the map) and ``behind`` ``(B, N, D, h, w)`` bool.
    """
    b, n = cur2img.shape[:2]
    n_d, h, w, _ = frustum.shape
    pts = frustum_to_points(frustum, cur2img)  # (B, N, D, h, w, 3) current BEV frame
    pts = apply_transform(pts.reshape(b, n, -1, 3), cur2adj[:, None].to(pts.dtype))
    uv, depth, _ = project_points(pts, adj2img.to(pts.dtype), min_depth=min_depth)
    behind = depth < min_depth
    img_h, img_w = image_size
    if pixels == 'linspace':
        gx, gy = uv[..., 0] / (img_w - 1.0) * 2.0 - 1.0, uv[..., 1] / (img_h - 1.0) * 2.0 - 1.0
    elif pixels == 'center':
        gx, gy = uv[..., 0] / img_w * 2.0 - 1.0, uv[..., 1] / img_h * 2.0 - 1.0
    else:
        raise ValueError(f"stereo_sampling_grid: pixels must be 'center' or 'linspace', got {pixels!r}")
    grid = torch.stack([gx.masked_fill(behind, -2.0), gy.masked_fill(behind, -2.0)], -1)
    return grid.view(b * n, n_d * h, w, 2), behind.view(b, n, n_d, h, w)


def stereo_cost_volume(cur_feat: Tensor,
                       adj_feat: Tensor,
                       grid: Tensor,
                       num_bins: int,
                       pixels: str = 'center',
                       invalid_bias: float = 0.0,
                       invalid: str = 'geometry',
                       behind: Tensor = None,
                       group_size: int = 4) -> Tensor:
    """Soft-maxed negative L1 matching cost over the depth bins (official ``calculate_cost_volumn``).

    Args:
        cur_feat (Tensor): ``(B * N, C, h, w)`` current stride-s features.
        adj_feat (Tensor): ``(B * N, C, h, w)`` previous-frame features of the same cameras.
        grid (Tensor): ``(B * N, D * h, w, 2)`` from :func:`stereo_sampling_grid`.
        num_bins (int): ``D``.
        pixels (str): the grid's convention (``align_corners`` of the sampling).
        invalid_bias (float): cost added where the match is invalid before the softmax (official ``bias``, 5 in
            the BEVStereo4D configs; 0 = none).
        invalid (str): what is invalid: ``'geometry'`` (the point falls outside the previous image or behind its
            camera) or ``'official'`` (the sampled value of the first channel of the last group of ``group_size``
            channels is exactly 0: out-of-image samples, but also any zero activation there, e.g. after a ReLU).
        behind (Tensor, optional): ``(B, N, D, h, w)`` from :func:`stereo_sampling_grid` (``'geometry'``).
        group_size (int): channels per group (official 4; only ``C // group_size * group_size`` channels are used,
            as the official loop).

    Returns:
        Tensor: ``(B * N, D, h, w)`` matching probabilities over the depth bins.
    """
    bn, c, h, w = cur_feat.shape
    used = c // group_size * group_size
    if used == 0:
        raise ValueError(f'stereo_cost_volume: needs at least {group_size} channels, got {c}')
    align = pixels == 'linspace'
    grid = grid.to(adj_feat.dtype)
    # group by group, as the official ("process in group wise to save memory"): the warped previous features of
    # all channels at once are C x D x h x w per image (6.6 GiB per sample for BEVStereo4D-R50 at 256 x 704)
    cost = 0
    for start in range(0, used, group_size):
        warped = F.grid_sample(adj_feat[:, start:start + group_size], grid, align_corners=align, padding_mode='zeros')
        warped = warped.view(bn, group_size, num_bins, h, w)
        cost = cost + (cur_feat[:, start:start + group_size].unsqueeze(2) - warped).abs().sum(1)
    if invalid_bias:
        if invalid == 'official':
            bad = warped[:, 0] == 0  # the first channel of the last group (official wrap_prev[:, 0] after its loop)
        elif invalid == 'geometry':
            bad = (grid.view(bn, num_bins, h, w, 2).abs() > 1.0).any(-1)  # beyond the previous image's borders
            if behind is not None:
                bad |= behind.reshape(bn, num_bins, h, w)
        else:
            raise ValueError(f"stereo_cost_volume: invalid must be 'geometry' or 'official', got {invalid!r}")
        cost = cost + invalid_bias * bad.to(cost.dtype)
    return (-cost).softmax(dim=1)
