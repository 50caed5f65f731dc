import pytest
import torch
from mmdet3d.registry import MODELS
from mmdet3d.structures import Det3DDataSample
from mmengine.registry import init_default_scope

import mim3d_plugin  # noqa: F401
from mim3d_plugin.geometry import make_transform, pad_intrinsics, rotation_z

init_default_scope('mmdet3d')

PCR, VOX = [-6.4, -6.4, -2.0, 6.4, 6.4, 2.0], [0.8, 0.8, 1.0]  # 16 x 16 x 4


def _cfg(num_frames=2, **kw):
    """MIM4D (MaskedPretrainer: SparseMaskEncoder + TemporalRenderingHead), tiny; ``kw`` go to the head."""
    return dict(
        type='MaskedPretrainer',
        num_frames=num_frames,
        data_preprocessor=dict(
            type='MultiViewDataPreprocessor',
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375],
            bgr_to_rgb=True),
        encoder=dict(
            type='SparseMaskEncoder',
            neck_level=0,
            backbone=dict(
                type='MaskConvNeXt',
                arch=dict(depths=[1, 1, 1, 1], channels=[8, 16, 24, 32]),
                out_indices=(2, 3),
                gap_before_final_norm=False,
                mask_ratio=0.3),
            neck=dict(type='mmdet.FPN', in_channels=[24, 32], out_channels=16, num_outs=2)),
        heads=dict(
            render=dict(
                type='TemporalRenderingHead',
                num_frames=num_frames,
                point_cloud_range=PCR,
                voxel_size=VOX,
                **kw,
                view_transform=dict(
                    type='VoxelLifting',
                    grid_config=dict(depth=[0.5, 6.9, 0.8]),
                    input_size=(32, 64),
                    downsample=16,
                    in_channels=16,
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
                    image_stride=8))))


def _cams(n_cam):
    mats = []
    for i in range(n_cam):
        yaw = 2 * torch.pi * i / n_cam
        rot = torch.tensor([[0., -1, 0], [0, 0, -1], [1, 0, 0]]) @ rotation_z(-yaw)
        k = pad_intrinsics(torch.tensor([[32., 0, 32], [0, 32, 16], [0, 0, 1]]))
        mats.append(k @ make_transform(rot, torch.zeros(3)))
    return torch.stack(mats)  # ego2img; lidar2ego = identity below


def _batch(b=2, n_cam=2, f=2, depth_frames=True):
    torch.manual_seed(0)
    samples = []
    for i in range(b):
        s = Det3DDataSample()
        lidar2img = _cams(n_cam).repeat(f, 1, 1)
        ego2global = torch.stack(
            [make_transform(rotation_z(torch.tensor(0.05 * t)), torch.tensor([1.5 * t, 0, 0])) for t in range(f)])
        meta = dict(
            lidar2img=lidar2img.numpy(),
            lidar2ego=torch.eye(4).expand(f, 4, 4).numpy(),
            ego2global=ego2global.numpy(),
            frame_valid=[i == 0] * (f - 1) + [True])
        if depth_frames:
            meta['depth_frames'] = [True] * f
        s.set_metainfo(meta)
        samples.append(s)
    depth = torch.zeros(b, f * n_cam, 32, 64)
    depth[:, :, 8:24, 16:48] = 4.0
    inputs = dict(imgs=torch.randn(b, f * n_cam, 3, 32, 64), depth=depth)
    return inputs, samples


def _unpack(model, inputs, samples):
    """The rendering head's clip tensors, from the geometry the pretrainer stacks."""
    return model.heads['render'].unpack(inputs, model.stack_geometry(inputs, samples))


@pytest.mark.parametrize('n_cam,b,f', [(2, 2, 2), (3, 1, 3)])
def test_mim4d_loss_any_cameras_and_batch_all_params_get_gradients(n_cam, b, f):
    model = MODELS.build(_cfg(f))
    model.init_weights()
    inputs, samples = _batch(b, n_cam, f)
    losses = model(inputs, samples, mode='loss')
    assert set(losses) == {f'render.loss_{k}_{s}'
                           for k in ('rgb', 'depth')
                           for s in ('pseudo', 'cur')} | {'render.visible_target_cur'}
    # official MIM4D rays go anywhere: the own-frame rays at seen pixels are about 1 - mask ratio of them
    assert 0 < float(losses['render.visible_target_cur']) < 1
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    # mmdet's FPN always also returns its stride-32 level, which is not lifted
    assert sorted(missing) == ['encoder.neck.fpn_convs.1.conv.bias', 'encoder.neck.fpn_convs.1.conv.weight'], missing


def test_mim4d_predict_renders_views_and_rejects_bad_clip():
    model = MODELS.build(_cfg(2))
    model.eval()
    inputs, samples = _batch(1, 2, 2)
    out = model(inputs, samples, mode='predict')[0].render
    assert out['depth_pseudo'].shape == (2, 4, 8) and out['rgb_cur'].shape == (2, 4, 8, 3)
    assert out['rgb_target'].shape == (2, 4, 8, 3) and (out['rgb_target'] >= 0).all()
    inputs['imgs'] = inputs['imgs'][:, :3]
    with pytest.raises(ValueError, match='not a multiple of num_frames'):
        model(inputs, samples, mode='loss')


def test_lidar_volume_frame_lifts_with_lidar2img_and_warps_with_lidar_poses():
    lidar2ego = make_transform(rotation_z(torch.tensor(0.3)), torch.tensor([0.9, 0.0, 1.8]))
    inputs, samples = _batch(1, 2, 2)
    for s in samples:
        s.set_metainfo(dict(lidar2ego=lidar2ego.expand(2, 4, 4).numpy()))
    ego2global = torch.as_tensor(samples[0].metainfo['ego2global'], dtype=torch.float64)
    lidar = _unpack(MODELS.build(_cfg(2)), inputs, samples)
    assert torch.allclose(lidar['src2img'][0].flatten(0, 1), torch.as_tensor(samples[0].metainfo['lidar2img']))
    assert torch.allclose(lidar['frame2global'][0], ego2global @ lidar2ego.double())
    ego = _unpack(MODELS.build(_cfg(2, volume_frame='ego')), inputs, samples)
    assert torch.allclose(ego['frame2global'][0], ego2global)
    # the same ego point projects to the same pixel through either frame's matrix
    p_ego = torch.tensor([5.0, 1.0, 0.5, 1.0])
    p_lidar = torch.linalg.inv(lidar2ego) @ p_ego
    a, b = ego['src2img'][0, 0, 0] @ p_ego, lidar['src2img'][0, 0, 0] @ p_lidar
    assert torch.allclose(a[:2] / a[2], b[:2] / b[2], atol=1e-4)
    with pytest.raises(ValueError, match='volume_frame'):
        MODELS.build(_cfg(2, volume_frame='global'))


def test_random_target_is_an_earlier_frame_predicted_from_all_the_others():
    torch.manual_seed(1)
    model = MODELS.build(_cfg(3))
    model.init_weights()
    inputs, samples = _batch(2, 2, 3)
    head = model.heads['render']
    d = _unpack(model, inputs, samples)
    seen = []
    for _ in range(20):
        for name, tgt in zip(head.temporal_targets, head.targets(d)):
            seen.append((name, tgt.tolist()))
    assert all(t == [2, 2] for name, t in seen if name == 'current')
    randoms = {i for name, t in seen if name == 'random' for i in t}
    assert randoms == {0, 1}  # only earlier frames, both drawn
    calls = []
    builder_forward = head.temporal_builder.forward

    def spy(volumes, frame2target, frame_valid=None):
        calls.append((volumes.detach().clone(), frame2target.clone(), frame_valid.clone()))
        return builder_forward(volumes, frame2target, frame_valid)

    head.temporal_builder.forward = spy
    volumes = head.lift(model.encode(inputs).feats, d['src2img'])
    target = torch.tensor([0, 1])
    losses = head.target_losses(volumes, d, target)
    vols, f2t, valid = calls[-1]
    # sample 0 predicts frame 0 from frames (1, 2) -- the future -- and sample 1 frame 1 from (0, 2)
    assert torch.equal(vols[0], volumes[0, [1, 2]].detach()) and torch.equal(vols[1], volumes[1, [0, 2]].detach())
    from mim3d_plugin.geometry import relative_transform
    expect = relative_transform(d['frame2global'][0, [1, 2]], d['frame2global'][0, 0]).float()
    assert torch.allclose(f2t[0], expect, atol=1e-5)
    # sample 1's earlier frames repeat the current one (scene start): frame 0 is flagged among its others
    assert valid.tolist() == [[True, True], [False, True]]
    assert all(torch.isfinite(v) for v in losses.values())


def test_random_target_needs_depth_maps_of_the_earlier_frames():
    model = MODELS.build(_cfg(2))
    inputs, samples = _batch(1, 2, 2, depth_frames=False)
    with pytest.raises(ValueError, match='depth_all_frames'):
        model(inputs, samples, mode='loss')
    current_only = MODELS.build(_cfg(2, temporal_targets=('current', )))
    expected = {'render.loss_rgb_pseudo', 'render.loss_depth_pseudo', 'render.loss_rgb_cur', 'render.loss_depth_cur'}
    assert {k for k in current_only(inputs, samples, mode='loss') if 'loss' in k} == expected
    with pytest.raises(ValueError, match='temporal_targets'):
        MODELS.build(_cfg(2, temporal_targets=('next', )))


def test_the_voxel_grid_is_given_once():
    """The head hands its point_cloud_range / voxel_size to the lifting, the builder and the renderer; a module
    config spelling a different grid is refused."""
    head = MODELS.build(_cfg(2)).heads['render']
    for grid in (head.view_transform.grid, head.temporal_builder.grid):
        assert grid.pc_min + grid.pc_max == PCR and list(grid.voxel_size) == VOX
    assert head.render_head.point_cloud_range == PCR
    cfg = _cfg(2)
    cfg['heads']['render']['render_head']['voxel_size'] = [0.4, 0.4, 1.0]
    with pytest.raises(ValueError, match='render_head.voxel_size.*give the grid once'):
        MODELS.build(cfg)
    cfg = _cfg(2)
    cfg['heads']['render']['view_transform']['grid_config']['x'] = [-8.0, 8.0, 0.8]
    with pytest.raises(ValueError, match='grid_config.x'):
        MODELS.build(cfg)
