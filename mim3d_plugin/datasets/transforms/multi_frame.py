"""Temporal multi-frame multi-view loading for MIM4D: the current key frame plus ``T`` earlier ones.

MIM4D (Zou et al., 2024, Sec. 3.1) trains on short multi-view clips of camera sweeps
(~0.08 s apart); the dataset (:class:`mim3d_plugin.datasets.NuScenesMultiFrameDataset`)
attaches the infos of the earlier frames (camera sweeps where their files exist, or
key frames 0.5 s apart) as ``results['prev_frames']`` (oldest first); this transform runs
a per-frame pipeline (image loading and augmentation) on every frame, a target
pipeline (LiDAR loading and depth maps) on the current frame only, and concatenates
the views frame-major so the standard packer and data preprocessor batch them.

Output layout (``F = T + 1`` frames, ``N`` views, current frame last):

* ``img``, ``cam2img``, ``ori_cam2img``, ``lidar2cam``, ``lidar2img``,
  ``ori_lidar2img``, ``cam2ego``, ``img_aug_matrix``, ``filename`` and
  ``img_path`` (image files): lists of
  ``F * N`` entries, view ``f * N + n`` = camera ``n`` of frame ``f``;
* ``ego2global``, ``lidar2ego``: lists of ``F`` (4, 4) float64 arrays;
* ``can_bus`` (when every frame info has one): ``(F, 18)`` float64, BEVFormer's absolute CAN-bus vectors;
* ``frame_valid``: ``(F,)`` bool; False for an earlier frame that only repeats
  the earliest available key frame at a scene start (the loss ignores the
  pseudo-3D prediction of a sample without any valid earlier frame);
* ``frame_timestamps``: ``(F,)`` float64 s; ``num_frames``: ``F``;
* ``frame_sources``: ``F`` strings, ``'key_frame'`` or ``'cam_sweep'``;
* ``depth`` (if the target pipeline makes it): ``(F * N, H, W)`` float32 m,
  LiDAR depth of the current frame in its own (augmented) cameras; the views
  of earlier frames are 0 (= no point) unless ``depth_all_frames``, where the
  current LiDAR points are moved into each earlier frame with the relative pose
  (``lidar2global_f^-1 @ lidar2global_cur``) and projected with that frame's own
  ``lidar2img`` (official MIM4D: ``keylidar2sweepimg``; static-scene assumption);
* ``depth_frames``: ``(F,)`` bool, the frames whose depth maps are filled.
"""
import copy
from typing import List, Optional

import numpy as np
import torch
from mmcv.transforms import BaseTransform, Compose
from mmdet3d.registry import TRANSFORMS

from mim3d_plugin.geometry import points_to_depth_map

VIEW_KEYS = ('img', 'cam2img', 'ori_cam2img', 'lidar2cam', 'lidar2img', 'ori_lidar2img', 'cam2ego', 'img_aug_matrix',
             'filename')


@TRANSFORMS.register_module()
class MultiFrameMultiView(BaseTransform):
    """Load and augment the views of the current and earlier key frames.

    Args:
        frame_pipeline (list[dict]): transforms applied to every frame, e.g.
            ``[LoadMultiViewImages, MultiViewImageAug]``.
        target_pipeline (list[dict]): transforms applied afterwards to the
            current frame only, e.g. ``[LoadPointsFromFile, PointsToMultiViewDepth]``.
        num_prev_frames (int): expected number ``T`` of earlier frames in
            ``results['prev_frames']``.
        depth_all_frames (bool): also fill the earlier frames' depth maps
            from the current LiDAR points (needed by MIM4D's ``'random'``
            temporal target). Default: False.

    Raises:
        KeyError: ``prev_frames`` missing (use ``NuScenesMultiFrameDataset``).
        ValueError: wrong number of earlier frames, or frames whose image size
            or number of views differ.
    """

    def __init__(self,
                 frame_pipeline: List[dict],
                 target_pipeline: Optional[List[dict]] = None,
                 num_prev_frames: int = 2,
                 depth_all_frames: bool = False) -> None:
        self.frame_pipeline = Compose(frame_pipeline)
        self.target_pipeline = Compose(target_pipeline or [])
        self.num_prev_frames = num_prev_frames
        self.depth_all_frames = depth_all_frames

    def transform(self, results: dict) -> dict:
        if 'prev_frames' not in results:
            raise KeyError(f'{type(self).__name__}: results has no "prev_frames" (frame {results.get("token")}); '
                           f'use dataset type NuScenesMultiFrameDataset with num_prev_frames={self.num_prev_frames}')
        prev_infos = results.pop('prev_frames')
        if len(prev_infos) != self.num_prev_frames:
            raise ValueError(f'{type(self).__name__}: expected {self.num_prev_frames} earlier frames, got '
                             f'{len(prev_infos)} (dataset num_prev_frames must match)')
        frames = []
        for info in prev_infos:
            info = copy.deepcopy(info)
            for key in ('box_type_3d', 'box_mode_3d'):
                if key in results:
                    info[key] = results[key]
            frames.append(self.frame_pipeline(info))
        current = self.target_pipeline(self.frame_pipeline(results))
        frames.append(current)
        shapes = {tuple(f['img_shape'][:2]) for f in frames}
        views = {len(f['img']) for f in frames}
        if len(shapes) != 1 or len(views) != 1:
            raise ValueError(f'{type(self).__name__}: frames of {results.get("token")} differ in image size '
                             f'{shapes} or number of views {views}')
        for key in VIEW_KEYS:
            if key in current:
                current[key] = [v for f in frames for v in f[key]]
        if 'filename' in current:
            current['img_path'] = list(current['filename'])
        current['ego2global'] = [np.asarray(f['ego2global'], np.float64) for f in frames]
        current['lidar2ego'] = [np.asarray(f['lidar_points']['lidar2ego'], np.float64) for f in frames]
        if all('can_bus' in f for f in frames):  # BEVFormer's absolute CAN-bus vectors, one per frame
            current['can_bus'] = np.stack([np.asarray(f['can_bus'], np.float64) for f in frames])
        current['frame_valid'] = np.array([not info.get('adjacent_fallback', False) for info in prev_infos] + [True])
        current['frame_timestamps'] = np.array([f['timestamp'] for f in frames], np.float64)
        current['frame_sources'] = [info.get('frame_source', 'key_frame') for info in prev_infos] + ['key_frame']
        current['num_frames'] = len(frames)
        if 'depth' in current:
            depth = np.asarray(current['depth'], np.float32)
            n = depth.shape[0]
            if self.depth_all_frames:
                if 'points' not in current:
                    raise KeyError(f'{type(self).__name__}: depth_all_frames needs "points" from the target pipeline '
                                   f'(frame {results.get("token")})')
                earlier = [self._frame_depth(current, f, n, depth.shape[1:]) for f in range(self.num_prev_frames)]
            else:
                earlier = [np.zeros((n, ) + depth.shape[1:], np.float32)] * self.num_prev_frames
            current['depth'] = np.concatenate(earlier + [depth])
            current['depth_frames'] = np.array([self.depth_all_frames] * self.num_prev_frames + [True])
        return current

    @staticmethod
    def _frame_depth(current: dict, f: int, n: int, img_shape) -> np.ndarray:
        """``(N, H, W)`` depth of frame ``f``'s views from the current frame's LiDAR points."""
        points = current['points']
        xyz = (points.tensor if hasattr(points, 'tensor') else torch.as_tensor(np.asarray(points)))[:, :3]
        lidar2global = [current['ego2global'][i] @ current['lidar2ego'][i] for i in (f, -1)]
        cur2frame = torch.as_tensor(np.linalg.inv(lidar2global[0]) @ lidar2global[1])
        xyz = xyz.to(torch.float64) @ cur2frame[:3, :3].T + cur2frame[:3, 3]
        views = current['lidar2img'][f * n:(f + 1) * n]
        lidar2img = torch.as_tensor(np.stack([np.asarray(m, np.float64) for m in views]))
        return points_to_depth_map(xyz, lidar2img, tuple(img_shape)).to(torch.float32).numpy()

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(num_prev_frames={self.num_prev_frames}, '
                f'depth_all_frames={self.depth_all_frames}, frame_pipeline={self.frame_pipeline}, '
                f'target_pipeline={self.target_pipeline})')
