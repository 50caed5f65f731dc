import pytest
import torch
from mmdet3d.structures import Det3DDataSample

from mmdet3d.registry import MODELS
from mim3d_plugin.geometry import make_transform, pad_intrinsics, rotation_z
import mim3d_plugin  # noqa: F401
from mmengine.registry import init_default_scope

init_default_scope('mmdet3d')

PCR, VOX = [-6.4, -6.4, -2.0, 6.4, 6.4, 2.0], [0.8, 0.8, 1.0]  # 16 x 16 x 4


def _cfg(num_frames=2):
    return dict(
        type='MIM4D', num_frames=num_frames, neck_level=0,
        data_preprocessor=dict(type='MultiViewDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
        img_backbone=dict(type='MaskConvNeXt', arch=dict(depths=[1, 1, 1, 1], channels=[8, 16, 24, 32]),
                          out_indices=(2, 3), gap_before_final_norm=False, mask_ratio=0.3),
        img_neck=dict(type='mmdet.FPN', in_channels=[24, 32], out_channels=16, num_outs=2),
        view_transform=dict(type='VoxelLifting', grid_config=dict(x=[-6.4, 6.4, 0.8], y=[-6.4, 6.4, 0.8],
                                                                  z=[-2.0, 2.0, 1.0], depth=[0.5, 6.9, 0.8]),
                            input_size=(32, 64), downsample=16, in_channels=16, lift_channels=8, out_channels=8,
                            num_convs=1),
        temporal_builder=dict(type='SceneFlowPseudo3DBuilder', point_cloud_range=PCR, voxel_size=VOX, embed_dims=8,
                              num_frames=num_frames - 1, num_heads=2, num_points=2, ffn_channels=16),
        render_head=dict(type='VolumeRenderingHead', point_cloud_range=PCR, voxel_size=VOX, in_channels=8,
                         num_rays=8, ray_range=(0.1, 10.0), uniform_sampler=dict(type='UniformSampler', num_samples=16),
                         importance_sampler=dict(type='NeuSUpSampler', num_samples=8, num_steps=2),
                         sdf_field=dict(hidden_channels=16, geo_feat_channels=4), rgb_field=dict(hidden_channels=16),
                         num_eikonal_points=32, image_stride=8))


def _cams(n_cam):
    mats = []
    for i in range(n_cam):
        yaw = 2 * torch.pi * i / n_cam
        rot = torch.tensor([[0., -1, 0], [0, 0, -1], [1, 0, 0]]) @ rotation_z(-yaw)
        k = pad_intrinsics(torch.tensor([[32., 0, 32], [0, 32, 16], [0, 0, 1]]))
        mats.append(k @ make_transform(rot, torch.zeros(3)))
    return torch.stack(mats)  # ego2img; lidar2ego = identity below


def _batch(b=2, n_cam=2, f=2):
    torch.manual_seed(0)
    samples = []
    for i in range(b):
        s = Det3DDataSample()
        lidar2img = _cams(n_cam).repeat(f, 1, 1)
        ego2global = torch.stack([make_transform(rotation_z(torch.tensor(0.05 * t)), torch.tensor([1.5 * t, 0, 0]))
                                  for t in range(f)])
        s.set_metainfo(dict(lidar2img=lidar2img.numpy(), lidar2ego=torch.eye(4).expand(f, 4, 4).numpy(),
                            ego2global=ego2global.numpy(), frame_valid=[i == 0] * (f - 1) + [True]))
        samples.append(s)
    depth = torch.zeros(b, f * n_cam, 32, 64)
    depth[:, :, 8:24, 16:48] = 4.0
    inputs = dict(imgs=torch.randn(b, f * n_cam, 3, 32, 64), depth=depth)
    return inputs, samples


@pytest.mark.parametrize('n_cam,b,f', [(2, 2, 2), (3, 1, 3)])
def test_mim4d_loss_any_cameras_and_batch_all_params_get_gradients(n_cam, b, f):
    model = MODELS.build(_cfg(f))
    model.init_weights()
    inputs, samples = _batch(b, n_cam, f)
    losses = model(inputs, samples, mode='loss')
    assert set(losses) == {f'loss_{k}_{s}' for k in ('rgb', 'depth', 'eikonal') for s in ('pseudo', 'cur')}
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    # mmdet's FPN always also returns its stride-32 level, which is not lifted
    assert sorted(missing) == ['img_neck.fpn_convs.1.conv.bias', 'img_neck.fpn_convs.1.conv.weight'], missing


def test_mim4d_predict_renders_views_and_rejects_bad_clip():
    model = MODELS.build(_cfg(2))
    model.eval()
    inputs, samples = _batch(1, 2, 2)
    out = model(inputs, samples, mode='predict')[0]
    assert out['depth_pseudo'].shape == (2, 4, 8) and out['rgb_cur'].shape == (2, 4, 8, 3)
    assert out['rgb_target'].shape == (2, 4, 8, 3) and (out['rgb_target'] >= 0).all()
    inputs['imgs'] = inputs['imgs'][:, :3]
    with pytest.raises(ValueError, match='not a multiple of num_frames'):
        model(inputs, samples, mode='loss')
