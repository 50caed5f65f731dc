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
    assert torch.equal(model.pts_bbox_head.can_bus_mlp.norm.weight,
                       state['pts_bbox_head.transformer.can_bus_mlp.norm.weight'])


def test_unknown_parts_are_refused():
    with pytest.raises(ValueError, match='not an official BEVFormer checkpoint'):
        conv.convert({'img_backbone.conv1.weight': torch.zeros(1)})
    with pytest.raises(ValueError, match='no counterpart'):
        conv.convert({'pts_bbox_head.transformer.encoder.layers.0.attentions.2.value_proj.weight': torch.zeros(1)})
