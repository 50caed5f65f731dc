"""MIM4D's "continuous scene flow" pseudo-3D builder: ego-motion warping of earlier frames'
voxel volumes into the dropped (target) frame + a learned deformable temporal predictor.

MIM4D (Zou et al., 2024, Sec. 3.3; official ``projects/mmdet3d_plugin/models/utils/
temporal_*``) drops the target frame of a clip and rebuilds its 3D features from the
other frames: each other volume is first aligned to the target frame's coordinates
(LiDAR frame in the official configs) with the relative pose, then a deformable temporal attention over the
aligned volumes predicts the target volume (the "pseudo-3D" features), whose
renderings are supervised with the target frame's pixels and LiDAR depth.

Differences from the official code (see ``docs/mim4d/README.md``):

* the warp converts voxel index -> metre -> transform -> metre -> index
  (:func:`mim3d_plugin.geometry.warp_volume`); the official code applies the
  metric ego transform to voxel indices;
* batch size and frame count are free; frames that only repeat the earliest
  available one at a scene start are excluded from the attention by
  ``frame_valid``;
* one deformable attention over all warped frames (with a learned embedding per
  frame slot) replaces the official separate long/short-term branches.
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmdet3d.registry import MODELS
from mmengine.model import BaseModule, ModuleList
from torch import Tensor, nn

from mim3d_plugin.geometry import VoxelGrid, invert_rigid, warp_volume


class DeformableTemporalAttention(BaseModule):
    """Per-voxel deformable attention over ``T`` aligned volumes (3D Deformable-DETR sampling).

    Each query voxel predicts, per head ``h``, frame ``t`` and point ``k``, a 3D
    offset (voxels) and a weight; weights are soft-maxed over ``(t, k)`` of the
    valid frames, values are sampled trilinearly from each frame's volume.

    Args:
        embed_dims (int): channels ``C`` (divisible by ``num_heads``).
        num_frames (int): frame slots ``T``.
        num_heads (int): attention heads. Default: 4.
        num_points (int): sampling points per head and frame. Default: 4.
        offset_scale (float): initial offset spread in voxels. Default: 1.0.
    """

    def __init__(self,
                 embed_dims: int,
                 num_frames: int,
                 num_heads: int = 4,
                 num_points: int = 4,
                 offset_scale: float = 1.0,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if embed_dims % num_heads:
            raise ValueError(f'DeformableTemporalAttention: embed_dims {embed_dims} not divisible by '
                             f'num_heads {num_heads}')
        self.embed_dims, self.num_frames, self.num_heads, self.num_points = embed_dims, num_frames, num_heads, \
            num_points
        self.offset_scale = offset_scale
        self.sampling_offsets = nn.Linear(embed_dims, num_frames * num_heads * num_points * 3)
        self.attention_weights = nn.Linear(embed_dims, num_frames * num_heads * num_points)
        self.value_proj = nn.Linear(embed_dims, embed_dims)
        self.output_proj = nn.Linear(embed_dims, embed_dims)

    def init_weights(self) -> None:
        """Offsets start on a small 3D star around the query (as Deformable DETR), weights uniform."""
        nn.init.zeros_(self.sampling_offsets.weight)
        dirs = torch.randn(self.num_frames, self.num_heads, self.num_points, 3)
        dirs = dirs / dirs.norm(dim=-1, keepdim=True) * self.offset_scale
        dirs = dirs * torch.arange(1, self.num_points + 1).view(1, 1, -1, 1) / self.num_points
        self.sampling_offsets.bias.data.copy_(dirs.flatten())
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)
        nn.init.xavier_uniform_(self.value_proj.weight)
        nn.init.zeros_(self.value_proj.bias)
        nn.init.xavier_uniform_(self.output_proj.weight)
        nn.init.zeros_(self.output_proj.bias)

    def forward(self, query: Tensor, values: Tensor, frame_valid: Tensor, ref_norm: Tensor,
                voxel_to_norm: Tensor) -> Tensor:
        """Attend.

        Args:
            query (Tensor): ``(B, M, C)`` with ``M = Z * Y * X`` voxels.
            values (Tensor): ``(B, T, C, Z, Y, X)`` aligned volumes.
            frame_valid (Tensor): ``(B, T)`` bool; at least one True per sample.
            ref_norm (Tensor): ``(M, 3)`` voxel centres in grid_sample coords (x, y, z).
            voxel_to_norm (Tensor): ``(3,)`` one voxel in grid_sample units.

        Returns:
            Tensor: ``(B, M, C)``.
        """
        b, t, c = values.shape[:3]
        zyx = values.shape[3:]
        m = query.shape[1]
        nh, nk, hc = self.num_heads, self.num_points, c // self.num_heads
        if t != self.num_frames:
            raise ValueError(f'DeformableTemporalAttention: built for {self.num_frames} frames, got {t}')
        offsets = self.sampling_offsets(query).view(b, m, t, nh, nk, 3)
        logits = self.attention_weights(query).view(b, m, t, nh, nk)
        logits = logits.masked_fill(~frame_valid.view(b, 1, t, 1, 1), float('-inf'))
        weights = logits.permute(0, 1, 3, 2, 4).reshape(b, m, nh, t * nk).softmax(-1).view(b, m, nh, t, nk)
        val = self.value_proj(values.flatten(3).transpose(2, 3))  # (B, T, M, C)
        val = val.view(b, t, m, nh, hc).permute(0, 1, 3, 4, 2).reshape(b, t, nh * hc, *zyx)
        out = query.new_zeros(b * nh, hc, m)
        for i in range(t):
            loc = ref_norm.view(1, m, 1, 1, 3) + offsets[:, :, i] * voxel_to_norm  # (B, M, nh, nk, 3)
            loc = loc.permute(0, 2, 1, 3, 4).reshape(b * nh, m, nk, 1, 3)
            sampled = F.grid_sample(
                val[:, i].reshape(b * nh, hc, *zyx),
                loc.to(val.dtype),
                mode='bilinear',
                padding_mode='zeros',
                align_corners=False)  # (B*nh, hc, M, nk, 1)
            w = weights[:, :, :, i].permute(0, 2, 1, 3).reshape(b * nh, 1, m, nk)
            out = out + (sampled.squeeze(-1) * w).sum(-1)
        out = out.view(b, nh * hc, m).transpose(1, 2)
        return self.output_proj(out)


@MODELS.register_module()
class SceneFlowPseudo3DBuilder(BaseModule):
    """Warp earlier frames' volumes to the target frame and predict its pseudo-3D volume.

    Args:
        point_cloud_range (Sequence[float]): grid range (m), in the volumes' frame
            (MIM4D: each frame's LiDAR frame).
        voxel_size (Sequence[float]): voxel size (m).
        embed_dims (int): volume channels ``C`` (MIM4D: 32). Default: 32.
        num_frames (int): other frames ``T`` fed to the predictor (``F - 1``;
            in time order, each with its slot embedding). Default: 2.
        num_layers (int): attention + FFN layers. Default: 1.
        num_heads (int): attention heads. Default: 4.
        num_points (int): sampling points per head and frame. Default: 4.
        ffn_channels (int): FFN hidden width. Default: 64.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 point_cloud_range: Sequence[float],
                 voxel_size: Sequence[float],
                 embed_dims: int = 32,
                 num_frames: int = 2,
                 num_layers: int = 1,
                 num_heads: int = 4,
                 num_points: int = 4,
                 ffn_channels: int = 64,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.grid = VoxelGrid(point_cloud_range, voxel_size)
        self.embed_dims, self.num_frames = embed_dims, num_frames
        self.frame_embed = nn.Parameter(torch.zeros(num_frames, embed_dims))
        self.pos_embed = nn.Sequential(
            nn.Linear(3, embed_dims), nn.ReLU(inplace=True), nn.Linear(embed_dims, embed_dims))
        self.query_proj = nn.Linear(embed_dims, embed_dims)
        # mmengine's ModuleList: init_weights reaches each attention's own initialisation (offset directions)
        self.attns = ModuleList(
            DeformableTemporalAttention(embed_dims, num_frames, num_heads, num_points) for _ in range(num_layers))
        self.ffns = nn.ModuleList(
            nn.Sequential(nn.Linear(embed_dims, ffn_channels), nn.GELU(), nn.Linear(ffn_channels, embed_dims))
            for _ in range(num_layers))
        self.norms = nn.ModuleList(nn.LayerNorm(embed_dims) for _ in range(2 * num_layers))
        self.out_proj = nn.Linear(embed_dims, embed_dims)

    def warp(self, volumes: Tensor, frame2target: Tensor) -> Tuple[Tensor, Tensor]:
        """Align every earlier volume with the target frame.

        Args:
            volumes (Tensor): ``(B, T, C, Z, Y, X)`` on the grid, each in its own
                frame's coordinates.
            frame2target (Tensor): ``(B, T, 4, 4)`` rigid transforms (m) from each
                frame to the target frame, e.g.
                ``relative_transform(lidar2global_t, lidar2global_target)``.

        Returns:
            tuple[Tensor, Tensor]: ``(B, T, C, Z, Y, X)`` aligned volumes and
            ``(B, T, Z, Y, X)`` bool, the voxel's source lies inside the grid.
        """
        if volumes.dim() != 6 or frame2target.shape != volumes.shape[:2] + (4, 4):
            raise ValueError(f'SceneFlowPseudo3DBuilder.warp: volumes must be (B, T, C, Z, Y, X) and frame2target '
                             f'(B, T, 4, 4), got {tuple(volumes.shape)} and {tuple(frame2target.shape)}')
        b, t = volumes.shape[:2]
        target2frame = invert_rigid(frame2target.flatten(0, 1).to(torch.float32))
        warped, inside = warp_volume(volumes.flatten(0, 1), target2frame, self.grid)
        return warped.view(volumes.shape), inside.view((b, t) + volumes.shape[3:])

    def forward(self, volumes: Tensor, frame2target: Tensor, frame_valid: Optional[Tensor] = None) -> Tensor:
        """Predict the target frame's volume from the other ones.

        Args:
            volumes (Tensor): ``(B, T, C, Z, Y, X)`` the other frames' volumes (own frames).
            frame2target (Tensor): ``(B, T, 4, 4)`` see :meth:`warp`.
            frame_valid (Tensor, optional): ``(B, T)`` bool, False for frames that
                only repeat an earlier one at a scene start. Samples with no
                valid frame use all frames (their loss should be ignored).

        Returns:
            Tensor: ``(B, C, Z, Y, X)`` pseudo-3D volume in the target's frame.
        """
        b, t, c = volumes.shape[:3]
        if t != self.num_frames or c != self.embed_dims:
            raise ValueError(f'SceneFlowPseudo3DBuilder: expected T={self.num_frames} frames of C={self.embed_dims} '
                             f'channels, got volumes {tuple(volumes.shape)}')
        if frame_valid is None:
            frame_valid = volumes.new_ones(b, t, dtype=torch.bool)
        frame_valid = frame_valid.bool() | ~frame_valid.bool().any(1, keepdim=True)
        warped, inside = self.warp(volumes, frame2target)
        warped = warped + self.frame_embed.view(1, t, c, 1, 1, 1).to(warped.dtype)
        keep = (inside & frame_valid.view(b, t, 1, 1, 1)).unsqueeze(2).to(warped.dtype)
        mean = (warped * keep).sum(1) / keep.sum(1).clamp(min=1)  # (B, C, Z, Y, X)
        centers = self.grid.voxel_centers(volumes.device, dtype=torch.float32).view(-1, 3)
        ref_norm = self.grid.normalize(centers)
        voxel_to_norm = 2.0 / torch.tensor(self.grid.num_voxels, dtype=torch.float32, device=volumes.device)
        query = self.query_proj(mean.flatten(2).transpose(1, 2)) + self.pos_embed(ref_norm).to(mean.dtype)
        for i, (attn, ffn) in enumerate(zip(self.attns, self.ffns)):
            query = self.norms[2 * i](query + attn(query, warped, frame_valid, ref_norm, voxel_to_norm))
            query = self.norms[2 * i + 1](query + ffn(query))
        return self.out_proj(query).transpose(1, 2).reshape(b, c, *volumes.shape[3:])
