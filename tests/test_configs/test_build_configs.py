"""Every config of the repo parses and its model builds (paper-scale ones included)."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmdet3d.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True) +
    glob.glob(osp.join(ROOT, 'projects', '*', 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in p.split(osp.sep))


def test_there_are_configs():
    assert len(CONFIGS) >= 2, CONFIGS


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, ROOT))
def test_config_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.get('default_scope') == 'mmdet3d', f'{path}: default_scope must be mmdet3d'
    init_default_scope('mmdet3d')
    for key in ('train_dataloader', 'optim_wrapper', 'train_cfg'):
        assert key in cfg, f'{path}: no {key}'
    model = MODELS.build(cfg.model)
    assert sum(p.numel() for p in model.parameters()) > 0
