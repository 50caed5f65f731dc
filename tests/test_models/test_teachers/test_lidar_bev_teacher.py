"""Tests of ``LiDARBEVTeacher`` on mmdet3d's nuScenes CenterPoint configs (pillar 0.2 m, voxel 0.075 m, CPU spconv)."""
import glob
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmcv.ops import Voxelization
from mmdet3d.registry import MODELS
from mmengine.hub import get_config
from mmengine.model import BaseModule

import mim3d_plugin  # noqa: F401  (registers the modules)
from mim3d_plugin.geometry import VoxelGrid

PILLAR = 'mmdet3d::centerpoint/centerpoint_pillar02_second_secfpn_8xb4-cyclic-20e_nus-3d.py'
VOXEL = 'mmdet3d::centerpoint/centerpoint_voxel0075_second_secfpn_8xb4-cyclic-20e_nus-3d.py'
LIDAR_DIR = osp.join(osp.dirname(__file__), '../../../../shared/data/nuscenes/samples/LIDAR_TOP')


def detector_cfg(name):
    return get_config(name).model


@pytest.fixture(scope='module')
def pillar_teacher():
    return MODELS.build(dict(type='LiDARBEVTeacher', detector=detector_cfg(PILLAR)))


@pytest.fixture(scope='module')
def voxel_teacher():
    return MODELS.build(dict(type='LiDARBEVTeacher', detector=detector_cfg(VOXEL)))


def cluster(center, n=20, spread=0.02, seed=0):
    """(n, 5) nuScenes-style points (x, y, z, intensity, time lag) around ``center`` (m)."""
    gen = torch.Generator().manual_seed(seed)
    xyz = torch.tensor(center) + (torch.rand(n, 3, generator=gen) * 2 - 1) * spread
    return torch.cat([xyz, torch.rand(n, 1, generator=gen) * 50, torch.zeros(n, 1)], dim=1)


def occupied_cells(feats):
    """(K, 3) indices (b, row, col) of BEV cells with a non-zero feature."""
    return (feats.abs().sum(1) > 0).nonzero()


def test_pillar_bev_layout_matches_voxel_grid(pillar_teacher):
    """A cluster of points lights up exactly the pillar that VoxelGrid assigns it, at (row = y, col = x)."""
    grid = VoxelGrid([-51.2, -51.2, -5.0, 51.2, 51.2, 3.0], [0.2, 0.2, 8.0])
    centers = [(20.3, -10.1, 0.0), (-33.5, 41.7, -1.0)]
    out = pillar_teacher([cluster(centers[0]), cluster(centers[1], seed=1)])
    assert out.shape == (2, 64, 512, 512) and not out.requires_grad
    for b, center in enumerate(centers):
        flat, valid = grid.flat_index(torch.tensor(center))
        assert valid
        row, col = divmod(int(flat), 512)  # (Z=1, Y, X) layout
        assert occupied_cells(out[b:b + 1]).tolist() == [[0, row, col]]
    assert (row, col) == (int((41.7 + 51.2) / 0.2), int((-33.5 + 51.2) / 0.2))


def test_voxel0075_sparse_encoder_shape_and_layout(voxel_teacher):
    """Sparse-encoder output is (256, 180, 180) (128 ch x 2 z levels, stride 8 of 1440); rows = y, cols = x."""
    center = (20.3, -10.1, 0.5)
    out = voxel_teacher([cluster(center, n=50, spread=0.1)])
    assert out.shape == (1, 256, 180, 180)
    bev_grid = VoxelGrid([-54., -54., -5., 54., 54., 3.], [0.6, 0.6, 8.0])  # 0.075 m x stride 8
    flat, _ = bev_grid.flat_index(torch.tensor(center))
    row, col = divmod(int(flat), 180)
    cells = occupied_cells(out)[:, 1:].float()
    assert len(cells) > 0
    # strided sparse convs spread one site by at most one output cell
    assert (cells - torch.tensor([row, col])).abs().max() <= 1
    weights = out[0].abs().sum(0)[cells[:, 0].long(), cells[:, 1].long()]
    centroid = (cells * weights[:, None]).sum(0) / weights.sum()
    assert (centroid - torch.tensor([row, col])).abs().max() < 1


def test_frozen_and_always_eval(pillar_teacher):
    assert all(not p.requires_grad for p in pillar_teacher.parameters())
    parent = torch.nn.ModuleDict(dict(teacher=pillar_teacher, student=torch.nn.Linear(2, 2)))
    parent.train()
    assert parent['student'].training
    assert not any(m.training for m in pillar_teacher.modules())
    before = {k: v.clone() for k, v in pillar_teacher.state_dict().items() if 'running' in k}
    pillar_teacher([cluster((5., 5., 0.))])
    for k, v in pillar_teacher.state_dict().items():
        if k in before:
            assert torch.equal(v, before[k]), k  # BN statistics are not updated


def test_stages_and_errors():
    cfg = detector_cfg(PILLAR)
    neck = MODELS.build(dict(type='LiDARBEVTeacher', detector=cfg, stage='neck'))
    assert neck.stage == 'pts_neck'
    assert neck([cluster((3., 4., 0.))]).shape == (1, 384, 128, 128)
    backbone = MODELS.build(dict(type='LiDARBEVTeacher', detector=cfg, stage='pts_backbone', out_level=2))
    assert backbone([cluster((3., 4., 0.))]).shape == (1, 256, 64, 64)
    with pytest.raises(ValueError, match=r"available stages: \['pts_middle_encoder', 'pts_backbone', 'pts_neck'\]"):
        MODELS.build(dict(type='LiDARBEVTeacher', detector=cfg, stage='pts_bbox_head'))
    plain = MODELS.build(dict(type='LiDARBEVTeacher', detector=cfg))
    assert not plain.transpose_xy  # automatic: CenterPoint's scatter is already (Y, X)
    transposed = MODELS.build(dict(type='LiDARBEVTeacher', detector=cfg, transpose_xy=True))
    transposed.load_state_dict(plain.state_dict())
    pts = [cluster((3., 4., 0.))]
    torch.testing.assert_close(transposed(pts), plain(pts).transpose(-1, -2))
    with pytest.raises(ValueError, match='not a voxel-based LiDAR detector'):
        MODELS.build(
            dict(
                type='LiDARBEVTeacher',
                detector=dict(type='SECOND', in_channels=4, out_channels=[8], layer_nums=[1], layer_strides=[1])))


def test_checkpoint_loading(tmp_path, pillar_teacher):
    cfg = detector_cfg(PILLAR)
    state = {
        k: v + 0.01 * torch.randn_like(v) if v.is_floating_point() else v
        for k, v in pillar_teacher.detector.state_dict().items()
    }
    torch.save(dict(state_dict=state), tmp_path / 'det.pth')
    teacher = MODELS.build(dict(type='LiDARBEVTeacher', detector=cfg, checkpoint=str(tmp_path / 'det.pth')))
    parent = BaseModule()
    parent.teacher = teacher
    parent.init_weights()  # a parent's init must keep the loaded weights
    for k, v in teacher.detector.state_dict().items():
        torch.testing.assert_close(v, state[k], msg=k)
    assert all(not p.requires_grad for p in parent.parameters())
    partial = {k: v for k, v in state.items() if not k.startswith('pts_voxel_encoder')}
    torch.save(dict(state_dict=partial), tmp_path / 'bad.pth')
    with pytest.raises(ValueError, match='lacks .* weights'):
        MODELS.build(dict(type='LiDARBEVTeacher', detector=cfg, checkpoint=str(tmp_path / 'bad.pth')))


def load_nuscenes_points():
    files = sorted(glob.glob(osp.join(LIDAR_DIR, '*.pcd.bin')))
    if not files:
        pytest.skip(f'no nuScenes LiDAR frames under {LIDAR_DIR} (../shared/data absent)')
    # mmdet3d LoadPointsFromFile(load_dim=5, use_dim=5): float32 x, y, z, intensity, ring/time
    return torch.from_numpy(np.fromfile(files[0], dtype=np.float32).reshape(-1, 5).copy())


@pytest.mark.slow
@pytest.mark.realdata
def test_real_nuscenes_frame(pillar_teacher, voxel_teacher):
    points = load_nuscenes_points()
    pillars = pillar_teacher([points])
    assert pillars.shape == (1, 64, 512, 512)
    grid = VoxelGrid([-51.2, -51.2, -5.0, 51.2, 51.2, 3.0], [0.2, 0.2, 8.0])
    flat, valid = grid.flat_index(points[:, :3])
    expected = torch.zeros(512 * 512, dtype=torch.bool)
    expected[flat[valid]] = True
    lit = pillars[0].abs().sum(0).flatten() > 0
    assert not (lit & ~expected).any()  # only occupied pillars carry features
    assert lit.sum() >= 0.9 * expected.sum()
    bev = voxel_teacher([points])
    assert bev.shape == (1, 256, 180, 180) and torch.isfinite(bev).all()
    grid = VoxelGrid([-54., -54., -5., 54., 54., 3.], [0.6, 0.6, 8.0])
    flat, valid = grid.flat_index(points[:, :3])
    occupied = torch.zeros(180 * 180)
    occupied[flat[valid]] = 1
    near = F.max_pool2d(occupied.view(1, 1, 180, 180), 3, 1, 1).flatten() > 0
    lit = bev[0].abs().sum(0).flatten() > 0
    assert not (lit & ~near).any() and lit.sum() >= 0.5 * occupied.sum()


class _BEVFusionStyleDetector(BaseModule):
    """BEVFusion-L layout: the detector voxelizes itself (mean of the points of each voxel), no voxel encoder."""

    def __init__(self):
        super().__init__()
        self.pts_voxel_layer = Voxelization(
            voxel_size=[0.5, 0.5, 8.],
            point_cloud_range=[-8., -8., -5., 8., 8., 3.],
            max_num_points=10,
            max_voxels=1000)
        self.pts_voxel_encoder = None
        self.pts_middle_encoder = MODELS.build(dict(type='PointPillarsScatter', in_channels=5, output_shape=(32, 32)))

    def voxelize(self, points):
        feats, coords, sizes = [], [], []
        for b, pts in enumerate(points):
            voxels, coors, num = self.pts_voxel_layer(pts)
            feats.append(voxels.sum(1) / num.view(-1, 1))
            coords.append(F.pad(coors, (1, 0), value=b))
            sizes.append(num)
        return torch.cat(feats), torch.cat(coords), torch.cat(sizes)


def test_detector_with_own_voxelize_and_no_voxel_encoder():
    teacher = MODELS.build(dict(type='LiDARBEVTeacher', detector=dict(type=_BEVFusionStyleDetector)))
    points = torch.tensor([[1.1, -2.2, 0.3, 10., 0.], [1.3, -2.4, 0.5, 30., 0.]])
    out = teacher([points])
    assert out.shape == (1, 5, 32, 32)
    # voxel (x = floor(9.1 / 0.5) = 18, y = floor(5.8 / 0.5) = 11) holds the mean of both points
    assert occupied_cells(out).tolist() == [[0, 11, 18]]
    torch.testing.assert_close(out[0, :, 11, 18], points.mean(0))
