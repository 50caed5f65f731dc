"""BEVFormer (Li et al., ECCV 2022) on mmdet3d 1.x: importing registers its modules."""
from .bevformer import BEVFormer
from .bevformer_decoder import BEVFormerDecoder
from .bevformer_encoder import BEVFormerEncoder, BEVFormerEncoderLayer
from .bevformer_head import BEVFormerHead
from .spatial_cross_attention import MSDeformableAttention3D, SpatialCrossAttention, point_sampling
from .temporal_self_attention import TemporalSelfAttention

__all__ = [
    'BEVFormer', 'BEVFormerDecoder', 'BEVFormerEncoder', 'BEVFormerEncoderLayer', 'BEVFormerHead',
    'MSDeformableAttention3D', 'SpatialCrossAttention', 'point_sampling', 'TemporalSelfAttention'
]
