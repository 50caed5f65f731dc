"""The nuScenes multi-view dataset base configs build their datasets, pipelines and evaluators: pretraining (training
split only), detection (train / val, the devkit metric) and the mini overlay of the bundled tables."""
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BASES = osp.join(ROOT, 'configs', '_base_', 'datasets')
MINI = osp.join(BASES, 'nus-mv-mini.py')
PRETRAIN = osp.join(BASES, 'nus-mv-pretrain.py')
DET = osp.join(BASES, 'nus-mv-det.py')


def test_paper_scale_configs():
    for path in (PRETRAIN, DET):
        cfg = Config.fromfile(path)
        assert cfg.default_scope == 'mmdet3d' and cfg.final_dim == (256, 704) and cfg.num_views == 6
        ds = cfg.train_dataloader.dataset
        assert ds.type == 'NuScenesMultiViewDataset' and ds.data_root == 'data/nuscenes/'
        assert ds.data_prefix.CAM_FRONT == 'samples/CAM_FRONT' and ds.data_prefix.pts == 'samples/LIDAR_TOP'
        aug = [t for t in cfg.train_pipeline if t.type == 'MultiViewImageAug'][0]
        assert tuple(aug.final_dim) == (256, 704)
    det = Config.fromfile(DET)
    assert det.val_evaluator.type == 'NuScenesMetric' and det.val_evaluator.metric == 'bbox'
    assert det.val_evaluator.ann_file == 'data/nuscenes/nuscenes_infos_val.pkl'
    assert 'BEVAug' in [t.type for t in det.train_pipeline] and 'gt_bboxes_3d' in det.train_pipeline[-1]['keys']
    # pretraining has no validation split and no detection metric to null out, nor boxes in its pipeline
    pretrain = Config.fromfile(PRETRAIN)
    assert not {'val_dataloader', 'val_evaluator', 'test_dataloader', 'test_evaluator', 'val_cfg'} & set(pretrain)
    assert 'LoadAnnotations3D' not in [t.type for t in pretrain.train_pipeline]
    types = [t.type for t in pretrain.teacher_train_pipeline]
    assert types.index('LoadLiDARSweeps') < types.index('PointsToMultiViewDepth')  # depth from the teacher's points


@pytest.mark.slow
def test_mini_overlay_builds_and_loads(nus_infos, monkeypatch):
    """The detection base pointed at the bundled tables with the mini overlay (as the small configs do)."""
    from mmdet3d.registry import DATASETS, METRICS
    monkeypatch.chdir(ROOT)  # config paths are relative to the repo root
    det, mini = Config.fromfile(DET), Config.fromfile(MINI)
    init_default_scope('mmdet3d')
    aug = dict(type='MultiViewImageAug', **mini.nus_mini_ida_aug_conf)
    train_pipe = [aug if s['type'] == 'MultiViewImageAug' else s for s in det.train_pipeline]
    test_pipe = [dict(aug, test_mode=True) if s['type'] == 'MultiViewImageAug' else s for s in det.test_pipeline]
    train = DATASETS.build(dict(det.train_dataloader.dataset, **mini.nus_mini_train, pipeline=train_pipe))
    val = DATASETS.build(dict(det.val_dataloader.dataset, **mini.nus_mini_val, pipeline=test_pipe))
    assert (len(train), len(val)) == (40, 41) and val.metainfo['version'] == 'v1.0-mini'
    final_dim = tuple(mini.nus_mini_ida_aug_conf['final_dim'])
    sample = train[0]
    assert sample['inputs']['img'].shape == (6, 3) + final_dim
    assert sample['inputs']['depth'].shape == (6, ) + final_dim
    assert sample['data_samples'].metainfo['lidar2img'].shape == (6, 4, 4)
    sample = val[0]
    assert sample['data_samples'].metainfo['sample_idx'] == 0 and 'depth' in sample['inputs']
    metric = METRICS.build(dict(det.val_evaluator, **mini.nus_mini_evaluator))
    assert osp.isfile(metric.ann_file) and osp.isdir(osp.join(metric.data_root, 'v1.0-mini'))


DETECTION_CONFIGS = [
    'projects/BEVDet/configs/bevdet-r50-official_8xb8-cbgs-20e_nus.py',
    'projects/BEVDet/configs/bevdet4d-r50-official_8xb8-cbgs-20e_nus.py',
    'projects/BEVDet/configs/bevdet4d-swin-b-geomim_8xb8-cbgs-20e_nus.py',
    'projects/BEVDet/configs/bevdet-swin-w64-d1121_1xb1-4e_nus-mini.py',
    'projects/BEVFormer/configs/bevformer-base_r101-dcn_8xb1-24e_nus.py',
    'projects/BEVFormer/configs/bevformer-tiny_r50_8xb1-24e_nus.py',
    'projects/BEVFormer/configs/bevformer-tiny_r18_1xb1-4e_nus-mini.py',
]


@pytest.mark.slow
def test_detection_training_keeps_boxes_with_lidar_or_radar_points(nus_infos, monkeypatch):
    """use_valid_flag=True (official BEVDet / BEVFormer configs): the training boxes are those with LiDAR *or*
    radar points (bbox_3d_isvalid of the info files), 1752 on the bundled train scene; LiDAR-only would keep 1481."""
    from mmdet3d.registry import DATASETS

    import mim3d_plugin  # noqa: F401
    monkeypatch.chdir(ROOT)
    init_default_scope('mmdet3d')
    for path in DETECTION_CONFIGS:
        ds = Config.fromfile(osp.join(ROOT, path)).train_dataloader.dataset
        ds = ds.dataset if ds.type == 'CBGSDataset' else ds
        assert ds.get('use_valid_flag') is True, path
    mini = Config.fromfile(osp.join(ROOT, DETECTION_CONFIGS[3])).train_dataloader.dataset
    counts = {}
    for flag in (True, False):
        dataset = DATASETS.build(dict(mini, pipeline=[], use_valid_flag=flag))
        counts[flag] = sum(len(dataset.get_data_info(i)['ann_info']['gt_labels_3d']) for i in range(len(dataset)))
    assert counts == {True: 1752, False: 1481}
