"""LoadLiDARSweeps: the LiDAR teacher's input in the format of mmdet3d's nuScenes detectors."""
import copy
import os.path as osp

import mmdet3d
import numpy as np
import pytest
from mmdet3d.registry import DATASETS, TRANSFORMS
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mim3d_plugin  # noqa: F401

init_default_scope('mmdet3d')
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
GEOMIM_MINI = osp.join(ROOT, 'configs/geomim/geomim_swin-w64-d1121_1xb1-8e_nus-mini.py')
CENTERPOINT = osp.join(
    osp.dirname(mmdet3d.__file__), '.mim', 'configs', 'centerpoint',
    'centerpoint_voxel0075_second_secfpn_8xb4-cyclic-20e_nus-3d.py')


def test_teacher_sweep_loading_matches_the_mmdet3d_centerpoint_training_pipeline():
    if not osp.isfile(CENTERPOINT):
        pytest.skip(f'mmdet3d config not installed: {CENTERPOINT}')
    ref = Config.fromfile(CENTERPOINT)
    ref_sweeps = next(t for t in ref.train_pipeline if t['type'] == 'LoadPointsFromMultiSweeps')
    ref_points = next(t for t in ref.train_pipeline if t['type'] == 'LoadPointsFromFile')
    for cfg_path in (GEOMIM_MINI, osp.join(ROOT, 'configs/geomim/geomim_swin-b_16xb2-50e_nus.py')):
        ds = Config.fromfile(cfg_path).train_dataloader.dataset
        pipeline = ds.get('dataset', ds).pipeline  # the paper config wraps the dataset in CBGSDataset
        types = [t['type'] for t in pipeline]
        ours = pipeline[types.index('LoadLiDARSweeps')]
        points = pipeline[types.index('LoadPointsFromFile')]
        for key in ('sweeps_num', 'use_dim', 'pad_empty_sweeps', 'remove_close'):
            assert ours[key] == ref_sweeps[key], (cfg_path, key)
        assert (points['load_dim'], points['use_dim']) == (ref_points['load_dim'], ref_points['use_dim'])
        # depth targets are made from the same range-filtered multi-sweep points the teacher sees (official
        # GeoMIM depth_lss_gt.py), all sweeps kept
        assert types.index('LoadLiDARSweeps') < types.index('PointsRangeFilter') < types.index('PointsToMultiViewDepth')
        assert pipeline[types.index('PointsToMultiViewDepth')].get('max_time_lag') is None


@pytest.mark.slow
def test_key_frame_time_lag_is_zero_not_the_ring_index_and_sweeps_carry_their_lag(nus_infos, tmp_path):
    cfg = Config.fromfile(GEOMIM_MINI)
    ds = DATASETS.build(cfg.train_dataloader.dataset)
    info = ds.get_data_info(3)
    raw = np.fromfile(info['lidar_points']['lidar_path'], dtype=np.float32).reshape(-1, 5)
    assert raw[:, 4].max() >= 20  # the .pcd.bin column 4 is the ring index
    out = ds[3]
    pts = out['inputs']['points'].numpy()
    # the pipeline range-filters the points to the teacher's range after the sweeps are appended
    lo, hi = np.asarray(cfg.teacher_range[:3]), np.asarray(cfg.teacher_range[3:])
    in_range = ((raw[:, :3] > lo) & (raw[:, :3] < hi)).all(1)
    n_key = int(in_range.sum())
    assert 0 < n_key < len(raw)
    assert (pts[:n_key, 4] == 0).all()  # the key frame's time lag, not its ring index
    # the bundled infos list, of the 10 scans before a key frame, only the previous key frame's (the sweep
    # files are absent): it is appended, motion-compensated, with its lag of 0.5 s
    lags = np.unique(pts[n_key:, 4])
    assert len(info['lidar_sweeps']) == 1
    assert np.allclose(lags, info['timestamp'] - info['lidar_sweeps'][0]['timestamp'])
    # a frame with one sweep (another key frame's scan standing in, 0.05 s earlier, identity motion)
    load = TRANSFORMS.build(dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5))
    sweeps = TRANSFORMS.build(dict(cfg.lidar_sweeps))
    results = load(copy.deepcopy(dict(lidar_points=info['lidar_points'], timestamp=info['timestamp'])))
    other = ds.get_data_info(4)['lidar_points']['lidar_path']
    results['lidar_sweeps'] = [
        dict(timestamp=info['timestamp'] - 0.05, lidar_points=dict(lidar_path=other, lidar2sensor=np.eye(4).tolist()))
    ]
    results = sweeps(results)
    lag = results['points'].tensor[:, 4].numpy()
    assert results['num_lidar_sweeps'] == 1
    assert (lag[:len(raw)] == 0).all() and np.allclose(lag[len(raw):], 0.05, atol=1e-6) and len(lag) > len(raw)
