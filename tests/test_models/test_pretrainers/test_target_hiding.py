"""Every pretext head's input hides what that head predicts (issue 24, item 1).

On GeoMIM's complementary Swin both groups together encode every unit, so a head that read the whole map would
reconstruct pixels the encoder saw. The heads read the encoder one pass at a time (``EncoderOutput.passes``); these
tests fail when a head's prediction depends on the pixels it is asked for:

- a pass's features have exactly zero gradient w.r.t. the pixels that pass hides (complementary and SparK encoders);
- the rendering head, per pass, casts rays only at pixels the pass hid, and every rendered value of a pass has zero
  gradient w.r.t. those pixels (so no ray sees its own target pixel);
- the depth prior's bottleneck has zero gradient w.r.t. the pixels its pass hid, and the fraction of dropped depth
  patches whose RGB was seen (``visible_target``) is what each depth mask promises;
- combinations that cannot hide their target are refused at build time.
"""
import pytest
import torch
from mmdet3d.registry import MODELS
from test_mask3d import _batch as mask3d_batch  # this folder (pytest puts it on sys.path)
from test_mask3d import _cfg as mask3d_cfg
from test_masked_pretrainer import hybrid_batch, hybrid_cfg

import mim3d_plugin  # noqa: F401


def _model(encoder='swin', heads=('bev', 'render', 'depth', 'pixel'), **depth_kwargs):
    cfg = hybrid_cfg(encoder=encoder, heads=heads)
    if 'depth' in cfg['heads']:
        cfg['heads']['depth'].update(depth_kwargs)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    model.train()
    return model


def _inputs(model):
    data = model.data_preprocessor(hybrid_batch(), True)
    imgs = data['inputs']['imgs'].detach().clone().requires_grad_(True)
    return dict(data['inputs'], imgs=imgs), data['data_samples']


def _pixels(units, size):
    u = size[0] // units.shape[-2]
    return units.repeat_interleave(u, -2).repeat_interleave(u, -1)


@pytest.mark.parametrize('encoder', ['swin', 'convnext'])
def test_each_pass_is_blind_to_the_pixels_it_hides(encoder):
    model = _model(encoder)
    inputs, _ = _inputs(model)
    enc = model.encode(inputs)
    passes = enc.passes()
    assert len(passes) == (2 if encoder == 'swin' else 1)
    for feats, hidden in passes:
        grad, = torch.autograd.grad(feats.square().sum(), inputs['imgs'], retain_graph=True)
        hidden_px = _pixels(hidden, inputs['imgs'].shape[-2:])
        assert hidden_px.any() and (~hidden_px).any()
        per_px = grad.abs().sum(2)
        assert float(per_px[hidden_px].abs().max()) == 0.0
        assert float(per_px[~hidden_px].sum()) > 0
    if encoder == 'swin':  # the whole map (what the heads read before) does depend on every pixel
        grad, = torch.autograd.grad(enc.feats.square().sum(), inputs['imgs'])
        assert float(grad.abs().sum(2)[_pixels(enc.mask, inputs['imgs'].shape[-2:])].sum()) > 0


def test_rendering_reads_each_pass_and_renders_only_what_it_hid():
    model = _model('swin', heads=('render', ))
    head = model.heads['render']
    inputs, samples = _inputs(model)
    rays, renders = [], []
    sample_rays = head.render_head.sample_rays

    def record_rays(*args, **kwargs):
        out = sample_rays(*args, **kwargs)
        rays.append((kwargs['allowed'], out[3], out[4]))
        return out

    head.render_head.sample_rays = record_rays
    render = head.render_head._render  # what loss() renders with (float32, autocast off)
    head.render_head._render = lambda *a, **k: renders.append(render(*a, **k)) or renders[-1]
    encoded = []
    encode = model.encode
    model.encode = lambda *a, **k: encoded.append(encode(*a, **k)) or encoded[-1]
    losses = model(inputs, samples, mode='loss')
    enc_passes = encoded[0].passes()
    assert len(rays) == 2 and float(losses['render.visible_target_cur']) == 0.0
    assert head.render_head.num_rays == 8 and rays[0][2].shape[-1] == 4  # the ray budget split over the passes
    for (allowed, hit, pix), (_, hidden) in zip(rays, enc_passes):
        assert bool(allowed.flatten(2).gather(-1, pix).flatten(1)[hit].all())  # every used ray at a hidden pixel
        assert hit.any()
    # 2 renders (pseudo, cur) per pass: none depends on a pixel its pass hid
    assert len(renders) == 4
    for p, (_, hidden) in enumerate(enc_passes):
        hidden_px = _pixels(hidden, inputs['imgs'].shape[-2:])
        for out in renders[2 * p:2 * p + 2]:
            grad, = torch.autograd.grad(out['rgb'].sum() + out['depth'].sum(), inputs['imgs'], retain_graph=True)
            assert float(grad.abs().sum(2)[hidden_px].max()) == 0.0
            assert float(grad.abs().sum()) > 0


def test_official_mim4d_rays_see_about_one_minus_the_mask_ratio():
    model = _model('convnext', heads=('render', ))
    assert model.heads['render'].target_rays == 'all'
    inputs, samples = _inputs(model)
    seen = float(model(inputs, samples, mode='loss')['render.visible_target_cur'])
    ratio = float(model.encode(inputs).mask.float().mean())
    assert 0 < seen < 1 and abs(seen - (1 - ratio)) < 0.35


@pytest.mark.parametrize('depth_mask,lo,hi', [('random', 0.2, 0.8), ('image_hidden', 0.0, 0.0),
                                              ('image_visible', 1.0, 1.0)])
def test_depth_prior_sees_the_rgb_its_depth_mask_promises(depth_mask, lo, hi):
    model = _model('swin', heads=('depth', ), depth_mask=depth_mask)
    inputs, samples = _inputs(model)
    seen = float(model(inputs, samples, mode='loss')['depth.visible_target'])
    assert lo <= seen <= hi
    head = model.heads['depth']
    enc = model.encode(inputs)
    for p, (_, hidden) in enumerate(enc.passes('current')):
        out, *_ = head.bottleneck(enc, inputs, pass_index=p)
        grad, = torch.autograd.grad(out['latent'].square().sum(), inputs['imgs'], retain_graph=True)
        current = grad[:, -enc.num_views:].abs().sum(2)
        hidden_px = _pixels(hidden, inputs['imgs'].shape[-2:])
        assert float(current[hidden_px].max()) == 0.0 and float(current.sum()) > 0


def test_mask3d_sees_the_rgb_of_a_quarter_of_its_dropped_depth():
    torch.manual_seed(0)
    model = MODELS.build(mask3d_cfg('Mask3DHead'))
    data = model.data_preprocessor(mask3d_batch(8), True)
    encoded = []
    encode = model.encode
    model.encode = lambda *a, **k: encoded.append(encode(*a, **k)) or encoded[-1]
    seen = float(model(data['inputs'], data['data_samples'], mode='loss')['depth.visible_target'])
    tokens = encoded[0].tokens
    dropped, rgb_seen = tokens['depth_mask'] > 0, tokens['rgb_mask'] == 0
    assert seen == pytest.approx(float((dropped & rgb_seen).sum() / dropped.sum()))
    # 75 % RGB and 75 % depth dropped independently: 1/4 of the dropped depth has its RGB (1/3 on this 2 x 3 grid,
    # where 4 of 6 patches are dropped per modality)
    assert 0.2 < seen < 0.45


def test_combinations_that_cannot_hide_their_target_are_refused():
    cfg = hybrid_cfg(encoder='swin', heads=('render', ))
    cfg['heads']['render']['target_rays'] = 'all'
    with pytest.raises(ValueError, match="complementary encoder.*target_rays='hidden'"):
        MODELS.build(cfg)
    cfg = hybrid_cfg(encoder='convnext', heads=('render', ))
    cfg['encoder']['use_mask'] = False
    with pytest.raises(ValueError, match='unmasked encoder sees every pixel'):
        MODELS.build(cfg)
