"""Multi-view nuScenes dataset on mmdet3d's ``NuScenesDataset`` with checked infos and key-frame links."""
import copy
import os.path as osp
from typing import Callable, Dict, List, Optional, Union

import numpy as np
import torch
from mmdet3d.datasets import NuScenesDataset
from mmdet3d.registry import DATASETS
from mmengine.fileio import load

from .converters.nuscenes_converter import INFO_VERSION, NUSCENES_CAMERAS

REGENERATE = ('regenerate it with `python tools/create_data.py nuscenes --root-path <nuscenes root> '
              '--version <version> --out-dir <folder>`')
FRAME_KEYS = ('token', 'timestamp', 'ego2global', 'lidar_points', 'images')
TEMPORAL_KEYS = ('scene_token', 'prev', 'next')  # only the temporal datasets need them
UPDATE = ('add them to the file with `python tools/create_data.py nuscenes --update-infos <info file> '
          '--root-path <nuscenes root> --version <version>`')
LIDAR_KEYS = ('lidar_path', 'lidar2ego')
CAMERA_KEYS = ('img_path', 'cam2img', 'lidar2cam', 'cam2ego')

CAMERA_RIGID_FIELDS = ('lidar2cam', 'cam2ego')


def _matrix_problem(value, rigid: bool) -> Optional[str]:
    """What is wrong with a calibration / pose matrix (None if fine): shape, non-finite, singular, not rigid."""
    try:
        mat = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return 'not a numeric matrix'
    if rigid:
        if mat.shape != (4, 4):
            return f'shape {mat.shape}, expected (4, 4)'
        if not np.isfinite(mat).all():
            return 'non-finite entries (NaN/inf)'
        rot = mat[:3, :3]
        if not np.allclose(mat[3], [0, 0, 0, 1], atol=1e-6) or not np.allclose(rot.T @ rot, np.eye(3), atol=1e-3) \
                or np.linalg.det(rot) < 0:
            return 'not a rigid transform (expected a rotation with det +1, translation, last row 0 0 0 1)'
        return None
    if mat.shape not in ((3, 3), (3, 4), (4, 4)):
        return f'shape {mat.shape}, expected (3, 3)'
    if not np.isfinite(mat).all():
        return 'non-finite entries (NaN/inf)'
    if abs(np.linalg.det(mat[:3, :3])) < 1e-9 or mat[0, 0] <= 0 or mat[1, 1] <= 0:
        return 'singular (expected positive focal lengths fx, fy)'
    return None


def _bad_matrix_indices(values: list, rigid: bool) -> np.ndarray:
    """Indices of the matrices :func:`_matrix_problem` would reject, checked as one array (fast path)."""
    try:
        mats = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):  # ragged shapes: find them one by one
        return np.array([i for i, v in enumerate(values) if _matrix_problem(v, rigid)])
    if mats.ndim != 3 or (rigid and mats.shape[1:] != (4, 4)) or \
            (not rigid and mats.shape[1:] not in ((3, 3), (3, 4), (4, 4))):
        return np.array([i for i, v in enumerate(values) if _matrix_problem(v, rigid)])
    ok = np.isfinite(mats).all((1, 2))
    safe = np.where(ok[:, None, None], mats, 0.0)
    rot = safe[:, :3, :3]
    if rigid:
        ok &= np.abs(safe[:, 3] - [0, 0, 0, 1]).max(1) <= 1e-6
        ok &= np.abs(np.einsum('nji,njk->nik', rot, rot) - np.eye(3)).max((1, 2)) <= 1e-3
        ok &= np.linalg.det(rot) >= 0
    else:
        ok &= (np.abs(np.linalg.det(rot)) >= 1e-9) & (safe[:, 0, 0] > 0) & (safe[:, 1, 1] > 0)
    return np.nonzero(~ok)[0]


def check_info_file(annotations: dict, ann_file: str, cameras=NUSCENES_CAMERAS, temporal: bool = False) -> None:
    """Check that a loaded info file is an mmdet3d v2 nuScenes info file with the fields a dataset uses.

    Files written by mmdet3d's own converter (``create_data.py nuscenes`` / ``update_infos_to_v2``) pass for
    the single-frame datasets; the temporal ones (``temporal=True``) also need ``scene_token``, ``prev`` and
    ``next``, which ``tools/create_data.py nuscenes --update-infos FILE`` adds from the nuScenes tables.

    Raises:
        ValueError: the file is not in the v2 format (e.g. mmdet3d v1 infos with
            ``infos``/``metadata``), has another ``info_version``, holds no frame, a frame
            lacks a needed field, or a pose / calibration matrix (``ego2global``,
            ``lidar2ego``, ``cam2img``, ``lidar2cam``, ``cam2ego``) is non-finite, singular
            or not rigid (the file, frame index and token, camera and field are named).
    """
    if not isinstance(annotations, dict) or 'data_list' not in annotations or 'metainfo' not in annotations:
        keys = sorted(annotations) if isinstance(annotations, dict) else type(annotations).__name__
        hint = ' (this looks like an mmdet3d v1 info file)' if isinstance(annotations, dict) and \
            'infos' in annotations else ''
        raise ValueError(f'{ann_file}: expected an mmdet3d v2 info file with keys metainfo and data_list, got '
                         f'{keys}{hint}; {REGENERATE}')
    meta = annotations['metainfo']
    if meta.get('info_version') != INFO_VERSION:
        raise ValueError(f'{ann_file}: metainfo.info_version must be {INFO_VERSION!r}, got '
                         f'{meta.get("info_version")!r}; {REGENERATE}')
    if meta.get('dataset', 'nuscenes') != 'nuscenes':
        raise ValueError(f'{ann_file}: metainfo.dataset must be "nuscenes", got {meta.get("dataset")!r}')
    if not annotations['data_list']:
        raise ValueError(f'{ann_file}: data_list holds no frame (expected at least one key frame); {REGENERATE}')
    for idx, info in enumerate(annotations['data_list']):
        missing = [k for k in FRAME_KEYS + (TEMPORAL_KEYS if temporal else ()) if k not in info]
        missing += [f'lidar_points.{k}' for k in LIDAR_KEYS if k not in info.get('lidar_points', {})]
        for cam in cameras:
            cam_info = info.get('images', {}).get(cam)
            if cam_info is None:
                missing.append(f'images.{cam}')
            else:
                missing += [f'images.{cam}.{k}' for k in CAMERA_KEYS if k not in cam_info]
        if missing:
            hint = UPDATE if set(missing) <= set(TEMPORAL_KEYS) else REGENERATE
            raise ValueError(f'{ann_file}: frame {idx} (token {info.get("token")}) lacks {missing}, needed by '
                             f'this dataset; {hint}')
    # calibration and poses, one array per field (a per-matrix loop costs ~12 s on nuScenes train)
    frames = annotations['data_list']
    fields = [('ego2global', lambda i: i['ego2global'], True),
              ('lidar_points.lidar2ego', lambda i: i['lidar_points']['lidar2ego'], True)]
    for cam in cameras:
        fields.append((f'images.{cam}.cam2img', lambda i, c=cam: i['images'][c]['cam2img'], False))
        fields += [(f'images.{cam}.{k}', lambda i, c=cam, k=k: i['images'][c][k], True) for k in CAMERA_RIGID_FIELDS]
    for field, get, rigid in fields:
        values = [get(info) for info in frames]
        bad = _bad_matrix_indices(values, rigid)
        if len(bad):
            idx = int(bad[0])
            raise ValueError(f'{ann_file}: frame {idx} (token {frames[idx].get("token")}) field {field}: '
                             f'{_matrix_problem(values[idx], rigid)}')


@DATASETS.register_module()
class NuScenesMultiViewDataset(NuScenesDataset):
    """nuScenes key frames with 6 (or ``cameras``) views, LiDAR, boxes and temporal links.

    The info file is checked when loaded (:func:`check_info_file`); the dataset
    ``version`` in ``metainfo`` is taken from the info file unless given in
    ``metainfo``, so ``NuScenesMetric`` evaluates the right split
    (``mini_val`` for v1.0-mini). Frames keep ``token``, ``scene_token``,
    ``prev``/``next`` (sample tokens, '' at scene ends), ``timestamp`` (s),
    ``ego2global`` (4x4) and per-camera ``cam2ego`` (4x4) as written by
    ``tools/create_data.py``. :meth:`get_adjacent_info` returns the info of a
    neighbouring key frame for temporal methods (BEVDet4D, BEVFormer, MIM4D).

    Args:
        cameras (sequence[str]): camera names, in the order views are stacked.
            Default: the 6 nuScenes cameras in mmdet3d's order.
        modality (dict): Default: cameras and LiDAR.
        load_interval (int): keep every ``load_interval``-th frame of the info file (the official
            ``load_interval`` of DETR3D / UVTR / UniPAD configs: UVTR vs0.1 fine-tunes on every second training
            frame). Default: 1.
        Other args: see mmdet3d ``NuScenesDataset`` (``data_prefix`` keys:
            ``pts`` and one per camera name).

    Info files of mmdet3d's own converter load as they are; :meth:`get_adjacent_info` (temporal
    subclasses: ``requires_temporal_fields = True``) needs ``scene_token``/``prev``/``next``.
    """

    requires_temporal_fields = False

    def __init__(self,
                 data_root: str,
                 ann_file: str,
                 pipeline: List[Union[dict, Callable]] = [],
                 cameras=NUSCENES_CAMERAS,
                 modality: dict = dict(use_camera=True, use_lidar=True),
                 metainfo: Optional[dict] = None,
                 load_interval: int = 1,
                 **kwargs) -> None:
        self.cameras = tuple(cameras)
        if int(load_interval) < 1:
            raise ValueError(f'{type(self).__name__}: load_interval must be >= 1, got {load_interval}')
        self.load_interval = int(load_interval)
        self._version_given = metainfo is not None and 'version' in metainfo
        if kwargs.get('load_type', 'frame_based') != 'frame_based':
            raise ValueError(f'{type(self).__name__} supports load_type="frame_based" only, '
                             f'got {kwargs["load_type"]!r}')
        super().__init__(
            data_root=data_root, ann_file=ann_file, pipeline=pipeline, modality=modality, metainfo=metainfo, **kwargs)

    def load_data_list(self) -> List[dict]:
        """Load and check the info file, then parse every frame (mmengine ``BaseDataset`` logic)."""
        annotations = load(self.ann_file, backend_args=self.backend_args)
        check_info_file(annotations, self.ann_file, self.cameras, temporal=self.requires_temporal_fields)
        file_meta = annotations['metainfo']
        if not self._version_given and 'version' in file_meta:
            self._metainfo['version'] = file_meta['version']
        for key, value in file_meta.items():
            self._metainfo.setdefault(key, value)
        data_list = []
        for raw in annotations['data_list'][::self.load_interval]:
            raw['images'] = {cam: raw['images'][cam] for cam in self.cameras}
            data_info = self.parse_data_info(raw)
            data_list.extend(data_info if isinstance(data_info, list) else [data_info])
        return data_list

    def parse_ann_info(self, info: dict) -> dict:
        """mmdet3d's nuScenes annotations (boxes with ``num_lidar_pts > 0``, or with LiDAR or radar points
        (``bbox_3d_isvalid``) when ``use_valid_flag=True`` as the official BEVDet / BEVFormer configs), bottom-centred
        ``LiDARInstance3DBoxes`` (x, y, z, l, w, h, yaw, vx, vy), NaN velocity -> 0) without the
        boxes of categories outside ``classes`` (label -1), so no -1 label reaches a head."""
        ann_info = super().parse_ann_info(info)
        keep = ann_info['gt_labels_3d'] >= 0
        if not keep.all():
            for key, value in ann_info.items():
                if key != 'instances' and hasattr(value, '__len__') and len(value) == len(keep):
                    ann_info[key] = value[torch.as_tensor(keep)] if hasattr(value, 'tensor') else value[keep]
        return ann_info

    def check_lidar_file(self, info: dict) -> None:
        """Raise a clear error for a missing, empty or truncated LiDAR file of a frame.

        Raises:
            FileNotFoundError / ValueError: naming the file, the frame token and the expected size
            (a multiple of ``num_pts_feats`` float32 values).
        """
        lidar = info.get('lidar_points', {})
        path = lidar.get('lidar_path')
        if path is None or not self.modality.get('use_lidar', True) or '://' in str(path):
            return  # no LiDAR in this dataset, or a remote backend (checked by its loader)
        if not osp.isfile(path):
            raise FileNotFoundError(f'{type(self).__name__}: LiDAR file of frame {info.get("token")} is missing: '
                                    f'{path}')
        dim = int(lidar.get('num_pts_feats', 5))
        size = osp.getsize(path)
        if size == 0 or size % (4 * dim):
            raise ValueError(f'{type(self).__name__}: LiDAR file of frame {info.get("token")} has {size} bytes, '
                             f'expected a non-zero multiple of {4 * dim} ({dim} float32 values per point, '
                             f'lidar_points.num_pts_feats): {path}')

    def prepare_data(self, index: int):
        """mmdet3d ``prepare_data`` after checking the frame's LiDAR file."""
        self.check_lidar_file(self.get_data_info(index))
        return super().prepare_data(index)

    def full_init(self) -> None:
        """Also build the token -> index map used by :meth:`get_adjacent_info`."""
        if self._fully_initialized:
            return
        super().full_init()
        self.token_to_index: Dict[str, int] = {self.get_data_info(i)['token']: i for i in range(len(self))}

    def index_of_token(self, token: str) -> Optional[int]:
        """Index of the frame with sample ``token``; None if it is not in this dataset."""
        return self.token_to_index.get(token)

    def get_adjacent_info(self, index: int, offset: int) -> dict:
        """Info of the key frame ``offset`` steps after (``offset > 0``) or before (``< 0``) frame ``index``.

        Follows the ``prev``/``next`` tokens, so it stays inside the scene. When
        the scene (or this info file) ends first, it falls back to the farthest
        frame reached in that direction (the frame itself at a scene start).

        Returns:
            dict: a copy of the data info (as :meth:`get_data_info`) with
            ``adjacent_offset`` (the requested offset), ``adjacent_steps``
            (signed number of key frames actually moved) and
            ``adjacent_fallback`` (True when fewer than ``|offset|`` steps were
            possible).
        """
        if not -len(self) <= index < len(self):
            raise IndexError(f'index {index} out of range for a dataset of {len(self)} frames')
        index = index % len(self)
        key = 'next' if offset > 0 else 'prev'
        if key not in self.get_data_info(index):
            raise ValueError(f'{type(self).__name__}: frame {index} of {self.ann_file} has no {key!r} link (an '
                             f'mmdet3d info file?); {UPDATE}')
        current, steps = index, 0
        for _ in range(abs(offset)):
            token = self.get_data_info(current)[key]
            nxt = self.index_of_token(token) if token else None
            if nxt is None:
                break
            current, steps = nxt, steps + (1 if offset > 0 else -1)
        info = copy.deepcopy(self.get_data_info(current))
        info.update(adjacent_offset=offset, adjacent_steps=steps, adjacent_fallback=steps != offset)
        return info
