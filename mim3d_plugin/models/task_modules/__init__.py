"""Task utilities of DETR-style 3D heads: NMS-free box coder, 3D match costs, Hungarian assigner."""
from .box3d_coder import NMSFreeCoder, denormalize_bbox3d, normalize_bbox3d
from .hungarian_assigner_3d import HungarianAssigner3D
from .match_costs import BBox3DL1Cost

__all__ = ['NMSFreeCoder', 'normalize_bbox3d', 'denormalize_bbox3d', 'HungarianAssigner3D', 'BBox3DL1Cost']
