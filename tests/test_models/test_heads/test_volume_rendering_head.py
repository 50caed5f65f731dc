import torch

from mmdet3d.registry import MODELS
from mim3d_plugin.geometry import make_transform, pad_intrinsics
import mim3d_plugin  # noqa: F401

PCR, VOX = [-6.4, -6.4, -2.0, 6.4, 6.4, 2.0], [0.8, 0.8, 1.0]  # 16 x 16 x 4


def _head(**kw):
    cfg = dict(type='VolumeRenderingHead', point_cloud_range=PCR, voxel_size=VOX, in_channels=4, num_rays=16,
               ray_range=(0.1, 12.0), uniform_sampler=dict(type='UniformSampler', num_samples=24),
               importance_sampler=dict(type='NeuSUpSampler', num_samples=8, num_steps=2),
               sdf_field=dict(hidden_channels=16, geo_feat_channels=4), rgb_field=dict(hidden_channels=16),
               num_eikonal_points=64, image_stride=8)
    cfg.update(kw)
    return MODELS.build(cfg)


def _ego2img(n_cam=2):
    mats = []
    for i in range(n_cam):
        s = 1.0 if i == 0 else -1.0  # camera 0 looks along ego +x, camera 1 along -x; both at z = 0
        rot = torch.tensor([[0., -s, 0], [0, 0, -1], [s, 0, 0]])
        k = pad_intrinsics(torch.tensor([[24., 0, 24], [0, 24, 16], [0, 0, 1]]))
        mats.append(k @ make_transform(rot, torch.zeros(3)))
    return torch.stack(mats).unsqueeze(0)


def test_known_plane_sdf_renders_its_depth():
    # a one-layer SDF field reading only the normalised x: sdf = plane_x - x (m), sharp NeuS
    head = _head(sdf_field=dict(hidden_channels=16, geo_feat_channels=4, num_layers=1, init_variance=0.8))
    lin = head.sdf_field.mlp[0]
    plane_x, half = 4.0, 6.4
    with torch.no_grad():
        lin.weight.zero_()
        lin.bias.zero_()
        lin.weight[0, 4] = -half  # x = half * x_norm (grid centred on 0)
        lin.bias[0] = plane_x
    head.eval()
    out = head.render_image(torch.zeros(1, 4, 4, 16, 16), _ego2img(1), (32, 48))
    assert out['depth'].shape == (1, 1, 4, 6)
    assert torch.allclose(out['opacity'], torch.ones_like(out['opacity']), atol=1e-2)
    assert torch.allclose(out['depth'], torch.full_like(out['depth'], plane_x), atol=0.05)


def test_loss_gradients_reach_volume_and_fields_and_mask():
    torch.manual_seed(0)
    head = _head()
    head.train()
    volume = torch.randn(2, 4, 4, 16, 16, requires_grad=True)
    ego2img = _ego2img(2).expand(2, 2, 4, 4)
    depth = torch.zeros(2, 2, 32, 48)
    depth[:, :, 10:14, 20:24] = 3.0  # LiDAR hits
    imgs = torch.rand(2, 2, 3, 32, 48)
    rays, tgt_rgb, tgt_depth = head.sample_rays(ego2img, depth, imgs)
    assert rays.origins.shape == (2, 32, 3) and tgt_rgb.shape == (2, 32, 3)
    assert (tgt_depth == 3.0).all()  # 16 LiDAR pixels per image: all rays start there
    losses = head.loss(volume, rays, tgt_rgb, tgt_depth, torch.tensor([True, False]), '_pseudo')
    assert set(losses) == {'loss_rgb_pseudo', 'loss_depth_pseudo', 'loss_eikonal_pseudo'}
    sum(losses.values()).backward()
    assert volume.grad[0].abs().sum() > 0
    missing = [n for n, p in head.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing, missing


def test_depth_loss_decreases_when_fitting_a_volume():
    torch.manual_seed(0)
    head = _head(loss_eikonal_weight=0.0)
    volume = torch.zeros(1, 4, 4, 16, 16, requires_grad=True)
    ego2img = _ego2img(2)
    depth = torch.zeros(1, 2, 32, 48)
    depth[:, :, 8:24, 12:36] = 3.0
    imgs = torch.rand(1, 2, 3, 32, 48)
    opt = torch.optim.Adam([volume, *head.parameters()], lr=1e-2)
    rays, tgt_rgb, tgt_depth = head.sample_rays(ego2img, depth, imgs)
    first = None
    for _ in range(40):
        loss = head.loss(volume, rays, tgt_rgb, tgt_depth)['loss_depth']
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first
