"""Mask3DViT: non-square grids, masking, fusion, downstream features, checkpoint keys."""
import pytest
import torch
from mmengine.registry import init_default_scope

import mim3d_plugin  # noqa: F401
from mim3d_plugin.models.backbones.mask3d_vit import Mask3DViT
from mim3d_plugin.models.utils import random_masking, restore_full_grid, sincos_pos_embed_2d

ARCH = dict(embed_dims=64, num_layers=2, num_heads=4, feedforward_channels=128)


def _vit(**kw):
    cfg = dict(
        arch=ARCH,
        img_size=(32, 48),
        patch_size=16,
        with_depth_encoder=True,
        depth_embed_dims=32,
        depth_num_layers=1,
        depth_num_heads=2)
    cfg.update(kw)
    m = Mask3DViT(**cfg)
    m.init_weights()
    return m


def test_sincos_is_row_major_on_non_square_grid():
    h, w, c = 2, 3, 16
    emb = sincos_pos_embed_2d((h, w), c)[0]
    assert emb.shape == (h * w, c)
    for r in range(h):
        for col in range(w):
            tok = emb[r * w + col]
            # first half encodes the column, second half the row
            torch.testing.assert_close(tok[:c // 2], emb[col][:c // 2])
            torch.testing.assert_close(tok[c // 2:], emb[r * w][c // 2:])
    assert len({tuple(t.tolist()) for t in emb}) == h * w


def test_random_masking_and_restore_roundtrip():
    x = torch.arange(2 * 6 * 1, dtype=torch.float32).reshape(2, 6, 1)
    vis, mask, ids = random_masking(x, 0.5)
    assert vis.shape == (2, 3, 1) and mask.sum(1).tolist() == [3, 3]
    full = restore_full_grid(vis, ids, torch.full((1, 1, 1), -1.))
    torch.testing.assert_close(full[mask == 0], x[mask == 0])
    assert (full[mask == 1] == -1).all()
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    assert torch.equal(random_masking(x, .5, g1)[1], random_masking(x, .5, g2)[1])
    _, m1, _ = random_masking(x, 1.0)
    assert m1.sum() == 12


def test_pretraining_forward_fuses_at_bottleneck():
    m = _vit(mask_ratio=0.5, depth_mask_ratio=0.5)
    img, depth = torch.randn(2, 3, 32, 48), torch.randn(2, 2, 32, 48)
    out = m(img, depth)
    assert out['hw'] == (2, 3)
    assert out['latent'].shape == (2, 1 + 6, 64)
    assert out['rgb_mask'].shape == (2, 6) and out['rgb_mask'].sum(1).tolist() == [3, 3]
    # a position masked in both modalities holds exactly the sum of the two mask tokens
    both = (out['rgb_mask'] * out['depth_mask']).bool()
    if both.any():
        expect = (m.rgb_mask_token + m.depth_mask_token)[0, 0]
        torch.testing.assert_close(out['latent'][:, 1:][both], expect.expand(int(both.sum()), -1))
    # depth fully masked, RGB unmasked: still a full grid (monocular-depth evaluation)
    out = m(img, depth, mask_ratio=0., depth_mask_ratio=1.)
    assert out['latent'].shape == (2, 7, 64) and out['depth_mask'].all()
    # the depth encoder only sees visible patches: changing masked depth patches changes nothing
    g = lambda: torch.Generator().manual_seed(1)  # noqa: E731
    a = m(img, depth, generator=g())
    d2 = depth.clone().reshape(2, 2, 2, 16, 3, 16)
    masked = a['depth_mask'].reshape(2, 2, 3).bool()
    d2.permute(0, 2, 4, 1, 3, 5)[masked] = 99.
    b = m(img, d2.reshape(2, 2, 32, 48), generator=g())
    torch.testing.assert_close(a['latent'], b['latent'])


def test_errors():
    m = _vit()
    with pytest.raises(ValueError, match='divisible'):
        m(torch.randn(1, 3, 30, 48), torch.randn(1, 2, 30, 48))
    with pytest.raises(ValueError, match='sizes differ'):
        m(torch.randn(1, 3, 32, 48), torch.randn(1, 2, 32, 32))
    with pytest.raises(RuntimeError, match='with_depth_encoder'):
        _vit(with_depth_encoder=False)(torch.randn(1, 3, 32, 48), torch.randn(1, 2, 32, 48))


def test_downstream_featmaps_checkpoint_and_fpn(tmp_path):
    init_default_scope('mmdet3d')
    pre = _vit()
    ckpt = tmp_path / 'mask3d.pth'
    torch.save(dict(state_dict={'backbone.' + k: v for k, v in pre.state_dict().items()}), ckpt)
    down = Mask3DViT(
        arch=ARCH,
        img_size=(32, 48),
        patch_size=16,
        out_indices=(0, 1),
        pyramid_strides=None,  # one stride-16 map per layer
        init_cfg=dict(type='Pretrained', checkpoint=str(ckpt), prefix='backbone.'))
    down.init_weights()
    torch.testing.assert_close(down.layers[1].attn.qkv.weight, pre.layers[1].attn.qkv.weight)
    torch.testing.assert_close(down.pos_embed, pre.pos_embed)
    assert not any(k.startswith('depth_') for k in down.state_dict())
    # other input size (non-square 48 x 64): pos embed interpolated, features at stride 16
    feats = down(torch.randn(2, 3, 48, 64))
    assert [f.shape for f in feats] == [(2, 64, 3, 4)] * 2
    # the same weights as a plain mmpretrain ViT (checkpoint keys match)
    from mmpretrain.models import VisionTransformer
    vit = VisionTransformer(arch=ARCH, img_size=(32, 48), patch_size=16, out_type='featmap')
    missing, unexpected = vit.load_state_dict(down.state_dict(), strict=False)
    assert not missing and not unexpected
    # multi-level outputs into an mmdet FPN neck (the detectors' image neck)
    from mmdet3d.registry import MODELS
    fpn = MODELS.build(dict(type='mmdet.FPN', in_channels=[64, 64], out_channels=32, num_outs=3))
    outs = fpn(feats)
    assert [o.shape for o in outs] == [(2, 32, 3, 4), (2, 32, 3, 4), (2, 32, 2, 2)]
    sum(o.sum() for o in outs).backward()
    assert down.patch_embed.projection.weight.grad is not None


def test_non_square_checkpoint_resize_needs_grid(tmp_path):
    pre = _vit(with_depth_encoder=False)  # grid 2 x 3
    sd = pre.state_dict()
    other = Mask3DViT(arch=ARCH, img_size=(48, 64), patch_size=16, with_depth_encoder=False)
    with pytest.raises(ValueError, match='pretrained_patch_resolution'):
        other.load_state_dict(sd)
    other = Mask3DViT(
        arch=ARCH, img_size=(48, 64), patch_size=16, with_depth_encoder=False, pretrained_patch_resolution=(2, 3))
    other.load_state_dict(sd)
    assert other.pos_embed.shape == (1, 1 + 12, 64)


def test_bevdet_mask3d_config_backbone_and_neck(tmp_path):
    """The BEVDet config's image encoder loads a Mask3D pretraining checkpoint and gives the
    stride-16 map the LSS view transformer expects."""
    import os.path as osp
    import sys

    from mmdet3d.registry import MODELS
    from mmengine.config import Config
    from mmengine.utils import import_modules_from_strings
    root = osp.join(osp.dirname(__file__), '../../..')
    sys.path.insert(0, osp.abspath(root))
    import_modules_from_strings(['projects.BEVDet.bevdet'])
    init_default_scope('mmdet3d')
    cfg = Config.fromfile(osp.join(root, 'projects/BEVDet/configs/bevdet-mask3d-vit-tiny-p16_1xb1-4e_nus-mini.py'))
    pre = MODELS.build(dict(cfg.model.img_backbone, init_cfg=None, with_depth_encoder=True))
    pre.init_weights()
    ckpt = tmp_path / 'mask3d_nus.pth'
    torch.save(dict(state_dict={'backbone.' + k: v for k, v in pre.state_dict().items()}), ckpt)
    backbone = MODELS.build(
        dict(cfg.model.img_backbone, init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint=str(ckpt))))
    backbone.init_weights()
    torch.testing.assert_close(backbone.layers[3].ffn.layers[1].weight, pre.layers[3].ffn.layers[1].weight)
    neck = MODELS.build(cfg.model.img_neck)
    feats = neck(backbone(torch.randn(2, 3, *cfg.input_size)))
    feat = feats[cfg.model.img_neck_out_index]
    assert feat.shape == (2, cfg.model.img_view_transformer.in_channels, cfg.input_size[0] // 16,
                          cfg.input_size[1] // 16)
