"""The worked fine-tuning configs (configs/finetune/): mmdet3d's own FCOS3D, inherited by its mmdet3d:: path, with
each of the three pretrained backbones swapped in. Each small config trains two iterations through tools/train.py on
the bundled frames, from the backbone extracted (README step) out of a checkpoint of the small pretraining config it
names, with no missing and no unexpected backbone key."""
import glob
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch
from mmdet3d.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mim3d_plugin  # noqa: F401

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools', 'model_converters'))
import extract_backbone  # noqa: E402

SMALL = sorted(osp.relpath(p, ROOT) for p in glob.glob(osp.join(ROOT, 'configs', 'finetune', '*nus-mini*.py')))


def test_each_pretraining_has_a_worked_fcos3d_config_on_mmdet3d_core():
    paper = [p for p in glob.glob(osp.join(ROOT, 'configs', 'finetune', '*.py')) if 'nus-mini' not in p]
    methods = set()
    for path in paper + [osp.join(ROOT, p) for p in SMALL]:
        cfg = Config.fromfile(path)
        assert cfg.model.type == 'FCOSMono3D' and cfg.model.neck.type == 'mmdet.FPN'
        # the pretraining's normalisation (ImageNet RGB), not FCOS3D's caffe-style BGR
        assert cfg.model.data_preprocessor.bgr_to_rgb and cfg.model.data_preprocessor.mean == [123.675, 116.28, 103.53]
        methods.add(cfg.pretrain_config.split('/')[1])
    assert methods == {'geomim', 'mim4d', 'mask3d'} and len(SMALL) == 3
    source = open(osp.join(ROOT, 'configs/finetune/fcos3d_swin-b-geomim_fpn_head-gn_8xb2-1x_nus-mono3d.py')).read()
    assert "_base_ = ['mmdet3d::fcos3d/" in source


@pytest.mark.slow
@pytest.mark.parametrize('config', SMALL)
def test_small_finetune_trains_from_the_extracted_pretraining_backbone(config, nus_infos, tmp_path):
    cfg = Config.fromfile(osp.join(ROOT, config))
    init_default_scope('mmdet3d')
    pre = Config.fromfile(osp.join(ROOT, cfg.pretrain_config))
    for head in pre.model.heads.values():
        if head.get('type') == 'LiDARBEVDistillHead':
            head.teacher.checkpoint, head.allow_untrained_teacher = None, True
    torch.manual_seed(0)
    work = tmp_path / 'pretrain'
    work.mkdir()
    torch.save(dict(state_dict=MODELS.build(pre.model).state_dict()), work / 'iter_1.pth')
    (work / 'last_checkpoint').write_text(str(work / 'iter_1.pth'))
    assert extract_backbone.main([str(work)]) == 0
    backbone_ckpt = str(work / 'backbone.pth')
    state = extract_backbone.extract(extract_backbone.load_state_dict(backbone_ckpt), 'backbone.')
    report = extract_backbone.compare_keys(state, MODELS.build(dict(cfg.model.backbone, init_cfg=None)))
    assert report == ([], [], []), report

    proc = subprocess.run([
        sys.executable, 'tools/train.py', config, '--work-dir',
        str(tmp_path / 'finetune'), '--cfg-options', f'model.backbone.init_cfg.checkpoint={backbone_ckpt}',
        'train_dataloader.dataset.indices=2', 'default_hooks.logger.interval=1', 'val_cfg=None', 'val_dataloader=None',
        'val_evaluator=None'
    ],
                          cwd=ROOT,
                          env=dict(os.environ, OMP_NUM_THREADS='1'),
                          capture_output=True,
                          text=True,
                          timeout=900)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert 'Loads checkpoint by local backend from path: ' + backbone_ckpt in log
    assert 'missing keys in source state_dict' not in log and 'unexpected key in source state_dict' not in log
    losses = [float(v) for v in re.findall(r' loss: ([0-9.]+)', log)]
    assert len(losses) == 2 and all(0 < v < 1e3 for v in losses), losses
    assert osp.isfile(tmp_path / 'finetune' / 'epoch_1.pth')
