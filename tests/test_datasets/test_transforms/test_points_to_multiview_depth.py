"""PointsToMultiViewDepth: depth maps equal a naive per-pixel nearest-point projection."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmdet3d.structures import LiDARPoints

from mim3d_plugin.datasets.transforms import MultiViewImageAug, PointsToMultiViewDepth


def _naive_depth(points, lidar2img, shape, min_depth=None, max_depth=None):
    h, w = shape
    out = np.zeros((len(lidar2img), h, w))
    for n, mat in enumerate(lidar2img):
        cam = np.concatenate([points, np.ones((len(points), 1))], 1) @ np.asarray(mat).T
        for x, y, z in cam[:, :3]:
            if z <= 1e-3 or (min_depth is not None and z < min_depth) or (max_depth is not None and z > max_depth):
                continue
            u, v = x / z, y / z
            if 0 <= u < w and 0 <= v < h:
                r, c = int(np.floor(v)), int(np.floor(u))
                if out[n, r, c] == 0 or z < out[n, r, c]:
                    out[n, r, c] = z
    return out


def _with_points(results, n=3000, seed=0):
    rng = np.random.RandomState(seed)
    pts = np.concatenate([rng.uniform(-40, 40, (n, 2)), rng.uniform(-3, 3, (n, 1)), rng.rand(n, 2)], 1)
    results = dict(results)
    results['points'] = LiDARPoints(torch.as_tensor(pts, dtype=torch.float32), points_dim=5)
    return results


@pytest.mark.parametrize('depth_range', [(None, None), (5.0, 25.0)])
def test_matches_naive_projection(synthetic_results, depth_range):
    np.random.seed(0)
    res = MultiViewImageAug(final_dim=(48, 96))(_with_points(synthetic_results))
    out = PointsToMultiViewDepth(*depth_range)(res)
    depth = out['depth']
    assert depth.shape == (3, 48, 96) and depth.dtype == np.float32
    expect = _naive_depth(res['points'].tensor[:, :3].double().numpy(), res['lidar2img'], (48, 96), *depth_range)
    assert (expect > 0).sum() > 100
    np.testing.assert_allclose(depth, expect, atol=1e-4)
    if depth_range[0] is not None:
        assert depth[depth > 0].min() >= 5.0 and depth.max() <= 25.0


def test_nan_points_and_bad_range(synthetic_results):
    res = _with_points(synthetic_results)
    res['points'].tensor[3, 0] = float('inf')
    with pytest.raises(ValueError, match=r'NaN/inf.*synthetic\.bin'):
        PointsToMultiViewDepth()(res)
    with pytest.raises(ValueError, match='min_depth'):
        PointsToMultiViewDepth(10.0, 5.0)


@pytest.mark.slow
def test_real_frame(nus_infos, nus_data_prefix):
    from mmengine.registry import init_default_scope

    from mim3d_plugin.datasets import NuScenesMultiViewDataset
    init_default_scope('mmdet3d')
    pipeline = [
        dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5),
        dict(type='LoadMultiViewImages', num_views=6),
        dict(type='MultiViewImageAug', final_dim=(128, 352), test_mode=True),
        dict(type='PointsToMultiViewDepth', max_depth=60.0)
    ]
    ds = NuScenesMultiViewDataset(
        data_root='',
        ann_file=osp.join(nus_infos, 'nuscenes_infos_val.pkl'),
        data_prefix=nus_data_prefix,
        pipeline=pipeline,
        test_mode=True)
    out = ds[5]
    depth = out['depth']
    assert depth.shape == (6, 128, 352)
    for n in range(6):  # every camera sees LiDAR points, at plausible depths
        hit = depth[n][depth[n] > 0]
        assert hit.size > 500 and hit.min() > 0.5 and hit.max() <= 60.0


@pytest.mark.slow
def test_depth_targets_from_the_sweeps_the_teacher_sees(nus_infos, tmp_path):
    """Official GeoMIM depth targets (depth_lss_gt.py) come from the key frame + sweeps the teacher is fed. A stand-in
    sweep file (a wall 10 m ahead in its own LiDAR frame, 2 m further back in the key frame by its lidar2sensor) on a
    bundled frame: loaded before the depth maps, its points are in the maps exactly where the naive projection of the
    moved wall puts them (nearest point per pixel with the key frame's points); max_time_lag=0 keeps the key frame;
    max_time_lag without LoadLiDARSweeps before it is refused."""
    import copy

    import mmengine
    from mmdet3d.datasets.transforms import LoadPointsFromFile

    from mim3d_plugin.datasets.transforms import LoadLiDARSweeps, LoadMultiViewImages
    root = osp.normpath(osp.join(osp.dirname(__file__), '..', '..', '..', '..', 'shared', 'data', 'nuscenes'))
    info = mmengine.load(osp.join(nus_infos, 'nuscenes_infos_train.pkl'))['data_list'][5]
    results = dict(
        copy.deepcopy(info),
        lidar_path=osp.join(root, 'samples/LIDAR_TOP', info['lidar_points']['lidar_path']),
        timestamp=info['timestamp'])
    results['lidar_points']['lidar_path'] = results['lidar_path']
    for cam, img in results['images'].items():
        img['img_path'] = osp.join(root, 'samples', cam, img['img_path'])
    xs, zs = np.meshgrid(np.arange(-3, 3, 0.05), np.arange(-1.5, 1.0, 0.05))
    wall = np.stack([xs.ravel(), np.full(xs.size, 10.0), zs.ravel(), np.ones(xs.size), np.zeros(xs.size)], 1)
    sweep_file = tmp_path / 'sweep.bin'
    wall.astype(np.float32).tofile(sweep_file)
    lidar2sensor = np.eye(4)
    lidar2sensor[:3, 3] = [0.0, -2.0, 0.0]  # mmdet3d: p_key = p_sweep @ R - t -> the wall at y = 12 m
    results['lidar_sweeps'] = [
        dict(
            lidar_points=dict(lidar_path=str(sweep_file), lidar2sensor=lidar2sensor.tolist()),
            timestamp=info['timestamp'] - 0.05,
            sample_data_token='stand-in')
    ]
    load = [
        LoadPointsFromFile(coord_type='LIDAR', load_dim=5, use_dim=5),
        LoadLiDARSweeps(sweeps_num=9, load_dim=5, use_dim=[0, 1, 2, 3, 4], pad_empty_sweeps=True, remove_close=True),
        LoadMultiViewImages(num_views=6),
        MultiViewImageAug(final_dim=(128, 352), resize_lim=(-0.03, 0.055), test_mode=True)
    ]
    for t in load:
        results = t(results)
    points = results['points'].tensor
    key = points[points[:, 4] == 0, :3].double().numpy()
    sweep = points[points[:, 4] > 0]
    assert len(sweep) == len(wall) and torch.allclose(sweep[:, 4], torch.tensor(0.05))
    moved = wall[:, :3] + [0.0, 2.0, 0.0]
    assert np.abs(sweep[:, :3].numpy() - moved).max() < 1e-5
    all_maps = PointsToMultiViewDepth()(copy.deepcopy(results))['depth']
    key_maps = PointsToMultiViewDepth(max_time_lag=0)(copy.deepcopy(results))['depth']
    from mim3d_plugin.geometry import points_to_depth_map
    lidar2img = torch.as_tensor(np.stack(results['lidar2img']))
    shape = tuple(results['img_shape'][:2])
    expect_key = points_to_depth_map(torch.as_tensor(key), lidar2img, shape).numpy()
    wall_maps = points_to_depth_map(torch.as_tensor(moved), lidar2img, shape).numpy()
    expect_all = np.where((expect_key > 0) & ((wall_maps == 0) | (expect_key < wall_maps)), expect_key, wall_maps)
    np.testing.assert_allclose(key_maps, expect_key, atol=1e-4)
    np.testing.assert_allclose(all_maps, expect_all, atol=1e-4)
    changed = (all_maps != key_maps).sum()
    assert changed > 500  # the wall fills pixels of the front cameras the key frame left empty or farther
    no_sweeps = copy.deepcopy(results)
    del no_sweeps['num_lidar_sweeps']
    with pytest.raises(KeyError, match='needs LoadLiDARSweeps'):
        PointsToMultiViewDepth(max_time_lag=0)(no_sweeps)
