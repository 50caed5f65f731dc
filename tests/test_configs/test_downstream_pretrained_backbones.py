"""Every downstream config that starts its backbone from one of our pretrainings loads a checkpoint of the pretraining
config it names with no missing and no unexpected backbone key.

For each detector config under ``projects/*/configs`` and ``configs/finetune`` whose backbone (``img_backbone`` of
our detectors, ``backbone`` of mmdet3d's) has a ``Pretrained`` ``init_cfg`` from a local file (not an ImageNet URL):
build the model of its ``pretrain_config`` (not trained: the layout is what matters), write its checkpoint as
``tools/train.py`` would into a work dir, run the README's extraction step
(``tools/model_converters/extract_backbone.py WORK_DIR``), build the detector with ``init_cfg.checkpoint`` pointing at
the extracted file, and load it: 0 missing / 0 unexpected / 0 shape mismatches, and after mmengine's ``init_weights``
every backbone weight equals the pretraining encoder's (resized position embeddings aside).
"""
import glob
import os.path as osp
import re
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

URL_PREFIXES = ('http://', 'https://', 'torchvision://', 'open-mmlab://', 'mmcls://')


def _backbone_key(model) -> str:
    return 'img_backbone' if 'img_backbone' in model else 'backbone'


def _downstream_configs():
    out = []
    for path in sorted(
            glob.glob(osp.join(ROOT, 'projects', '*', 'configs', '*.py'))
            + glob.glob(osp.join(ROOT, 'configs', 'finetune', '*.py'))):
        cfg = Config.fromfile(path)
        init = (cfg.model.get(_backbone_key(cfg.model)) or {}).get('init_cfg') or {}
        if init.get('type') == 'Pretrained' and not str(init.get('checkpoint', '')).startswith(URL_PREFIXES):
            out.append(osp.relpath(path, ROOT))
    return out


DOWNSTREAM = _downstream_configs()


def test_every_local_pretrained_backbone_names_its_pretraining():
    assert len(DOWNSTREAM) >= 15, DOWNSTREAM
    for path in DOWNSTREAM:
        cfg = Config.fromfile(osp.join(ROOT, path))
        assert osp.isfile(osp.join(ROOT, cfg.get('pretrain_config', ''))), f'{path}: pretrain_config'
        init = cfg.model[_backbone_key(cfg.model)].init_cfg
        assert init.prefix == 'backbone.' and init.checkpoint == cfg.pretrained_backbone, path
        # the extraction's default output: <work dir of the pretraining config>/backbone.pth
        name = osp.splitext(osp.basename(cfg.pretrain_config))[0]
        assert cfg.pretrained_backbone == f'work_dirs/{name}/backbone.pth', path


def _pretraining_out_indices(config: str):
    cfg = Config.fromfile(osp.join(ROOT, config))
    return tuple(cfg.model.encoder.backbone.out_indices)


def _pretraining_model(config: str):
    cfg = Config.fromfile(osp.join(ROOT, config))
    model = cfg.model
    for head in (model.get('heads') or {}).values():
        if head is not None and head.get('type') == 'LiDARBEVDistillHead':
            head.teacher.checkpoint = None  # no trained teacher here: the checkpoint layout is what is tested
            head.allow_untrained_teacher = True
    init_default_scope('mmdet3d')
    torch.manual_seed(0)
    return MODELS.build(model)


@pytest.mark.slow
@pytest.mark.parametrize('config', DOWNSTREAM)
def test_downstream_config_loads_its_pretraining_checkpoint(config, tmp_path):
    cfg = Config.fromfile(osp.join(ROOT, config))
    if cfg.get('custom_imports'):
        from mmengine.utils import import_modules_from_strings
        import_modules_from_strings(**cfg.custom_imports)
    pretrainer = _pretraining_model(cfg.pretrain_config)
    encoder_state = {
        k[len('encoder.backbone.'):]: v
        for k, v in pretrainer.state_dict().items() if k.startswith('encoder.backbone.')
    }
    assert encoder_state
    work = tmp_path / 'work'
    work.mkdir()
    torch.save(dict(state_dict=pretrainer.state_dict(), meta=dict(epoch=1)), work / 'epoch_1.pth')
    (work / 'last_checkpoint').write_text(str(work / 'epoch_1.pth'))
    del pretrainer
    assert extract_backbone.main([str(work)]) == 0  # the README's extraction step
    extracted = str(work / 'backbone.pth')

    init_default_scope(cfg.get('default_scope', 'mmdet3d'))
    bcfg = dict(cfg.model[_backbone_key(cfg.model)])
    bcfg['init_cfg'] = dict(bcfg['init_cfg'], checkpoint=extracted)
    backbone = MODELS.build(bcfg)
    state = extract_backbone.extract(extract_backbone.load_state_dict(extracted), 'backbone.')
    missing, unexpected, mismatch = extract_backbone.compare_keys(state, MODELS.build(dict(bcfg, init_cfg=None)))
    # a ConvNeXt has an output LayerNorm norm{i} per out index: a detector reading a level the pretraining did not
    # output (UVTR vs0.1 reads all four, as the official; our MIM4D pretraining outputs stages 2 and 3) starts that
    # norm fresh (weight 1, bias 0). Nothing else may be missing.
    if bcfg.get('type') == 'MaskConvNeXt':
        fresh = [k for k in missing if re.fullmatch(r'norm\d\.(weight|bias)', k)]
        assert all(int(k[4]) not in _pretraining_out_indices(cfg.pretrain_config) for k in fresh), (config, fresh)
        missing = [k for k in missing if k not in fresh]
    assert (missing, unexpected, mismatch) == ([], [], []), (config, missing[:5], unexpected[:5], mismatch[:5])
    backbone.init_weights()  # mmengine's PretrainedInit with prefix='backbone.'
    own = backbone.state_dict()
    same = [k for k, v in encoder_state.items() if k in own and v.shape == own[k].shape]
    assert len(same) >= 0.9 * len(own), (len(same), len(own))
    assert all(torch.equal(own[k], encoder_state[k]) for k in same), config
