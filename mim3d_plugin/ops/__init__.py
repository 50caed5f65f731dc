"""PyTorch paths for every mmcv compiled op the project calls, chosen per device (issue 25).

See :mod:`mim3d_plugin.ops.availability` for how the choice is made, logged and forced.
"""
from .availability import PROBES, compiled_op_available, op_choices, pytorch_ops_only
from .deform_conv import PortableDCNv2
from .focal_loss import PortableFocalLoss
from .ms_deform_attn import ms_deform_attn
from .nms import (box_intersection_rotated_aligned, box_iou_rotated_pytorch, nms_bev, nms_normal_bev,
                  nms_rotated_pytorch, patch_library_call_sites)
from .sparse_conv import check_sparse_conv
from .voxelize import (PortableDet3DDataPreprocessor, PortableVoxelization, dynamic_voxelize_pytorch,
                       hard_voxelize_pytorch)

__all__ = [
    'PROBES', 'compiled_op_available', 'op_choices', 'pytorch_ops_only', 'ms_deform_attn', 'PortableFocalLoss',
    'PortableDCNv2', 'box_intersection_rotated_aligned', 'box_iou_rotated_pytorch', 'nms_rotated_pytorch', 'nms_bev',
    'nms_normal_bev', 'check_sparse_conv', 'PortableDet3DDataPreprocessor', 'PortableVoxelization',
    'dynamic_voxelize_pytorch', 'hard_voxelize_pytorch'
]

patch_library_call_sites()
