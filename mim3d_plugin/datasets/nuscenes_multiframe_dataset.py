"""nuScenes multi-view dataset that attaches the earlier frames of each sample (MIM4D clips):
earlier key frames (0.5 s apart) or camera sweeps (~0.08 s apart) where their files exist."""
import copy
import os.path as osp
import random
from typing import List, Optional

import numpy as np
from mmdet3d.registry import DATASETS
from mmengine.logging import MMLogger

from .nuscenes_multiview_dataset import NuScenesMultiViewDataset

FRAME_SOURCES = ('key_frames', 'cam_sweeps')


@DATASETS.register_module()
class NuScenesMultiFrameDataset(NuScenesMultiViewDataset):
    """:class:`NuScenesMultiViewDataset` whose samples carry ``prev_frames``.

    ``results['prev_frames']`` lists the infos of the ``T`` earlier frames of the
    same scene (oldest first), consumed by
    :class:`mim3d_plugin.datasets.transforms.MultiFrameMultiView`.

    * ``frame_source='key_frames'``: the key frames ``T, T-1, ..., 1`` steps
      earlier (:meth:`NuScenesMultiViewDataset.get_adjacent_info`); at a scene
      start the missing ones repeat the earliest available frame (the current
      one for the first frame of a scene) and carry ``adjacent_fallback=True``.
    * ``frame_source='cam_sweeps'`` (official MIM4D: camera sweeps, median ego
      step 0.44 m): earlier frame ``t`` is made of camera sweep ``t *
      sweep_interval`` before the key frame of every camera (``cam_sweeps`` of
      the info file, written by ``tools/create_data.py``). Each view keeps its
      own exposure: the frame's pose is the ego pose of the first camera's sweep
      (``ego2global``, with the key frame's ``lidar2ego``), and each camera's
      ``lidar2cam`` goes from that virtual LiDAR frame through the global frame
      to the camera at its own exposure, so every frame is lifted with its own
      projection. When a needed sweep is not listed or its file is missing
      (e.g. the bundled v1.0-mini data, which has no sweep files), the sample
      falls back to key frames, and one warning says how often that happened.

    Every earlier frame info has ``frame_source`` (``'key_frame'`` or ``'cam_sweep'``).

    Args:
        num_prev_frames (int): ``T`` >= 1. Default: 2.
        frame_source (str): ``'key_frames'`` or ``'cam_sweeps'``. Default: ``'key_frames'``.
        sweep_interval (int): camera sweeps between consecutive frames of a
            clip (``'cam_sweeps'`` only). Default: 1.
        sweeps_root (str, optional): folder the ``cam_sweeps`` paths are
            relative to (the nuScenes root). Default: derived from
            ``data_prefix`` of the first camera (``<root>/samples/<CAM>``).
        prev_frame_pool (int, optional): in training (``test_mode=False``, key frames), draw the ``T``
            earlier frames at random among the ``prev_frame_pool`` previous key frames, in time order (official
            BEVFormer: 3 of the previous 4 with ``queue_length=4``); test uses the ``T`` previous ones.
            Default: None (always the ``T`` previous key frames).
        Other args: see :class:`NuScenesMultiViewDataset`.

    Raises:
        ValueError: ``num_prev_frames`` < 1 or > ``prev_frame_pool``, unknown ``frame_source``,
            ``sweep_interval`` < 1, or no ``sweeps_root`` can be derived.
    """

    requires_temporal_fields = True

    def __init__(self,
                 *args,
                 num_prev_frames: int = 2,
                 frame_source: str = 'key_frames',
                 sweep_interval: int = 1,
                 sweeps_root: Optional[str] = None,
                 prev_frame_pool: Optional[int] = None,
                 **kwargs) -> None:
        if num_prev_frames < 1:
            raise ValueError(f'NuScenesMultiFrameDataset: num_prev_frames must be >= 1, got {num_prev_frames}')
        if prev_frame_pool is not None and prev_frame_pool < num_prev_frames:
            raise ValueError(f'NuScenesMultiFrameDataset: prev_frame_pool ({prev_frame_pool}) must be >= '
                             f'num_prev_frames ({num_prev_frames})')
        self.prev_frame_pool = prev_frame_pool
        if frame_source not in FRAME_SOURCES:
            raise ValueError(f'NuScenesMultiFrameDataset: frame_source must be one of {FRAME_SOURCES}, '
                             f'got {frame_source!r}')
        if sweep_interval < 1:
            raise ValueError(f'NuScenesMultiFrameDataset: sweep_interval must be >= 1, got {sweep_interval}')
        self.num_prev_frames = num_prev_frames
        self.frame_source = frame_source
        self.sweep_interval = sweep_interval
        self._sweeps_root = sweeps_root
        self._sweep_fallbacks = 0
        self._sweep_warned = False
        super().__init__(*args, **kwargs)
        if frame_source == 'cam_sweeps' and self._sweeps_root is None:
            prefix = osp.normpath(self.data_prefix.get(self.cameras[0], ''))
            if osp.basename(osp.dirname(prefix)) != 'samples':
                raise ValueError(f'NuScenesMultiFrameDataset: cannot derive sweeps_root from data_prefix '
                                 f'{self.cameras[0]}={prefix!r} (expected <nuScenes root>/samples/{self.cameras[0]}); '
                                 f'set sweeps_root')
            self._sweeps_root = osp.dirname(osp.dirname(prefix))

    def sweep_frame_info(self, info: dict, step: int) -> Optional[dict]:
        """The frame made of camera sweep ``step`` (1 = newest) of every camera, or None where one is
        not listed or its file is missing.

        Args:
            info (dict): a parsed key-frame info (:meth:`get_data_info`).
            step (int): sweep index before the key frame, >= 1.

        Returns:
            dict | None: an info with ``token`` ``'<token>/cam_sweep<step>'``,
            ``timestamp`` and ``ego2global`` of the first camera's sweep, the
            key frame's ``lidar_points`` (for ``lidar2ego``) and ``images`` of
            the sweeps (``img_path``, ``cam2img``, ``cam2ego``, ``ego2global``,
            ``lidar2cam``, ``timestamp``).
        """
        sweeps = info.get('cam_sweeps') or {}
        chosen = {}
        for cam in self.cameras:
            cam_sweeps = sweeps.get(cam, [])
            if len(cam_sweeps) < step:
                return None
            sweep = cam_sweeps[step - 1]
            path = osp.join(self._sweeps_root, sweep['img_path'])
            if not osp.isfile(path):
                return None
            chosen[cam] = (sweep, path)
        ref = chosen[self.cameras[0]][0]
        ego2global = np.asarray(ref['ego2global'], np.float64)
        lidar2global = ego2global @ np.asarray(info['lidar_points']['lidar2ego'], np.float64)
        images = {}
        for cam, (sweep, path) in chosen.items():
            cam2global = np.asarray(sweep['ego2global'], np.float64) @ np.asarray(sweep['cam2ego'], np.float64)
            images[cam] = dict(
                img_path=path,
                height=sweep['height'],
                width=sweep['width'],
                cam2img=sweep['cam2img'],
                cam2ego=sweep['cam2ego'],
                ego2global=sweep['ego2global'],
                lidar2cam=(np.linalg.inv(cam2global) @ lidar2global).tolist(),
                sample_data_token=sweep['sample_data_token'],
                timestamp=sweep['timestamp'])
        dropped = ('images', 'cam_sweeps', 'instances', 'ann_info', 'eval_ann_info')
        frame = {k: copy.deepcopy(v) for k, v in info.items() if k not in dropped}
        frame.update(
            token=f'{info["token"]}/cam_sweep{step}',
            timestamp=ref['timestamp'],
            ego2global=ego2global.tolist(),
            images=images,
            adjacent_offset=-step,
            adjacent_steps=-step,
            adjacent_fallback=False,
            frame_source='cam_sweep')
        return frame

    def prev_frame_infos(self, index: int) -> List[dict]:
        """The ``T`` earlier frame infos of sample ``index``, oldest first (see the class docstring)."""
        if self.frame_source == 'cam_sweeps':
            info = self.get_data_info(index)
            frames = [self.sweep_frame_info(info, t * self.sweep_interval) for t in range(self.num_prev_frames, 0, -1)]
            if all(f is not None for f in frames):
                return frames
            self._sweep_fallbacks += 1
            if not self._sweep_warned:
                self._sweep_warned = True
                MMLogger.get_current_instance().warning(
                    f'{type(self).__name__}: frame_source="cam_sweeps" but frame {info["token"]} of {self.ann_file} '
                    f'lacks camera sweep {self.num_prev_frames * self.sweep_interval} (not listed in cam_sweeps, or '
                    f'its file is missing under {self._sweeps_root}); such samples use key frames instead (this '
                    f'warning is shown once; sweep_fallbacks counts them)')
        steps = range(self.num_prev_frames, 0, -1)
        if self.prev_frame_pool is not None and not self.test_mode:
            # official BEVFormer prepare_train_data: shuffle the queue_length previous indices, drop the first,
            # keep the rest in time order (3 of the 4 previous frames for queue_length 4)
            steps = sorted(random.sample(range(1, self.prev_frame_pool + 1), self.num_prev_frames), reverse=True)
        frames = [self.get_adjacent_info(index, -k) for k in steps]
        for frame in frames:
            frame['frame_source'] = 'key_frame'
        return frames

    @property
    def sweep_fallbacks(self) -> int:
        """Samples (in this process) that fell back from camera sweeps to key frames."""
        return self._sweep_fallbacks

    def prepare_data(self, index: int) -> Optional[dict]:
        """mmdet3d ``Det3DDataset.prepare_data`` with ``prev_frames`` added before the pipeline."""
        input_dict = self.get_data_info(index)  # a copy (mmengine BaseDataset)
        self.check_lidar_file(input_dict)
        input_dict['box_type_3d'] = self.box_type_3d
        input_dict['box_mode_3d'] = self.box_mode_3d
        input_dict['prev_frames'] = self.prev_frame_infos(index)
        if not self.test_mode and self.filter_empty_gt and len(input_dict['ann_info']['gt_labels_3d']) == 0:
            return None
        example = self.pipeline(input_dict)
        if not self.test_mode and self.filter_empty_gt and (example is None or len(
                example['data_samples'].gt_instances_3d.labels_3d) == 0):
            return None
        return example
