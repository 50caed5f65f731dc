from .bev_seg_metric import BEVSegMetric  # noqa: F401
from .depth_metric import DepthMetric, depth_metrics  # noqa: F401
from .occ3d_metric import Occ3DMetric, occ_confusion, occ_miou  # noqa: F401

__all__ = ['BEVSegMetric', 'DepthMetric', 'depth_metrics', 'Occ3DMetric', 'occ_confusion', 'occ_miou']
