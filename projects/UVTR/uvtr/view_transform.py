"""UVTR's camera view transform: multi-view image features and depth distributions -> a voxel volume.

Two lifts of the official code (hustvl/MIM4D and Nightmare-n/UniPAD, ``projects/mmdet3d_plugin/models/utils/``),
selected by ``lift``:

- ``'voxel_pool'`` (``uni3d_voxelpooldepth.py`` ``Uni3DVoxelPoolDepth``; the vs0.075 fine-tune, UVTR-DN): every
  feature cell is lifted along its ray at the ``D`` depth bins ``frustum_range`` / ``frustum_size`` define, weighted
  by its depth probability and **summed** into the voxel it falls in (the LSS splat, here
  :func:`mim3d_plugin.geometry.depth_weighted_pooling`; official: the ``voxel_pool`` CUDA kernel).
- ``'grid_sample'`` (``uni3d_viewtrans.py`` ``Uni3DViewTrans``; the vs0.1 fine-tune, UVTR): every voxel point is
  projected into every camera, the image feature of every level is sampled bilinearly at its pixel and the depth
  probability trilinearly at (pixel, depth), and the products are summed over cameras and levels.

Both are followed by ``num_convs`` ``Conv3d(k) + BN3d + ReLU`` blocks (official ``conv_layer``, same key names).

Official conventions kept by option (the paper configs set them, so official checkpoints and the papers' recipe
are reproduced; the defaults are the metrically exact choices):

- ``frustum_pixels='corner'`` (official ``arange(0, W, stride)``: the top-left pixel of each feature cell) vs
  ``'center'``;
- ``voxel_rounding='trunc'`` (official ``.int()``: points up to one voxel below the range's lower bound join the
  first voxel) vs ``'floor'``;
- ``voxel_points='corner'`` (official ``arange(pc_min, pc_max, voxel_size)``: the lower corner of each voxel,
  grid_sample lift) vs ``'center'``.

Official depth bins: ``arange(frustum_range[2], frustum_range[5], frustum_size[2])`` m (vs0.075: 1.0 .. 59.5 m,
118 bins); the grid_sample lift normalises depth over ``[frustum_range[2], frustum_range[5]]`` with
``align_corners=True`` (vs0.1: 0 .. 64 m onto 64 bins), as the official.
"""
from typing import List, Sequence

import torch
import torch.nn.functional as F
from mmdet3d.registry import MODELS
from mmengine.model import BaseModule, xavier_init
from torch import Tensor, nn

from mim3d_plugin.geometry import VoxelGrid
from mim3d_plugin.geometry.lifting import create_frustum, depth_weighted_pooling, frustum_to_points
from mim3d_plugin.geometry.projection import project_points

LIFTS = ('voxel_pool', 'grid_sample')


@MODELS.register_module()
class UVTRViewTransform(BaseModule):
    """Camera features + depth distributions -> ``(B, C, Z, Y, X)`` voxel features (LiDAR frame).

    Args:
        point_cloud_range (Sequence[float]): ``[x_min, y_min, z_min, x_max, y_max, z_max]`` m, LiDAR frame
            (vs0.075: ``[-54, -54, -5, 54, 54, 3]``; vs0.1: ``[-51.2, -51.2, -5, 51.2, 51.2, 3]``).
        voxel_size (Sequence[float]): ``[dx, dy, dz]`` m (vs0.075: ``[0.6, 0.6, 1.6]``; vs0.1: ``[0.8, 0.8, 1.6]``).
        depth_range (Sequence[float]): ``(start, stop)`` m of the depth distribution (official
            ``frustum_range[2], frustum_range[5]``).
        depth_step (float): depth bin size in m (official ``frustum_size[2]``); ``D = (stop - start) / step``.
        embed_dims (int): channels C of the image features and of the volume.
        lift (str): ``'voxel_pool'`` or ``'grid_sample'`` (module docstring).
        num_convs (int): 3D conv blocks after the lift. Default: 3.
        kernel_size (Sequence[int]): their kernel. Default: ``(3, 3, 3)``.
        frustum_pixels (str): ``'center'`` (default) or the official ``'corner'`` (voxel_pool lift).
        voxel_rounding (str): ``'floor'`` (default) or the official ``'trunc'`` (voxel_pool lift).
        voxel_points (str): ``'center'`` (default) or the official ``'corner'`` (grid_sample lift).

    Raises:
        ValueError: unknown ``lift`` / option, or a depth range that is not a whole number of bins.
    """

    def __init__(self,
                 point_cloud_range: Sequence[float],
                 voxel_size: Sequence[float],
                 depth_range: Sequence[float],
                 depth_step: float,
                 embed_dims: int = 256,
                 lift: str = 'voxel_pool',
                 num_convs: int = 3,
                 kernel_size: Sequence[int] = (3, 3, 3),
                 frustum_pixels: str = 'center',
                 voxel_rounding: str = 'floor',
                 voxel_points: str = 'center',
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if lift not in LIFTS:
            raise ValueError(f'UVTRViewTransform: lift must be one of {LIFTS}, got {lift!r}')
        for name, value, allowed in (('frustum_pixels', frustum_pixels,
                                      ('center', 'corner')), ('voxel_rounding', voxel_rounding, ('floor', 'trunc')),
                                     ('voxel_points', voxel_points, ('center', 'corner'))):
            if value not in allowed:
                raise ValueError(f'UVTRViewTransform: {name} must be one of {allowed}, got {value!r}')
        self.grid = VoxelGrid(point_cloud_range, voxel_size)
        self.lift = lift
        self.depth_range = (float(depth_range[0]), float(depth_range[1]))
        self.depth_step = float(depth_step)
        n_d = (self.depth_range[1] - self.depth_range[0]) / self.depth_step
        if n_d < 1 or abs(n_d - round(n_d)) > 1e-4:
            raise ValueError(f'UVTRViewTransform: depth range {list(depth_range)} m is not a whole number of '
                             f'{depth_step} m bins')
        self.depth_dim = int(round(n_d))
        self.embed_dims = embed_dims
        self.frustum_pixels, self.voxel_rounding, self.voxel_points = frustum_pixels, voxel_rounding, voxel_points
        padding = tuple((k - 1) // 2 for k in kernel_size)
        self.conv_layer = nn.ModuleList([
            nn.Sequential(
                nn.Conv3d(embed_dims, embed_dims, kernel_size=tuple(kernel_size), stride=1, padding=padding),
                nn.BatchNorm3d(embed_dims), nn.ReLU(inplace=True)) for _ in range(num_convs)
        ])

    def init_weights(self) -> None:
        """Official: xavier-uniform conv weights, zero bias."""
        super().init_weights()
        for layer in self.conv_layer:
            xavier_init(layer[0], distribution='uniform', bias=0.)

    def depth_bins(self, device=None, dtype=torch.float32) -> Tensor:
        """``(D,)`` depths in m of the voxel_pool lift (official: the bin starts)."""
        return self.depth_range[0] + self.depth_step * torch.arange(self.depth_dim, device=device, dtype=dtype)

    def forward(self, mlvl_feats: List[Tensor], mlvl_depth: List[Tensor], lidar2img: Tensor,
                input_size: Sequence[int]) -> Tensor:
        """Lift and encode.

        Args:
            mlvl_feats (list[Tensor]): per level ``(B, N_cam, C, h_l, w_l)`` image features.
            mlvl_depth (list[Tensor]): per level ``(B, N_cam, D, h_l, w_l)`` depth probabilities (softmax over D).
            lidar2img (Tensor): ``(B, N_cam, 4, 4)`` LiDAR (after BEV augmentation) -> augmented image pixels.
            input_size (tuple[int, int]): ``(H, W)`` px the feature maps cover: the padded network input for the
                voxel_pool lift; for the grid_sample lift the official normalises pixels by the unpadded
                ``img_shape`` (``align_corners=True``), which the detector passes.

        Returns:
            Tensor: ``(B, C, Z, Y, X)``.

        Raises:
            ValueError: mismatched levels, cameras or depth bins; the voxel_pool lift with more than one level.
        """
        if len(mlvl_feats) != len(mlvl_depth) or not mlvl_feats:
            raise ValueError(f'UVTRViewTransform: {len(mlvl_feats)} feature levels but {len(mlvl_depth)} depth maps')
        b, n_cam = mlvl_feats[0].shape[:2]
        if tuple(lidar2img.shape) != (b, n_cam, 4, 4):
            raise ValueError(f'UVTRViewTransform: lidar2img {tuple(lidar2img.shape)} for {b} samples of {n_cam} '
                             'cameras, expected (B, N_cam, 4, 4)')
        for feat, depth in zip(mlvl_feats, mlvl_depth):
            if depth.shape[2] != self.depth_dim or depth.shape[-2:] != feat.shape[-2:]:
                raise ValueError(f'UVTRViewTransform: depth {tuple(depth.shape)} does not match features '
                                 f'{tuple(feat.shape)} with D={self.depth_dim} bins')
        if self.lift == 'voxel_pool':
            volume = self._voxel_pool(mlvl_feats, mlvl_depth, lidar2img, input_size)
        else:
            volume = self._grid_sample(mlvl_feats, mlvl_depth, lidar2img, input_size)
        for layer in self.conv_layer:
            volume = layer(volume)
        return volume

    def _voxel_pool(self, mlvl_feats, mlvl_depth, lidar2img, input_size) -> Tensor:
        if len(mlvl_feats) != 1:
            raise ValueError(f'UVTRViewTransform: the voxel_pool lift takes one feature level (official '
                             f'Uni3DVoxelPoolDepth), got {len(mlvl_feats)}')
        feats, depth = mlvl_feats[0], mlvl_depth[0]
        frustum = create_frustum(input_size, feats.shape[-2:], self.depth_bins(feats.device), self.frustum_pixels)
        points = frustum_to_points(frustum, lidar2img.float())
        # the splat in float32 (official: force_fp32 on feat_sampling); autocast off, or its sparse product would
        # run in half precision against float32 weights
        with torch.autocast(device_type=feats.device.type, enabled=False):
            return depth_weighted_pooling(points, depth.float(), feats.float(), self.grid, self.voxel_rounding)

    def _grid_sample(self, mlvl_feats, mlvl_depth, lidar2img, input_size) -> Tensor:
        b, n_cam = mlvl_feats[0].shape[:2]
        nx, ny, nz = self.grid.num_voxels
        dtype = mlvl_feats[0].dtype
        points = self.grid.voxel_centers(lidar2img.device, torch.float32)  # (Z, Y, X, 3)
        if self.voxel_points == 'corner':
            points = points - points.new_tensor(self.grid.voxel_size) / 2
        points = points.reshape(1, -1, 3).expand(b, -1, -1)
        uv, depth, valid = project_points(
            points.unsqueeze(1), lidar2img.float(), None, min_depth=1e-5)  # (B, N, P, 2), (B, N, P)
        img_h, img_w = float(input_size[0]), float(input_size[1])
        gx = uv[..., 0] / img_w * 2 - 1
        gy = uv[..., 1] / img_h * 2 - 1
        gd = (depth - self.depth_range[0]) / (self.depth_range[1] - self.depth_range[0]) * 2 - 1
        valid = valid & (gx > -1) & (gx < 1) & (gy > -1) & (gy < 1) & (gd > -1) & (gd < 1)
        grid2d = torch.stack([gx, gy], -1).flatten(0, 1).unsqueeze(2)  # (B*N, P, 1, 2)
        grid3d = torch.stack([gx, gy, gd], -1).flatten(0, 1)[:, None, :, None, :]  # (B*N, 1, P, 1, 3)
        volume = 0
        for feat, prob in zip(mlvl_feats, mlvl_depth):
            sampled = F.grid_sample(feat.flatten(0, 1), grid2d.to(feat.dtype), align_corners=True)[..., 0]
            weight = F.grid_sample(prob.flatten(0, 1).unsqueeze(1), grid3d.to(prob.dtype), align_corners=True)
            volume = volume + sampled * weight.reshape(b * n_cam, 1, -1)  # (B*N, C, P)
        volume = volume * valid.flatten(0, 1).unsqueeze(1).to(volume.dtype)
        volume = volume.view(b, n_cam, -1, nz, ny, nx).sum(1)
        return volume.to(dtype)
