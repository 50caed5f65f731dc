"""Tests of the layer-wise lr decay optimizer constructor on tiny Swin detectors."""
import pytest
from mmdet3d.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS
from torch import nn

import mim3d_plugin  # noqa: F401
from mim3d_plugin.engine.optimizers import swin_vit_layer_depth


class _Detector(nn.Module):

    def __init__(self, backbone: dict) -> None:
        super().__init__()
        self.img_backbone = MODELS.build(backbone)
        self.head = nn.Linear(4, 2)


def _build(decay: float = 0.8, **extra):
    cfg = dict(
        type='LayerDecayOptimWrapperConstructor',
        optim_wrapper_cfg=dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.01)),
        paramwise_cfg=dict(layer_decay_rate=decay, **extra))
    return OPTIM_WRAPPER_CONSTRUCTORS.build(cfg)


def _lr_by_name(optim_wrapper):
    return {g['param_name']: g['lr'] for g in optim_wrapper.optimizer.param_groups}


def test_swin_vit_layer_depth_rule():
    depths = (2, 2, 18, 2)
    assert swin_vit_layer_depth('patch_embed.projection.weight', depths) == (0, 26)
    assert swin_vit_layer_depth('stages.0.blocks.0.attn.w_msa.qkv.weight', depths) == (1, 26)
    assert swin_vit_layer_depth('stages.2.blocks.17.ffn.layers.0.0.weight', depths) == (22, 26)
    assert swin_vit_layer_depth('stages.2.downsample.reduction.weight', depths) == (22, 26)
    assert swin_vit_layer_depth('layers.3.blocks.1.norm1.weight', depths) == (24, 26)
    assert swin_vit_layer_depth('norm3.weight', depths) == (25, 26)
    assert swin_vit_layer_depth('layers.5.attn.qkv.weight', [12]) == (6, 14)


@pytest.mark.parametrize('backbone', [
    dict(
        type='mmpretrain.SwinTransformer',
        arch=dict(embed_dims=16, depths=[2, 2, 4, 2], num_heads=[1, 1, 2, 2]),
        img_size=64,
        window_size=4,
        out_indices=(2, 3)),
    dict(
        type='mmdet.SwinTransformer',
        embed_dims=16,
        depths=(2, 2, 4, 2),
        num_heads=(1, 1, 2, 2),
        window_size=4,
        out_indices=(2, 3)),
])
def test_layer_decay_on_detector_backbone(backbone):
    model = _Detector(backbone)
    optim_wrapper = _build()(model)
    lrs = _lr_by_name(optim_wrapper)
    n_params = sum(1 for p in model.parameters() if p.requires_grad)
    assert len(lrs) == n_params
    num_layers = sum((2, 2, 4, 2)) + 2
    # head keeps the base lr, the stem gets decay ** (num_layers - 1)
    assert lrs['head.weight'] == pytest.approx(1e-3)
    stem = [v for k, v in lrs.items() if k.startswith('img_backbone.patch_embed')]
    assert stem and all(v == pytest.approx(1e-3 * 0.8**(num_layers - 1)) for v in stem)
    # block j of stage i sits at depth sum(depths[:i]) + j + 1
    block = [v for k, v in lrs.items() if k.startswith('img_backbone.stages.2.blocks.3.')]
    assert block and all(v == pytest.approx(1e-3 * 0.8**(num_layers - 1 - (4 + 3 + 1))) for v in block)
    # monotone: deeper stage blocks never get a smaller lr than earlier ones
    s0 = max(v for k, v in lrs.items() if k.startswith('img_backbone.stages.0.blocks'))
    s3 = min(v for k, v in lrs.items() if k.startswith('img_backbone.stages.3.blocks'))
    assert s0 < s3


def test_layer_decay_one_is_uniform():
    model = _Detector(
        dict(type='mmdet.SwinTransformer', embed_dims=16, depths=(1, 1, 1, 1), num_heads=(1, 1, 1, 1), window_size=4))
    lrs = _lr_by_name(_build(decay=1.0)(model))
    assert all(v == pytest.approx(1e-3) for v in lrs.values())


def test_missing_backbone_raises():
    with pytest.raises(ValueError, match='paramwise_cfg.backbone'):
        _build(backbone='encoder')(nn.Sequential(nn.Linear(2, 2)))


def test_resnet_without_depths_raises():
    model = _Detector(dict(type='mmdet.ResNet', depth=18))
    with pytest.raises(ValueError, match='paramwise_cfg.depths'):
        _build()(model)
