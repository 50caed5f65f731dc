"""Fields that read a lifted voxel volume by trilinear sampling: an SDF field and an RGB field.

They reproduce the rendering fields of MIM4D / UniPAD (``fields/sdf_field.py``:
``SDFDecoder`` with Softplus(beta=100), ``RGBDecoder`` with ReLU): tiny MLPs applied
to the voxel feature sampled at each point. Positions are in the volume's frame and
in the units of the grid the field is built on (:class:`VolumeRenderingHead` builds
it in scene units, metres x ``scene_scale``); the volume is laid out
``(B, C, Z, Y, X)`` on a :class:`mim3d_plugin.geometry.VoxelGrid`.

The volume is read once per sample point: :meth:`VolumeSDFField.forward` returns the
sampled feature with the SDF, and :meth:`VolumeRGBField.decode` takes it, so the RGB
branch does not sample the volume again.
"""
from typing import Dict, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from mim3d_plugin.geometry import VoxelGrid


def sample_volume(volume: Tensor, points: Tensor, grid: VoxelGrid) -> Tensor:
    """Trilinearly sample a voxel volume at metric points (zeros outside the grid).

    Args:
        volume (Tensor): ``(B, C, Z, Y, X)`` on ``grid``.
        points (Tensor): ``(B, ..., 3)`` m in the grid's frame.
        grid (VoxelGrid): the grid of ``volume``.

    Returns:
        Tensor: ``(B, ..., C)`` features.
    """
    if volume.dim() != 5 or tuple(volume.shape[2:]) != grid.shape_zyx:
        raise ValueError(f'sample_volume: volume must be (B, C) + {grid.shape_zyx}, got {tuple(volume.shape)}')
    b, c = volume.shape[:2]
    lead = points.shape[1:-1]
    norm = grid.normalize(points.reshape(b, -1, 1, 1, 3)).to(volume.dtype)
    out = F.grid_sample(volume, norm, mode='bilinear', padding_mode='zeros', align_corners=False)
    return out.view(b, c, -1).transpose(1, 2).reshape((b, ) + lead + (c, ))


def _mlp(in_dim: int, hidden: int, out_dim: int, num_layers: int, act: str = 'softplus') -> nn.Sequential:
    layers, dim = [], in_dim
    for _ in range(num_layers - 1):
        layers += [nn.Linear(dim, hidden), nn.Softplus(beta=100) if act == 'softplus' else nn.ReLU(inplace=True)]
        dim = hidden
    layers.append(nn.Linear(dim, out_dim))
    return nn.Sequential(*layers)


class VolumeSDFField(BaseModule):
    """SDF field on a voxel volume: ``f(p) = MLP([volume(p), p_norm])``.

    Args:
        in_channels (int): volume channels ``C``.
        point_cloud_range (Sequence[float]): grid range (scene units).
        voxel_size (Sequence[float]): grid voxel size (scene units).
        hidden_channels (int): MLP width. Default: 64.
        num_layers (int): MLP layers (Softplus(beta=100) between them, as
            UniPAD's ``SDFDecoder``). Default: 3.
        geo_feat_channels (int): extra output features passed to the RGB field. Default: 16.
        init_variance (float): NeuS' learnable variance; ``inv_s = exp(10 *
            variance)`` per scene unit. Default: 0.3 (MIM4D / UniPAD ``beta_init``:
            20.1 per unit of their normalised scene = 0.39 per metre).
        grad_step (float): central-difference step for gradients, as a fraction
            of the smallest voxel size. Default: 0.5.
    """

    def __init__(self,
                 in_channels: int,
                 point_cloud_range: Sequence[float],
                 voxel_size: Sequence[float],
                 hidden_channels: int = 64,
                 num_layers: int = 3,
                 geo_feat_channels: int = 16,
                 init_variance: float = 0.3,
                 grad_step: float = 0.5,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.grid = VoxelGrid(point_cloud_range, voxel_size)
        self.geo_feat_channels = geo_feat_channels
        self.mlp = _mlp(in_channels + 3, hidden_channels, 1 + geo_feat_channels, num_layers)
        self.variance = nn.Parameter(torch.tensor(float(init_variance)))
        self.grad_step = grad_step * min(self.grid.voxel_size)

    def inv_s(self) -> Tensor:
        """NeuS sharpness ``s = exp(10 * variance)`` (1 / scene unit), clamped to [1, 1e6]."""
        return torch.exp(self.variance * 10.0).clamp(1.0, 1e6)

    def forward(self, volume: Tensor, points: Tensor) -> Dict[str, Tensor]:
        """Evaluate the field.

        Args:
            volume (Tensor): ``(B, C, Z, Y, X)``.
            points (Tensor): ``(B, ..., 3)`` volume frame, grid units.

        Returns:
            dict: ``sdf`` ``(B, ...)`` (grid units), ``geo_feat`` ``(B, ...,
            geo_feat_channels)`` and ``feat`` ``(B, ..., C)``, the sampled volume.
        """
        feat = sample_volume(volume, points, self.grid)
        out = self.mlp(torch.cat([feat, self.grid.normalize(points).to(feat.dtype)], -1))
        return dict(sdf=out[..., 0], geo_feat=out[..., 1:], feat=feat)

    def sdf(self, volume: Tensor, points: Tensor) -> Tensor:
        """``(B, ..., 3)`` points -> ``(B, ...)`` SDF (grid units)."""
        return self.forward(volume, points)['sdf']

    def gradient(self, volume: Tensor, points: Tensor) -> Tensor:
        """Central-difference SDF gradient ``(B, ..., 3)`` (differentiable; no double backward needed)."""
        eps = self.grad_step
        offsets = torch.eye(3, dtype=points.dtype, device=points.device) * eps  # (3, 3)
        shifted = torch.cat([points.unsqueeze(-2) + offsets, points.unsqueeze(-2) - offsets], -2)
        sdf = self.sdf(volume, shifted)  # (B, ..., 6)
        return (sdf[..., :3] - sdf[..., 3:]) / (2 * eps)


class VolumeRGBField(BaseModule):
    """RGB field: ``c(p, d) = sigmoid(MLP([geo_feat(p), volume(p), d]))`` with ReLU
    between layers (UniPAD's ``RGBDecoder``: no second derivative is needed).

    Args:
        in_channels (int): volume channels ``C``.
        geo_feat_channels (int): channels of the SDF field's ``geo_feat``.
        point_cloud_range (Sequence[float]): grid range (scene units).
        voxel_size (Sequence[float]): grid voxel size (scene units).
        hidden_channels (int): MLP width. Default: 64.
        num_layers (int): MLP layers. Default: 3.
    """

    def __init__(self,
                 in_channels: int,
                 geo_feat_channels: int,
                 point_cloud_range: Sequence[float],
                 voxel_size: Sequence[float],
                 hidden_channels: int = 64,
                 num_layers: int = 3,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.grid = VoxelGrid(point_cloud_range, voxel_size)
        self.mlp = _mlp(in_channels + geo_feat_channels + 3, hidden_channels, 3, num_layers, act='relu')

    def decode(self, feat: Tensor, directions: Tensor, geo_feat: Tensor) -> Tensor:
        """Colours ``(B, ..., 3)`` in [0, 1] from already sampled volume features
        ``(B, ..., C)``, unit ``directions`` ``(B, ..., 3)`` and ``geo_feat`` ``(B, ..., G)``."""
        return torch.sigmoid(self.mlp(torch.cat([geo_feat, feat, directions.to(feat.dtype)], -1)))

    def forward(self, volume: Tensor, points: Tensor, directions: Tensor, geo_feat: Tensor) -> Tensor:
        """Colours ``(B, ..., 3)`` in [0, 1] at ``points`` ``(B, ..., 3)`` (grid units) seen
        along unit ``directions`` ``(B, ..., 3)`` with ``geo_feat`` ``(B, ..., G)``."""
        return self.decode(sample_volume(volume, points, self.grid), directions, geo_feat)
