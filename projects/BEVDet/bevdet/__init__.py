"""BEVDet and BEVDet4D detectors, BEV encoder and the BEVDet4D dataset (registered in mmdet3d)."""
from .bev_encoder import LSSFPN, BEVResNet
from .bev_encoder_3d import LSSFPN3D, BEVResNet3D
from .bevdet import BEVDet
from .bevdet4d import BEVDet4D
from .bevdet4d_dataset import BEVDet4DDataset
from .bevstereo4d import BEVStereo4D
from .custom_fpn import CustomFPN
from .occ_head import BEVOccHead
from .scale_nms_center_head import ScaleNMSCenterHead
from .sequential_control_hook import SequentialControlHook

__all__ = [
    'BEVDet', 'CustomFPN', 'BEVDet4D', 'BEVResNet', 'LSSFPN', 'BEVDet4DDataset', 'ScaleNMSCenterHead',
    'SequentialControlHook', 'BEVResNet3D', 'LSSFPN3D', 'BEVOccHead', 'BEVStereo4D'
]
