"""UVTR / UVTR-DN (camera branch, as UniPAD and MIM4D fine-tune it) on mmdet3d 1.x: importing registers its
modules."""
from .depth_net import UVTRDepthNet
from .uvtr import UVTR
from .uvtr_head import UVTRHead, paired_iou_3d
from .uvtr_transformer import UVTRCrossAttention, UVTRDecoder, UVTRTransformer, dn_attention_mask
from .view_transform import UVTRViewTransform

__all__ = [
    'UVTR', 'UVTRDepthNet', 'UVTRHead', 'paired_iou_3d', 'UVTRCrossAttention', 'UVTRDecoder', 'UVTRTransformer',
    'dn_attention_mask', 'UVTRViewTransform'
]
