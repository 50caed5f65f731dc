"""HeadClassOrderHook / check_head_class_order: CenterHead task order vs dataset class order."""
import os.path as osp
from types import SimpleNamespace

import pytest
from mmengine.config import Config

from mim3d_plugin.engine.hooks import HeadClassOrderHook, check_head_class_order, head_class_names

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
MMDET3D_ORDER = [
    'car', 'truck', 'trailer', 'bus', 'construction_vehicle', 'bicycle', 'motorcycle', 'pedestrian', 'traffic_cone',
    'barrier'
]


def _model(tasks):
    return SimpleNamespace(pts_bbox_head=SimpleNamespace(class_names=[t['class_names'] for t in tasks]))


@pytest.mark.parametrize('config', [
    'projects/BEVDet/configs/bevdet-r50_8xb8-cbgs-20e_nus.py',
    'projects/BEVDet/configs/bevdet-swin-w64-d1121_1xb1-4e_nus-mini.py',
    'projects/BEVDet/configs/bevdet4d-swin-w64-d1121_1xb1-4e_nus-mini.py'
])
def test_bevdet_configs_order_dataset_classes_as_their_tasks(config):
    cfg = Config.fromfile(osp.join(ROOT, config))
    tasks = cfg.model.pts_bbox_head.tasks
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        ds = cfg[loader].dataset
        ds = ds.get('dataset', ds)  # CBGSDataset wrapper
        check_head_class_order(_model(tasks), ds.metainfo['classes'], f'{loader} of {config}')
    assert any(h['type'] == 'HeadClassOrderHook' for h in cfg.custom_hooks)
    # the pre-fix pairing (BEVDet task order, mmdet3d dataset order) is refused
    with pytest.raises(ValueError, match='CenterHead trains dataset label i'):
        check_head_class_order(_model(tasks), MMDET3D_ORDER)


def test_hook_checks_the_running_loops_dataset():
    tasks = [dict(class_names=['car']), dict(class_names=['truck', 'bus'])]
    model = _model(tasks)
    runner = SimpleNamespace(
        model=model,
        train_loop=SimpleNamespace(
            dataloader=SimpleNamespace(dataset=SimpleNamespace(metainfo=dict(classes=['car', 'bus', 'truck'])))))
    with pytest.raises(ValueError, match=r"\['car', 'truck', 'bus'\]"):
        HeadClassOrderHook().before_train(runner)
    runner.train_loop.dataloader.dataset.metainfo['classes'] = ['car', 'truck', 'bus']
    HeadClassOrderHook().before_train(runner)
    assert head_class_names(SimpleNamespace(pts_bbox_head=SimpleNamespace(num_classes=10))) is None
