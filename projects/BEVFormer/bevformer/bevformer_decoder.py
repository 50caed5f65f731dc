"""Detection decoder: object queries attend to themselves and, by deformable attention, to the BEV
map around their 3D reference point, refined layer by layer (BEVFormer's
``DetectionTransformerDecoder``, Deformable-DETR box refinement)."""
from typing import Tuple

import torch
from mmdet3d.registry import MODELS
from mmdet.models.layers.transformer import DeformableDetrTransformerDecoderLayer
from mmengine.model import BaseModule, ModuleList
from torch import Tensor, nn

from .deformable_attn import inverse_sigmoid


@MODELS.register_module()
class BEVFormerDecoder(BaseModule):
    """Stack of mmdet ``DeformableDetrTransformerDecoderLayer`` reading one BEV level.

    Args:
        num_layers (int): decoder layers. Default: 6.
        layer_cfg (dict): kwargs of ``DeformableDetrTransformerDecoderLayer``
            (``self_attn_cfg``, ``cross_attn_cfg`` with ``num_levels=1``, ``ffn_cfg``).
    """

    def __init__(self, layer_cfg: dict, num_layers: int = 6, init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.layers = ModuleList([DeformableDetrTransformerDecoderLayer(**layer_cfg) for _ in range(num_layers)])
        self.embed_dims = self.layers[0].embed_dims

    def forward(self, query: Tensor, query_pos: Tensor, bev: Tensor, bev_shape: Tuple[int, int],
                reference_points: Tensor, reg_branches: nn.ModuleList) -> Tuple[Tensor, Tensor]:
        """Args:
            query (Tensor): ``(B, Q_obj, C)`` object queries.
            query_pos (Tensor): ``(B, Q_obj, C)``.
            bev (Tensor): ``(B, Y * X, C)`` BEV features.
            bev_shape (tuple[int, int]): ``(Y, X)``.
            reference_points (Tensor): ``(B, Q_obj, 3)`` in ``[0, 1]`` over the
                point cloud range (x, y, z).
            reg_branches (nn.ModuleList): one regression branch per layer; its
                first 3 outputs refine the reference point in inverse-sigmoid space.

        Returns:
            tuple[Tensor, Tensor]: ``(L, B, Q_obj, C)`` outputs of every layer and
            ``(L, B, Q_obj, 3)`` the reference point each layer started from.
        """
        if len(reg_branches) != len(self.layers):
            raise ValueError(f'BEVFormerDecoder: {len(reg_branches)} reg branches for {len(self.layers)} layers')
        spatial_shapes = torch.as_tensor([bev_shape], dtype=torch.long, device=bev.device)
        level_start_index = spatial_shapes.new_zeros(1)
        outputs, refs = [], []
        for layer, reg in zip(self.layers, reg_branches):
            refs.append(reference_points)
            query = layer(
                query,
                value=bev,
                query_pos=query_pos,
                reference_points=reference_points[:, :, None, :2],
                spatial_shapes=spatial_shapes,
                level_start_index=level_start_index)
            outputs.append(query)
            delta = reg(query)[..., :3]
            reference_points = (delta + inverse_sigmoid(reference_points)).sigmoid().detach()
        return torch.stack(outputs), torch.stack(refs)
