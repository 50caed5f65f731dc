"""Data transforms registered in mmdet3d's ``TRANSFORMS``."""
from .bev_aug import BEVAug
from .bev_segmentation import LoadBEVSegmentation, bev_cell_centres, boxes_bev_mask
from .ego_frame import LiDARToEgoFrame, lidar2keyego_of
from .load_lidar_sweeps import LoadLiDARSweeps
from .load_multiview_images import LoadMultiViewImages
from .load_occ3d import OCC3D_CLASSES, OCC3D_GRID, LoadOcc3DLabels, load_occ3d_labels
from .multiview_image_aug import MultiViewImageAug
from .pack_multiview_inputs import PackMultiViewInputs
from .photometric import MultiViewPhotoMetricDistortion
from .points_to_multiview_depth import PointsToMultiViewDepth

__all__ = [
    'LoadLiDARSweeps', 'LoadMultiViewImages', 'MultiViewImageAug', 'BEVAug', 'PointsToMultiViewDepth',
    'PackMultiViewInputs', 'MultiViewPhotoMetricDistortion', 'LiDARToEgoFrame', 'lidar2keyego_of', 'LoadOcc3DLabels',
    'load_occ3d_labels', 'OCC3D_CLASSES', 'OCC3D_GRID', 'LoadBEVSegmentation', 'bev_cell_centres', 'boxes_bev_mask'
]
from .multi_frame import MultiFrameMultiView  # noqa: F401,E402
from .rgbd_loading import LoadRGBDFrame  # noqa: F401,E402
from .rgbd_transforms import PackRGBDInputs, RGBDRandomCrop, RGBDRandomFlip, RGBDResize  # noqa: F401,E402
