"""GeoMIMSwin: MixMIM-keyed Swin encoder with complementary-group masking and stride-16 fusion."""
import os.path as osp

import pytest
import torch
from mmpretrain.models.backbones import MixMIMTransformer
from mmpretrain.models.utils import resize_pos_embed

from mim3d_plugin.models.backbones import GeoMIMSwin

TINY = dict(embed_dims=32, depths=(1, 1, 2, 1), num_heads=(1, 2, 4, 8))


def _randomise(model: torch.nn.Module, std: float = 0.1) -> None:
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0, std)


def _pixel_mask(mask: torch.Tensor, unit: int = 32) -> torch.Tensor:
    return mask.repeat_interleave(unit, -2).repeat_interleave(unit, -1)


def test_shapes_non_square_unmasked_multiscale():
    torch.manual_seed(0)
    model = GeoMIMSwin(arch=TINY, img_size=(128, 352), out_fused=True)  # default: the 4 stages, increasing strides
    outs = model(torch.randn(2, 3, 128, 352))  # 32x88 tokens: not multiples of the 16-token window
    expected = [(2, 32, 32, 88), (2, 64, 16, 44), (2, 128, 8, 22), (2, 256, 4, 11)]
    assert [tuple(o.shape) for o in outs] == expected
    plain = GeoMIMSwin(arch=TINY, img_size=(128, 352), with_fusion=True)
    plain.load_state_dict(model.state_dict())
    x = torch.randn(1, 3, 128, 352)
    fused_outs, plain_outs = model(x), plain(x)
    assert all(torch.equal(fused_outs[i], plain_outs[i]) for i in (0, 1, 3))
    assert not torch.allclose(fused_outs[2], plain_outs[2])  # the stride-16 map is the fused one
    outs = model(torch.randn(1, 2, 3, 100, 150))  # (B, N, ...) input, sizes not multiples of 32
    assert [tuple(o.shape[:3]) for o in outs] == [(1, 2, 32), (1, 2, 64), (1, 2, 128), (1, 2, 256)]
    assert tuple(outs[0].shape[-2:]) == (25, 38) and tuple(outs[3].shape[-2:]) == (4, 5)
    with pytest.raises(ValueError, match='replaces the stride-16 output'):
        GeoMIMSwin(arch=TINY, out_indices=(3, ), out_fused=True)
    with pytest.raises(ValueError, match='increasing stage indices'):
        GeoMIMSwin(arch=TINY, out_indices=(3, 2))


def test_masked_forward_shapes_and_returned_mask():
    torch.manual_seed(0)
    model = GeoMIMSwin(arch=TINY, img_size=(128, 352), use_mask=True)
    imgs = torch.randn(2, 3, 3, 128, 352)
    fused, mask = model(imgs)
    assert fused.shape == (2, 3, 128, 8, 22)  # stride 16
    assert mask.shape == (2, 3, 4, 11) and mask.dtype == torch.bool  # 32x32-px units
    given = torch.rand(6, 4, 11) > 0.5
    fused4, mask4 = model(imgs.flatten(0, 1), given)  # 4-D input with an explicit mask
    assert fused4.shape == (6, 128, 8, 22) and mask4 is given
    with pytest.raises(ValueError, match='mask must be bool'):
        model(imgs, torch.zeros(2, 3, 8, 22, dtype=torch.bool))
    with pytest.raises(ValueError, match='multiple of mask_unit'):
        model(torch.randn(1, 1, 3, 100, 352))


@pytest.mark.parametrize('ratio', [0.25, 0.5, 0.75])
def test_mask_ratio_is_exact_per_pattern(ratio):
    model = GeoMIMSwin(arch=TINY, mask_ratio=ratio, mask_shared_over_views=False)
    mask = model.generate_mask(4, 6, (256, 704), 'cpu')
    assert mask.shape == (4, 6, 8, 22)  # 256x704 px / 32 px units
    assert torch.all(mask.flatten(2).sum(-1) == int(8 * 22 * ratio))


def test_mask_sharing_options():
    torch.manual_seed(0)
    shared = GeoMIMSwin(arch=TINY).generate_mask(3, 6, (256, 704))
    assert torch.all(shared == shared[:, :1]) and not torch.all(shared == shared[:1])
    per_view = GeoMIMSwin(arch=TINY, mask_shared_over_views=False).generate_mask(3, 6, (256, 704))
    assert not torch.all(per_view == per_view[:, :1])
    batch = GeoMIMSwin(arch=TINY, mask_shared_over_batch=True).generate_mask(3, 6, (256, 704))
    assert torch.all(batch == batch[:1, :1])


def test_groups_are_encoded_from_their_own_pixels_only():
    """Complementary masking: tokens of one group never see pixels of the other (any layer)."""
    torch.manual_seed(1)
    model = GeoMIMSwin(arch=TINY, img_size=(64, 160), window_size=(16, 16, 16, 8), use_mask=True)
    _randomise(model)
    model.eval()
    imgs = torch.randn(1, 2, 3, 96, 160)  # 24x40 tokens: padded windows too
    fused, mask = model(imgs)
    pix = _pixel_mask(mask)[:, :, None].expand_as(imgs)
    tok = _pixel_mask(mask, 2)  # mask at the stride-16 grid
    for perturb_masked in (True, False):
        sel = pix if perturb_masked else ~pix
        imgs2 = imgs.clone()
        imgs2[sel] += torch.randn(int(sel.sum()))
        fused2, _ = model(imgs2, mask)
        change = (fused2 - fused).abs().amax(2)
        same_group = tok if perturb_masked else ~tok
        assert torch.all(change[~same_group] == 0), 'information leaked across groups'
        assert torch.all(change[same_group] > 0)


def test_matches_mixmim_without_mask():
    """Unmasked, without padding and with the same windows, the encoder is MixMIM's."""
    torch.manual_seed(2)
    mixmim = MixMIMTransformer(arch=TINY, img_size=(128, 256), window_size=[4, 4, 4, 4])
    _randomise(mixmim)
    model = GeoMIMSwin(arch=TINY, img_size=(128, 256), window_size=4, out_indices=(3, ), with_fusion=False)
    model.load_state_dict(mixmim.state_dict(), strict=True)
    mixmim.eval()
    model.eval()
    x = torch.randn(1, 3, 128, 256)
    pooled = model(x)[0].flatten(2).mean(-1)
    torch.testing.assert_close(pooled, mixmim(x)[0], rtol=1e-5, atol=1e-5)


def test_loads_mixmim_checkpoint_by_key(tmp_path):
    torch.manual_seed(3)
    mixmim = MixMIMTransformer(arch=TINY, img_size=128, window_size=[8, 8, 8, 2])  # no window clamping
    _randomise(mixmim)
    ckpt = osp.join(tmp_path, 'mixmim.pth')
    torch.save({'state_dict': {'backbone.' + k: v for k, v in mixmim.state_dict().items()}}, ckpt)
    model = GeoMIMSwin(
        arch=TINY,
        img_size=(64, 160),
        window_size=(8, 8, 16, 2),
        use_mask=True,
        init_cfg=dict(type='Pretrained', checkpoint=ckpt, prefix='backbone.'))
    model.init_weights()
    src, own = mixmim.state_dict(), model.state_dict()
    for key in ('patch_embed.projection.weight', 'layers.0.blocks.0.attn.qkv.weight',
                'layers.2.blocks.1.ffn.layers.1.weight', 'layers.1.downsample.reduction.weight',
                'layers.0.blocks.0.attn.relative_position_bias_table'):
        torch.testing.assert_close(own[key], src[key])
    torch.testing.assert_close(own['norm3.weight'], src['norm.weight'])  # MixMIM's final norm
    torch.testing.assert_close(own['absolute_pos_embed'],
                               resize_pos_embed(src['absolute_pos_embed'], (32, 32), (16, 40), 'bicubic', 0))
    table = own['layers.2.blocks.0.attn.relative_position_bias_table']  # window 8 -> 16: interpolated
    assert table.shape == (31 * 31, 4)
    torch.testing.assert_close(
        table.view(31, 31, 4)[15, 15], src['layers.2.blocks.0.attn.relative_position_bias_table'].view(15, 15, 4)[7, 7])
    # What a MixMIM checkpoint leaves untouched: only GeoMIM's own layers (stage-3 norm, fusion).
    fresh = GeoMIMSwin(arch=TINY, img_size=(64, 160), window_size=(8, 8, 16, 2), use_mask=True)
    result = fresh.load_state_dict(mixmim.state_dict(), strict=False)
    assert result.unexpected_keys == []
    assert {k.split('.')[0] for k in result.missing_keys} == {'norm2', 'fusion'}


def test_pretrain_checkpoint_keys_match_finetune_backbone(tmp_path):
    torch.manual_seed(4)
    pretrain = GeoMIMSwin(arch=TINY, img_size=(64, 160), use_mask=True)
    _randomise(pretrain)
    state = {'backbone.' + k: v for k, v in pretrain.state_dict().items()}
    state['decoder.embed.weight'] = torch.zeros(2, 2)  # other parts of the pretraining model
    ckpt = osp.join(tmp_path, 'geomim.pth')
    torch.save({'state_dict': state}, ckpt)
    finetune = GeoMIMSwin(
        arch=TINY,
        img_size=(64, 160),
        out_indices=(2, 3),  # no fusion by default
        init_cfg=dict(type='Pretrained', checkpoint=ckpt, prefix='backbone.'))
    finetune.init_weights()
    finetune.init_weights()  # a second call must not re-randomise the loaded weights
    own, src = finetune.state_dict(), pretrain.state_dict()
    assert set(own) <= set(src)
    assert {k.split('.')[0] for k in set(src) - set(own)} == {'fusion'}
    for key, value in own.items():
        torch.testing.assert_close(value, src[key], msg=key)


def test_gradients_reach_every_trainable_parameter():
    torch.manual_seed(5)
    model = GeoMIMSwin(arch=TINY, img_size=(64, 160), window_size=(16, 16, 16, 8), use_mask=True)
    model.init_weights()
    fused, _ = model(torch.randn(1, 2, 3, 64, 160))
    (fused * torch.randn_like(fused)).sum().backward()
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and torch.count_nonzero(p.grad) > 0, name
    assert model.absolute_pos_embed.requires_grad  # official GeoMIM trains it
    finetune = GeoMIMSwin(arch=TINY, img_size=(64, 160), out_indices=(0, 1, 2, 3))
    outs = finetune(torch.randn(2, 3, 64, 160))
    sum((o * torch.randn_like(o)).sum() for o in outs).backward()
    unused = [n for n, p in finetune.named_parameters() if p.grad is None or torch.count_nonzero(p.grad) == 0]
    assert unused == []  # no unused parameters (DDP-safe fine-tuning backbone)


def test_swin_b_paper_scale_is_constructible():
    from mmdet3d.registry import MODELS
    model = MODELS.build(dict(type='GeoMIMSwin', arch='base', img_size=(256, 704), use_mask=True))
    assert model.embed_dims == 128 and model.depths == [2, 2, 18, 2] and model.num_heads == [4, 8, 16, 32]
    assert model.window_size == [16, 16, 16, 8] and model.fusion.lateral.out_features == 512
    encoder = sum(p.numel() for n, p in model.named_parameters() if not n.startswith(('fusion', 'norm2')))
    assert 86e6 < encoder < 90e6  # Swin-B
    assert model.generate_mask(1, 6, (256, 704)).shape == (1, 6, 8, 22)


def test_bad_configs_raise():
    with pytest.raises(ValueError, match='mask_unit'):
        GeoMIMSwin(arch=TINY, mask_unit=16)
    with pytest.raises(ValueError, match='with_fusion'):
        GeoMIMSwin(arch=TINY, use_mask=True, with_fusion=False)
    with pytest.raises(ValueError, match='mask_ratio'):
        GeoMIMSwin(arch=TINY, mask_ratio=1.0)


def test_activation_checkpointing_gives_the_same_result():
    torch.manual_seed(6)
    ref = GeoMIMSwin(arch=TINY, img_size=(64, 96), window_size=8, use_mask=True)
    ckpt = GeoMIMSwin(arch=TINY, img_size=(64, 96), window_size=8, use_mask=True, use_checkpoint=True)
    ckpt.load_state_dict(ref.state_dict())
    imgs, mask = torch.randn(1, 2, 3, 64, 96), torch.rand(1, 2, 2, 3) > 0.5
    weight = torch.randn(1, 2, 128, 4, 6)
    for model in (ref, ckpt):
        (model(imgs, mask)[0] * weight).sum().backward()
    for (name, a), b in zip(ref.named_parameters(), ckpt.parameters()):
        torch.testing.assert_close(a.grad, b.grad, msg=name)
