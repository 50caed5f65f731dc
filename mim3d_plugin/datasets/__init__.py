"""Datasets and data transforms, registered in mmdet3d's ``DATASETS`` / ``TRANSFORMS``."""
from .nuscenes_multiframe_dataset import NuScenesMultiFrameDataset  # noqa: F401
from .nuscenes_multiview_dataset import NuScenesMultiViewDataset, check_info_file
from .rgbd_frame_dataset import RGBDFrameDataset  # noqa: F401
from .transforms import *  # noqa: F401,F403

__all__ = ['NuScenesMultiViewDataset', 'check_info_file']
