"""Point-cloud voxelization in PyTorch, equal to mmcv's ``hard_voxelize`` / ``dynamic_voxelize`` kernels.

mmcv's kernels (``mmcv/ops/csrc/pytorch/cpu/voxelization.cpp``, the CUDA ones in deterministic mode) visit the points
in order: a point outside ``point_cloud_range`` is dropped; a point whose voxel is new opens a voxel (numbered in the
order of first appearance) unless ``max_voxels`` are open; a voxel keeps its first ``max_num_points`` points. Voxel
coordinates are ``floor((p - range_min) / voxel_size)`` in float32 over a grid of
``round((range_max - range_min) / voxel_size)`` cells, returned in ``(z, y, x)`` order. The functions here compute
the same with sorting and scatters (``tests/test_ops/test_voxelize.py`` pins them to the kernel on CPU).
"""
from typing import Sequence, Tuple

import torch
from mmdet3d.models.data_preprocessors import Det3DDataPreprocessor
from mmdet3d.models.data_preprocessors.voxelize import VoxelizationByGridShape
from mmdet3d.registry import MODELS
from torch import Tensor

from .availability import compiled_op_available


def _voxel_coords(points: Tensor, voxel_size: Sequence[float],
                  point_cloud_range: Sequence[float]) -> Tuple[Tensor, Tensor, Tuple[int, int, int]]:
    vs = torch.as_tensor(voxel_size, dtype=torch.float32, device=points.device)
    pcr = torch.as_tensor(point_cloud_range, dtype=torch.float32, device=points.device)
    grid = [
        int(round((float(point_cloud_range[i + 3]) - float(point_cloud_range[i])) / float(voxel_size[i])))
        for i in range(3)
    ]
    xyz = torch.floor((points[:, :3].float() - pcr[:3]) / vs).long()
    grid_t = torch.as_tensor(grid, device=points.device)
    valid = ((xyz >= 0) & (xyz < grid_t)).all(dim=1)
    return xyz, valid, tuple(grid)


def dynamic_voxelize_pytorch(points: Tensor, voxel_size: Sequence[float], point_cloud_range: Sequence[float]) -> Tensor:
    """Voxel coordinate of every point, as mmcv's ``dynamic_voxelize``.

    Args:
        points (Tensor): ``(N, C)`` points, ``x, y, z`` (metres, LiDAR frame) first.
        voxel_size (Sequence[float]): ``(vx, vy, vz)`` metres.
        point_cloud_range (Sequence[float]): ``(x_min, y_min, z_min, x_max, y_max, z_max)`` metres.

    Returns:
        Tensor: ``(N, 3)`` int32 ``(z, y, x)`` voxel indices, ``-1`` for points outside the range.
    """
    xyz, valid, _ = _voxel_coords(points, voxel_size, point_cloud_range)
    coors = xyz.flip(1).int()
    coors[~valid] = -1
    return coors


def hard_voxelize_pytorch(points: Tensor,
                          voxel_size: Sequence[float],
                          point_cloud_range: Sequence[float],
                          max_num_points: int,
                          max_voxels: int = 20000) -> Tuple[Tensor, Tensor, Tensor]:
    """Voxels of at most ``max_num_points`` points, as mmcv's ``hard_voxelize`` (deterministic).

    Args:
        points (Tensor): ``(N, C)`` points, ``x, y, z`` (metres, LiDAR frame) first.
        voxel_size, point_cloud_range: as :func:`dynamic_voxelize_pytorch`.
        max_num_points (int): points kept per voxel (the first ones, in point order).
        max_voxels (int): voxels kept (the first opened). ``-1``: no limit.

    Returns:
        tuple: ``voxels`` ``(V, max_num_points, C)`` (unused slots 0), ``coors`` ``(V, 3)`` int32 ``(z, y, x)``,
        ``num_points`` ``(V,)`` int32.
    """
    xyz, valid, (gx, gy, _) = _voxel_coords(points, voxel_size, point_cloud_range)
    idx = torch.nonzero(valid, as_tuple=True)[0]
    c = xyz[idx]
    linear = (c[:, 2] * gy + c[:, 1]) * gx + c[:, 0]
    uniq, inverse = torch.unique(linear, return_inverse=True)
    order = torch.arange(idx.numel(), device=points.device)
    first = torch.full((uniq.numel(), ), idx.numel(), dtype=torch.long,
                       device=points.device).scatter_reduce_(0, inverse, order, 'amin')
    voxel_rank = torch.empty_like(first)
    voxel_rank[first.argsort()] = torch.arange(first.numel(), device=points.device)
    rank = voxel_rank[inverse]  # voxel number of every valid point, in first-appearance order
    num_voxels = uniq.numel() if max_voxels < 0 else min(uniq.numel(), max_voxels)
    # slot of each point inside its voxel: order by (voxel, point index)
    sort = torch.argsort(rank * (idx.numel() + 1) + order)
    sorted_rank = rank[sort]
    counts = torch.bincount(sorted_rank, minlength=uniq.numel())
    starts = torch.cumsum(counts, 0) - counts
    slot = torch.arange(sort.numel(), device=points.device) - starts[sorted_rank]
    keep = (sorted_rank < num_voxels) & (slot < max_num_points)
    voxels = points.new_zeros(num_voxels, max_num_points, points.shape[1])
    voxels[sorted_rank[keep], slot[keep]] = points[idx[sort[keep]]]
    coors = torch.empty(num_voxels, 3, dtype=torch.int32, device=points.device)
    first_point = sort[starts[:num_voxels]]
    coors[:] = c[first_point].flip(1).int()
    num_points = counts[:num_voxels].clamp(max=max_num_points).int()
    return voxels, coors, num_points


class PortableVoxelization(VoxelizationByGridShape):
    """mmdet3d's ``VoxelizationByGridShape`` (same arguments) with the PyTorch path where mmcv's kernel does not run
    (only ``deterministic=True`` is reproduced; the non-deterministic CUDA mode keeps an arbitrary subset)."""

    @classmethod
    def from_layer(cls, layer: VoxelizationByGridShape) -> 'PortableVoxelization':
        """The same layer with the fallback (no parameters, so a checkpoint does not see the swap)."""
        new = cls.__new__(cls)
        new.__dict__.update(layer.__dict__)
        return new

    def forward(self, points: Tensor):
        if compiled_op_available('voxelization', points.device):
            return super().forward(points)
        max_voxels = self.max_voxels[0] if self.training else self.max_voxels[1]
        if self.max_num_points == -1:
            return dynamic_voxelize_pytorch(points, self.voxel_size, self.point_cloud_range)
        return hard_voxelize_pytorch(points, self.voxel_size, self.point_cloud_range, self.max_num_points, max_voxels)


@MODELS.register_module()
class PortableDet3DDataPreprocessor(Det3DDataPreprocessor):
    """mmdet3d's ``Det3DDataPreprocessor`` (same arguments and outputs) whose voxel layer falls back to
    :func:`hard_voxelize_pytorch` / :func:`dynamic_voxelize_pytorch` where mmcv's voxelization kernel does not run."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.voxel:
            self.voxel_layer = PortableVoxelization.from_layer(self.voxel_layer)
