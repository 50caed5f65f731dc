"""nuScenes dataset for BEVDet4D: each sample carries the adjacent key frames' views and poses."""
import copy
from typing import Optional

import numpy as np
import torch
from mmdet3d.registry import DATASETS
from mmengine.dataset import Compose

from mim3d_plugin.datasets import NuScenesMultiViewDataset

# ground-truth loaders of the current frame only: left out of the adjacent frames' pipeline (their labels are neither
# needed nor, for derived or partial label sets, always present)
CURRENT_FRAME_ONLY = ('LoadOcc3DLabels', 'LoadBEVSegmentation')
# metainfo keys copied from each adjacent frame, stacked over frames as ``adj_<key>``
ADJACENT_META_KEYS = ('lidar2ego', 'ego2global', 'bev_aug_matrix', 'lidar2keyego', 'timestamp', 'token')


@DATASETS.register_module()
class BEVDet4DDataset(NuScenesMultiViewDataset):
    """Key frames with ``num_adjacent`` earlier key frames (BEVDet4D, https://arxiv.org/abs/2203.17054).

    Each adjacent frame is found with :meth:`NuScenesMultiViewDataset.get_adjacent_info`
    (``prev`` links; the first frame of a scene falls back to itself) and goes
    through the same pipeline as the current frame, so it gets its own image
    augmentation folded into its own ``lidar2img`` (the alignment in
    :class:`BEVDet4D` uses each frame's pose and BEV augmentation, so they
    need not be equal). The packed sample then holds:

    - ``inputs['img']`` ``((1 + A) * N_cam, 3, H, W)``: current views first;
      ``inputs['depth']`` likewise when present;
    - metainfo ``lidar2img``/``cam2img``/``lidar2cam``/``img_aug_matrix``
      stacked over ``(1 + A) * N_cam`` views; ``adj_lidar2ego``,
      ``adj_ego2global``, ``adj_bev_aug_matrix`` / ``adj_lidar2keyego`` (when the pipeline records
      ``bev_aug_matrix`` / ``lidar2keyego``) ``(A, 4, 4)``, ``adj_timestamp`` and ``adj_token``;
      ``adj_fallback`` (A,) bool.

    Ground truth, points and evaluation belong to the current frame only.

    Args:
        num_adjacent (int): adjacent key frames A (BEVDet4D: 1). Default: 1.
        adjacent_step (int): key frames between neighbours (1 = 0.5 s).
            Default: 1.
        **kwargs: see :class:`NuScenesMultiViewDataset`.
    """

    requires_temporal_fields = True
    VIEW_KEYS = ('lidar2img', 'cam2img', 'lidar2cam', 'cam2ego', 'img_aug_matrix')

    def __init__(self, num_adjacent: int = 1, adjacent_step: int = 1, **kwargs) -> None:
        if num_adjacent < 1 or adjacent_step < 1:
            raise ValueError(f'BEVDet4DDataset: num_adjacent and adjacent_step must be >= 1, got '
                             f'{num_adjacent}, {adjacent_step}')
        self.num_adjacent = int(num_adjacent)
        self.adjacent_step = int(adjacent_step)
        super().__init__(**kwargs)
        self.adjacent_pipeline = Compose(
            [t for t in self.pipeline.transforms if type(t).__name__ not in CURRENT_FRAME_ONLY])

    def _run_pipeline(self, info: dict) -> Optional[dict]:
        """The pipeline of an adjacent frame: the dataset's, without the ``CURRENT_FRAME_ONLY`` label loaders."""
        input_dict = copy.deepcopy(info)
        input_dict['box_type_3d'] = self.box_type_3d
        input_dict['box_mode_3d'] = self.box_mode_3d
        return self.adjacent_pipeline(input_dict)

    def prepare_data(self, index: int) -> Optional[dict]:
        """Pipeline on the current frame (mmdet3d logic, incl. empty-GT filtering) and each adjacent frame."""
        current = super().prepare_data(index)
        if current is None:
            return None
        sample = current['data_samples']
        imgs, depths = [current['inputs']['img']], [current['inputs'].get('depth')]
        views = {k: [sample.metainfo[k]] for k in self.VIEW_KEYS if k in sample.metainfo}
        adjacent = {k: [] for k in ADJACENT_META_KEYS if k in sample.metainfo}
        fallback = []
        for k in range(1, self.num_adjacent + 1):
            info = self.get_adjacent_info(index, -k * self.adjacent_step)
            fallback.append(info['adjacent_fallback'])
            adj = self._run_pipeline(info)
            if adj is None:
                raise RuntimeError(f'BEVDet4DDataset: the pipeline dropped adjacent frame {info["token"]} of '
                                   f'frame {index}; adjacent frames must pass the pipeline')
            imgs.append(adj['inputs']['img'])
            depths.append(adj['inputs'].get('depth'))
            for key in views:
                views[key].append(adj['data_samples'].metainfo[key])
            for key in adjacent:
                adjacent[key].append(adj['data_samples'].metainfo[key])
        current['inputs']['img'] = _cat(imgs)
        if all(d is not None for d in depths):
            current['inputs']['depth'] = _cat(depths)
        meta = {k: np.concatenate([np.asarray(v) for v in vs], axis=0) for k, vs in views.items()}
        for key, values in adjacent.items():
            meta['adj_' + key] = np.stack([np.asarray(v) for v in values]) if key not in ('token', ) else values
        meta['adj_fallback'] = np.asarray(fallback)
        sample.set_metainfo(meta)
        return current


def _cat(items):
    if isinstance(items[0], torch.Tensor):
        return torch.cat(items, dim=0)
    return np.concatenate([np.asarray(x) for x in items], axis=0)
