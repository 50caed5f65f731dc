"""The ego-frame convention of BEVDet dev2.x: a frame's BEV, boxes and cameras in the ego frame of one camera."""
from typing import Optional

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmdet3d.registry import TRANSFORMS

from mim3d_plugin.geometry import transform_boxes


def lidar2keyego_of(results: dict, ego_cam: Optional[str] = 'CAM_FRONT', where: Optional[str] = None) -> np.ndarray:
    """``(4, 4)`` LiDAR frame -> the ego frame at ``ego_cam``'s exposure: ``inv(keyego2global) @ ego2global @
    lidar2ego`` (float64), from a frame's info / pipeline dict; ``ego_cam=None``: the ego frame at the LiDAR
    timestamp (``lidar2ego``), the frame of the Occ3D labels.

    Reads ``lidar_points.lidar2ego`` (or ``lidar2ego``), ``ego2global`` (ego pose at the LiDAR timestamp) and
    ``images[ego_cam].ego2global`` (ego pose at the camera timestamp, written by ``tools/create_data.py``).

    Raises:
        KeyError: a field is missing (frame token, camera and field named).
    """
    token = results.get('token', results.get('sample_idx'))
    where = where or f'frame {token}'
    lidar2ego = results.get('lidar_points', {}).get('lidar2ego', results.get('lidar2ego'))
    if ego_cam is None:
        if lidar2ego is None:
            raise KeyError(f'LiDARToEgoFrame: {where} lacks lidar_points.lidar2ego')
        return np.asarray(lidar2ego, dtype=np.float64).copy()
    cam = results.get('images', {}).get(ego_cam)
    if cam is None or 'ego2global' not in cam:
        raise KeyError(f'LiDARToEgoFrame: {where} has no images.{ego_cam}.ego2global (the ego pose at the camera '
                       'exposure); regenerate the info files with tools/create_data.py or add it with '
                       'tools/create_data.py nuscenes --update-infos FILE')
    if lidar2ego is None or 'ego2global' not in results:
        raise KeyError(f'LiDARToEgoFrame: {where} lacks lidar_points.lidar2ego or ego2global')
    keyego2global = np.asarray(cam['ego2global'], dtype=np.float64)
    return np.linalg.inv(keyego2global) @ np.asarray(
        results['ego2global'], dtype=np.float64) @ np.asarray(
            lidar2ego, dtype=np.float64)


@TRANSFORMS.register_module()
class LiDARToEgoFrame(BaseTransform):
    """Re-express a frame in the ego frame at ``ego_cam``'s exposure, the frame of BEVDet dev2.x and of GeoMIM's
    BEVDet fine-tunes (official ``tools/create_data_bevdet.py`` ``get_gt``: boxes from global by the inverse
    ``CAM_FRONT`` ego pose; ``PrepareImageInputs``: cameras as ``sensor2keyego``; ``NuScenesDataset._format_bbox``:
    boxes to global by the ``CAM_FRONT`` ego pose).

    With ``M = lidar2keyego`` (:func:`lidar2keyego_of`): ``points`` (xyz) ``M p``; ``gt_bboxes_3d`` by
    :func:`transform_boxes` (centre, yaw of the rotated heading, velocity rotated); every view's ``lidar2cam``,
    ``lidar2img`` and ``ori_lidar2img`` times ``inv(M)``, so a point keeps its pixel and depth; ``lidar2keyego``
    ``(4, 4)`` recorded. The BEV grid, the box targets and the BEV augmentation (place it before ``BEVAug``, which
    then acts in this frame as the official) follow. Detectors read ``lidar2keyego`` from the metainfo to return
    their boxes in the LiDAR frame mmdet3d's ``NuScenesMetric`` expects (``BEVDet.predict``); the metric's
    LiDAR -> ego -> global then equals the official ego -> global. Keys ``lidar2ego`` / ``ego2global`` keep
    describing the LiDAR frame.

    Place after ``LoadMultiViewImages`` (and ``LoadPointsFromFile`` / ``LoadAnnotations3D`` when used) and before
    ``BEVAug`` and ``PointsToMultiViewDepth``.

    Args:
        ego_cam (str, optional): camera whose exposure time fixes the ego pose. Default: ``'CAM_FRONT'`` (official
            BEVDet). None: the ego pose at the LiDAR timestamp, the frame of Occ3D's (and the derived) occupancy
            labels (the official BEVDet-Occ keeps ``CAM_FRONT``'s, whose exposure is not the LiDAR's timestamp).

    Raises:
        KeyError: a pose is missing (:func:`lidar2keyego_of`) or no camera matrices were set up yet.
        RuntimeError: placed after ``BEVAug`` (``bev_aug_matrix`` already recorded).
    """

    def __init__(self, ego_cam: Optional[str] = 'CAM_FRONT') -> None:
        self.ego_cam = ego_cam

    def transform(self, results: dict) -> dict:
        if 'bev_aug_matrix' in results:
            raise RuntimeError('LiDARToEgoFrame must come before BEVAug in the pipeline (the official BEV '
                               'augmentation acts in the ego frame)')
        if 'lidar2img' not in results:
            raise KeyError('LiDARToEgoFrame: no lidar2img yet; place it after LoadMultiViewImages')
        mat = lidar2keyego_of(results, self.ego_cam)
        inv = np.linalg.inv(mat)
        if 'points' in results:
            points = results['points']
            xyz = points.tensor[:, :3]
            m = torch.as_tensor(mat, dtype=xyz.dtype)
            points.tensor[:, :3] = xyz @ m[:3, :3].T + m[:3, 3]
        if 'gt_bboxes_3d' in results:
            boxes = results['gt_bboxes_3d']
            raw = torch.cat([boxes.gravity_center, boxes.tensor[:, 3:]], -1)
            moved = transform_boxes(raw.double(), torch.as_tensor(mat)).to(raw.dtype)
            results['gt_bboxes_3d'] = type(boxes)(moved, box_dim=moved.shape[-1], origin=(0.5, 0.5, 0.5))
        for key in ('lidar2cam', 'lidar2img', 'ori_lidar2img'):
            if key in results:
                results[key] = [np.asarray(m, dtype=np.float64) @ inv for m in results[key]]
        results['lidar2keyego'] = mat
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(ego_cam={self.ego_cam!r})'
