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
