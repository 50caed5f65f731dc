"""UVTR's DETR decoder over a voxel volume (official ``models/utils/uni3d_detr.py`` / ``uni3d_detr_v2.py`` of
hustvl/MIM4D and Nightmare-n/UniPAD).

Each decoder layer is mmcv's ``BaseTransformerLayer`` (``self_attn, norm, cross_attn, norm, ffn, norm``; the official
layer, so its parameters keep the official names ``attentions.{0,1}``, ``ffns.0``, ``norms.{0,1,2}``): multi-head
self-attention between the queries (with the denoising attention mask of UVTR-DN), then
:class:`UVTRCrossAttention`, which samples the voxel volume at each query's 3D reference point. With box refinement
every layer's regression branch moves the reference point (its centre outputs, in inverse-sigmoid space), detached
between layers (Deformable DETR).
"""
import copy
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn.bricks.transformer import BaseTransformerLayer
from mmengine.model import BaseModule, constant_init, xavier_init
from mmengine.registry import MODELS as MMENGINE_MODELS
from torch import Tensor, nn

#: rows of a regression output (our box code, :func:`normalize_bbox3d`) that refine the reference point (x, y, z)
CENTER_ROWS = (0, 1, 2)


# registered in mmengine's root registry: mmcv's BaseTransformerLayer builds its attentions from there
@MMENGINE_MODELS.register_module()
class UVTRCrossAttention(BaseModule):
    """Query -> voxel-volume attention of UVTR (official ``UniCrossAtten`` / ``UniCrossAttenV2``).

    For every query: the volume is sampled trilinearly at its reference point (``F.grid_sample``,
    ``align_corners=False``: the reference point's ``[0, 1]`` spans the whole ``point_cloud_range``), weighted by
    ``sigmoid(Linear(query + query_pos))`` (``num_points`` = 1 in both official configs), projected, and added to the
    query together with an MLP embedding of the reference point (``position_encoder``, fed the inverse-sigmoid
    reference point as the official).

    Args:
        embed_dims (int): channels C of queries and volume.
        num_points (int): sampled points per query (official: 1; more than one point samples the same location,
            as the official, and only sums its weights).
        dropout (float): dropout on the projected output. Default: 0.1.
        batch_first (bool): must be False (queries ``(Q, B, C)``, the official layout).
    """

    def __init__(self,
                 embed_dims: int = 256,
                 num_points: int = 1,
                 dropout: float = 0.1,
                 batch_first: bool = False,
                 init_cfg=None,
                 **kwargs) -> None:
        super().__init__(init_cfg=init_cfg)
        if batch_first:
            raise ValueError('UVTRCrossAttention: queries are (Q, B, C) (batch_first=False), as the official')
        self.embed_dims, self.num_points = embed_dims, num_points
        self.batch_first = batch_first
        self.dropout = nn.Dropout(dropout)
        self.attention_weights = nn.Linear(embed_dims, num_points)
        self.output_proj = nn.Linear(embed_dims, embed_dims)
        self.position_encoder = nn.Sequential(
            nn.Linear(3, embed_dims), nn.LayerNorm(embed_dims), nn.ReLU(inplace=True),
            nn.Linear(embed_dims, embed_dims), nn.LayerNorm(embed_dims), nn.ReLU(inplace=True))
        self.init_weights()

    def init_weights(self) -> None:
        """Official ``init_weight``: zero attention weights, xavier-uniform output projection."""
        constant_init(self.attention_weights, val=0., bias=0.)
        xavier_init(self.output_proj, distribution='uniform', bias=0.)

    def forward(self,
                query: Tensor,
                key: Optional[Tensor] = None,
                value: Optional[Tensor] = None,
                identity: Optional[Tensor] = None,
                query_pos: Optional[Tensor] = None,
                reference_points: Optional[Tensor] = None,
                **kwargs) -> Tensor:
        """
        Args:
            query (Tensor): ``(Q, B, C)``.
            value (Tensor): ``(B, C, Z, Y, X)`` voxel volume (or ``(B, C, Y, X)`` BEV).
            identity (Tensor, optional): residual, ``query`` when None.
            query_pos (Tensor, optional): ``(Q, B, C)``.
            reference_points (Tensor): ``(B, Q, 3)`` in inverse-sigmoid space (sigmoid gives ``[0, 1]`` over the
                point cloud range, x, y, z).

        Returns:
            Tensor: ``(Q, B, C)``.
        """
        if identity is None:
            identity = query
        if query_pos is not None:
            query = query + query_pos
        query = query.permute(1, 0, 2)  # (B, Q, C)
        weights = self.attention_weights(query).sigmoid()  # (B, Q, P)
        grid = (reference_points.sigmoid() - 0.5) * 2
        if value.dim() == 4:
            sampled = F.grid_sample(value, grid[:, None, :, :2].to(value.dtype), align_corners=False)[:, :, 0]
        else:
            sampled = F.grid_sample(value, grid[:, None, None].to(value.dtype), align_corners=False)[:, :, 0, 0]
        sampled = sampled.permute(0, 2, 1)  # (B, Q, C)
        output = sampled * weights.sum(-1, keepdim=True).to(sampled.dtype)
        output = self.output_proj(output.permute(1, 0, 2).to(identity.dtype))
        pos_feat = self.position_encoder(reference_points.to(identity.dtype)).permute(1, 0, 2)
        return self.dropout(output) + identity + pos_feat


class UVTRDecoder(BaseModule):
    """``num_layers`` decoder layers with iterative reference-point refinement (official ``UniTransformerDecoder``
    / ``UniTransformerDecoderV2``).

    Args:
        num_layers (int): layers.
        transformerlayers (dict): mmcv ``BaseTransformerLayer`` config (official key name); its ``attn_cfgs``
            name ``MultiheadAttention`` and ``UVTRCrossAttention``.
    """

    def __init__(self, num_layers: int, transformerlayers: dict, init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        cfg = copy.deepcopy(dict(transformerlayers))
        cfg.pop('type', None)
        self.layers = nn.ModuleList([BaseTransformerLayer(**copy.deepcopy(cfg)) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.embed_dims = self.layers[0].embed_dims

    def forward(self,
                query: Tensor,
                value: Tensor,
                query_pos: Tensor,
                reference_points: Tensor,
                reg_branches: Optional[nn.ModuleList] = None,
                attn_masks: Optional[List[Optional[Tensor]]] = None) -> Tuple[Tensor, Tensor]:
        """
        Args:
            query, query_pos (Tensor): ``(Q, B, C)``.
            value (Tensor): ``(B, C, Z, Y, X)``.
            reference_points (Tensor): ``(B, Q, 3)`` inverse-sigmoid space.
            reg_branches (nn.ModuleList, optional): per-layer regression branches (box refinement).
            attn_masks (list, optional): ``[self-attention mask (Q, Q) bool, None]``.

        Returns:
            tuple[Tensor, Tensor]: ``(L, Q, B, C)`` outputs of every layer and ``(L, B, Q, 3)`` the reference point
            each layer's output refines to (inverse-sigmoid space; the input one without refinement).
        """
        output = query
        states, refs = [], []
        for lid, layer in enumerate(self.layers):
            output = layer(
                output,
                key=value,
                value=value,
                query_pos=query_pos,
                attn_masks=attn_masks,
                reference_points=reference_points)
            if reg_branches is not None:
                tmp = reg_branches[lid](output.permute(1, 0, 2))
                reference_points = (tmp[..., list(CENTER_ROWS)] + reference_points).detach()
            states.append(output)
            refs.append(reference_points)
        return torch.stack(states), torch.stack(refs)


class UVTRTransformer(BaseModule):
    """Decoder + (for the plain UVTR head) the linear map from query positions to reference points (official
    ``Uni3DDETR.reference_points`` / ``Uni3DTransformer``; key ``transformer.decoder.*``,
    ``transformer.reference_points.*``).

    Args:
        decoder (dict): :class:`UVTRDecoder` arguments (``num_layers``, ``transformerlayers``).
        with_reference_linear (bool): add ``reference_points = Linear(C, 3)`` (official ``Uni3DDETR``; UVTR-DN draws
            its reference points from an embedding instead).
    """

    def __init__(self, decoder: dict, with_reference_linear: bool = False, init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        decoder = dict(decoder)
        decoder.pop('type', None)
        self.decoder = UVTRDecoder(**decoder)
        self.embed_dims = self.decoder.embed_dims
        self.reference_points = nn.Linear(self.embed_dims, 3) if with_reference_linear else None

    def init_weights(self) -> None:
        """Official: xavier-uniform on every >1-d parameter, then the cross attentions' own init."""
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        for m in self.modules():
            if isinstance(m, UVTRCrossAttention):
                m.init_weights()  # the official's init_weight
        if self.reference_points is not None:
            xavier_init(self.reference_points, distribution='uniform', bias=0.)


def dn_attention_mask(pad_size: int, single_pad: int, groups: int, num_query: int, device) -> Tensor:
    """UVTR-DN's self-attention mask (official ``UVTRDNHead.prepare_for_dn``): True = blocked.

    The ``num_query`` matching queries do not see the ``pad_size = groups * single_pad`` denoising queries; each
    denoising group sees itself and the matching queries, not the other groups.
    """
    size = pad_size + num_query
    mask = torch.zeros(size, size, dtype=torch.bool, device=device)
    mask[pad_size:, :pad_size] = True
    for i in range(groups):
        rows = slice(single_pad * i, single_pad * (i + 1))
        mask[rows, single_pad * (i + 1):pad_size] = True
        mask[rows, :single_pad * i] = True
    return mask
