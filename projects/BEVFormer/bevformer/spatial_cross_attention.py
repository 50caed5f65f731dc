"""Spatial cross-attention: BEV queries attend, by deformable attention, to the camera views
their pillar projects into (BEVFormer, Li et al., ECCV 2022, Sec. 3.3;
official ``modules/spatial_cross_attention.py``)."""
from typing import Sequence, Tuple

import torch
from mmcv.ops import MultiScaleDeformableAttention
from mmdet3d.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor, nn

from mim3d_plugin.geometry import project_points
from .deformable_attn import ms_deform_attn


def point_sampling(ref_3d: Tensor, lidar2img: Tensor, img_shape: Sequence[int]) -> Tuple[Tensor, Tensor]:
    """Project the pillar reference points of every BEV query into every camera.

    Args:
        ref_3d (Tensor): ``(Q, Z, 3)`` or ``(B, Q, Z, 3)`` reference points (m,
            LiDAR frame): ``Z`` heights per BEV pillar.
        lidar2img (Tensor): ``(B, N_cam, 4, 4)`` projections with the image
            augmentation folded in.
        img_shape (tuple[int, int]): ``(H, W)`` px of the (padded) network input.

    Returns:
        tuple[Tensor, Tensor]:
            - reference_points_cam ``(B, N_cam, Q, Z, 2)``: ``(u / W, v / H)``,
              in ``[0, 1]`` where visible.
            - bev_mask ``(B, N_cam, Q, Z)`` bool: in front of the camera and
              inside the image.
    """
    if ref_3d.dim() == 3:
        ref_3d = ref_3d.unsqueeze(0)
    b, n_cam = lidar2img.shape[:2]
    q, z = ref_3d.shape[1:3]
    # float32, autocast off (official: force_fp32 on point_sampling): under fp16 the homogeneous pixel coordinates
    # (u * z up to ~1e5) overflow 65504 and every reference point becomes NaN
    with torch.autocast(device_type=lidar2img.device.type, enabled=False):
        lidar2img = lidar2img.float()
        points = ref_3d.reshape(ref_3d.shape[0], 1, q * z, 3).to(lidar2img.dtype)
        uv, _, valid = project_points(points, lidar2img, img_shape)
    h, w = float(img_shape[0]), float(img_shape[1])
    uv = uv / uv.new_tensor([w, h])
    return uv.view(b, n_cam, q, z, 2), valid.view(b, n_cam, q, z)


@MODELS.register_module()
class MSDeformableAttention3D(MultiScaleDeformableAttention):
    """Deformable attention around several projected anchors per query (BEVFormer's ``MSDeformableAttention3D``).

    mmcv's :class:`MultiScaleDeformableAttention` (same parameters and
    initialisation) whose ``num_points`` sampling points are split evenly over the
    ``Z`` projected pillar anchors of each query. As the official module it has no
    output projection (``output_proj`` is the identity): :class:`SpatialCrossAttention`
    projects after averaging over the cameras.

    Args: as :class:`mmcv.ops.MultiScaleDeformableAttention`; ``num_points``
        must be a multiple of the number of anchors ``Z``. ``batch_first`` is
        forced to True.
    """

    def __init__(self, *args, **kwargs) -> None:
        kwargs['batch_first'] = True
        super().__init__(*args, **kwargs)
        self.output_proj = nn.Identity()  # official MSDeformableAttention3D: output_proj = None

    def forward(self, query: Tensor, value: Tensor, reference_points: Tensor, spatial_shapes: Tensor,
                level_start_index: Tensor, **kwargs) -> Tensor:
        """Args:
            query (Tensor): ``(B', Q', C)``.
            value (Tensor): ``(B', L, C)`` flattened multi-level image features.
            reference_points (Tensor): ``(B', Q', Z, 2)`` anchors in ``[0, 1]``.
            spatial_shapes (Tensor): ``(levels, 2)`` ``(H, W)``.
            level_start_index (Tensor): ``(levels,)``.

        Returns:
            Tensor: ``(B', Q', C)`` (no output projection, no residual).
        """
        bs, nq, _ = query.shape
        n_anchor = reference_points.shape[2]
        if self.num_points % n_anchor:
            raise ValueError(f'MSDeformableAttention3D: num_points={self.num_points} is not a multiple of the '
                             f'{n_anchor} pillar anchors')
        value = self.value_proj(value).view(bs, value.shape[1], self.num_heads, -1)
        offsets = self.sampling_offsets(query).view(bs, nq, self.num_heads, self.num_levels, self.num_points, 2)
        weights = self.attention_weights(query).view(bs, nq, self.num_heads, self.num_levels * self.num_points)
        weights = weights.softmax(-1).view(bs, nq, self.num_heads, self.num_levels, self.num_points)
        normalizer = torch.stack([spatial_shapes[..., 1], spatial_shapes[..., 0]], -1).to(offsets.dtype)
        offsets = offsets / normalizer[None, None, None, :, None, :]
        per_anchor = self.num_points // n_anchor
        offsets = offsets.view(bs, nq, self.num_heads, self.num_levels, per_anchor, n_anchor, 2)
        loc = reference_points[:, :, None, None, None, :, :] + offsets
        loc = loc.view(bs, nq, self.num_heads, self.num_levels, self.num_points, 2)
        out = ms_deform_attn(value, spatial_shapes, level_start_index, loc, weights, self.im2col_step)
        return self.output_proj(out)


@MODELS.register_module()
class SpatialCrossAttention(BaseModule):
    """BEV queries -> multi-camera image features, only where each query's pillar is visible.

    For every (sample, camera), the queries whose pillar has at least one
    anchor inside the image are gathered (tensorised: a stable sort puts them
    first, the batch is padded to the largest count), attend with
    :class:`MSDeformableAttention3D`, and the results are scattered back,
    averaged over the cameras that see each query and projected by
    ``output_proj`` (official order: a query no camera sees still gets the
    projection's bias).

    Args:
        embed_dims (int): channels C. Default: 256.
        deformable_attention (dict): config of the
            :class:`MSDeformableAttention3D`.
        dropout (float): dropout on the output. Default: 0.1.
    """

    def __init__(self,
                 embed_dims: int = 256,
                 deformable_attention: dict = dict(
                     type='MSDeformableAttention3D', embed_dims=256, num_levels=4, num_points=8),
                 dropout: float = 0.1,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.embed_dims = embed_dims
        self.deformable_attention = MODELS.build(deformable_attention)
        self.output_proj = nn.Linear(embed_dims, embed_dims)
        self.dropout = nn.Dropout(dropout)
        self.register_load_state_dict_pre_hook(SpatialCrossAttention._old_output_proj)

    @staticmethod
    def _old_output_proj(module, state_dict: dict, prefix: str, *args) -> None:
        """Checkpoints written before the projection moved here kept it under ``deformable_attention.``."""
        for name in ('weight', 'bias'):
            old = f'{prefix}deformable_attention.output_proj.{name}'
            if old in state_dict and f'{prefix}output_proj.{name}' not in state_dict:
                state_dict[f'{prefix}output_proj.{name}'] = state_dict.pop(old)

    def init_weights(self) -> None:
        """Children's init (mmcv's for the deformable attention), then xavier-uniform ``output_proj`` with zero
        bias (official ``SpatialCrossAttention.init_weight``)."""
        super().init_weights()
        nn.init.xavier_uniform_(self.output_proj.weight)
        nn.init.zeros_(self.output_proj.bias)

    def forward(self,
                query: Tensor,
                value: Tensor,
                reference_points_cam: Tensor,
                bev_mask: Tensor,
                spatial_shapes: Tensor,
                level_start_index: Tensor,
                query_pos: Tensor = None) -> Tensor:
        """Args:
            query (Tensor): ``(B, Q, C)`` BEV queries.
            value (Tensor): ``(B, N_cam, L, C)`` flattened multi-level image features.
            reference_points_cam (Tensor): ``(B, N_cam, Q, Z, 2)`` from :func:`point_sampling`.
            bev_mask (Tensor): ``(B, N_cam, Q, Z)`` bool visibility.
            spatial_shapes (Tensor): ``(levels, 2)``; level_start_index ``(levels,)``.
            query_pos (Tensor, optional): ``(B, Q, C)`` added to the query for the sampling.

        Returns:
            Tensor: ``(B, Q, C)`` = query + dropout(output_proj(mean over visible cameras of the attention
            output)) (the mean is 0 for a query no camera sees).
        """
        b, n_cam, q, n_anchor, _ = reference_points_cam.shape
        identity = query
        if query_pos is not None:
            query = query + query_pos
        visible = bev_mask.any(-1)  # (B, N, Q)
        count = visible.sum(-1)  # (B, N)
        max_len = max(int(count.max()), 1)
        # visible query indices first, in increasing order
        order = torch.sort((~visible).to(torch.uint8), dim=-1, stable=True).indices[..., :max_len]  # (B, N, M)
        slot_valid = torch.arange(max_len, device=query.device) < count.unsqueeze(-1)  # (B, N, M)
        q_rebatch = torch.gather(
            query.unsqueeze(1).expand(b, n_cam, q, self.embed_dims), 2,
            order.unsqueeze(-1).expand(-1, -1, -1, self.embed_dims))
        ref_rebatch = torch.gather(reference_points_cam, 2, order[..., None, None].expand(-1, -1, -1, n_anchor, 2))
        out = self.deformable_attention(
            q_rebatch.flatten(0, 1), value.flatten(0, 1), ref_rebatch.flatten(0, 1), spatial_shapes,
            level_start_index).view(b, n_cam, max_len, self.embed_dims)
        out = out * slot_valid.unsqueeze(-1).to(out.dtype)
        slots = torch.zeros(b, q, self.embed_dims, dtype=out.dtype, device=out.device)
        slots.scatter_add_(1, order.flatten(1, 2).unsqueeze(-1).expand(-1, -1, self.embed_dims), out.flatten(1, 2))
        slots = slots / visible.sum(1).clamp(min=1).unsqueeze(-1).to(out.dtype)
        return identity + self.dropout(self.output_proj(slots))
