"""Temporal self-attention: current BEV queries attend to themselves and to the previous
frame's BEV aligned by ego motion (BEVFormer, Li et al., ECCV 2022, Sec. 3.4;
official ``modules/temporal_self_attention.py``)."""
import math
from typing import Optional

import torch
from mmdet3d.registry import MODELS
from mmengine.model import BaseModule
from mmengine.model.weight_init import constant_init, xavier_init
from torch import Tensor, nn

from .deformable_attn import ms_deform_attn


@MODELS.register_module()
class TemporalSelfAttention(BaseModule):
    """Deformable self-attention over the stack ``[aligned previous BEV, current BEV queries]``.

    Offsets and weights are predicted from the concatenation of the previous
    BEV and the query; each of the ``num_bev_queue`` maps is sampled around the
    query's own BEV location and the results are averaged.

    Args:
        embed_dims (int): channels C. Default: 256.
        num_heads (int): heads. Default: 8.
        num_levels (int): BEV levels (1 in BEVFormer). Default: 1.
        num_points (int): sampling points per head, level and map. Default: 4.
        num_bev_queue (int): maps attended to (previous + current). Default: 2.
        dropout (float): dropout on the output. Default: 0.1.
        im2col_step (int): CUDA kernel batch step. Default: 64.
    """

    def __init__(self,
                 embed_dims: int = 256,
                 num_heads: int = 8,
                 num_levels: int = 1,
                 num_points: int = 4,
                 num_bev_queue: int = 2,
                 dropout: float = 0.1,
                 im2col_step: int = 64,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if embed_dims % num_heads:
            raise ValueError(f'TemporalSelfAttention: embed_dims={embed_dims} not divisible by num_heads={num_heads}')
        self.embed_dims, self.num_heads, self.num_levels = embed_dims, num_heads, num_levels
        self.num_points, self.num_bev_queue, self.im2col_step = num_points, num_bev_queue, im2col_step
        n = num_bev_queue * num_heads * num_levels * num_points
        self.sampling_offsets = nn.Linear(embed_dims * num_bev_queue, n * 2)
        self.attention_weights = nn.Linear(embed_dims * num_bev_queue, n)
        self.value_proj = nn.Linear(embed_dims, embed_dims)
        self.output_proj = nn.Linear(embed_dims, embed_dims)
        self.dropout = nn.Dropout(dropout)

    def init_weights(self) -> None:
        """Deformable-DETR initialisation: offsets start on a ring of directions, one per head."""
        constant_init(self.sampling_offsets, 0.)
        thetas = torch.arange(self.num_heads, dtype=torch.float32) * (2.0 * math.pi / self.num_heads)
        grid = torch.stack([thetas.cos(), thetas.sin()], -1)
        grid = (grid / grid.abs().max(-1, keepdim=True)[0]).view(self.num_heads, 1, 1, 2)
        grid = grid.repeat(1, self.num_levels * self.num_bev_queue, self.num_points, 1)
        grid = grid * torch.arange(1, self.num_points + 1, dtype=torch.float32).view(1, 1, -1, 1)
        self.sampling_offsets.bias.data = grid.view(-1)
        constant_init(self.attention_weights, val=0., bias=0.)
        xavier_init(self.value_proj, distribution='uniform', bias=0.)
        xavier_init(self.output_proj, distribution='uniform', bias=0.)
        self._is_init = True

    def forward(self,
                query: Tensor,
                prev_bev: Optional[Tensor],
                reference_points: Tensor,
                spatial_shapes: Tensor,
                level_start_index: Tensor,
                query_pos: Optional[Tensor] = None,
                prev_mask: Optional[Tensor] = None,
                value_query: Optional[Tensor] = None) -> Tensor:
        """Args:
            query (Tensor): ``(B, Q, C)`` current BEV queries (``Q = Y * X``).
            prev_bev (Tensor, optional): ``(B, Q, C)`` previous BEV already
                warped into the current frame; None (first frame of every
                sample) attends to the current queries twice, as the official code.
            reference_points (Tensor): ``(B, Q, levels, 2)`` (or ``(B * 2, Q, levels, 2)``: one set per value
                half, ``[prev_bev, current]``) BEV cell centres in
                ``[0, 1]`` (x = column / X, y = row / Y).
            spatial_shapes (Tensor): ``(levels, 2)`` ``(Y, X)``; level_start_index ``(levels,)``.
            query_pos (Tensor, optional): ``(B, Q, C)`` positional embedding.
            prev_mask (Tensor, optional): ``(B, Q)`` bool, where ``prev_bev`` is
                valid; elsewhere (outside the previous BEV, scene starts) the
                current queries stand in. Default: all valid.
            value_query (Tensor, optional): ``(B, Q, C)`` the current-frame map
                stacked with ``prev_bev`` as the attention value. The official
                encoder builds ``[prev_bev, initial BEV queries]`` once before
                its layer loop, so every layer attends to the *initial* queries
                (:class:`BEVFormerEncoderLayer` passes them); None, or where
                ``prev_mask`` is False: this layer's input (the official value
                without ``prev_bev``).

        Returns:
            Tensor: ``(B, Q, C)`` with the residual added.
        """
        b, nq, c = query.shape
        identity = query
        current = identity if value_query is None or prev_bev is None else value_query
        if prev_bev is None:
            prev_bev = query
        elif prev_mask is not None:  # no valid previous BEV there: the value of the official no-prev_bev case
            prev_bev = torch.where(prev_mask.unsqueeze(-1), prev_bev, query)
            current = torch.where(prev_mask.unsqueeze(-1), current, identity)
        if query_pos is not None:
            query = query + query_pos
        nbq, nh, nl, npnt = self.num_bev_queue, self.num_heads, self.num_levels, self.num_points
        value = torch.stack([prev_bev, current], 1).reshape(b * nbq, nq, c)
        value = self.value_proj(value).view(b * nbq, nq, nh, c // nh)
        q_cat = torch.cat([prev_bev, query], -1)
        offsets = self.sampling_offsets(q_cat).view(b, nq, nh, nbq, nl, npnt, 2)
        offsets = offsets.permute(0, 3, 1, 2, 4, 5, 6).reshape(b * nbq, nq, nh, nl, npnt, 2)
        weights = self.attention_weights(q_cat).view(b, nq, nh, nbq, nl * npnt).softmax(-1)
        weights = weights.view(b, nq, nh, nbq, nl, npnt).permute(0, 3, 1, 2, 4, 5).reshape(b * nbq, nq, nh, nl, npnt)
        normalizer = torch.stack([spatial_shapes[..., 1], spatial_shapes[..., 0]], -1).to(offsets.dtype)
        # one set of reference points for both halves, or (B * nbq, ...) per half (official hybrid: shifted for
        # prev_bev, plain for the current queries)
        ref = reference_points if reference_points.shape[0] == b * nbq else reference_points.repeat_interleave(nbq, 0)
        loc = ref[:, :, None, :, None, :] + offsets / normalizer[None, None, None, :, None, :]
        out = ms_deform_attn(value, spatial_shapes, level_start_index, loc, weights, self.im2col_step)
        out = out.view(b, nbq, nq, c).mean(1)
        return identity + self.dropout(self.output_proj(out))
