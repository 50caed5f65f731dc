"""Full loop on the bundled real nuScenes mini data: train a few iterations of the CPU config on scene-0523,
test on scene-0916 (mini_val) and evaluate with the devkit through mmdet3d's NuScenesMetric."""
import glob
import json
import os.path as osp

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
CONFIG = osp.join(REPO, 'projects/BEVFormer/configs/bevformer-tiny_r18_1xb1-4e_nus-mini.py')


@pytest.mark.slow
@pytest.mark.realdata
def test_train_test_devkit_metrics(nus_infos, tmp_path, monkeypatch):
    # nus_infos (tests/conftest.py) skips without ../shared/data and writes the info files if missing
    from mmengine.config import Config
    from mmengine.runner import Runner

    monkeypatch.chdir(REPO)  # config paths are relative to the repo root
    cfg = Config.fromfile(CONFIG)
    cfg.work_dir = str(tmp_path / 'work')
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=4, val_interval=1000)
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1000, by_epoch=False)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.log_processor = dict(by_epoch=False)
    metric = cfg.test_evaluator
    cfg.test_evaluator = [
        dict(metric, jsonfile_prefix=str(tmp_path / 'eval')),
        dict(metric, format_only=True, jsonfile_prefix=str(tmp_path / 'submit'))
    ]
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.test()
    nds = metrics['NuScenes metric/pred_instances_3d_NuScenes/NDS']
    mean_ap = metrics['NuScenes metric/pred_instances_3d_NuScenes/mAP']
    assert 0.0 <= nds <= 1.0 and 0.0 <= mean_ap <= 1.0
    # leaderboard JSON of the format_only metric: every mini_val sample, devkit box format
    files = glob.glob(str(tmp_path / 'submit' / '**' / 'results_nusc.json'), recursive=True)
    assert files, f'no results_nusc.json under {tmp_path / "submit"}'
    with open(files[0]) as f:
        sub = json.load(f)
    assert len(sub['results']) == 41 and sub['meta']['use_camera']
    box = next(b for boxes in sub['results'].values() for b in boxes)
    assert {'translation', 'size', 'rotation', 'velocity', 'detection_name', 'detection_score'} <= set(box)
