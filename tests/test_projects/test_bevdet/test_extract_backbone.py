"""tools/model_converters/extract_backbone.py: pretraining checkpoint -> backbone-only checkpoint, key report,
and loading into a BEVDet backbone through init_cfg (both the converted file and prefix='backbone.')."""
import importlib.util
import os.path as osp

import pytest
import torch

import mim3d_plugin  # noqa: F401
import projects.BEVDet.bevdet  # noqa: F401
from mmdet3d.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
SMALL_CFG = osp.join(ROOT, 'projects/BEVDet/configs/bevdet-swin-s16_1xb1-4e_nus-mini.py')
BACKBONE = dict(type='GeoMIMSwin', arch=dict(embed_dims=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2]),
                img_size=(64, 176), window_size=(4, 4, 4, 2), out_indices=(), out_fused=True)


def _tool():
    spec = importlib.util.spec_from_file_location(
        'extract_backbone', osp.join(ROOT, 'tools/model_converters/extract_backbone.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pretrain_ckpt(tmp_path):
    """A GeoMIM-style pretraining checkpoint: backbone weights under backbone., plus decoder weights."""
    torch.manual_seed(1)
    pretrain_backbone = MODELS.build(dict(BACKBONE, use_mask=True, mask_shared_over_views=False))
    state = {f'backbone.{k}': v for k, v in pretrain_backbone.state_dict().items()}
    state['decoder.blocks.0.weight'] = torch.zeros(3)
    path = str(tmp_path / 'geomim_pretrain.pth')
    torch.save(dict(state_dict=state, meta=dict(epoch=1)), path)
    return path, pretrain_backbone


def test_extract_and_load_into_bevdet_backbone(tmp_path):
    tool = _tool()
    src, pretrained = _pretrain_ckpt(tmp_path)
    dst = str(tmp_path / 'backbone.pth')
    assert tool.main([src, dst]) == 0
    saved = torch.load(dst, weights_only=True)['state_dict']
    assert set(saved) == set(pretrained.state_dict())
    assert not any(k.startswith('decoder') for k in saved)

    for init_cfg in (dict(type='Pretrained', checkpoint=dst),
                     dict(type='Pretrained', checkpoint=src, prefix='backbone.')):
        backbone = MODELS.build(dict(BACKBONE, init_cfg=init_cfg))
        backbone.init_weights()
        for key, value in pretrained.state_dict().items():
            assert torch.equal(backbone.state_dict()[key], value), key


def test_key_report_and_strict(tmp_path, capsys):
    tool = _tool()
    src, _ = _pretrain_ckpt(tmp_path)
    # the tiny checkpoint does not fit the small config's width-64 backbone: shapes are reported, strict fails
    assert tool.main([src, str(tmp_path / 'x.pth'), '--config', SMALL_CFG, '--strict']) == 1
    out = capsys.readouterr().out
    assert 'shape mismatch' in out and 'vs model (' in out
    assert not osp.exists(tmp_path / 'x.pth')
    missing, unexpected, mismatch = tool.compare_keys({'a': torch.zeros(1), 'b': torch.zeros(2)},
                                                      {'b': torch.zeros(3), 'c': torch.zeros(1)})
    assert (missing, unexpected) == (['c'], ['a']) and mismatch[0].startswith('b:')


def test_bad_inputs(tmp_path):
    tool = _tool()
    with pytest.raises(FileNotFoundError, match='no checkpoint file'):
        tool.main([str(tmp_path / 'none.pth'), str(tmp_path / 'out.pth')])
    src, _ = _pretrain_ckpt(tmp_path)
    with pytest.raises(KeyError, match='key groups'):
        tool.main([src, str(tmp_path / 'out.pth'), '--prefix', 'encoder.'])
