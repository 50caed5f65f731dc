"""Mask3D pretraining (MaskedPretrainer with RGBDTokenEncoder + DepthPriorHead): losses, gradients to every
parameter, learning on a fixed batch, reproducible predict, multi-view (B, N) flattening, data preprocessor."""
import math

import pytest
import torch
from mmdet3d.registry import MODELS
from mmengine.registry import init_default_scope

import mim3d_plugin  # noqa: F401

ARCH = dict(embed_dims=64, num_layers=2, num_heads=4, feedforward_channels=128)


def _cfg(head_type='Mask3DHead', **test_cfg):
    """Mask3D (MaskedPretrainer: RGBDTokenEncoder + DepthPriorHead), tiny; ``test_cfg`` of the depth head (its
    ``seed`` goes to the pretrainer's)."""
    seed = test_cfg.pop('seed', 0)
    return dict(
        type='MaskedPretrainer',
        test_cfg=dict(seed=seed),
        data_preprocessor=dict(
            type='RGBDDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375]),
        encoder=dict(
            type='RGBDTokenEncoder',
            backbone=dict(
                type='Mask3DViT',
                arch=ARCH,
                img_size=(32, 48),
                patch_size=16,
                mask_ratio=0.5,
                depth_mask_ratio=0.5,
                with_depth_encoder=True,
                depth_embed_dims=32,
                depth_num_layers=1,
                depth_num_heads=2)),
        heads=dict(
            depth=dict(
                type='DepthPriorHead',
                test_cfg=test_cfg or None,
                head=dict(
                    type=head_type,
                    patch_size=16,
                    decoder=dict(
                        patch_resolution=(2, 3),
                        embed_dim=64,
                        decoder_embed_dim=32,
                        decoder_depth=1,
                        decoder_num_heads=2)))))


def _batch(n=2):
    g = torch.Generator().manual_seed(0)
    imgs = [torch.randint(0, 255, (3, 32, 48), dtype=torch.uint8, generator=g) for _ in range(n)]
    depth = [torch.rand(32, 48, generator=g) * 3 + 0.5 for _ in range(n)]
    for d in depth:
        d[:4] = 0.  # invalid rows
    return dict(inputs=dict(img=imgs, depth=depth), data_samples=None)


@pytest.mark.parametrize('head_type', ['Mask3DHead', 'RGBDReconstructionHead'])
def test_loss_and_gradients(head_type):
    init_default_scope('mmdet3d')
    torch.manual_seed(0)
    model = MODELS.build(_cfg(head_type))
    model.init_weights()
    data = model.data_preprocessor(_batch(), True)
    assert data['inputs']['imgs'].shape == (2, 3, 32, 48)
    assert data['inputs']['depth'].shape == (2, 32, 48)
    losses = model(**data, mode='loss')
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not no_grad


def test_loss_decreases_on_fixed_batch():
    init_default_scope('mmdet3d')
    torch.manual_seed(0)
    model = MODELS.build(_cfg())
    model.init_weights()
    data = model.data_preprocessor(_batch(), True)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    first = None
    for it in range(40):
        torch.manual_seed(it % 3)  # a few fixed masks
        loss = model(**data, mode='loss')['depth.loss_depth']
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.manual_seed(0)
    assert model(**data, mode='loss')['depth.loss_depth'].item() < 0.6 * first


def test_predict_reproducible_and_masked_region():
    init_default_scope('mmdet3d')
    model = MODELS.build(_cfg(mask_ratio=0.0, depth_mask_ratio=0.5, seed=3, eval_region='masked'))
    model.init_weights()
    model.eval()
    data = model.data_preprocessor(_batch(), False)
    with torch.no_grad():
        a = model(**data, mode='predict')
        b = model(**data, mode='predict')
    a, b = [s.depth for s in a], [s.depth for s in b]
    assert len(a) == 2 and a[0]['pred_depth'].shape == (32, 48)
    torch.testing.assert_close(a[0]['pred_depth'], b[0]['pred_depth'])
    m = a[0]['eval_mask']
    assert m.any() and not (m & (a[0]['gt_depth'] == 0)).any()
    # eval pixels = valid pixels of the dropped depth patches: 3 of the 6 16x16 patches,
    # each scored on all of its valid pixels
    patches = m.reshape(2, 16, 3, 16).permute(0, 2, 1, 3).reshape(6, 16, 16)
    valid = (a[0]['gt_depth'] > 0).reshape(2, 16, 3, 16).permute(0, 2, 1, 3).reshape(6, 16, 16)
    scored = patches.flatten(1).any(1)
    assert int(scored.sum()) == 3
    assert torch.equal(patches[scored], valid[scored])


def test_multiview_inputs_are_flattened():
    init_default_scope('mmdet3d')
    model = MODELS.build(_cfg())
    model.init_weights()
    inputs = dict(imgs=torch.randn(2, 3, 3, 32, 48), depth=torch.rand(2, 3, 32, 48))
    losses = model(inputs, mode='loss')
    assert torch.isfinite(losses['depth.loss_depth'])
    model.eval()
    with torch.no_grad():
        out = model(inputs, mode='predict')
        feats = model(inputs, mode='tensor')
    assert len(out) == 2 and out[0].depth['pred_depth'].shape == (3, 32, 48)
    # mode='tensor': the backbone's downstream output, the simple feature pyramid at strides 4 / 8 / 16 / 32
    assert [tuple(f.shape) for f in feats] == [(6, 64, 8, 12), (6, 64, 4, 6), (6, 64, 2, 3), (6, 64, 1, 1)]
    with pytest.raises(ValueError, match='does not match'):
        model(dict(imgs=torch.randn(2, 3, 3, 32, 48), depth=torch.rand(2, 2, 32, 48)), mode='loss')
    with pytest.raises(KeyError, match='depth'):
        model(dict(imgs=torch.randn(2, 3, 32, 48)), mode='loss')


def test_rgbd_data_preprocessor_pads_depth_as_invalid():
    init_default_scope('mmdet3d')
    pre = MODELS.build(dict(type='RGBDDataPreprocessor', mean=[0., 0., 0.], std=[1., 1., 1.], pad_size_divisor=16))
    data = dict(
        inputs=dict(img=[torch.full((3, 30, 40), 2, dtype=torch.uint8)], depth=[torch.full((30, 40), 1.5)]),
        data_samples=None)
    out = pre(data, False)['inputs']
    assert out['imgs'].shape == (1, 3, 32, 48) and out['depth'].shape == (1, 32, 48)
    assert (out['depth'][0, :30, :40] == 1.5).all() and (out['depth'][0, 30:] == 0).all()
    assert (out['depth'][0, :, 40:] == 0).all()
    with pytest.raises(KeyError, match='depth'):
        pre(dict(inputs=dict(img=[torch.zeros(3, 32, 48, dtype=torch.uint8)]), data_samples=None), False)


def test_standardized_depth_trains_and_predicts_in_metres():
    init_default_scope('mmdet3d')
    cfg = _cfg(mask_ratio=0.0, depth_mask_ratio=0.5, seed=3, eval_region='masked')
    cfg['heads']['depth']['head'].update(depth_norm='standardize')
    cfg['encoder'].update(depth_norm='standardize')
    model = MODELS.build(cfg)
    model.init_weights()
    data = model.data_preprocessor(_batch(), True)
    loss = model(**data, mode='loss')['depth.loss_depth']
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    model.eval()
    with torch.no_grad():
        out = model(**model.data_preprocessor(_batch(), False), mode='predict')
    pred, gt = out[0].depth['pred_depth'], out[0].depth['gt_depth']
    # an untrained decoder predicts ~0 in standardised units: ~ the image's robust mean depth, in metres
    assert (pred >= 0).all() and abs(pred[gt > 0].mean() - gt[gt > 0].mean()) < 1.0


def test_baselines_fill_the_dropped_patches_from_the_depth_the_model_sees():
    init_default_scope('mmdet3d')
    model = MODELS.build(_cfg(depth_mask_ratio=0.5, seed=3, eval_region='masked', baselines=['row_median']))
    model.init_weights()
    model.eval()
    with torch.no_grad():
        d = model(**model.data_preprocessor(_batch(), False), mode='predict')[0].depth
    assert 'baseline_row_median' in d and 'baseline_nearest_patch' not in d
    gt, dropped, base = d['gt_depth'], d['depth_mask'], d['baseline_row_median']
    assert dropped.any() and (~dropped).any()
    assert torch.equal(base[~dropped], gt[~dropped])  # what the model sees is copied
    # each dropped 16 px patch: the lower median of the visible valid depth of its patch row (2 x 3 patches), the
    # nearest row with some where its row has none
    rows = {}
    for r in range(2):
        band, vis = gt[r * 16:(r + 1) * 16], ~dropped[r * 16:(r + 1) * 16]
        vals = band[vis & (band > 0)].sort().values
        if len(vals):
            rows[r] = vals[(len(vals) - 1) // 2]
    for r in range(2):
        for c in range(3):
            if dropped[r * 16, c * 16]:
                want = rows[min(rows, key=lambda k: (abs(k - r), k))]
                assert (base[r * 16:(r + 1) * 16, c * 16:(c + 1) * 16] == want).all()
    with pytest.raises(ValueError, match='unknown test_cfg.baselines'):
        MODELS.build(_cfg(baselines=['mean']))
    with pytest.raises(ValueError, match='monocular'):
        MODELS.build(_cfg(depth_mask_ratio=1.0, baselines=['row_median']))


def test_loss_equals_an_independent_masked_log_depth_l1():
    """The pretrainer's loss re-derived pixel by pixel from the paper's definition (Sec. 3: L1 between the decoded
    and the true depth on the dropped depth patches; our reading: log(d / 1 m), valid pixels only), reading only the
    decoder's raw output and the encoder's depth mask from forward hooks: patch r * w + c = rows r*16.., columns
    c*16.. of the image, pixels row-major inside the patch."""
    init_default_scope('mmdet3d')
    torch.manual_seed(0)
    model = MODELS.build(_cfg())
    model.init_weights()
    data = model.data_preprocessor(_batch(), True)
    seen = {}
    model.heads['depth'].head.depth_decoder.register_forward_hook(lambda m, i, o: seen.__setitem__('pred', o))
    model.encoder.register_forward_hook(lambda m, i, o: seen.__setitem__('enc', o))
    loss = model(**data, mode='loss')['depth.loss_depth']
    pred, dropped = seen['pred'].detach(), seen['enc'].tokens['depth_mask']
    depth = data['inputs']['depth']
    assert pred.shape == (2, 6, 256) and dropped.shape == (2, 6) and 0 < dropped.sum() < 12
    err, n = 0.0, 0
    for b in range(2):
        for r in range(2):
            for c in range(3):
                if not dropped[b, r * 3 + c]:
                    continue
                for y in range(16):
                    for x in range(16):
                        d = float(depth[b, r * 16 + y, c * 16 + x])
                        if d > 0:
                            err += abs(float(pred[b, r * 3 + c, y * 16 + x]) - math.log(d))
                            n += 1
    assert n > 0
    assert abs(loss.item() - err / n) < 1e-5
