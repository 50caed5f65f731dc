"""Global BEV augmentation (rotation, scale, flips) of points and boxes, folded into the camera matrices."""
from typing import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmdet3d.registry import TRANSFORMS

from ._checks import check_finite_points


@TRANSFORMS.register_module()
class BEVAug(BaseTransform):
    """BEVDet's BEV data augmentation (``bda``): rotate about z, scale, flip x and/or y.

    Reproduces ``BEVAug`` of HuangJunJie2017/BEVDet (``sample_bda_augmentation`` +
    ``bev_transform``): ``A = F s R_z(angle)`` maps the LiDAR frame to the
    augmented LiDAR frame, where ``F`` negates x with probability
    ``flip_dx_ratio`` and y with probability ``flip_dy_ratio``. It is applied
    to ``points`` (xyz), ``gt_bboxes_3d`` (centres, sizes, yaw and velocity via
    the mmdet3d box API) and its inverse is folded into every view:
    ``lidar2cam' = lidar2cam A^-1``, ``lidar2img' = lidar2img A^-1``, so a
    point keeps its pixel and depth. ``bev_aug_matrix`` (4, 4) = ``A`` (composed
    onto an earlier one) is recorded. ``lidar2ego``/``ego2global`` are left
    as they are (they describe the un-augmented LiDAR frame: augmented LiDAR ->
    ego is ``lidar2ego @ inv(bev_aug_matrix)``). Test mode is the identity.

    Args:
        rot_lim (tuple[float, float]): rotation range (deg). Default: (-22.5, 22.5).
        scale_lim (tuple[float, float]): scale range. Default: (0.95, 1.05).
        flip_dx_ratio (float): probability of negating x. Default: 0.5.
        flip_dy_ratio (float): probability of negating y. Default: 0.5.
        test_mode (bool): identity transform. Default: False.

    Raises:
        ValueError: the points hold NaN/inf (the LiDAR file is named).
    """

    def __init__(self,
                 rot_lim: Sequence[float] = (-22.5, 22.5),
                 scale_lim: Sequence[float] = (0.95, 1.05),
                 flip_dx_ratio: float = 0.5,
                 flip_dy_ratio: float = 0.5,
                 test_mode: bool = False) -> None:
        self.rot_lim = tuple(rot_lim)
        self.scale_lim = tuple(scale_lim)
        self.flip_dx_ratio = flip_dx_ratio
        self.flip_dy_ratio = flip_dy_ratio
        self.test_mode = test_mode

    def sample_params(self):
        """Draw ``(angle rad, scale, flip_dx, flip_dy)``."""
        if self.test_mode:
            return 0.0, 1.0, False, False
        angle = float(np.deg2rad(np.random.uniform(*self.rot_lim)))
        scale = float(np.random.uniform(*self.scale_lim))
        return angle, scale, bool(np.random.rand() < self.flip_dx_ratio), bool(np.random.rand() < self.flip_dy_ratio)

    @staticmethod
    def bev_matrix(angle: float, scale: float, flip_dx: bool, flip_dy: bool) -> np.ndarray:
        """(4, 4) map LiDAR -> augmented LiDAR: ``F s R_z(angle)``."""
        c, s = np.cos(angle), np.sin(angle)
        mat = np.eye(4)
        mat[:3, :3] = np.diag([-1.0 if flip_dx else 1.0, -1.0 if flip_dy else 1.0, 1.0]) @ (
            scale * np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]))
        return mat

    def transform(self, results: dict) -> dict:
        if 'voxel_semantics' in results:
            raise RuntimeError(f'BEVAug: frame {results.get("token", results.get("sample_idx"))}: the occupancy labels '
                               'are already loaded; put LoadOcc3DLabels after BEVAug (it applies the recorded '
                               'bev_aug_matrix to the label grid)')
        angle, scale, flip_dx, flip_dy = self.sample_params()
        mat = self.bev_matrix(angle, scale, flip_dx, flip_dy)
        if 'points' in results:
            check_finite_points(results, type(self).__name__)
            points = results['points']
            xyz = points.tensor[:, :3]
            points.tensor[:, :3] = xyz @ torch.as_tensor(mat[:3, :3].T, dtype=xyz.dtype)
        if 'gt_bboxes_3d' in results:
            boxes = results['gt_bboxes_3d']
            boxes.rotate(angle)  # centre, yaw and velocity rotated by R_z(angle)
            boxes.scale(scale)
            if flip_dx:
                boxes.flip('vertical')  # x -> -x
            if flip_dy:
                boxes.flip('horizontal')  # y -> -y
        inv = np.linalg.inv(mat)
        for key in ('lidar2cam', 'lidar2img'):
            if key in results:
                results[key] = [np.asarray(m, dtype=np.float64) @ inv for m in results[key]]
        results['bev_aug_matrix'] = mat @ np.asarray(results.get('bev_aug_matrix', np.eye(4)), dtype=np.float64)
        results['bev_aug_params'] = dict(rotate=angle, scale=scale, flip_dx=flip_dx, flip_dy=flip_dy)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(rot_lim={self.rot_lim}, scale_lim={self.scale_lim}, '
                f'flip_dx_ratio={self.flip_dx_ratio}, flip_dy_ratio={self.flip_dy_ratio}, test_mode={self.test_mode})')
