"""Detector-ready defaults of the three pretrained backbones: built with their defaults (what a user writing an mmdet3d
config gets), each returns multi-scale maps in increasing stride (4 / 8 / 16 / 32 px) that mmdet's FPN takes as they
are, forward and backward through the FPN reach every backbone parameter (no unused parameter: DDP without
find_unused_parameters), and a checkpoint of the pretraining encoder loads with no missing and no unexpected key."""
import pytest
import torch
from mmdet3d.registry import MODELS
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import load_state_dict

import mim3d_plugin  # noqa: F401

init_default_scope('mmdet3d')

SWIN = dict(
    type='GeoMIMSwin',
    arch=dict(embed_dims=16, depths=[1, 1, 1, 1], num_heads=[1, 2, 2, 4]),
    img_size=(64, 96),
    window_size=(4, 4, 4, 2))
CONVNEXT = dict(type='MaskConvNeXt', arch=dict(depths=[1, 1, 1, 1], channels=[8, 16, 24, 32]))
VIT = dict(
    type='Mask3DViT',
    arch=dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64),
    img_size=(64, 96),
    patch_size=16)
# the pretraining encoder of each backbone (what a pretraining checkpoint holds under encoder.backbone.*)
PRETRAIN = {
    'GeoMIMSwin': dict(use_mask=True),
    'MaskConvNeXt': dict(out_indices=(2, 3)),
    'Mask3DViT': dict(with_depth_encoder=True, depth_embed_dims=16, depth_num_layers=1, depth_num_heads=2)
}


@pytest.mark.parametrize(
    'cfg,channels', [(SWIN, [16, 32, 64, 128]), (CONVNEXT, [8, 16, 24, 32]), (VIT, [32, 32, 32, 32])],
    ids=['GeoMIMSwin', 'MaskConvNeXt', 'Mask3DViT'])
def test_defaults_feed_mmdet_fpn_and_load_the_pretraining_encoder(cfg, channels):
    torch.manual_seed(0)
    backbone = MODELS.build(cfg)
    backbone.init_weights()
    imgs = torch.randn(2, 3, 64, 96)
    feats = backbone(imgs)
    assert [tuple(f.shape) for f in feats] == [(2, c, 64 // s, 96 // s) for c, s in zip(channels, (4, 8, 16, 32))]
    fpn = MODELS.build(dict(type='mmdet.FPN', in_channels=channels, out_channels=16, num_outs=5))
    outs = fpn(feats)
    assert [tuple(o.shape[-2:]) for o in outs] == [(16, 24), (8, 12), (4, 6), (2, 3), (1, 2)]
    sum(o.square().mean() for o in outs).backward()
    unused = [n for n, p in backbone.named_parameters() if p.requires_grad and p.grad is None]
    assert unused == []
    # a pretraining encoder's checkpoint: nothing missing, its pretraining-only parts (depth encoder, fusion block,
    # output norms of stages the fine-tuning backbone does not output) ignored with a log line. GeoMIM and MIM4D
    # pretrain the output norms of stages 3 and 4 only (what their decoder / FPN read): a fine-tuning backbone on
    # those stages (GeoMIM's own BEVDet fine-tuning) has every weight pretrained; stages 1-2 outputs would add
    # fresh LayerNorms (norm0 / norm1), as mmdet's Swin configs get from ImageNet checkpoints
    pretrain = MODELS.build(dict(cfg, **PRETRAIN[cfg['type']]))
    if cfg['type'] in ('MaskConvNeXt', 'GeoMIMSwin'):
        backbone = MODELS.build(dict(cfg, out_indices=(2, 3)))
    load_state_dict(backbone, pretrain.state_dict(), strict=True)  # raises on any missing / unexpected key
    own = backbone.state_dict()
    assert all(torch.equal(v, pretrain.state_dict()[k]) for k, v in own.items())


def test_bad_arguments_get_clear_errors():
    with pytest.raises(ValueError, match='increasing stage indices'):
        MODELS.build(dict(CONVNEXT, out_indices=(3, 1)))
    with pytest.raises(ValueError, match='multiple of the 32 px'):
        MODELS.build(dict(CONVNEXT, mask_patch_size=16))
    with pytest.raises(ValueError, match='one layer with pyramid_strides'):
        MODELS.build(dict(VIT, out_indices=(0, 1)))
    with pytest.raises(ValueError, match='pyramid_strides must be increasing'):
        MODELS.build(dict(VIT, pyramid_strides=(16, 4)))
    with pytest.raises(ValueError, match='replaces the stride-16 output'):
        MODELS.build(dict(SWIN, out_indices=(0, 1), out_fused=True))
    with pytest.raises(RuntimeError, match='with_depth_encoder=False cannot take depth'):
        MODELS.build(VIT)(torch.randn(1, 3, 64, 96), torch.randn(1, 2, 64, 96))
