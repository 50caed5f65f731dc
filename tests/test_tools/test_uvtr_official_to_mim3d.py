"""tools/model_converters/uvtr_official_to_mim3d.py: official UVTR / UVTR-DN fine-tune checkpoints (hustvl/MIM4D,
Nightmare-n/UniPAD) fill the paper configs of projects/UVTR key for key; the official complex depth net
(``uni3d_voxelpooldepth.py`` ``DepthNet``, re-built below from its definition) computes the official output on the
converted weights; an official pretraining (``UVTRSSL``) checkpoint loads the image branch, its render head reported
as having no counterpart. (The head's forward after conversion: tests/test_projects/test_uvtr/test_uvtr.py.)"""
import importlib.util
import os.path as osp

import pytest
import test_bevstereo4d_official as bs  # noqa: E402  (official ASPP and the randomiser of the sibling test)
import torch
from mmdet.models.backbones.resnet import BasicBlock
from torch import nn

from mim3d_plugin.testing import build_model, load_config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
_spec = importlib.util.spec_from_file_location('uvtr_conv',
                                               osp.join(ROOT, 'tools/model_converters/uvtr_official_to_mim3d.py'))
conv = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(conv)

VS0075 = 'projects/UVTR/configs/uvtr-dn_convnext-s-mim4d_8xb1-amp-12e_nus-vs0.075.py'
VS01 = 'projects/UVTR/configs/uvtr_convnext-s-mim4d_8xb1-amp-12e_nus-vs0.1.py'
#: the official configs' code_weights in the official box order (cx, cy, w, l, cz, h, sin, cos, vx, vy)
OFFICIAL_CODE_WEIGHTS = {VS0075: [2.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.2, 0.2], VS01: [1.0] * 10}


class OfficialDepthNet(nn.Module):
    """``DepthNet(in, mid, depth, use_dcn=False, use_aspp=True, aspp_mid_channels)`` of ``uni3d_voxelpooldepth.py``."""

    def __init__(self, in_channels, mid_channels, depth_channels, aspp_mid_channels):
        super().__init__()
        self.reduce_conv = nn.Sequential(
            nn.Conv2d(in_channels, mid_channels, 3, 1, 1), nn.BatchNorm2d(mid_channels), nn.ReLU(inplace=True))
        self.depth_conv = nn.Sequential(
            BasicBlock(mid_channels, mid_channels), BasicBlock(mid_channels, mid_channels),
            BasicBlock(mid_channels, mid_channels), bs.OfficialASPP(mid_channels, aspp_mid_channels),
            nn.Conv2d(mid_channels, depth_channels, 1, 1, 0))

    def forward(self, x):
        return self.depth_conv(self.reduce_conv(x))


def _official_name(key):
    """Our key -> the official key (the inverse of the converter's renames)."""
    if key.startswith('img_backbone.'):
        for official, ours in conv.mim4d_conv.BACKBONE_RENAMES:
            key = key.replace(ours, official)
    return key.replace('depth_net.conv.', 'depth_net.')


def _official_state(config, seed=0):
    """An official fine-tune state dict of ``config``'s architecture: our model's tensors under the official names,
    with the official depth net module's own state dict and the official ``code_weights`` parameter."""
    model = build_model(load_config(config), seed)
    g = torch.Generator().manual_seed(seed)
    state = {}
    for k, v in model.state_dict().items():
        state[_official_name(k)] = torch.randn(v.shape, generator=g).to(v.dtype) if v.is_floating_point() else v
    if model.depth_net.kind == 'complex':
        official = OfficialDepthNet(256, 256, model.view_trans.depth_dim, 96)
        assert set(f'depth_net.{k}' for k in official.state_dict()) == {k for k in state if k.startswith('depth_net.')}
        state.update({f'depth_net.{k}': v for k, v in bs._randomise(official, seed).state_dict().items()})
    state['pts_bbox_head.code_weights'] = torch.tensor(OFFICIAL_CODE_WEIGHTS[config])
    return model, {f'module.{k}': v for k, v in state.items()}


@pytest.mark.parametrize('config', [VS0075, VS01])
def test_official_finetune_checkpoint_fills_the_paper_config_key_for_key(config, tmp_path):
    model, official = _official_state(config)
    src, dst = tmp_path / 'official.pth', tmp_path / 'ours.pth'
    torch.save(dict(state_dict=official), src)
    out, report = conv.main([str(src), str(dst), '--config', osp.join(ROOT, config)])  # SystemExit on any misfit
    assert not report['not_converted']
    assert report['dropped'] == ['pts_bbox_head.code_weights (equal to the config\'s code_weights in our box order)']
    missing, unexpected = model.load_state_dict(torch.load(dst, weights_only=True)['state_dict'], strict=True)
    assert not missing and not unexpected
    # untransformed tensors are the official ones, bit for bit
    changed = set(report['transformed'])
    for key, value in official.items():
        key = key[len('module.'):]
        if key in changed or key == 'pts_bbox_head.code_weights':
            continue
        ours = key if not key.startswith(('img_backbone.', 'depth_net.weight', 'depth_net.bias')) else None
        ours = ours or conv.rename(key)
        assert torch.equal(out[ours], value), key


def test_complex_depth_net_equals_the_official_on_converted_weights():
    model, official = _official_state(VS0075, seed=1)
    out, _ = conv.convert(official, conv.NUSCENES_CLASSES, conv.DEFAULT_CODE_WEIGHTS)
    model.load_state_dict(out)
    ref = OfficialDepthNet(256, 256, model.view_trans.depth_dim, 96)
    ref.load_state_dict({k[len('module.depth_net.'):]: v for k, v in official.items() if '.depth_net.' in k})
    model.eval(), ref.eval()
    x = torch.randn(2, 256, 6, 10)
    with torch.no_grad():
        diff = (model.depth_net(x) - ref(x)).abs().max()
    assert diff < 1e-4, diff


def test_official_pretraining_checkpoint_loads_the_image_branch(tmp_path, capsys):
    model, official = _official_state(VS0075, seed=2)
    pretrain = {k: v for k, v in official.items() if '.pts_bbox_head.' not in k}
    # the UVTRSSL render head and temporal decoder (names from the official definition) have no counterpart
    pretrain['module.pts_bbox_head.render_model.field.sdf_decoder.lin0.weight'] = torch.randn(16, 16)
    pretrain['module.history_decoder.decoder_short.layers.0.attentions.0.sampling_offsets.weight'] = torch.randn(8, 4)
    src, dst = tmp_path / 'pretrain.pth', tmp_path / 'ours.pth'
    torch.save(dict(state_dict=pretrain), src)
    out, report = conv.main([str(src), str(dst), '--config', osp.join(ROOT, VS0075)])
    text = capsys.readouterr().out
    assert 'no counterpart in UVTR: pts_bbox_head.render_model.* (1 keys)' in text
    assert 'detection head not in a pretraining checkpoint' in text
    assert len(report['not_converted']) == 2 and not any(k.startswith('pts_bbox_head.') for k in out)
    missing, unexpected = model.load_state_dict(torch.load(dst, weights_only=True)['state_dict'], strict=False)
    assert not unexpected and missing and all(k.startswith('pts_bbox_head.') for k in missing)


def test_bad_checkpoints_are_refused():
    with pytest.raises(ValueError, match='not an official UVTR'):
        conv.convert({'backbone.conv1.weight': torch.zeros(1)})
    _, official = _official_state(VS01)
    with pytest.raises(ValueError, match='code_weights'):
        conv.convert(official, conv.NUSCENES_CLASSES, conv.DEFAULT_CODE_WEIGHTS)  # vs0.1 weights are all 1
    with pytest.raises(ValueError, match='not a permutation'):
        conv.convert(official, list(conv.NUSCENES_CLASSES[:9]) + ['tram'], [1.0] * 10)
