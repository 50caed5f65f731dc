"""MaskedPretrainer: the hybrid (one encoder forward, every head learns), loss weights, predict / tensor modes,
mask composition rules and their errors. (GeoMIM, MIM4D and Mask3D against the pre-refactor code:
test_pre_refactor_equality.py.)"""
import numpy as np
import pytest
import torch
from mmdet3d.registry import MODELS
from mmengine.registry import init_default_scope
from test_geomim import H, W, fake_batch, tiny_geomim_cfg  # this folder (pytest puts it on sys.path)
from test_mim4d import _cfg as mim4d_cfg

import mim3d_plugin  # noqa: F401
from mim3d_plugin.models.pretext_heads import EncoderOutput

init_default_scope('mmdet3d')

# ---------------------------------------------------------------------------------------------------- hybrid
PCR, VOX = [-6.4, -6.4, -2.0, 6.4, 6.4, 2.0], [0.8, 0.8, 1.0]


def hybrid_cfg(num_frames=2, heads=('bev', 'render', 'depth', 'pixel'), encoder='swin'):
    """A tiny Swin (complementary masks) on 2-frame clips with all four heads."""
    g = tiny_geomim_cfg()
    width = 64
    if encoder == 'swin':
        enc = g['encoder']
    else:
        m = mim4d_cfg(num_frames)['encoder']
        enc = dict(m, neck=dict(m['neck'], out_channels=width))
    all_heads = dict(
        bev=g['heads']['bev'],
        render=dict(
            type='TemporalRenderingHead',
            num_frames=num_frames,
            temporal_targets=('current', ),
            # a complementary encoder must render only what each pass hid; the sparse one keeps MIM4D's rays
            target_rays='hidden' if encoder == 'swin' else 'all',
            point_cloud_range=PCR,
            voxel_size=VOX,
            view_transform=dict(
                type='VoxelLifting',
                grid_config=dict(depth=[0.5, 6.9, 0.8]),
                input_size=(H, W),
                downsample=16,
                in_channels=width,
                lift_channels=8,
                out_channels=8,
                num_convs=1),
            temporal_builder=dict(
                type='SceneFlowPseudo3DBuilder',
                embed_dims=8,
                num_frames=num_frames - 1,
                num_heads=2,
                num_points=2,
                ffn_channels=16),
            render_head=dict(
                type='VolumeRenderingHead',
                in_channels=8,
                num_rays=8,
                uniform_sampler=dict(type='UniformSampler', num_samples=16),
                importance_sampler=dict(type='NeuSUpSampler', num_samples=8),
                sdf_field=dict(hidden_channels=16, geo_feat_channels=4),
                rgb_field=dict(hidden_channels=16),
                num_eikonal_points=32,
                image_stride=8)),
        depth=dict(
            type='DepthPriorHead',
            head=dict(
                type='Mask3DHead',
                patch_size=16,
                decoder=dict(
                    patch_resolution=(H // 16, W // 16),
                    embed_dim=32,
                    decoder_embed_dim=16,
                    decoder_depth=1,
                    decoder_num_heads=2)),
            fusion=dict(
                type='DepthTokenFusion',
                in_channels=width,
                embed_dims=32,
                patch_size=16,
                depth_embed_dims=16,
                depth_num_layers=1,
                depth_num_heads=2)),
        pixel=dict(type='MaskedPixelHead', in_channels=width, stride=16, channels=16, num_convs=1))
    return dict(
        type='MaskedPretrainer',
        num_frames=num_frames,
        data_preprocessor=g['data_preprocessor'],
        encoder=enc,
        heads={k: all_heads[k]
               for k in heads})


def hybrid_batch(b=2, f=2, seed=0):
    """GeoMIM's two-camera test rig on ``f``-frame clips: the car drives 1.5 m along x per frame."""
    data = fake_batch(b, seed)
    from mim3d_plugin.geometry import make_transform, rotation_z
    for sample, img, depth in zip(data['data_samples'], data['inputs']['img'], data['inputs']['depth']):
        keys = ('cam2img', 'lidar2img', 'img_aug_matrix', 'cam2ego', 'lidar2cam')
        meta = {k: np.concatenate([sample.metainfo[k]] * f) for k in keys}
        meta.update(
            lidar2ego=np.stack([np.eye(4)] * f),
            frame_valid=np.ones(f, bool),
            depth_frames=np.ones(f, bool),
            ego2global=np.stack([
                make_transform(rotation_z(torch.tensor(0.05 * t)), torch.tensor([1.5 * t, 0., 0.])).numpy()
                for t in range(f)
            ]))
        sample.set_metainfo(meta)
    data['inputs']['img'] = [x.repeat(f, 1, 1, 1) for x in data['inputs']['img']]
    data['inputs']['depth'] = [x.repeat(f, 1, 1) for x in data['inputs']['depth']]
    return data


@pytest.mark.parametrize('encoder', ['swin', 'convnext'])
def test_hybrid_encodes_once_and_every_head_learns(encoder):
    torch.manual_seed(0)
    model = MODELS.build(hybrid_cfg(encoder=encoder))
    model.init_weights()
    model.train()
    data = model.data_preprocessor(hybrid_batch(), True)
    calls = []
    model.encoder.backbone.register_forward_hook(lambda *a: calls.append(1))
    losses = model(data['inputs'], data['data_samples'], mode='loss')
    assert len(calls) == 1  # one encoder forward for the four heads
    assert {k.split('.')[0] for k in losses} == {'bev', 'render', 'depth', 'pixel'}
    assert all(torch.isfinite(v) and v > 0 for k, v in losses.items() if 'loss' in k)
    if encoder == 'swin':  # each pass renders only what it hid; the depth prior sees the RGB of ~half its targets
        assert float(losses['render.visible_target_cur']) == 0.0
        assert 0.2 < float(losses['depth.visible_target']) < 0.8
    sum(losses.values()).backward()
    no_grad = sorted(n for n, p in model.named_parameters() if p.requires_grad and p.grad is None)
    if encoder == 'swin':  # every parameter, the depth fusion's RGB mask token included (cells a pass hid)
        assert not no_grad, no_grad
    else:  # mmdet's FPN stride-32 output is not used
        assert all(n.startswith('encoder.neck.fpn_convs.1') for n in no_grad), no_grad
    for head in ('bev', 'render', 'depth', 'pixel'):
        grads = [p.grad for n, p in model.heads[head].named_parameters() if p.grad is not None]
        assert grads and any(g.abs().sum() > 0 for g in grads), head
    # each head's loss reaches the encoder
    for head in ('bev', 'render', 'depth', 'pixel'):
        model.zero_grad()
        torch.manual_seed(1)
        sub = model(data['inputs'], data['data_samples'], mode='loss')
        sum(v for k, v in sub.items() if k.startswith(head + '.')).backward()
        assert sum(float(p.grad.abs().sum()) for p in model.encoder.parameters() if p.grad is not None) > 0, head


def test_loss_weights_scale_each_head_and_tensor_mode_returns_every_head():
    torch.manual_seed(0)
    cfg = hybrid_cfg(heads=('bev', 'pixel'))
    a = MODELS.build(cfg)
    a.init_weights()
    b = MODELS.build(dict(cfg, loss_weights=dict(pixel=0.25)))
    b.load_state_dict(a.state_dict())
    data = a.data_preprocessor(hybrid_batch(), True)
    torch.manual_seed(2)
    la = a.loss(data['inputs'], data['data_samples'])
    torch.manual_seed(2)
    lb = b.loss(data['inputs'], data['data_samples'])
    assert torch.equal(lb['pixel.loss_pixel'], 0.25 * la['pixel.loss_pixel'])
    assert torch.equal(lb['bev.loss_bev'], la['bev.loss_bev'])
    a.eval()
    panels = MODELS.build(hybrid_cfg()).eval().visual_panels(data['inputs'], data['data_samples'], max_views=2)
    assert {k.split('_')[0] for k in panels} == {'bev', 'render', 'depth'}  # the pixel head draws none
    assert all(p.dtype == np.uint8 and p.ndim == 3 and p.shape[-1] == 3 for p in panels.values())
    pred = a(data['inputs'], data['data_samples'], mode='predict')
    assert len(pred) == 2 and {'bev', 'pixel'} <= set(pred[0].keys())
    assert pred[0].pixel['pixels'].shape == (2, 2 * 2, 3, H, W)  # complementary: two passes, 2 frames x 2 views
    with pytest.raises(ValueError, match='unknown heads'):
        MODELS.build(dict(cfg, loss_weights=dict(render=1.0)))


def test_invalid_combinations_raise_with_the_head_and_mask_kind():
    mask3d_vit = dict(
        type='Mask3DViT',
        arch=dict(embed_dims=64, num_layers=1, num_heads=4, feedforward_channels=64),
        img_size=(H, W),
        patch_size=16,
        with_depth_encoder=True,
        depth_embed_dims=32,
        depth_num_layers=1,
        depth_num_heads=2)
    cfg = hybrid_cfg()
    with pytest.raises(ValueError, match="head 'bev' .* cannot use the 'rgbd_tokens' mask"):
        MODELS.build(
            dict(cfg, encoder=dict(type='RGBDTokenEncoder', backbone=mask3d_vit), heads=dict(bev=cfg['heads']['bev'])))
    with pytest.raises(ValueError, match="head 'render' .* needs clips of at least 2 frames"):
        MODELS.build(dict(cfg, num_frames=1, heads=dict(render=cfg['heads']['render'])))
    unmasked = hybrid_cfg(encoder='convnext')
    unmasked['encoder']['use_mask'] = False
    with pytest.raises(ValueError, match="head 'pixel' .* cannot use the 'none' mask"):
        MODELS.build(dict(unmasked, heads=dict(pixel=unmasked['heads']['pixel'])))
    with pytest.raises(ValueError, match='needs fusion'):
        MODELS.build(dict(cfg, heads=dict(depth=dict(cfg['heads']['depth'], fusion=None))))
    with pytest.raises(ValueError, match='reconstructs RGB'):
        MODELS.build(
            dict(
                cfg,
                heads=dict(
                    depth=dict(
                        cfg['heads']['depth'], head=dict(cfg['heads']['depth']['head'],
                                                         type='RGBDReconstructionHead')))))
    with pytest.raises(ValueError, match='heads is empty'):
        MODELS.build(dict(cfg, heads={}))
    with pytest.raises(ValueError, match='use_mask=True'):
        unmasked_swin = dict(cfg['encoder']['backbone'], use_mask=False)
        MODELS.build(dict(cfg, encoder=dict(type='UnitMaskSwinEncoder', backbone=unmasked_swin)))


def test_masked_pixel_head_learns_only_the_hidden_pixels():
    torch.manual_seed(0)
    head = MODELS.build(dict(type='MaskedPixelHead', in_channels=8, stride=16, channels=8, num_convs=1))
    head.init_weights()
    mask = torch.zeros(1, 2, 2, 3, dtype=torch.bool)
    mask[..., 0, :] = True  # top unit row hidden (sparse: not seen by the encoder)
    enc = EncoderOutput('sparse', 1, 2, feats=torch.randn(1, 2, 8, 4, 6), stride=16, mask=mask, mask_unit=32)
    imgs = torch.randn(1, 2, 3, 64, 96)
    base = head.loss(enc, dict(imgs=imgs), {})['loss_pixel']
    seen = imgs.clone()
    seen[..., 32:, :] += 5 * torch.randn_like(seen[..., 32:, :])
    assert torch.equal(head.loss(enc, dict(imgs=seen), {})['loss_pixel'], base)
    hidden = imgs.clone()
    hidden[..., :32, :] += 5 * torch.randn_like(hidden[..., :32, :])
    assert not torch.isclose(head.loss(enc, dict(imgs=hidden), {})['loss_pixel'], base)
    # complementary: both groups in turn, so every pixel is a target once
    comp = EncoderOutput('complementary', 1, 2, feats=enc.feats, stride=16, mask=mask, mask_unit=32)
    assert head.predict(comp, dict(imgs=imgs), {})['pixels'].shape[:2] == (1, 2)
    with pytest.raises(ValueError, match='images of'):
        head.loss(enc, dict(imgs=imgs[..., :32, :]), {})
    assert not torch.equal(
        head.loss(comp, dict(imgs=seen), {})['loss_pixel'],
        head.loss(comp, dict(imgs=imgs), {})['loss_pixel'])


def test_depth_token_fusion_never_encodes_dropped_depth_patches():
    torch.manual_seed(0)
    fusion = MODELS.build(
        dict(
            type='DepthTokenFusion',
            in_channels=8,
            embed_dims=16,
            patch_size=16,
            depth_mask_ratio=0.5,
            depth_embed_dims=16,
            depth_num_layers=1,
            depth_num_heads=2))
    fusion.init_weights()
    feats = torch.randn(2, 8, 2, 3)
    depth = torch.rand(2, 2, 32, 48) + 1
    torch.manual_seed(5)
    out = fusion(feats, None, depth)
    assert out['latent'].shape == (2, 1 + 6, 16) and out['depth_mask'].sum(1).tolist() == [3, 3]
    dropped = out['depth_mask'].view(2, 1, 2, 3).repeat_interleave(16, 2).repeat_interleave(16, 3).bool()
    changed = torch.where(dropped.expand_as(depth), depth + 10, depth)
    torch.manual_seed(5)
    again = fusion(feats, None, changed)
    assert torch.equal(again['latent'], out['latent'])  # dropped depth patches never reach the bottleneck
    torch.manual_seed(5)
    kept = torch.where(dropped.expand_as(depth), depth, depth + 10)
    assert not torch.equal(fusion(feats, None, kept)['latent'], out['latent'])
    # sparse encoder: cells it did not see carry the RGB mask token, whatever their (zero) features
    hidden = torch.tensor([[[True, False, False], [False, False, False]]] * 2)
    torch.manual_seed(5)
    a = fusion(feats, hidden, depth)
    torch.manual_seed(5)
    b = fusion(feats + 100 * hidden[:, None].float(), hidden, depth)
    assert torch.equal(a['latent'], b['latent']) and a['rgb_mask'][:, 0].tolist() == [1.0, 1.0]


@pytest.mark.parametrize('depth_mask', ['image_hidden', 'image_visible'])
def test_depth_mask_follows_the_image_mask_when_configured(depth_mask):
    torch.manual_seed(0)
    cfg = hybrid_cfg(heads=('depth', ), encoder='convnext')
    cfg['heads']['depth']['depth_mask'] = depth_mask
    model = MODELS.build(cfg)
    model.init_weights()
    data = model.data_preprocessor(hybrid_batch(), True)
    enc = model.encode(data['inputs'])
    out, _, _, _ = model.heads['depth'].bottleneck(enc, data['inputs'])
    units = enc.current(enc.mask).flatten(0, 1)  # (B * N, H / 32, W / 32), True = not seen by the encoder
    cells = units.repeat_interleave(2, -2).repeat_interleave(2, -1).flatten(1).float()
    assert torch.equal(out['depth_mask'], cells if depth_mask == 'image_hidden' else 1 - cells)
    assert torch.equal(out['rgb_mask'], cells)
    assert torch.isfinite(model.loss(data['inputs'], data['data_samples'])['depth.loss_depth'])
    unmasked = hybrid_cfg(heads=('depth', ), encoder='convnext')
    unmasked['encoder']['use_mask'] = False
    unmasked['heads']['depth']['depth_mask'] = depth_mask
    with pytest.raises(ValueError, match='follows the image mask'):
        MODELS.build(unmasked)
