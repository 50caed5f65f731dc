"""Ego motion between timestamps: relative poses and warping of points, BEV maps and
voxel volumes from one frame into another.

Unlike MIM4D's official code, which applies a metric transform directly to voxel
indices, warping here converts index -> metre -> transform -> metre -> index
through :class:`VoxelGrid`.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .frames import apply_transform, invert_rigid
from .grid import VoxelGrid


def relative_transform(src2global: Tensor, dst2global: Tensor) -> Tensor:
    """``src2dst = inv(dst2global) @ src2global``.

    Args:
        src2global (Tensor): ``(..., 4, 4)`` pose of the source frame, e.g.
            ``ego2global @ lidar2ego`` of an earlier key frame.
        dst2global (Tensor): ``(..., 4, 4)`` pose of the destination frame.

    Returns:
        Tensor: ``(..., 4, 4)`` rigid transform from source to destination.
    """
    return invert_rigid(dst2global) @ src2global


def warp_volume(volume: Tensor,
                dst2src: Tensor,
                grid: VoxelGrid,
                flow: Optional[Tensor] = None,
                mode: str = 'bilinear') -> Tuple[Tensor, Tensor]:
    """Resample a voxel volume given in a source frame onto the same grid in a destination frame.

    For each destination voxel centre ``p`` the source volume is sampled
    (trilinearly, zeros outside) at ``dst2src @ p + flow(p)``.

    Args:
        volume (Tensor): ``(B, C, Z, Y, X)`` features on ``grid`` in the source frame.
        dst2src (Tensor): ``(B, 4, 4)`` transform from destination to source
            coordinates (m), e.g. ``relative_transform(dst2global, src2global)``.
        grid (VoxelGrid): the grid of both volumes.
        flow (Tensor, optional): ``(B, 3, Z, Y, X)`` additional displacement
            (m, source frame) of each destination voxel's content: scene flow
            of moving objects. Default: None (static scene).
        mode (str): ``'bilinear'`` (trilinear for 5D) or ``'nearest'``.

    Returns:
        tuple[Tensor, Tensor]: the warped ``(B, C, Z, Y, X)`` volume and a
        ``(B, Z, Y, X)`` bool mask of voxels whose source lies inside the grid.
    """
    if volume.dim() != 5:
        raise ValueError(f'warp_volume: volume must be (B, C, Z, Y, X), got {tuple(volume.shape)}')
    if tuple(volume.shape[2:]) != grid.shape_zyx:
        raise ValueError(f'warp_volume: volume grid {tuple(volume.shape[2:])} != {grid!r} (Z, Y, X) '
                         f'{grid.shape_zyx}')
    b = volume.shape[0]
    centers = grid.voxel_centers(volume.device, dtype=dst2src.dtype)  # (Z, Y, X, 3)
    src = apply_transform(centers.view(1, -1, 3), dst2src)
    src = src.view((b, ) + centers.shape)
    if flow is not None:
        src = src + flow.permute(0, 2, 3, 4, 1).to(src.dtype)
    norm = grid.normalize(src)
    inside = (norm.abs() <= 1).all(-1)
    warped = F.grid_sample(volume, norm.to(volume.dtype), mode=mode, padding_mode='zeros', align_corners=False)
    return warped, inside


def warp_bev(bev: Tensor, dst2src: Tensor, grid: VoxelGrid, mode: str = 'bilinear') -> Tuple[Tensor, Tensor]:
    """Resample a BEV map from a source frame into a destination frame (x, y part of the motion).

    Only the planar part of ``dst2src`` acts (the x/y rows and columns of the
    rotation and the x/y translation, as BEVDet4D's ``shift_feature``): vertical
    translation, roll and pitch would otherwise move the sample off the single z
    cell and attenuate the map under trilinear interpolation.

    Args:
        bev (Tensor): ``(B, C, Y, X)`` features on ``grid`` (its z extent is ignored).
        dst2src (Tensor): ``(B, 4, 4)`` destination -> source transform (m).
        grid (VoxelGrid): the BEV grid.
        mode (str): ``'bilinear'`` or ``'nearest'``.

    Returns:
        tuple[Tensor, Tensor]: warped ``(B, C, Y, X)`` map and ``(B, Y, X)``
        bool mask of cells whose source lies inside the grid.
    """
    planar = torch.eye(4, dtype=dst2src.dtype, device=dst2src.device).repeat(dst2src.shape[:-2] + (1, 1))
    planar[..., :2, :2] = dst2src[..., :2, :2]
    planar[..., :2, 3] = dst2src[..., :2, 3]
    warped, inside = warp_volume(bev.unsqueeze(2), planar, _flat_grid(grid), mode=mode)
    return warped.squeeze(2), inside.squeeze(1)


def _flat_grid(grid: VoxelGrid) -> VoxelGrid:
    """The same x/y grid with one z cell spanning the full z range."""
    lo, hi = grid.pc_min, grid.pc_max
    return VoxelGrid(lo + hi, grid.voxel_size[:2] + [hi[2] - lo[2]])
