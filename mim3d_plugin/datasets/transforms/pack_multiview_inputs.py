"""Pack multi-view images, points and depth maps with stacked camera matrices (mmdet3d Pack3DDetInputs)."""
from typing import Sequence

import numpy as np
from mmcv.transforms import to_tensor
from mmdet3d.datasets.transforms import Pack3DDetInputs
from mmdet3d.registry import TRANSFORMS

MATRIX_KEYS = ('cam2img', 'ori_cam2img', 'lidar2cam', 'lidar2img', 'ori_lidar2img', 'cam2ego', 'img_aug_matrix',
               'bev_aug_matrix', 'lidar2ego', 'ego2global', 'lidar2keyego')
DEFAULT_META_KEYS = ('img_path', 'ori_shape', 'img_shape', 'pad_shape', 'scale_factor', 'box_mode_3d', 'box_type_3d',
                     'num_pts_feats', 'sample_idx', 'lidar_path', 'token', 'scene_token', 'prev', 'next', 'timestamp',
                     'cam_names', 'num_views') + MATRIX_KEYS

OCC_KEYS = ('voxel_semantics', 'mask_camera', 'mask_lidar')


@TRANSFORMS.register_module()
class PackMultiViewInputs(Pack3DDetInputs):
    """mmdet3d ``Pack3DDetInputs`` that also packs ``depth`` and stacks the camera matrices.

    Inputs: ``img`` (N, 3, H, W) uint8/float tensor (BGR as loaded),
    ``points`` (P, C) tensor, ``depth`` (N, H, W) float32 metres (0 = no
    point). Metainfo: the list-valued matrices of ``MATRIX_KEYS`` become numpy
    float64 arrays ``(N, 4, 4)`` (per view) or ``(4, 4)`` (``lidar2ego``,
    ``ego2global``, ``bev_aug_matrix``); gt boxes / labels are packed as by
    mmdet3d; ``gt_masks_bev`` (``LoadBEVSegmentation``) and the occupancy arrays
    ``voxel_semantics`` / ``mask_camera`` / ``mask_lidar`` (``LoadOcc3DLabels``,
    ``(X, Y, Z)``) become data-sample fields of the same names.

    Args:
        keys (tuple[str]): Default: ('img', 'points', 'depth', 'gt_bboxes_3d', 'gt_labels_3d').
        meta_keys (tuple[str]): Default: ``DEFAULT_META_KEYS``.
    """
    INPUTS_KEYS = ['points', 'img', 'depth']

    def __init__(self,
                 keys: Sequence[str] = ('img', 'points', 'depth', 'gt_bboxes_3d', 'gt_labels_3d'),
                 meta_keys: Sequence[str] = DEFAULT_META_KEYS) -> None:
        super().__init__(keys=tuple(keys), meta_keys=tuple(meta_keys))

    def pack_single_results(self, results: dict) -> dict:
        if 'lidar2ego' not in results and 'lidar2ego' in results.get('lidar_points', {}):
            results['lidar2ego'] = results['lidar_points']['lidar2ego']
        if 'depth' in results:
            results['depth'] = to_tensor(np.ascontiguousarray(results['depth'], dtype=np.float32))
        for key in MATRIX_KEYS:
            if key in results:
                value = results[key]
                if isinstance(value, (list, tuple)) and len(value) and not np.isscalar(value[0]) and \
                        np.asarray(value[0]).ndim == 2:
                    results[key] = np.stack([np.asarray(v, dtype=np.float64) for v in value])
                else:
                    results[key] = np.asarray(value, dtype=np.float64)
        packed = super().pack_single_results(results)
        if 'gt_masks_bev' in results:  # (C, Y, X) BEV segmentation masks (LoadBEVSegmentation)
            packed['data_samples'].gt_masks_bev = to_tensor(np.ascontiguousarray(results['gt_masks_bev']))
        for key in OCC_KEYS:  # (X, Y, Z) occupancy labels and masks (LoadOcc3DLabels)
            if key in results:
                packed['data_samples'].set_field(to_tensor(np.ascontiguousarray(results[key])), key)
        meta = packed['data_samples'].metainfo
        for key in MATRIX_KEYS:  # keys collected from results['images'] by the parent
            if key in meta and isinstance(meta[key], list):
                packed['data_samples'].set_metainfo({key: np.stack([np.asarray(v, np.float64) for v in meta[key]])})
        return packed
