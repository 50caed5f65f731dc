"""The nuScenes multi-view dataset base configs build their datasets, pipelines and evaluators."""
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MINI = osp.join(ROOT, 'configs', '_base_', 'datasets', 'nus-mv-mini.py')
FULL = osp.join(ROOT, 'configs', '_base_', 'datasets', 'nus-mv.py')


def test_paper_scale_config():
    cfg = Config.fromfile(FULL)
    assert cfg.default_scope == 'mmdet3d' and cfg.final_dim == (256, 704) and cfg.num_views == 6
    ds = cfg.train_dataloader.dataset
    assert ds.type == 'NuScenesMultiViewDataset' and ds.data_root == 'data/nuscenes/'
    assert ds.data_prefix.CAM_FRONT == 'samples/CAM_FRONT' and ds.data_prefix.pts == 'samples/LIDAR_TOP'
    assert cfg.val_evaluator.type == 'NuScenesMetric' and cfg.val_evaluator.metric == 'bbox'
    assert cfg.val_evaluator.ann_file == 'data/nuscenes/nuscenes_infos_val.pkl'
    aug = [t for t in cfg.train_pipeline if t.type == 'MultiViewImageAug'][0]
    assert tuple(aug.final_dim) == (256, 704)


@pytest.mark.slow
def test_mini_config_builds_and_loads(nus_infos, monkeypatch):
    from mmdet3d.registry import DATASETS, METRICS
    monkeypatch.chdir(ROOT)  # config paths are relative to the repo root
    cfg = Config.fromfile(MINI)
    init_default_scope('mmdet3d')
    train = DATASETS.build(cfg.train_dataloader.dataset)
    val = DATASETS.build(cfg.val_dataloader.dataset)
    assert (len(train), len(val)) == (40, 41) and val.metainfo['version'] == 'v1.0-mini'
    sample = train[0]
    assert sample['inputs']['img'].shape == (6, 3) + tuple(cfg.final_dim)
    assert sample['inputs']['depth'].shape == (6, ) + tuple(cfg.final_dim)
    assert sample['data_samples'].metainfo['lidar2img'].shape == (6, 4, 4)
    sample = val[0]
    assert sample['data_samples'].metainfo['sample_idx'] == 0 and 'depth' in sample['inputs']
    metric = METRICS.build(cfg.val_evaluator)
    assert osp.isfile(metric.ann_file) and osp.isdir(osp.join(metric.data_root, 'v1.0-mini'))
