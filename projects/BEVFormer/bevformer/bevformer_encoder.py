"""BEVFormer encoder: BEV queries refined by temporal self-attention and spatial cross-attention
(BEVFormer, Li et al., ECCV 2022, Sec. 3.2; official ``modules/encoder.py``)."""
import math
from typing import List, Optional, Sequence, Tuple

import torch
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks.transformer import FFN
from mmdet3d.registry import MODELS
from mmengine.model import BaseModule, ModuleList
from torch import Tensor, nn

from mim3d_plugin.geometry import VoxelGrid
from .spatial_cross_attention import point_sampling


def finite_reference_points(reference_points_cam: Tensor) -> Tensor:
    """Camera reference points ``(B, N_cam, Q, Z, 2)`` in image-normalised units, clamped to ``[-10, 11]``.

    Points far outside the image (behind a camera ``|u / W|`` reaches ~1e4) sample only zero padding; 10 image sizes
    away they still do, so the float32 result is unchanged (tested), while they stay finite in fp16 (max 65504), where
    ``inf * 0`` in the padded rebatch slots of :class:`SpatialCrossAttention` would turn the whole attention NaN.
    """
    return torch.nan_to_num(reference_points_cam, nan=-10.0).clamp(-10.0, 11.0)


@MODELS.register_module()
class BEVFormerEncoderLayer(BaseModule):
    """One encoder layer: TSA -> LN -> SCA -> LN -> FFN -> LN (post-norm, as the official ``BEVFormerLayer``).

    As the official layer (``modules/encoder.py`` ``BEVFormerLayer.forward``): TSA gets ``query_pos=bev_pos``
    and the value ``[prev_bev, initial BEV queries]``; SCA is called without a query position embedding (the
    encoder passes none to its layers).

    Args:
        temporal_self_attention (dict): :class:`TemporalSelfAttention` config.
        spatial_cross_attention (dict): :class:`SpatialCrossAttention` config.
        ffn (dict): mmcv ``FFN`` config.
        norm_cfg (dict): normalisation. Default: LN.
        sca_query_pos (bool): add ``bev_pos`` to the SCA query (not official). Default: False.
    """

    def __init__(self,
                 temporal_self_attention: dict,
                 spatial_cross_attention: dict,
                 ffn: dict,
                 norm_cfg: dict = dict(type='LN'),
                 sca_query_pos: bool = False,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.temporal_self_attention = MODELS.build(temporal_self_attention)
        self.spatial_cross_attention = MODELS.build(spatial_cross_attention)
        self.ffn = FFN(**ffn)
        dims = self.temporal_self_attention.embed_dims
        self.norms = ModuleList([build_norm_layer(norm_cfg, dims)[1] for _ in range(3)])
        self.sca_query_pos = sca_query_pos

    def forward(self,
                query: Tensor,
                bev_pos: Tensor,
                prev_bev: Optional[Tensor],
                ref_2d: Tensor,
                bev_spatial_shapes: Tensor,
                value: Tensor,
                reference_points_cam: Tensor,
                bev_mask: Tensor,
                spatial_shapes: Tensor,
                level_start_index: Tensor,
                prev_mask: Optional[Tensor] = None,
                initial_query: Optional[Tensor] = None) -> Tensor:
        """Shapes as in :meth:`BEVFormerEncoder.forward`; ``initial_query`` ``(B, Q, C)`` the encoder's input
        queries (the current-frame part of the TSA value when ``prev_bev`` is given); returns ``(B, Q, C)``."""
        zero = bev_spatial_shapes.new_zeros(1)
        query = self.temporal_self_attention(
            query,
            prev_bev,
            ref_2d,
            bev_spatial_shapes,
            zero,
            query_pos=bev_pos,
            prev_mask=prev_mask,
            value_query=initial_query if prev_bev is not None else None)
        query = self.norms[0](query)
        query = self.spatial_cross_attention(
            query,
            value,
            reference_points_cam,
            bev_mask,
            spatial_shapes,
            level_start_index,
            query_pos=bev_pos if self.sca_query_pos else None)
        query = self.norms[1](query)
        return self.norms[2](self.ffn(query))


def official_bev_shift(can_bus: Tensor, point_cloud_range: Sequence[float], bev_shape: Sequence[int]) -> Tensor:
    """The official ego-motion shift of the TSA reference points (``PerceptionTransformer.get_bev_features``).

    ``bev_angle = yaw - atan2(dy, dx)`` (deg), ``shift_y = |d| cos(bev_angle) / grid_y / Y``, ``shift_x = |d|
    sin(bev_angle) / grid_x / X`` with ``(dx, dy)`` the global translation since the previous frame (``can_bus``
    0:2), ``yaw`` the absolute ego yaw (``can_bus`` 16, rad) and ``grid_* = extent / cells``.

    Args:
        can_bus (Tensor): ``(B, 18)`` official CAN-bus vectors (:func:`official_can_bus`).
        point_cloud_range (Sequence[float]): BEV range (m).
        bev_shape (Sequence[int]): ``(Y, X)`` cells.

    Returns:
        Tensor: ``(B, 2)`` ``(shift_x, shift_y)`` in units of the BEV extent (as the normalised reference points).
    """
    can_bus = can_bus.to(torch.float64)
    dx, dy = can_bus[:, 0], can_bus[:, 1]
    ego_angle = can_bus[:, 16] / math.pi * 180
    grid_y = (point_cloud_range[4] - point_cloud_range[1]) / bev_shape[0]
    grid_x = (point_cloud_range[3] - point_cloud_range[0]) / bev_shape[1]
    length = torch.sqrt(dx**2 + dy**2)
    bev_angle = ego_angle - torch.atan2(dy, dx) / math.pi * 180
    shift_y = length * torch.cos(bev_angle / 180 * math.pi) / grid_y / bev_shape[0]
    shift_x = length * torch.sin(bev_angle / 180 * math.pi) / grid_x / bev_shape[1]
    return torch.stack([shift_x, shift_y], -1)


@MODELS.register_module()
class BEVFormerEncoder(BaseModule):
    """Stack of :class:`BEVFormerEncoderLayer` over a metric BEV grid.

    The BEV grid covers ``point_cloud_range`` (x, y) with ``bev_shape = (Y, X)``
    cells; each cell is a pillar with ``num_points_in_pillar`` reference heights
    over the z range (``pillar_heights``); these are projected into the
    cameras with :func:`point_sampling` (shared ``project_points``).

    Args:
        num_layers (int): layers (6 in BEVFormer-base, 3 in tiny). Default: 6.
        layer_cfg (dict): :class:`BEVFormerEncoderLayer` config.
        point_cloud_range (Sequence[float]): ``[x_min, y_min, z_min, x_max, y_max, z_max]`` m, LiDAR frame.
        bev_shape (Sequence[int]): ``(Y, X)`` BEV cells.
        num_points_in_pillar (int): reference heights per pillar Z. Default: 4.
        num_cams (int): maximum cameras (learned camera embeddings). Default: 6.
        num_feature_levels (int): image feature levels (learned level embeddings). Default: 4.
        embed_dims (int): channels C. Default: 256.
        pillar_heights (str): ``'official'``: ``z_min + linspace(0.5, Z - 0.5, P)`` m
            with ``Z = z_max - z_min`` (official ``get_reference_points``; -4.5 / -2.17 /
            0.17 / 2.5 m for z in [-5, 3] m and P = 4), or ``'centers'``: the centres
            of P equal height cells (-4 / -2 / 0 / 2 m). Default: ``'official'``.
    """

    def __init__(self,
                 layer_cfg: dict,
                 point_cloud_range: Sequence[float],
                 bev_shape: Sequence[int],
                 num_layers: int = 6,
                 num_points_in_pillar: int = 4,
                 num_cams: int = 6,
                 num_feature_levels: int = 4,
                 embed_dims: int = 256,
                 pillar_heights: str = 'official',
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if pillar_heights not in ('official', 'centers'):
            raise ValueError(f"BEVFormerEncoder: pillar_heights must be 'official' or 'centers', got "
                             f'{pillar_heights!r}')
        self.pillar_heights = pillar_heights
        self.num_points_in_pillar = num_points_in_pillar
        self.layers = ModuleList(
            [MODELS.build(dict(type='BEVFormerEncoderLayer', **layer_cfg)) for _ in range(num_layers)])
        self.bev_shape = (int(bev_shape[0]), int(bev_shape[1]))
        pcr = [float(v) for v in point_cloud_range]
        size = [(pcr[3] - pcr[0]) / self.bev_shape[1], (pcr[4] - pcr[1]) / self.bev_shape[0],
                (pcr[5] - pcr[2]) / num_points_in_pillar]
        self.grid = VoxelGrid(pcr, size)  # (X, Y, Z) = (bev X, bev Y, pillar heights)
        self.num_cams, self.num_feature_levels, self.embed_dims = num_cams, num_feature_levels, embed_dims
        self.cams_embeds = nn.Parameter(torch.empty(num_cams, embed_dims))
        self.level_embeds = nn.Parameter(torch.empty(num_feature_levels, embed_dims))

    def init_weights(self) -> None:
        super().init_weights()
        nn.init.normal_(self.cams_embeds)
        nn.init.normal_(self.level_embeds)

    def reference_points(self, device=None, dtype=torch.float32) -> Tuple[Tensor, Tensor]:
        """Returns ``ref_3d`` ``(Q, Z, 3)`` pillar points (m, LiDAR frame) and ``ref_2d`` ``(Q, 2)`` cell
        centres in ``[0, 1]``; ``Q = Y * X`` row-major (x fastest)."""
        centers = self.grid.voxel_centers(device=device, dtype=dtype)  # (Z, Y, X, 3)
        ref_3d = centers.flatten(1, 2).transpose(0, 1).clone()  # (Q, Z, 3)
        if self.pillar_heights == 'official':
            lo, hi = self.grid.pc_min[2], self.grid.pc_max[2]
            ref_3d[..., 2] = lo + torch.linspace(
                0.5, hi - lo - 0.5, self.num_points_in_pillar, device=device, dtype=dtype)
        ref_2d = (self.grid.normalize(centers[0].flatten(0, 1))[:, :2] + 1) / 2
        return ref_3d, ref_2d

    def flatten_features(self, mlvl_feats: List[Tensor]) -> Tuple[Tensor, Tensor, Tensor]:
        """``[(B, N_cam, C, H_l, W_l)]`` -> value ``(B, N_cam, L, C)`` (+ camera and level embeddings),
        spatial_shapes ``(levels, 2)``, level_start_index ``(levels,)``."""
        if len(mlvl_feats) != self.num_feature_levels:
            raise ValueError(f'BEVFormerEncoder: got {len(mlvl_feats)} feature levels, '
                             f'num_feature_levels={self.num_feature_levels}')
        n_cam = mlvl_feats[0].shape[1]
        if n_cam > self.num_cams:
            raise ValueError(f'BEVFormerEncoder: {n_cam} cameras but num_cams={self.num_cams}')
        flat, shapes = [], []
        for lvl, feat in enumerate(mlvl_feats):
            shapes.append(feat.shape[-2:])
            f = feat.flatten(3).transpose(2, 3)  # (B, N, HW, C)
            flat.append(f + self.cams_embeds[:n_cam, None, :].to(f.dtype) + self.level_embeds[lvl].to(f.dtype))
        value = torch.cat(flat, 2)
        spatial_shapes = torch.as_tensor(shapes, dtype=torch.long, device=value.device)
        level_start_index = torch.cat([spatial_shapes.new_zeros(1), spatial_shapes.prod(1).cumsum(0)[:-1]])
        return value, spatial_shapes, level_start_index

    def forward(self,
                bev_query: Tensor,
                bev_pos: Tensor,
                mlvl_feats: List[Tensor],
                lidar2img: Tensor,
                img_shape: Sequence[int],
                prev_bev: Optional[Tensor] = None,
                prev_mask: Optional[Tensor] = None,
                bev_shift: Optional[Tensor] = None) -> Tensor:
        """Args:
            bev_query (Tensor): ``(B, Q, C)`` learned BEV queries, ``Q = Y * X``.
            bev_pos (Tensor): ``(B, Q, C)`` BEV positional embedding.
            mlvl_feats (list[Tensor]): per level ``(B, N_cam, C, H_l, W_l)``.
            lidar2img (Tensor): ``(B, N_cam, 4, 4)`` (image augmentation folded in).
            img_shape (tuple[int, int]): ``(H, W)`` px of the network input.
            prev_bev (Tensor, optional): ``(B, Q, C)`` previous BEV aligned to the current frame.
            prev_mask (Tensor, optional): ``(B, Q)`` bool validity of ``prev_bev``
                (see :class:`TemporalSelfAttention`).
            bev_shift (Tensor, optional): ``(B, 2)`` official ego-motion shift ``(x, y)`` of the reference points
                the temporal self-attention samples ``prev_bev`` at, in units of the BEV extent
                (:func:`official_bev_shift`; official ``hybird_ref_2d = [ref_2d + shift, ref_2d]``). None: both
                halves of the TSA value are sampled at ``ref_2d`` (``prev_bev`` already aligned).

        Returns:
            Tensor: ``(B, Q, C)`` BEV features.
        """
        b = bev_query.shape[0]
        value, spatial_shapes, level_start_index = self.flatten_features(mlvl_feats)
        ref_3d, ref_2d = self.reference_points(bev_query.device, lidar2img.dtype)
        reference_points_cam, bev_mask = point_sampling(ref_3d, lidar2img, img_shape)
        reference_points_cam = finite_reference_points(reference_points_cam)
        reference_points_cam = reference_points_cam.to(bev_query.dtype)
        ref_2d = ref_2d.to(bev_query.dtype)[None, :, None, :].expand(b, -1, 1, -1)
        if prev_bev is not None and bev_shift is not None:  # (B * 2, Q, 1, 2): [prev_bev, current] halves
            shifted = ref_2d + bev_shift.to(ref_2d.dtype)[:, None, None, :]
            ref_2d = torch.stack([shifted, ref_2d], 1).flatten(0, 1)
        bev_spatial_shapes = torch.as_tensor([self.bev_shape], dtype=torch.long, device=bev_query.device)
        query = bev_query
        for layer in self.layers:
            query = layer(
                query,
                bev_pos,
                prev_bev,
                ref_2d,
                bev_spatial_shapes,
                value,
                reference_points_cam,
                bev_mask,
                spatial_shapes,
                level_start_index,
                prev_mask,
                initial_query=bev_query)
        return query
