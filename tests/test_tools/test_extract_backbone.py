"""tools/model_converters/extract_backbone.py: the pretrained backbone of any pretraining checkpoint (today's
``encoder.backbone.*`` layout and the pre-0.2 GeoMIM / Mask3D ``backbone.*`` and MIM4D ``img_backbone.*`` layouts) ->
a ``backbone.*`` checkpoint that every detector loads with ``prefix='backbone.'``; work dirs; key report; errors."""
import importlib.util
import os.path as osp

import pytest
import torch
from mmdet3d.registry import MODELS

import mim3d_plugin  # noqa: F401
import projects.BEVDet.bevdet  # noqa: F401

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SMALL_CFG = osp.join(ROOT, 'projects/BEVDet/configs/bevdet-swin-w64-d1121_1xb1-4e_nus-mini.py')
BACKBONE = dict(
    type='GeoMIMSwin',
    arch=dict(embed_dims=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2]),
    img_size=(64, 176),
    window_size=(4, 4, 4, 2),
    out_indices=(2, 3))


def _tool():
    spec = importlib.util.spec_from_file_location('extract_backbone',
                                                  osp.join(ROOT, 'tools/model_converters/extract_backbone.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pretrain_ckpt(tmp_path, prefix='encoder.backbone.', extra=('heads.bev.decoder.blocks.0.weight', )):
    """A pretraining checkpoint of the masked GeoMIM Swin (fusion block and stage-3/4 norms) under ``prefix``."""
    torch.manual_seed(1)
    pretrain_backbone = MODELS.build(dict(BACKBONE, use_mask=True, mask_shared_over_views=False))
    state = {prefix + k: v for k, v in pretrain_backbone.state_dict().items()}
    for key in extra:
        state[key] = torch.zeros(3)
    path = tmp_path / f'{prefix.replace(".", "_")}pretrain.pth'
    torch.save(dict(state_dict=state, meta=dict(epoch=1)), str(path))
    return str(path), pretrain_backbone


@pytest.mark.parametrize(
    'prefix,extra',
    [
        ('encoder.backbone.', ('heads.bev.decoder.blocks.0.weight', )),
        ('backbone.', ('decoder.blocks.0.weight', 'bev_head.weight')),  # GeoMIM
        ('img_backbone.', ('img_neck.lateral_convs.0.conv.weight', 'render_head.sdf.weight'))
    ])  # old MIM4D
def test_extract_any_layout_and_load_with_the_one_prefix(tmp_path, prefix, extra):
    tool = _tool()
    src, pretrained = _pretrain_ckpt(tmp_path, prefix, extra)
    dst = str(tmp_path / 'backbone.pth')
    assert tool.main([src, dst]) == 0
    saved = torch.load(dst, weights_only=True)
    assert set(saved['state_dict']) == {'backbone.' + k for k in pretrained.state_dict()}
    assert saved['meta']['source_prefix'] == prefix
    backbone = MODELS.build(dict(BACKBONE, init_cfg=dict(type='Pretrained', checkpoint=dst, prefix='backbone.')))
    backbone.init_weights()
    own = backbone.state_dict()
    # the fine-tuning backbone (no fusion block) ignores the pretraining-only fusion.* keys and loads the rest
    assert set(pretrained.state_dict()) - set(own) == {k for k in pretrained.state_dict() if k.startswith('fusion.')}
    for key, value in own.items():
        assert torch.equal(value, pretrained.state_dict()[key]), key


def test_work_dir_input_writes_backbone_pth_beside_the_checkpoints(tmp_path):
    tool = _tool()
    work = tmp_path / 'work'
    work.mkdir()
    src, pretrained = _pretrain_ckpt(work)
    (work / 'last_checkpoint').write_text(src)
    assert tool.main([str(work)]) == 0
    assert len(torch.load(str(work / 'backbone.pth'), weights_only=True)['state_dict']) == len(pretrained.state_dict())
    with pytest.raises(FileNotFoundError, match='no last_checkpoint'):
        tool.main([str(tmp_path)])


def test_key_report_and_strict(tmp_path, capsys):
    tool = _tool()
    src, _ = _pretrain_ckpt(tmp_path)
    # the tiny checkpoint does not fit the small config's width-64 backbone: shapes are reported, strict fails
    assert tool.main([src, str(tmp_path / 'x.pth'), '--config', SMALL_CFG, '--strict']) == 1
    out = capsys.readouterr().out
    assert 'shape mismatch' in out and 'size mismatch' in out
    assert not osp.exists(tmp_path / 'x.pth')
    # the report goes through the backbone's own load path: keys it does not build and keys it lacks are counted
    backbone = MODELS.build(dict(BACKBONE))
    state = {k: v for k, v in backbone.state_dict().items() if not k.startswith('norm2')}
    state['foo.weight'] = torch.zeros(1)
    missing, unexpected, mismatch = tool.compare_keys(state, MODELS.build(dict(BACKBONE)))
    assert missing == ['norm2.bias', 'norm2.weight'] and unexpected == ['foo.weight'] and mismatch == []


def test_bad_inputs(tmp_path):
    tool = _tool()
    with pytest.raises(FileNotFoundError, match='no checkpoint file'):
        tool.main([str(tmp_path / 'none.pth'), str(tmp_path / 'out.pth')])
    src, _ = _pretrain_ckpt(tmp_path)
    with pytest.raises(KeyError, match='key groups'):
        tool.main([src, str(tmp_path / 'out.pth'), '--prefix', 'teacher.'])
    torch.save(dict(state_dict={'neck.x': torch.zeros(1)}), str(tmp_path / 'neck.pth'))
    with pytest.raises(KeyError, match='no pretrained backbone found'):
        tool.main([str(tmp_path / 'neck.pth'), str(tmp_path / 'out.pth')])
