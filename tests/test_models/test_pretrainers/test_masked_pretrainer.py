"""MaskedPretrainer: GeoMIM / MIM4D / Mask3D losses equal to the pre-composable computations, the hybrid
(one encoder forward, every head learns), mask composition rules and their errors."""
import copy

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope

import mim3d_plugin  # noqa: F401
from mim3d_plugin.geometry import relative_transform
from mim3d_plugin.models.pretrainers import EncoderOutput
from mim3d_plugin.models.utils import camera_aware_vector, stack_meta
from mmdet3d.registry import MODELS

from test_geomim import H, W, fake_batch, tiny_geomim_cfg  # this folder (pytest puts it on sys.path)
from test_mim4d import _batch as mim4d_batch
from test_mim4d import _cfg as mim4d_cfg

init_default_scope('mmdet3d')


def _max_diff(a: dict, b: dict, b_prefix: str = '') -> float:
    assert {b_prefix + k for k in a} == set(b), (sorted(a), sorted(b))
    return max(float((a[k] - b[b_prefix + k]).abs().max()) for k in a)


def _remap(state: dict, encoder_keys: dict, head: str) -> dict:
    """Root keys of a single-head class -> ``encoder.*`` / ``heads.<head>.*`` of MaskedPretrainer."""
    out = {}
    for key, value in state.items():
        root, rest = key.split('.', 1)
        out[f'encoder.{encoder_keys[root]}.{rest}' if root in encoder_keys else f'heads.{head}.{key}'] = value
    return out


# ---------------------------------------------------------------------------------------------------- GeoMIM
def _geomim_reference_loss(m, inputs, samples):
    """The pre-composable ``GeoMIM.loss`` (stop 18 code), written out on the model's modules."""
    imgs = inputs['imgs']
    cams = {k: stack_meta(samples, k, imgs.device) for k in ('lidar2img', 'cam2img', 'img_aug_matrix', 'cam2ego')}
    cam_params = camera_aware_vector(cams['cam2img'], cams['img_aug_matrix'], cams['cam2ego'])
    feats, unit_mask = m.backbone(imgs)
    outs = []
    for hidden in (unit_mask, ~unit_mask):
        dec = m.decoder(feats, hidden, cam_params)
        bev, depth_prob = m.view_transformer(dec['semantic'], cams['lidar2img'], depth_logits=dec['depth_logits'])
        outs.append((m.bev_head(bev), depth_prob))
    target = m.teacher(inputs['points'])
    loss_bev = sum(m.loss_bev(bev, target) for bev, _ in outs) / 2
    loss_depth = sum(m.view_transformer.depth_loss(dp, inputs['depth']) for _, dp in outs)
    return dict(loss_bev=loss_bev, loss_depth=m.depth_loss_weight * loss_depth / 2)


def _composable_geomim_cfg():
    cfg = tiny_geomim_cfg()
    head = {k: cfg[k] for k in ('decoder', 'view_transformer', 'teacher', 'teacher_channels', 'loss_bev',
                                'depth_loss_weight', 'allow_untrained_teacher')}
    return dict(type='MaskedPretrainer', data_preprocessor=cfg['data_preprocessor'],
                encoder=dict(type='UnitMaskSwinEncoder', backbone=cfg['backbone']),
                heads=dict(bev=dict(type='LiDARBEVDistillHead', **head)))


def _run(model, state, fn, seed=3):
    model.load_state_dict(state)
    model.train()
    model.zero_grad()
    torch.manual_seed(seed)
    losses = fn()
    sum(losses.values()).backward()
    return {k: v.detach() for k, v in losses.items()}


def test_geomim_losses_and_gradients_equal_the_pre_composable_class_and_the_composable_config():
    torch.manual_seed(0)
    geomim = MODELS.build(tiny_geomim_cfg())
    geomim.init_weights()
    state = copy.deepcopy(geomim.state_dict())
    data = geomim.data_preprocessor(fake_batch(2), True)
    inputs, samples = data['inputs'], data['data_samples']

    ref = _run(geomim, state, lambda: _geomim_reference_loss(geomim, inputs, samples))
    ref_grad = {n: p.grad.clone() for n, p in geomim.named_parameters() if p.grad is not None}
    ours = _run(geomim, state, lambda: geomim.loss(inputs, samples))
    assert _max_diff(ref, ours) == 0.0
    composable = MODELS.build(_composable_geomim_cfg())
    comp = _run(composable, _remap(state, {'backbone': 'backbone'}, 'bev'),
                lambda: composable(inputs, samples, mode='loss'))
    assert _max_diff(ref, comp, 'bev.') == 0.0
    comp_grad = dict(composable.named_parameters())
    remapped = _remap(ref_grad, {'backbone': 'backbone'}, 'bev')
    assert max(float((g - comp_grad[k].grad).abs().max()) for k, g in remapped.items()) == 0.0
    assert ref['loss_bev'] > 0 and ref['loss_depth'] > 0
    # old checkpoints: the GeoMIM class keeps its root keys
    assert {k.split('.')[0] for k in state} == {'backbone', 'decoder', 'view_transformer', 'bev_head', 'teacher'}


# ---------------------------------------------------------------------------------------------------- MIM4D
def _mim4d_reference_loss(m, inputs, samples, targets):
    """The pre-composable ``MIM4D.loss`` (stop 18 code: extract_volumes, _targets, _target_losses) on the model's
    modules, LiDAR volume frame."""
    imgs = inputs['imgs']
    b, fn = imgs.shape[:2]
    f = m.num_frames
    n = fn // f
    lidar2img = stack_meta(samples, 'lidar2img', imgs.device).view(b, f, n, 4, 4)
    frame2global = stack_meta(samples, 'ego2global', imgs.device, torch.float64) @ \
        stack_meta(samples, 'lidar2ego', imgs.device, torch.float64)
    frame_valid = stack_meta(samples, 'frame_valid', imgs.device, torch.bool)
    depth = inputs['depth'].view(b, f, n, *imgs.shape[-2:])
    flat = imgs.flatten(0, 1)
    mask = m.img_backbone.random_mask(flat.shape[0], flat.shape[-2:], device=flat.device)
    feats = m.img_neck(m.img_backbone(flat, mask))[0]
    volumes, _ = m.view_transform(feats.view((b * f, n) + feats.shape[1:]), lidar2img.flatten(0, 1))
    volumes = volumes.view((b, f) + volumes.shape[1:])
    pre = m.data_preprocessor
    rgb = ((imgs * pre.std.view(3, 1, 1) + pre.mean.view(3, 1, 1)) / 255.0).clamp(0, 1).view(b, f, n, 3,
                                                                                             *imgs.shape[-2:])
    drawn = []
    for name in targets:
        drawn.append(torch.full((b, ), f - 1, dtype=torch.long) if name == 'current' else
                     torch.randint(0, f - 1, (b, )))
    losses = {}
    bidx = torch.arange(b)
    for target in drawn:
        others = torch.stack([torch.tensor([j for j in range(f) if j != t]) for t in target.tolist()])
        rows = bidx.view(b, 1)
        f2t = relative_transform(frame2global[rows, others], frame2global[bidx, target].unsqueeze(1)).float()
        pseudo = m.temporal_builder(volumes[rows, others], f2t, frame_valid[rows, others])
        rays, tgt_rgb, tgt_depth, hit = m.render_head.sample_rays(lidar2img[bidx, target], depth[bidx, target],
                                                                  rgb[bidx, target])
        one = m.render_head.loss(pseudo, rays, tgt_rgb, tgt_depth, hit,
                                 frame_valid[rows, others].any(1) & frame_valid[bidx, target], '_pseudo')
        one.update(m.render_head.loss(volumes[bidx, target], rays, tgt_rgb, tgt_depth, hit,
                                      frame_valid[bidx, target], '_cur'))
        for k, v in one.items():
            losses[k] = losses[k] + v if k in losses else v
    return {k: v / len(drawn) for k, v in losses.items()}


def _composable_mim4d_cfg(num_frames):
    cfg = mim4d_cfg(num_frames)
    return dict(type='MaskedPretrainer', num_frames=num_frames, data_preprocessor=cfg['data_preprocessor'],
                encoder=dict(type='SparseMaskEncoder', backbone=cfg['img_backbone'], neck=cfg['img_neck']),
                heads=dict(render=dict(type='TemporalRenderingHead', num_frames=num_frames,
                                       **{k: cfg[k] for k in ('view_transform', 'temporal_builder', 'render_head')})))


@pytest.mark.parametrize('f', [2, 3])
def test_mim4d_losses_and_gradients_equal_the_pre_composable_class_and_the_composable_config(f):
    torch.manual_seed(0)
    mim4d = MODELS.build(mim4d_cfg(f))
    mim4d.init_weights()
    state = copy.deepcopy(mim4d.state_dict())
    inputs, samples = mim4d_batch(2, 2, f)
    ref = _run(mim4d, state, lambda: _mim4d_reference_loss(mim4d, inputs, samples, ('current', 'random')))
    ref_grad = {n: p.grad.clone() for n, p in mim4d.named_parameters() if p.grad is not None}
    ours = _run(mim4d, state, lambda: mim4d.loss(inputs, samples))
    assert _max_diff(ref, ours) == 0.0
    composable = MODELS.build(_composable_mim4d_cfg(f))
    keys = {'img_backbone': 'backbone', 'img_neck': 'neck'}
    comp = _run(composable, _remap(state, keys, 'render'), lambda: composable.loss(inputs, samples))
    assert _max_diff(ref, comp, 'render.') == 0.0
    comp_grad = dict(composable.named_parameters())
    assert max(float((g - comp_grad[k].grad).abs().max()) for k, g in _remap(ref_grad, keys, 'render').items()) == 0
    assert all(v > 0 for k, v in ref.items() if k.startswith('loss_rgb'))
    assert {k.split('.')[0] for k in state} == {'img_backbone', 'img_neck', 'view_transform', 'temporal_builder',
                                                'render_head'}


# ---------------------------------------------------------------------------------------------------- Mask3D
@pytest.mark.parametrize('head_type', ['Mask3DHead', 'RGBDReconstructionHead'])
def test_mask3d_losses_equal_the_composable_rgbd_encoder_and_depth_prior_head(head_type):
    import importlib.util
    import os.path as osp
    path = osp.join(osp.dirname(__file__), '..', 'test_selfsup', 'test_mask3d.py')
    spec = importlib.util.spec_from_file_location('mask3d_test_helpers', path)
    helpers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helpers)
    _batch, _cfg = helpers._batch, helpers._cfg
    torch.manual_seed(0)
    cfg = _cfg(head_type)
    mask3d = MODELS.build(cfg)
    mask3d.init_weights()
    state = copy.deepcopy(mask3d.state_dict())
    data = mask3d.data_preprocessor(_batch(), True)
    inputs = data['inputs']

    def reference():  # the Mask3D loss: masked RGB-D bottleneck of the ViT, then the head
        imgs, depth = inputs['imgs'], inputs['depth']
        return mask3d.head.loss(mask3d.backbone(imgs, mask3d.head.encode_depth_input(depth)), imgs, depth)

    ref = _run(mask3d, state, reference)
    ours = _run(mask3d, state, lambda: mask3d(inputs, None, mode='loss'))
    assert _max_diff(ref, ours) == 0.0
    composable = MODELS.build(dict(type='MaskedPretrainer', data_preprocessor=cfg['data_preprocessor'],
                                   encoder=dict(type='RGBDTokenEncoder', backbone=cfg['backbone']),
                                   heads=dict(depth=dict(type='DepthPriorHead', head=cfg['head']))))
    comp = _run(composable, _remap(state, {'backbone': 'backbone'}, 'depth'), lambda: composable.loss(inputs, []))
    assert _max_diff(ref, comp, 'depth.') == 0.0
    # the encoder's depth input normalisation must be the head's target normalisation
    with pytest.raises(ValueError, match='differs from the head target'):
        MODELS.build(dict(type='MaskedPretrainer', encoder=dict(type='RGBDTokenEncoder', backbone=cfg['backbone'],
                                                                depth_norm='linear'),
                          heads=dict(depth=dict(type='DepthPriorHead', head=cfg['head']))))


# ---------------------------------------------------------------------------------------------------- hybrid
PCR, VOX = [-6.4, -6.4, -2.0, 6.4, 6.4, 2.0], [0.8, 0.8, 1.0]


def hybrid_cfg(num_frames=2, heads=('bev', 'render', 'depth', 'pixel'), encoder='swin'):
    """A tiny Swin (complementary masks) on 2-frame clips with all four heads."""
    g = tiny_geomim_cfg()
    width = 64
    if encoder == 'swin':
        enc = dict(type='UnitMaskSwinEncoder', backbone=g['backbone'])
    else:
        m = mim4d_cfg(num_frames)
        enc = dict(type='SparseMaskEncoder', backbone=m['img_backbone'], neck=dict(m['img_neck'], out_channels=width))
    all_heads = dict(
        bev=dict(type='LiDARBEVDistillHead', **{k: g[k] for k in (
            'decoder', 'view_transformer', 'teacher', 'teacher_channels', 'loss_bev', 'depth_loss_weight',
            'allow_untrained_teacher')}),
        render=dict(
            type='TemporalRenderingHead', num_frames=num_frames, temporal_targets=('current', ),
            view_transform=dict(type='VoxelLifting', grid_config=dict(x=[-6.4, 6.4, 0.8], y=[-6.4, 6.4, 0.8],
                                                                      z=[-2.0, 2.0, 1.0], depth=[0.5, 6.9, 0.8]),
                                input_size=(H, W), downsample=16, in_channels=width, lift_channels=8,
                                out_channels=8, num_convs=1),
            temporal_builder=dict(type='SceneFlowPseudo3DBuilder', point_cloud_range=PCR, voxel_size=VOX,
                                  embed_dims=8, num_frames=num_frames - 1, num_heads=2, num_points=2,
                                  ffn_channels=16),
            render_head=dict(type='VolumeRenderingHead', point_cloud_range=PCR, voxel_size=VOX, in_channels=8,
                             num_rays=8, uniform_sampler=dict(type='UniformSampler', num_samples=16),
                             importance_sampler=dict(type='NeuSUpSampler', num_samples=8),
                             sdf_field=dict(hidden_channels=16, geo_feat_channels=4),
                             rgb_field=dict(hidden_channels=16), num_eikonal_points=32, image_stride=8)),
        depth=dict(type='DepthPriorHead',
                   head=dict(type='Mask3DHead', patch_size=16,
                             decoder=dict(patch_resolution=(H // 16, W // 16), embed_dim=32, decoder_embed_dim=16,
                                          decoder_depth=1, decoder_num_heads=2)),
                   fusion=dict(type='DepthTokenFusion', in_channels=width, embed_dims=32, patch_size=16,
                               depth_embed_dims=16, depth_num_layers=1, depth_num_heads=2)),
        pixel=dict(type='MaskedPixelHead', in_channels=width, stride=16, channels=16, num_convs=1))
    return dict(type='MaskedPretrainer', num_frames=num_frames, data_preprocessor=g['data_preprocessor'],
                encoder=enc, heads={k: all_heads[k] for k in heads})


def hybrid_batch(b=2, f=2, seed=0):
    """GeoMIM's two-camera test rig on ``f``-frame clips: the car drives 1.5 m along x per frame."""
    data = fake_batch(b, seed)
    from mim3d_plugin.geometry import make_transform, rotation_z
    for sample, img, depth in zip(data['data_samples'], data['inputs']['img'], data['inputs']['depth']):
        keys = ('cam2img', 'lidar2img', 'img_aug_matrix', 'cam2ego', 'lidar2cam')
        meta = {k: np.concatenate([sample.metainfo[k]] * f) for k in keys}
        meta.update(lidar2ego=np.stack([np.eye(4)] * f), frame_valid=np.ones(f, bool), depth_frames=np.ones(f, bool),
                    ego2global=np.stack([make_transform(rotation_z(torch.tensor(0.05 * t)),
                                                        torch.tensor([1.5 * t, 0., 0.])).numpy() for t in range(f)]))
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
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    sum(losses.values()).backward()
    no_grad = sorted(n for n, p in model.named_parameters() if p.requires_grad and p.grad is None)
    if encoder == 'swin':  # the unmasked-only stage norms of GeoMIMSwin; no unseen cells for the RGB mask token
        assert all(n.startswith('encoder.backbone.norm') for n in no_grad[:-1]), no_grad
        assert no_grad[-1] == 'heads.depth.fusion.rgb_mask_token'
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
    pred = a(data['inputs'], data['data_samples'], mode='tensor')
    assert set(pred) == {'bev', 'pixel'} and len(pred['pixel']) == 2  # complementary: two passes
    assert pred['pixel'][0]['pixels'].shape == (2 * 2 * 2, 3, H, W)
    with pytest.raises(ValueError, match='unknown heads'):
        MODELS.build(dict(cfg, loss_weights=dict(render=1.0)))


def test_invalid_combinations_raise_with_the_head_and_mask_kind():
    mask3d_vit = dict(type='Mask3DViT', arch=dict(embed_dims=64, num_layers=1, num_heads=4, feedforward_channels=64),
                      img_size=(H, W), patch_size=16, depth_embed_dims=32, depth_num_layers=1, depth_num_heads=2)
    cfg = hybrid_cfg()
    with pytest.raises(ValueError, match="head 'bev' .* cannot use the 'rgbd_tokens' mask"):
        MODELS.build(dict(cfg, encoder=dict(type='RGBDTokenEncoder', backbone=mask3d_vit), heads=dict(
            bev=cfg['heads']['bev'])))
    with pytest.raises(ValueError, match="head 'render' .* needs clips of at least 2 frames"):
        MODELS.build(dict(cfg, num_frames=1, heads=dict(render=cfg['heads']['render'])))
    unmasked = hybrid_cfg(encoder='convnext')
    unmasked['encoder']['use_mask'] = False
    with pytest.raises(ValueError, match="head 'pixel' .* cannot use the 'none' mask"):
        MODELS.build(dict(unmasked, heads=dict(pixel=unmasked['heads']['pixel'])))
    with pytest.raises(ValueError, match='needs fusion'):
        MODELS.build(dict(cfg, heads=dict(depth=dict(cfg['heads']['depth'], fusion=None))))
    with pytest.raises(ValueError, match='reconstructs RGB'):
        MODELS.build(dict(cfg, heads=dict(depth=dict(cfg['heads']['depth'], head=dict(
            cfg['heads']['depth']['head'], type='RGBDReconstructionHead')))))
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
    base = head.loss(enc, dict(imgs=imgs), [])['loss_pixel']
    seen = imgs.clone()
    seen[..., 32:, :] += 5 * torch.randn_like(seen[..., 32:, :])
    assert torch.equal(head.loss(enc, dict(imgs=seen), [])['loss_pixel'], base)
    hidden = imgs.clone()
    hidden[..., :32, :] += 5 * torch.randn_like(hidden[..., :32, :])
    assert not torch.isclose(head.loss(enc, dict(imgs=hidden), [])['loss_pixel'], base)
    # complementary: both groups in turn, so every pixel is a target once
    comp = EncoderOutput('complementary', 1, 2, feats=enc.feats, stride=16, mask=mask, mask_unit=32)
    assert len(head.predict(comp, dict(imgs=imgs), [])) == 2
    with pytest.raises(ValueError, match='images of'):
        head.loss(enc, dict(imgs=imgs[..., :32, :]), [])
    assert not torch.equal(head.loss(comp, dict(imgs=seen), [])['loss_pixel'], head.loss(comp, dict(imgs=imgs),
                                                                                         [])['loss_pixel'])


def test_depth_token_fusion_never_encodes_dropped_depth_patches():
    torch.manual_seed(0)
    fusion = MODELS.build(dict(type='DepthTokenFusion', in_channels=8, embed_dims=16, patch_size=16,
                               depth_mask_ratio=0.5, depth_embed_dims=16, depth_num_layers=1, depth_num_heads=2))
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


def test_single_head_classes_hold_each_module_once_through_train_eval_and_deepcopy():
    mim4d = MODELS.build(mim4d_cfg(2))
    params = list(mim4d.parameters())
    assert len(params) == len({id(p) for p in params})
    head, enc = mim4d.pretext_heads['render'], mim4d.pretext_encoder
    assert head.render_head is mim4d.render_head and enc.backbone is mim4d.img_backbone
    assert sum(p.numel() for p in params) == sum(p.numel() for p in (*head.parameters(), *enc.parameters()))
    mim4d.eval()
    assert not head.training and not enc.training and not mim4d.render_head.training
    mim4d.train()
    assert head.training and enc.training
    ema = copy.deepcopy(mim4d)  # mmengine's EMA copies the model: the head must drive the copy's modules
    assert ema.pretext_heads['render'].render_head is ema.render_head is not mim4d.render_head
    assert ema.pretext_encoder.neck is ema.img_neck


@pytest.mark.parametrize('depth_mask', ['image_hidden', 'image_visible'])
def test_depth_mask_follows_the_image_mask_when_configured(depth_mask):
    torch.manual_seed(0)
    cfg = hybrid_cfg(heads=('depth', ), encoder='convnext')
    cfg['heads']['depth']['depth_mask'] = depth_mask
    model = MODELS.build(cfg)
    model.init_weights()
    data = model.data_preprocessor(hybrid_batch(), True)
    enc = model.encode(data['inputs'], data['data_samples'])
    out, _, _ = model.heads['depth'].bottleneck(enc, data['inputs'])
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
