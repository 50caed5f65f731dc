"""GeoMIMDecoder: semantic + camera-aware depth branches with cross-view attention."""
import pytest
import torch

from mim3d_plugin.models.layers import CrossViewAttention
from mim3d_plugin.models.necks import GeoMIMDecoder

TINY = dict(in_channels=24, embed_dims=32, num_heads=4, semantic_channels=8, num_depth_bins=12)


def _decoder(**kwargs) -> GeoMIMDecoder:
    dec = GeoMIMDecoder(**{**TINY, **kwargs})
    dec.init_weights()
    return dec


def _inputs(B=2, N=3, h=4, w=6):
    return torch.randn(B, N, 24, h, w), torch.rand(B, N, h // 2, w // 2) > 0.5, torch.randn(B, N, 22)


def _randomise_cva(dec: GeoMIMDecoder) -> None:
    for m in dec.modules():
        if isinstance(m, CrossViewAttention):
            for p in m.parameters():
                if torch.count_nonzero(p) == 0:
                    torch.nn.init.normal_(p, std=0.1)


def test_output_shapes_non_square_grid():
    torch.manual_seed(0)
    dec = _decoder()
    feats, mask, cam = _inputs(h=4, w=10)
    out = dec(feats, mask, cam)
    assert out['semantic'].shape == (2, 3, 8, 4, 10)
    assert out['depth_logits'].shape == (2, 3, 12, 4, 10)


def test_paper_layout_and_config():
    dec = GeoMIMDecoder()  # paper scale: 512 wide, 16 heads, 8 + 4 blocks, 3 CVA
    assert len(dec.blocks) == 8 and len(dec.depth_blocks) == 4
    assert len(dec.cva) + len(dec.depth_cva) == 3
    assert dec.cva_indices == (1, 5) and dec.depth_cva_indices == (1, ) and dec.depth_fork_index == 3
    assert dec.embed.out_features == 512 and dec.blocks[0].attn.num_heads == 16
    assert dec.head[-1].out_channels == 118 + 80
    with pytest.raises(ValueError, match='cva_indices'):
        GeoMIMDecoder(**TINY, cva_indices=(8, ))
    with pytest.raises(ValueError, match='depth_fork_index'):
        GeoMIMDecoder(**TINY, depth_fork_index=8)


def test_masked_tokens_ignore_encoder_features():
    torch.manual_seed(1)
    dec = _decoder()
    dec.eval()
    feats, _, cam = _inputs()
    all_masked = torch.ones(2, 3, 2, 3, dtype=torch.bool)
    a = dec(feats, all_masked, cam)
    b = dec(torch.randn_like(feats), all_masked, cam)
    torch.testing.assert_close(a['semantic'], b['semantic'])
    c = dec(feats, ~all_masked, cam)
    assert not torch.allclose(a['semantic'], c['semantic'])


def test_unit_mask_equals_token_mask():
    torch.manual_seed(2)
    dec = _decoder()
    dec.eval()
    feats, mask, cam = _inputs()
    token_mask = mask.repeat_interleave(2, 2).repeat_interleave(2, 3)
    a, b = dec(feats, mask, cam), dec(feats, token_mask, cam)
    torch.testing.assert_close(a['depth_logits'], b['depth_logits'])
    with pytest.raises(ValueError, match='mask'):
        dec(feats, torch.zeros(2, 3, 3, 4, dtype=torch.bool), cam)


def test_depth_is_camera_aware():
    torch.manual_seed(3)
    dec = _decoder()
    dec.eval()
    feats, mask, cam = _inputs()
    a = dec(feats, mask, cam)
    cam2 = cam.clone()
    cam2[:, 1] += 3.0
    b = dec(feats, mask, cam2)
    assert not torch.allclose(a['depth_logits'][:, 1], b['depth_logits'][:, 1])
    # eval-mode BN and identity (zero-init) CVA blocks: the other views are untouched
    torch.testing.assert_close(a['depth_logits'][:, 0], b['depth_logits'][:, 0])


@pytest.mark.parametrize('with_cva', [True, False])
def test_views_interact_only_through_cva(with_cva):
    torch.manual_seed(4)
    kw = {} if with_cva else dict(cva_indices=(), depth_cva_indices=())
    dec = _decoder(**kw)
    _randomise_cva(dec)
    dec.eval()
    feats, mask, cam = _inputs()
    a = dec(feats, mask, cam)
    feats2 = feats.clone()
    feats2[:, 0] += torch.randn_like(feats2[:, 0])
    b = dec(feats2, mask, cam)
    moved = (a['semantic'][:, 1:] - b['semantic'][:, 1:]).abs().max()
    assert (moved > 1e-5) if with_cva else (moved == 0)


def test_gradients_reach_every_parameter():
    torch.manual_seed(5)
    dec = _decoder()
    _randomise_cva(dec)
    feats, mask, cam = _inputs()
    out = dec(feats, mask, cam)
    (out['semantic'] * torch.randn_like(out['semantic'])).sum().backward(retain_graph=True)
    (out['depth_logits'] * torch.randn_like(out['depth_logits'])).sum().backward()
    for name, p in dec.named_parameters():
        assert p.grad is not None and torch.count_nonzero(p.grad) > 0, name


def test_cva_zero_init_survives_init_weights():
    dec = _decoder()
    for m in list(dec.cva) + list(dec.depth_cva):
        assert torch.count_nonzero(m.attn.proj.weight) == 0


def test_one_camera_at_batch_one_trains_and_bn_matches_batchnorm1d_otherwise():
    """B x N = 1 (a monocular rig at batch 1) used to raise in the camera gate's BatchNorm1d."""
    from mim3d_plugin.models.necks.geomim_decoder import CameraBatchNorm1d
    torch.manual_seed(0)
    dec = _decoder()
    dec.train()
    feats, mask, cam = _inputs(B=1, N=1)
    out = dec(feats, mask, cam)
    assert torch.isfinite(out['depth_logits']).all()
    out['depth_logits'].sum().backward()
    bn = dec.camera_se.bn
    assert bn.num_batches_tracked == 1 and torch.allclose(bn.running_mean, 0.1 * cam[0, 0])
    # two or more camera vectors: exactly nn.BatchNorm1d (statistics and output)
    ours, ref = CameraBatchNorm1d(22), torch.nn.BatchNorm1d(22)
    x = torch.randn(6, 22)
    assert torch.allclose(ours(x), ref(x)) and torch.allclose(ours.running_var, ref.running_var)
    assert list(ours.state_dict()) == list(ref.state_dict())


def _mixmim_decoder_state(timm_layout: bool):
    """A MixMIM pretraining decoder's weights (mmpretrain ``MixMIMPretrainDecoder``, random), optionally renamed to
    Sense-X/MixMIM's timm layout (``norm1``/``mlp.fc1``/``decoder_norm``)."""
    from mmpretrain.models.necks.mixmim_neck import MixMIMPretrainDecoder
    torch.manual_seed(0)
    dec = MixMIMPretrainDecoder(
        num_patches=49, embed_dim=1024, decoder_embed_dim=64, decoder_depth=2, decoder_num_heads=4)
    state = {k: torch.randn_like(v) if v.is_floating_point() else v for k, v in dec.state_dict().items()}
    if timm_layout:
        ren = (('.ln1.', '.norm1.'), ('.ln2.', '.norm2.'), ('.ffn.layers.0.0.', '.mlp.fc1.'), ('.ffn.layers.1.',
                                                                                               '.mlp.fc2.'))
        out = {}
        for k, v in state.items():
            if k.startswith('decoder_blocks.'):
                for a, b in ren:
                    k = k.replace(a, b)
            elif k.startswith('ln1.'):
                k = 'decoder_norm.' + k[4:]
            out[k] = v
        state = out
    return state


@pytest.mark.parametrize('timm_layout', [False, True])
def test_decoder_starts_from_a_mixmim_checkpoint_as_the_official_loader(tmp_path, timm_layout):
    """Official GeoMIM loads MixMIM non-strictly: decoder blocks, final norm, mask token and the 7x7 position
    table; not decoder_embed (another width) nor decoder_pred; the depth branch keeps its init."""
    mix = _mixmim_decoder_state(timm_layout)
    prefix = None if timm_layout else 'neck.'  # Sense-X/MixMIM keys are top-level (with the encoder's)
    ckpt = tmp_path / 'mixmim.pth'
    torch.save({'state_dict': {(prefix or '') + k: v for k, v in mix.items()}}, ckpt)
    dec = GeoMIMDecoder(
        in_channels=32,
        embed_dims=64,
        num_heads=4,
        num_blocks=2,
        cva_indices=(1, ),
        depth_fork_index=0,
        num_depth_blocks=1,
        depth_cva_indices=(0, ),
        semantic_channels=8,
        num_depth_bins=10,
        pos_table_size=(7, 7),
        init_cfg=dict(type='Pretrained', checkpoint=str(ckpt), prefix=prefix))
    dec.init_weights()
    got = dec.state_dict()
    b1 = 'decoder_blocks.1.' + ('mlp.fc1.weight' if timm_layout else 'ffn.layers.0.0.weight')
    assert torch.equal(got['blocks.1.ffn.layers.0.0.weight'], mix[b1])
    assert torch.equal(got['norm.weight'], mix['decoder_norm.weight' if timm_layout else 'ln1.weight'])
    assert torch.equal(got['mask_token'].flatten(), mix['mask_token'].flatten())
    pos = mix['decoder_pos_embed'].reshape(1, 7, 7, 64).permute(0, 3, 1, 2)
    assert torch.equal(got['pos_table'], pos)
    # not loaded: the input projection (MixMIM's is 1024 wide) and everything MixMIM has no counterpart for
    assert got['embed.weight'].shape == (64, 32)
    assert torch.count_nonzero(got['depth_cva.0.attn.proj.weight']) == 0  # CVA zero init kept


def test_pos_table_is_interpolated_as_the_official_decoder():
    """pos_table_size=(7, 7): the stored table, bicubically interpolated to the token grid (official), differs
    from the sin-cos built at that grid (our default)."""
    import torch.nn.functional as F
    kw = dict(
        in_channels=16,
        embed_dims=32,
        num_heads=4,
        num_blocks=1,
        cva_indices=(),
        depth_fork_index=0,
        num_depth_blocks=1,
        depth_cva_indices=(),
        semantic_channels=4,
        num_depth_bins=6,
        head_convs=0)
    torch.manual_seed(0)
    table = GeoMIMDecoder(pos_table_size=(7, 7), **kw).eval()
    grid = GeoMIMDecoder(**kw).eval()
    grid.load_state_dict({k: v for k, v in table.state_dict().items() if k != 'pos_table'})
    feats, cam = torch.randn(1, 2, 16, 4, 10), torch.randn(1, 2, 22)
    captured = {}
    table.blocks[0].register_forward_pre_hook(lambda m, a: captured.__setitem__('table', a[0].clone()))
    grid.blocks[0].register_forward_pre_hook(lambda m, a: captured.__setitem__('grid', a[0].clone()))
    with torch.no_grad():
        table(feats, None, cam), grid(feats, None, cam)
    embed = table.embed(feats.permute(0, 1, 3, 4, 2)).reshape(2, 40, 32)
    expect = F.interpolate(table.pos_table, size=(4, 10), mode='bicubic')[0].permute(1, 2, 0).reshape(1, 40, 32)
    assert torch.allclose(captured['table'], embed + expect, atol=1e-6)
    assert (captured['table'] - captured['grid']).abs().max() > 1e-2
