"""Sparse per-view depth maps from LiDAR points, through the (augmented) ``lidar2img``."""
from typing import Optional

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmdet3d.registry import TRANSFORMS

from mim3d_plugin.geometry import points_to_depth_map, project_points
from ._checks import check_finite_points


@TRANSFORMS.register_module()
class PointsToMultiViewDepth(BaseTransform):
    """Project the LiDAR points into every view: ``results['depth']`` (N, H, W) float32 metres, 0 = no point.

    The nearest point wins per pixel (``geometry.points_to_depth_map``); the
    matrices are ``results['lidar2img']`` after any image / BEV augmentation,
    so the maps align with the augmented images (BEVDet's
    ``PointToMultiViewDepth``, GeoMIM/BEVDepth depth targets, MIM4D ray
    starts).

    With LiDAR sweeps loaded before it (``LoadLiDARSweeps``: the sweeps moved into the key frame's LiDAR frame,
    column 4 = time lag in s, 0 for the key frame) the maps hold the points of every sweep, as official GeoMIM's
    depth targets (``pretrain/mmdet3d/models/vtransforms/depth_lss_gt.py`` + ``base.py``: the 10-frame points the
    teacher also sees); ``max_time_lag`` keeps only sweeps up to that lag (0: the key frame only). Where points
    of several sweeps fall on one pixel the nearest wins (the official writes them in order, so an older sweep
    overwrites the key frame there).

    Args:
        min_depth (float, optional): points closer than this (m, camera z)
            are dropped for that view. Default: None (only points in front).
        max_depth (float, optional): points farther than this (m) are
            dropped for that view. Default: None.
        max_time_lag (float, optional): keep points whose time lag (column 4, s) is at most this; needs
            ``LoadLiDARSweeps`` earlier in the pipeline (column 4 of a raw nuScenes point is the ring index).
            Default: None (every point given).

    Raises:
        ValueError: NaN/inf points (the LiDAR file is named).
        KeyError: ``points`` or ``lidar2img`` missing, or ``max_time_lag`` without ``LoadLiDARSweeps`` before.
    """

    def __init__(self,
                 min_depth: Optional[float] = None,
                 max_depth: Optional[float] = None,
                 max_time_lag: Optional[float] = None) -> None:
        if min_depth is not None and max_depth is not None and min_depth >= max_depth:
            raise ValueError(f'min_depth ({min_depth}) must be < max_depth ({max_depth})')
        if max_time_lag is not None and max_time_lag < 0:
            raise ValueError(f'max_time_lag must be >= 0 s, got {max_time_lag}')
        self.min_depth = min_depth
        self.max_depth = max_depth
        self.max_time_lag = max_time_lag

    def transform(self, results: dict) -> dict:
        for key in ('points', 'lidar2img', 'img_shape'):
            if key not in results:
                raise KeyError(f'{type(self).__name__}: results has no {key!r}')
        check_finite_points(results, type(self).__name__)
        points = results['points']
        pts = points.tensor if hasattr(points, 'tensor') else torch.as_tensor(np.asarray(points))
        if self.max_time_lag is not None:
            if 'num_lidar_sweeps' not in results:
                raise KeyError(f'{type(self).__name__}: max_time_lag={self.max_time_lag} needs LoadLiDARSweeps before '
                               f'it (column 4 of the points must be the time lag; frame {results.get("token")})')
            pts = pts[pts[:, 4] <= self.max_time_lag]
        xyz = pts[:, :3].to(torch.float64)
        lidar2img = torch.as_tensor(np.stack([np.asarray(m, dtype=np.float64) for m in results['lidar2img']]))
        img_shape = tuple(results['img_shape'][:2])
        if self.min_depth is None and self.max_depth is None:
            depth = points_to_depth_map(xyz, lidar2img, img_shape)
        else:
            _, cam_depth, _ = project_points(xyz.unsqueeze(0), lidar2img, img_shape)
            keep = torch.ones_like(cam_depth, dtype=torch.bool)
            if self.min_depth is not None:
                keep &= cam_depth >= self.min_depth
            if self.max_depth is not None:
                keep &= cam_depth <= self.max_depth
            depth = torch.cat(
                [points_to_depth_map(xyz[keep[i]], lidar2img[i:i + 1], img_shape) for i in range(len(lidar2img))])
        results['depth'] = depth.to(torch.float32).numpy()
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(min_depth={self.min_depth}, max_depth={self.max_depth}, '
                f'max_time_lag={self.max_time_lag})')
