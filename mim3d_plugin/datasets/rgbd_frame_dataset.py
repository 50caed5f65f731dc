"""Single RGB-D frames with intrinsics (Mask3D pretraining data, Hou et al., CVPR 2023).

Layouts (``layout``):

- ``'scannet'``: a ScanNet posed-image export (SensReader ``--export_color_images
  --export_depth_images --export_poses --export_intrinsics``): ``<scene>/color/<i>.jpg``,
  ``<scene>/depth/<i>.png`` (uint16 mm, 0 = invalid), ``<scene>/intrinsic/intrinsic_depth.txt``
  (4x4) and ``<scene>/pose/<i>.txt`` (4x4 cam2world). ``data_root`` is one scene or a folder of
  scenes. The colour image (1296x968) is resized to the depth grid (640x480) at load time and
  the depth intrinsics are used.
- ``'redwood'``: the Redwood / Open3D layout: ``color/*.jpg``, ``depth/*.png`` (uint16 mm),
  ``camera_primesense.json`` (Open3D ``PinholeCameraIntrinsic``: ``intrinsic_matrix`` is the 3x3
  matrix in column-major order), optional ``rgbd.match`` (``depth_path color_path`` per line) and
  ``trajectory.log`` (per frame a ``id id id`` line and a 4x4 cam2world matrix).
- ``'single'``: an explicit ``frame_list`` of dicts with ``img_path``, ``depth_path`` and any
  per-frame override of ``depth_format`` / ``depth_scale`` / ``invalid_depth`` / ``cam2img``
  (``[fx, fy, cx, cy]`` or 3x3), e.g. the NYU / SUN / TUM frames of ``other_formats``.

Each data info holds ``img_path``, ``depth_path``, ``depth_format``, ``depth_scale`` (raw units
per metre), ``invalid_depth``, ``cam2img`` (3x3 float, px), optional ``cam2world`` (4x4) and
``sample_idx``; the depth conventions are documented in
:mod:`mim3d_plugin.datasets.transforms.rgbd_loading`.
"""
import glob
import json
import os
import os.path as osp
from typing import List, Optional, Sequence, Union

import numpy as np
from mmdet3d.registry import DATASETS
from mmengine.dataset import BaseDataset

LAYOUTS = ('scannet', 'redwood', 'single')


def _as_cam2img(value: Union[Sequence[float], np.ndarray], where: str) -> np.ndarray:
    """``[fx, fy, cx, cy]``, 3x3 or 4x4 -> (3, 3) float64 intrinsics."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape == (4, ):
        fx, fy, cx, cy = arr
        return np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], dtype=np.float64)
    if arr.shape in ((3, 3), (4, 4)):
        return arr[:3, :3].copy()
    raise ValueError(f'{where}: intrinsics must be [fx, fy, cx, cy], 3x3 or 4x4, '
                     f'got shape {arr.shape}')


def read_trajectory_log(path: str) -> List[np.ndarray]:
    """Read an Open3D/Redwood ``trajectory.log``: a list of 4x4 cam2world matrices."""
    with open(path) as f:
        rows = [ln.split() for ln in f if ln.strip()]
    if len(rows) % 5:
        raise ValueError(f'{path}: expected blocks of 5 lines (header + 4x4), got {len(rows)}')
    return [np.array(rows[i + 1:i + 5], dtype=np.float64) for i in range(0, len(rows), 5)]


@DATASETS.register_module()
class RGBDFrameDataset(BaseDataset):
    """Dataset of single RGB-D frames for Mask3D pretraining and depth evaluation.

    Args:
        layout (str): ``'scannet'``, ``'redwood'`` or ``'single'`` (module docstring).
        data_root (str): dataset folder.
        frame_list (list[dict], optional): frames of the ``'single'`` layout (paths relative to
            ``data_root``).
        depth_format (str): default depth encoding, ``'uint16'`` / ``'sun'`` / ``'nyu_raw'``.
        depth_scale (float): raw depth units per metre (1000: mm; 5000: TUM).
        invalid_depth (int, optional): raw value marking missing depth. Defaults to 0.
        cam2img (list | np.ndarray, optional): intrinsics overriding the layout's file.
        frame_interval (int): keep every ``frame_interval``-th frame (ScanNet exports are 30 Hz;
            Pri3D/Mask3D-style subsampling). Defaults to 1.
        indices (int | Sequence[int], optional): frames kept after listing (train/held-out
            splits), as in :class:`mmengine.dataset.BaseDataset`.
        pipeline (list): data transforms.
        test_mode (bool): evaluation mode.

    Raises:
        FileNotFoundError: a folder/file the layout needs is missing or no frame is found.
        ValueError: unknown layout or malformed intrinsics / trajectory.
    """

    METAINFO = dict(classes=())

    def __init__(self,
                 layout: str,
                 data_root: str,
                 frame_list: Optional[List[dict]] = None,
                 depth_format: str = 'uint16',
                 depth_scale: float = 1000.,
                 invalid_depth: Optional[int] = 0,
                 cam2img: Optional[Union[Sequence[float], np.ndarray]] = None,
                 frame_interval: int = 1,
                 **kwargs) -> None:
        if layout not in LAYOUTS:
            raise ValueError(f'RGBDFrameDataset.layout must be one of {LAYOUTS}, got {layout!r}')
        if layout == 'single' and not frame_list:
            raise ValueError("RGBDFrameDataset: layout='single' needs a non-empty frame_list")
        self.layout = layout
        self.frame_list = frame_list
        self.depth_format = depth_format
        self.depth_scale = depth_scale
        self.invalid_depth = invalid_depth
        self.cam2img_override = cam2img
        self.frame_interval = int(frame_interval)
        super().__init__(data_root=data_root, **kwargs)

    def _defaults(self) -> dict:
        return dict(
            depth_format=self.depth_format,
            depth_scale=float(self.depth_scale),
            invalid_depth=self.invalid_depth,
            layout=self.layout)

    def _check_dir(self, path: str, what: str) -> None:
        if not osp.isdir(path):
            raise FileNotFoundError(f'RGBDFrameDataset({self.layout}): {what} folder not found: '
                                    f'{path}')

    def _load_redwood(self, root: str) -> List[dict]:
        for sub in ('color', 'depth'):
            self._check_dir(osp.join(root, sub), sub)
        match = osp.join(root, 'rgbd.match')
        if osp.isfile(match):
            with open(match) as f:
                pairs = [ln.split()[:2] for ln in f if ln.strip()]
            pairs = [(osp.join(root, c), osp.join(root, d)) for d, c in pairs]
        else:
            colors = sorted(glob.glob(osp.join(root, 'color', '*')))
            depths = sorted(glob.glob(osp.join(root, 'depth', '*.png')))
            if len(colors) != len(depths):
                raise ValueError(f'{root}: {len(colors)} colour but {len(depths)} depth images '
                                 'and no rgbd.match to pair them')
            pairs = list(zip(colors, depths))
        intr_file = osp.join(root, 'camera_primesense.json')
        if self.cam2img_override is not None:
            k = _as_cam2img(self.cam2img_override, 'cam2img')
        elif osp.isfile(intr_file):
            with open(intr_file) as f:
                meta = json.load(f)
            # Open3D stores the 3x3 matrix column-major
            k = np.asarray(meta['intrinsic_matrix'], dtype=np.float64).reshape(3, 3).T
        else:
            raise FileNotFoundError(f'{intr_file} not found and no cam2img given')
        traj_file = osp.join(root, 'trajectory.log')
        poses = read_trajectory_log(traj_file) if osp.isfile(traj_file) else None
        infos = []
        for i, (c, d) in enumerate(pairs):
            info = dict(img_path=c, depth_path=d, cam2img=k.copy(), **self._defaults())
            if poses is not None and i < len(poses):
                info['cam2world'] = poses[i]
            infos.append(info)
        return infos

    def _load_scannet_scene(self, scene: str) -> List[dict]:
        for sub in ('color', 'depth'):
            self._check_dir(osp.join(scene, sub), sub)
        if self.cam2img_override is not None:
            k = _as_cam2img(self.cam2img_override, 'cam2img')
        else:
            intr = osp.join(scene, 'intrinsic', 'intrinsic_depth.txt')
            if not osp.isfile(intr):
                raise FileNotFoundError(f'{intr} not found (ScanNet export with '
                                        '--export_intrinsics) and no cam2img given')
            k = _as_cam2img(np.loadtxt(intr), intr)
        stems = sorted((osp.splitext(f)[0] for f in os.listdir(osp.join(scene, 'depth')) if f.endswith('.png')),
                       key=lambda s: int(s) if s.isdigit() else s)
        infos = []
        for stem in stems[::self.frame_interval]:
            color = osp.join(scene, 'color', stem + '.jpg')
            info = dict(
                img_path=color,
                depth_path=osp.join(scene, 'depth', stem + '.png'),
                cam2img=k.copy(),
                align_color_to_depth=True,
                **self._defaults())
            pose = osp.join(scene, 'pose', stem + '.txt')
            if osp.isfile(pose):
                cam2world = np.loadtxt(pose)
                if not np.all(np.isfinite(cam2world)):  # ScanNet marks lost tracking with -inf
                    continue
                info['cam2world'] = cam2world
            infos.append(info)
        return infos

    def load_data_list(self) -> List[dict]:
        root = self.data_root
        if self.layout == 'redwood':
            infos = self._load_redwood(root)
            infos = infos[::self.frame_interval]
        elif self.layout == 'scannet':
            if osp.isdir(osp.join(root, 'color')):
                scenes = [root]
            else:
                self._check_dir(root, 'ScanNet root')
                scenes = sorted(osp.join(root, s) for s in os.listdir(root) if osp.isdir(osp.join(root, s, 'color')))
            infos = [i for s in scenes for i in self._load_scannet_scene(s)]
        else:
            infos = []
            for j, fr in enumerate(self.frame_list):
                for key in ('img_path', 'depth_path'):
                    if key not in fr:
                        raise ValueError(f'frame_list[{j}] lacks {key!r}')
                info = self._defaults()
                info.update({k: v for k, v in fr.items() if k != 'cam2img'})
                info['img_path'] = osp.join(root, fr['img_path'])
                info['depth_path'] = osp.join(root, fr['depth_path'])
                k = fr.get('cam2img', self.cam2img_override)
                if k is None:
                    raise ValueError(f'frame_list[{j}] ({fr["img_path"]}) has no cam2img and '
                                     'the dataset has no default cam2img')
                info['cam2img'] = _as_cam2img(k, f'frame_list[{j}].cam2img')
                infos.append(info)
        if not infos:
            raise FileNotFoundError(f'RGBDFrameDataset({self.layout}): no frame found under '
                                    f'{root}')
        for i, info in enumerate(infos):
            info['sample_idx'] = i
        return infos
