"""Task utilities of DETR-style 3D heads: NMS-free box coder, 3D match costs, Hungarian assigner."""
from .box3d_coder import NMSFreeBBox3DCoder, denormalize_bbox3d, normalize_bbox3d
from .hungarian_bbox3d_assigner import HungarianBBox3DAssigner
from .match_costs import BBox3DL1MatchCost

__all__ = [
    'NMSFreeBBox3DCoder', 'normalize_bbox3d', 'denormalize_bbox3d', 'HungarianBBox3DAssigner', 'BBox3DL1MatchCost'
]
