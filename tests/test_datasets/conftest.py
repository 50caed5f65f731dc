"""Fixtures of the dataset tests: real nuScenes paths and a small synthetic multi-view frame."""
import os.path as osp

import numpy as np
import pytest

from mim3d_plugin.datasets.converters import NUSCENES_CAMERAS


@pytest.fixture(scope='session')
def nus_data_prefix(nus_root: str) -> dict:
    """``data_prefix`` of NuScenesMultiViewDataset for the bundled data (``data_root=''``)."""
    prefix = dict(pts=osp.join(nus_root, 'samples', 'LIDAR_TOP'))
    prefix.update({cam: osp.join(nus_root, 'samples', cam) for cam in NUSCENES_CAMERAS})
    return prefix


def synthetic_camera(height: int, width: int, yaw_deg: float) -> tuple:
    """(cam2img (3, 3), lidar2cam (4, 4)) of a camera at the LiDAR origin looking along ``yaw_deg`` in the BEV."""
    f = 0.8 * width
    cam2img = np.array([[f, 0, width / 2 - 3.3], [0, f, height / 2 + 2.1], [0, 0, 1.0]])
    yaw = np.deg2rad(yaw_deg)
    fwd = np.array([np.cos(yaw), np.sin(yaw), 0.0])
    right = np.array([np.sin(yaw), -np.cos(yaw), 0.0])
    down = np.array([0.0, 0.0, -1.0])
    lidar2cam = np.eye(4)
    lidar2cam[:3, :3] = np.stack([right, down, fwd])
    lidar2cam[:3, 3] = [0.1, 0.2, -0.3]
    return cam2img, lidar2cam


def smooth_image(height: int, width: int, seed: int) -> np.ndarray:
    """(H, W, 3) uint8 colour pattern of 16-32 px periods: resampling changes it little, a few px shift a lot."""
    rng = np.random.RandomState(seed)
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    chans = []
    for _ in range(3):
        pu, pv, ph = rng.uniform(16, 32), rng.uniform(16, 32), rng.uniform(0, 6.28)
        chans.append(127.5 + 100 * np.sin(2 * np.pi * u / pu + ph) * np.cos(2 * np.pi * v / pv + ph / 2))
    return np.clip(np.stack(chans, -1), 0, 255).astype(np.uint8)


@pytest.fixture
def synthetic_results() -> dict:
    """Pipeline results after LoadMultiViewImages for 3 synthetic views of 180x320 px (no files)."""
    from mim3d_plugin.datasets.transforms.load_multiview_images import pad_to_4x4
    height, width = 180, 320
    cams = [synthetic_camera(height, width, yaw) for yaw in (0.0, 120.0, -120.0)]
    cam2img = [pad_to_4x4(c[0]) for c in cams]
    lidar2cam = [c[1] for c in cams]
    return dict(
        img=[smooth_image(height, width, seed) for seed in range(3)],
        cam2img=cam2img,
        ori_cam2img=[c.copy() for c in cam2img],
        lidar2cam=lidar2cam,
        lidar2img=[k @ e for k, e in zip(cam2img, lidar2cam)],
        img_aug_matrix=[np.eye(4)] * 3,
        img_shape=(height, width),
        ori_shape=(height, width),
        lidar_path='synthetic.bin')
