"""Prediction heads: of the pretext tasks (dense depth, RGB-D reconstruction, NeuS volume rendering) and the BEV
map-segmentation head of the detectors."""
from .bev_seg_head import BEVMapSegHead  # noqa: F401
from .mask3d_head import Mask3DHead  # noqa: F401
from .rgbd_reconstruction_head import RGBDReconstructionHead  # noqa: F401
from .volume_rendering_head import VolumeRenderingHead  # noqa: F401
