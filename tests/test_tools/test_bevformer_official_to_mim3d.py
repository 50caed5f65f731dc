"""tools/model_converters/bevformer_official_to_mim3d.py on state dicts of the official BEVFormer tiny/small/base.

The official head + ``PerceptionTransformer`` (fundamentalvision/BEVFormer ``bevformer/modules/transformer.py``,
``encoder.py`` BEVFormerLayer, ``temporal_self_attention.py``, ``spatial_cross_attention.py``
(SpatialCrossAttention + MSDeformableAttention3D without output projection), ``decoder.py``
(CustomMSDeformableAttention), ``dense_heads/bevformer_head.py``) is re-built below from their definitions: module
names and the parameter shapes their constructors give with the numbers of the official configs
(``projects/configs/bevformer/bevformer_{tiny,small,base}.py``). The image backbone and FPN are mmdet's on both
sides and are taken from our config. The converted state dict must fill our detector with 0 missing / 0 unexpected
keys and no shape mismatch.
"""
import importlib.util
import os.path as osp

import pytest
import torch
from mmcv.cnn.bricks.transformer import FFN, MultiheadAttention
from mmdet3d.registry import MODELS
from mmdet.models.layers import LearnedPositionalEncoding
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch import nn

import mim3d_plugin  # noqa: F401
import projects.BEVFormer.bevformer  # noqa: F401

init_default_scope('mmdet3d')
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
_spec = importlib.util.spec_from_file_location('bevformer_official_to_mim3d',
                                               osp.join(ROOT, 'tools/model_converters/bevformer_official_to_mim3d.py'))
conv = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(conv)

# the official configs' numbers: (our config, BEV side, image feature levels, encoder layers)
VARIANTS = {
    'tiny': ('projects/BEVFormer/configs/bevformer-tiny_r50_8xb1-24e_nus.py', 50, 1, 3),
    'small': ('projects/BEVFormer/configs/bevformer-small_r101-dcn_8xb1-24e_nus.py', 150, 1, 3),
    'base': ('projects/BEVFormer/configs/bevformer-base_r101-dcn_8xb1-24e_nus.py', 200, 4, 6),
}
C, FFN_DIMS, HEADS, CAMS, QUERIES, DEC_LAYERS, CLASSES, CODE = 256, 512, 8, 6, 900, 6, 10, 10


def _deform(levels, points, queue=1, output_proj=True):
    """MSDeformableAttention3D / TemporalSelfAttention / CustomMSDeformableAttention parameters."""
    m = nn.Module()
    m.sampling_offsets = nn.Linear(C * queue, queue * HEADS * levels * points * 2)
    m.attention_weights = nn.Linear(C * queue, queue * HEADS * levels * points)
    m.value_proj = nn.Linear(C, C)
    if output_proj:
        m.output_proj = nn.Linear(C, C)
    return m


def _layer(attentions):
    layer = nn.Module()
    layer.attentions = nn.ModuleList(attentions)
    layer.ffns = nn.ModuleList([FFN(embed_dims=C, feedforward_channels=FFN_DIMS, num_fcs=2)])
    layer.norms = nn.ModuleList([nn.LayerNorm(C) for _ in range(3)])
    return layer


def official_head(bev, levels, enc_layers):
    t = nn.Module()
    t.level_embeds = nn.Parameter(torch.randn(levels, C))
    t.cams_embeds = nn.Parameter(torch.randn(CAMS, C))
    t.reference_points = nn.Linear(C, 3)
    t.can_bus_mlp = nn.Sequential(
        nn.Linear(18, C // 2), nn.ReLU(inplace=True), nn.Linear(C // 2, C), nn.ReLU(inplace=True))
    t.can_bus_mlp.add_module('norm', nn.LayerNorm(C))
    t.encoder = nn.Module()
    layers = []
    for _ in range(enc_layers):
        sca = nn.Module()
        sca.deformable_attention = _deform(levels, 8, output_proj=False)  # official: output_proj = None
        sca.output_proj = nn.Linear(C, C)
        layers.append(_layer([_deform(1, 4, queue=2), sca]))  # TSA: num_bev_queue = 2
    t.encoder.layers = nn.ModuleList(layers)
    t.decoder = nn.Module()
    t.decoder.layers = nn.ModuleList([_layer([MultiheadAttention(C, HEADS), _deform(1, 4)]) for _ in range(DEC_LAYERS)])
    head = nn.Module()
    head.transformer = t
    head.bev_embedding = nn.Embedding(bev * bev, C)
    head.query_embedding = nn.Embedding(QUERIES, C * 2)
    head.positional_encoding = LearnedPositionalEncoding(C // 2, row_num_embed=bev, col_num_embed=bev)

    def cls_branch():
        return nn.Sequential(
            nn.Linear(C, C), nn.LayerNorm(C), nn.ReLU(inplace=True), nn.Linear(C, C), nn.LayerNorm(C),
            nn.ReLU(inplace=True), nn.Linear(C, CLASSES))

    def reg_branch():
        return nn.Sequential(nn.Linear(C, C), nn.ReLU(), nn.Linear(C, C), nn.ReLU(), nn.Linear(C, CODE))

    head.cls_branches = nn.ModuleList([cls_branch() for _ in range(DEC_LAYERS)])
    head.reg_branches = nn.ModuleList([reg_branch() for _ in range(DEC_LAYERS)])
    # official BEVFormerHead.__init__: an nn.Parameter of the default weights, saved in every checkpoint
    head.code_weights = nn.Parameter(
        torch.tensor([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.2, 0.2], requires_grad=False), requires_grad=False)
    return head


@pytest.mark.parametrize('variant', sorted(VARIANTS))
def test_official_checkpoint_fills_our_config_key_for_key(variant, tmp_path):
    path, bev, levels, enc_layers = VARIANTS[variant]
    cfg = Config.fromfile(osp.join(ROOT, path))
    cfg.model.img_backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    ours = model.state_dict()
    state = {k: v for k, v in ours.items() if k.startswith(('img_backbone.', 'img_neck.'))}  # mmdet on both sides
    state.update({'pts_bbox_head.' + k: v for k, v in official_head(bev, levels, enc_layers).state_dict().items()})
    torch.save({'state_dict': {'module.' + k: v for k, v in state.items()}}, tmp_path / 'official.pth')
    out, report = conv.main(
        [str(tmp_path / 'official.pth'),
         str(tmp_path / 'mim3d.pth'), '--config',
         osp.join(ROOT, path)])  # exits non-zero on any missing/unexpected/mismatch
    model.load_state_dict(out, strict=True)
    assert 'pts_bbox_head.transformer.encoder.layers.0.attentions.1.output_proj.weight -> ' \
           'pts_bbox_head.encoder.layers.0.spatial_cross_attention.output_proj.weight' in report['renamed']
    assert report['dropped'] == ["pts_bbox_head.code_weights (equal to the config's code_weights in our box order)"]
    # the output layer of every decoder layer's branches is mapped (6 layers x weight + bias x cls / reg)
    assert len(report['transformed']) == 2 * 2 * DEC_LAYERS
    assert torch.equal(model.pts_bbox_head.can_bus_mlp.norm.weight,
                       state['pts_bbox_head.transformer.can_bus_mlp.norm.weight'])


def test_unknown_parts_are_refused():
    with pytest.raises(ValueError, match='not an official BEVFormer checkpoint'):
        conv.convert({'img_backbone.conv1.weight': torch.zeros(1)})
    with pytest.raises(ValueError, match='no counterpart'):
        conv.convert({'pts_bbox_head.transformer.encoder.layers.0.attentions.2.value_proj.weight': torch.zeros(1)})


OFFICIAL_CLASSES = [
    'car', 'truck', 'construction_vehicle', 'bus', 'trailer', 'barrier', 'motorcycle', 'bicycle', 'pedestrian',
    'traffic_cone'
]  # projects/configs/bevformer/bevformer_base.py class_names


def test_output_rows_follow_the_official_class_order_and_box_code():
    """Every output row, re-derived: class rows by name; box rows (cx, cy, log w, log l, cz, log h, sin yaw0,
    cos yaw0, vx, vy) with (w, l) = (dy, dx), yaw0 = -yaw - pi/2 -> (x, y, z, log dx, log dy, log dz, sin yaw,
    cos yaw, vx, vy); sin yaw = sin(-yaw0 - pi/2) = -cos yaw0, cos yaw = -sin yaw0."""
    torch.manual_seed(0)
    state = {'pts_bbox_head.transformer.level_embeds': torch.zeros(1, C)}
    for i in range(2):
        state[f'pts_bbox_head.cls_branches.{i}.6.weight'] = torch.randn(CLASSES, C)
        state[f'pts_bbox_head.cls_branches.{i}.6.bias'] = torch.randn(CLASSES)
        state[f'pts_bbox_head.cls_branches.{i}.0.weight'] = torch.randn(C, C)  # a hidden layer: untouched
        state[f'pts_bbox_head.reg_branches.{i}.4.weight'] = torch.randn(CODE, C)
        state[f'pts_bbox_head.reg_branches.{i}.4.bias'] = torch.randn(CODE)
    classes = conv.NUSCENES_CLASSES
    out, _ = conv.convert(dict(state), classes)
    for i in range(2):
        w = state[f'pts_bbox_head.cls_branches.{i}.6.weight']
        for k, name in enumerate(classes):
            assert torch.equal(out[f'pts_bbox_head.cls_branches.{i}.6.weight'][k], w[OFFICIAL_CLASSES.index(name)])
        assert torch.equal(out[f'pts_bbox_head.cls_branches.{i}.0.weight'],
                           state[f'pts_bbox_head.cls_branches.{i}.0.weight'])
        off_w = state[f'pts_bbox_head.reg_branches.{i}.4.weight']
        off_b = state[f'pts_bbox_head.reg_branches.{i}.4.bias']
        h = torch.randn(5, C)
        off = h @ off_w.T + off_b
        ours = h @ out[f'pts_bbox_head.reg_branches.{i}.4.weight'].T + out[f'pts_bbox_head.reg_branches.{i}.4.bias']
        cx, cy, lw, ll, cz, lh, s0, c0, vx, vy = off.unbind(-1)
        expected = torch.stack([cx, cy, cz, ll, lw, lh, -c0, -s0, vx, vy], -1)
        assert (ours - expected).abs().max() < 1e-5
        # the decoded yaw: atan2 of our rows is -yaw0 - pi/2 (mod 2 pi)
        yaw0 = torch.atan2(s0, c0)
        yaw = torch.atan2(ours[:, 6], ours[:, 7])
        assert torch.allclose(
            torch.remainder(yaw + yaw0 + torch.pi / 2 + torch.pi, 2 * torch.pi) - torch.pi, torch.zeros(5), atol=1e-5)


def test_code_weights_must_equal_the_config_and_classes_must_be_the_official_ones():
    state = {
        'pts_bbox_head.transformer.level_embeds': torch.zeros(1, C),
        'pts_bbox_head.code_weights': torch.tensor([1.0] * 8 + [0.5, 0.5]),
        'pts_bbox_head.cls_branches.0.6.weight': torch.zeros(CLASSES, C),
        'pts_bbox_head.cls_branches.0.6.bias': torch.zeros(CLASSES),
        'pts_bbox_head.reg_branches.0.4.weight': torch.zeros(CODE, C),
        'pts_bbox_head.reg_branches.0.4.bias': torch.zeros(CODE),
    }
    with pytest.raises(ValueError, match=r'code_weights of the checkpoint.*0\.5.*differ from the config'):
        conv.convert(dict(state))
    out, report = conv.convert(dict(state), code_weights=[1.0] * 8 + [0.5, 0.5])
    assert 'pts_bbox_head.code_weights' not in out and len(report['dropped']) == 1
    with pytest.raises(ValueError, match='not a permutation of the official'):
        conv.convert(
            dict(state), classes=list(conv.NUSCENES_CLASSES[:9]) + ['animal'], code_weights=[1.0] * 8 + [0.5, 0.5])
