"""Regular metric grids (BEV and voxel) and the metre <-> index conversions for them.

Index convention: the voxel with integer index ``(i, j, k)`` along ``(x, y, z)``
covers ``[min + i * size, min + (i + 1) * size)`` on each axis and has its
centre at continuous index ``i`` (metre ``min + (i + 0.5) * size``). Dense
tensors over a grid are laid out ``(..., Z, Y, X)`` (BEV: ``(..., Y, X)``), so
``x`` is the fastest axis, as in mmdet3d's BEV feature maps.
"""
from typing import Sequence, Tuple

import torch
from torch import Tensor


class VoxelGrid:
    """An axis-aligned metric grid.

    Args:
        point_cloud_range (Sequence[float]): ``[x_min, y_min, z_min, x_max,
            y_max, z_max]`` in m, in the grid's frame (usually LiDAR).
        voxel_size (Sequence[float]): ``[dx, dy, dz]`` in m. Each extent must
            be a whole multiple of the voxel size (to 1e-4 voxels).

    Raises:
        ValueError: if the range is empty or not a multiple of the voxel size.
    """

    def __init__(self, point_cloud_range: Sequence[float], voxel_size: Sequence[float]) -> None:
        if len(point_cloud_range) != 6 or len(voxel_size) != 3:
            raise ValueError(f'VoxelGrid: point_cloud_range needs 6 numbers and voxel_size 3, got '
                             f'{list(point_cloud_range)} and {list(voxel_size)}')
        self.pc_min = [float(v) for v in point_cloud_range[:3]]
        self.pc_max = [float(v) for v in point_cloud_range[3:]]
        self.voxel_size = [float(v) for v in voxel_size]
        shape = []
        for lo, hi, size, axis in zip(self.pc_min, self.pc_max, self.voxel_size, 'xyz'):
            n = (hi - lo) / size
            if size <= 0 or n < 1 - 1e-4 or abs(n - round(n)) > 1e-4:
                raise ValueError(f'VoxelGrid: extent {hi - lo} m along {axis} is not a positive whole multiple '
                                 f'of voxel size {size} m (range {list(point_cloud_range)})')
            shape.append(int(round(n)))
        self.num_voxels: Tuple[int, int, int] = tuple(shape)  # (X, Y, Z)

    @property
    def shape_zyx(self) -> Tuple[int, int, int]:
        """``(Z, Y, X)``: the dense layout of tensors over this grid."""
        nx, ny, nz = self.num_voxels
        return nz, ny, nx

    def _vec(self, values, ref: Tensor) -> Tensor:
        """``values`` as a tensor of ``ref``'s dtype and device, made once per (values, dtype, device): a
        ``torch.tensor`` of a list on a GPU is a blocking host-to-device copy on every call."""
        cache = self.__dict__.setdefault('_vec_cache', {})
        key = (tuple(values), ref.dtype, ref.device)
        if key not in cache:
            cache[key] = torch.tensor(values, dtype=ref.dtype, device=ref.device)
        return cache[key]

    def metric_to_index(self, points: Tensor) -> Tensor:
        """``(..., 3)`` metres -> ``(..., 3)`` continuous voxel index (x, y, z); integers are voxel centres."""
        return (points - self._vec(self.pc_min, points)) / self._vec(self.voxel_size, points) - 0.5

    def index_to_metric(self, index: Tensor) -> Tensor:
        """``(..., 3)`` continuous voxel index (x, y, z) -> ``(..., 3)`` metres (inverse of ``metric_to_index``)."""
        return (index + 0.5) * self._vec(self.voxel_size, index) + self._vec(self.pc_min, index)

    def normalize(self, points: Tensor) -> Tensor:
        """``(..., 3)`` metres -> ``(..., 3)`` coordinates in ``[-1, 1]`` for ``F.grid_sample(align_corners=False)``."""
        lo, hi = self._vec(self.pc_min, points), self._vec(self.pc_max, points)
        return (points - lo) / (hi - lo) * 2 - 1

    def voxel_centers(self, device=None, dtype=torch.float32) -> Tensor:
        """``(Z, Y, X, 3)`` metric (x, y, z) centres of all voxels."""
        nx, ny, nz = self.num_voxels
        axes = [(torch.arange(n, device=device, dtype=dtype) + 0.5) * s + lo
                for n, s, lo in zip((nx, ny, nz), self.voxel_size, self.pc_min)]
        zz, yy, xx = torch.meshgrid(axes[2], axes[1], axes[0], indexing='ij')
        return torch.stack([xx, yy, zz], dim=-1)

    def flat_index(self, points: Tensor, rounding: str = 'floor') -> Tuple[Tensor, Tensor]:
        """Voxel each point falls in.

        Args:
            points (Tensor): ``(..., 3)`` metres.
            rounding (str): ``'floor'`` (default): a point belongs to the voxel that contains it. ``'trunc'``:
                the official BEVDet dev2.1 / BEVFusion index (``((p - lower) / size).long()``, truncation toward
                zero), which also puts points up to one voxel *below* the lower bound of x, y or z into the
                first voxel (e.g. z in (-13, -5) m into the single 8 m z cell of BEVDet's -5..3 m range).

        Returns:
            tuple[Tensor, Tensor]: ``(...)`` long index into the flattened
            ``(Z, Y, X)`` grid (0 where invalid) and ``(...)`` bool, inside
            the range.
        """
        nx, ny, nz = self.num_voxels
        if rounding not in ('floor', 'trunc'):
            raise ValueError(f"VoxelGrid.flat_index: rounding must be 'floor' or 'trunc', got {rounding!r}")
        rel = (points - self._vec(self.pc_min, points)) / self._vec(self.voxel_size, points)
        idx = (torch.floor(rel) if rounding == 'floor' else rel).long()
        valid = ((idx >= 0) & (idx < self._vec([nx, ny, nz], idx))).all(-1)
        flat = (idx[..., 2] * ny + idx[..., 1]) * nx + idx[..., 0]
        return torch.where(valid, flat, torch.zeros_like(flat)), valid

    def __repr__(self) -> str:
        return (f'VoxelGrid(point_cloud_range={self.pc_min + self.pc_max}, voxel_size={self.voxel_size}, '
                f'num_voxels(XYZ)={self.num_voxels})')
