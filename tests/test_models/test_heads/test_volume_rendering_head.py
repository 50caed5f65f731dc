import math
import os.path as osp

import pytest
import torch
from mmdet3d.registry import MODELS
from mmengine.config import Config

import mim3d_plugin  # noqa: F401
from mim3d_plugin.geometry import make_transform, pad_intrinsics
from mim3d_plugin.rendering import fields as fields_mod

PCR, VOX = [-6.4, -6.4, -2.0, 6.4, 6.4, 2.0], [0.8, 0.8, 1.0]  # 16 x 16 x 4
REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
PAPER_CFG = osp.join(REPO, 'configs/mim4d/mim4d_convnext-s-mask_8xb1-amp-12e_nus-pretrain.py')


def _head(**kw):
    cfg = dict(
        type='VolumeRenderingHead',
        point_cloud_range=PCR,
        voxel_size=VOX,
        in_channels=4,
        num_rays=16,
        target_radius=(0.5, 50.0),
        uniform_sampler=dict(type='UniformSampler', num_samples=24),
        importance_sampler=dict(type='NeuSUpSampler', num_samples=8),
        sdf_field=dict(hidden_channels=16, geo_feat_channels=4),
        rgb_field=dict(hidden_channels=16),
        num_eikonal_points=64,
        image_stride=8)
    cfg.update(kw)
    return MODELS.build(cfg)


def _paper_render_cfg():
    """The render head config of the paper-scale MIM4D config, with the volume grid its TemporalRenderingHead
    hands it."""
    from mim3d_plugin.models.pretext_heads.temporal_rendering_head import volume_grid_configs
    head = Config.fromfile(PAPER_CFG).model.heads.render
    return Config(
        dict(
            render_head=volume_grid_configs(head.point_cloud_range, head.voxel_size, head.view_transform,
                                            head.temporal_builder, head.render_head)[2])).render_head


def _paper_head():
    """The render head of the paper-scale MIM4D config, with every constant at its configured value."""
    return MODELS.build(_paper_render_cfg())


def _ego2img(n_cam=2, f=24.0, size=(32, 48), height=0.0):
    mats = []
    for i in range(n_cam):
        s = 1.0 if i == 0 else -1.0  # camera 0 looks along +x, camera 1 along -x; both at (0, 0, height)
        rot = torch.tensor([[0., -s, 0], [0, 0, -1], [s, 0, 0]])
        k = pad_intrinsics(torch.tensor([[f, 0, size[1] / 2], [0, f, size[0] / 2], [0, 0, 1]]))
        mats.append(k @ make_transform(rot, -rot @ torch.tensor([0.0, 0.0, height])))
    return torch.stack(mats).unsqueeze(0)


def _plane_field(head, offset):
    """Replace the SDF field by the exact plane ``x = offset`` (m): sdf = (offset - x) * scene_scale."""
    s = head.scene_scale
    geo = head.sdf_field.geo_feat_channels

    def forward(volume, points):
        off = offset.view(offset.shape + (1, ) * (points.dim() - 1 - offset.dim()))
        sdf = off * s - points[..., 0]
        return dict(
            sdf=sdf,
            geo_feat=points.new_zeros(points.shape[:-1] + (geo, )),
            feat=points.new_zeros(points.shape[:-1] + (volume.shape[1], )))

    head.sdf_field.forward = forward


def test_paper_constants_are_per_unit_of_the_official_normalised_scene():
    head = _paper_head()
    assert head.scene_scale == pytest.approx(1 / 51.2)
    # NeuS variance init exp(10 * 0.3) = 20.1 per scene unit = 0.39 per metre (official beta_init 0.3)
    assert head.sdf_field.inv_s().item() == pytest.approx(math.exp(3.0), rel=1e-5)
    assert head.sdf_field.inv_s().item() * head.scene_scale == pytest.approx(0.392, abs=1e-3)
    up = head.importance_sampler
    assert (head.uniform_sampler.num_samples, up.num_samples, up.num_steps, up.base_inv_s) == (72, 24, 1, 64.0)
    assert head.loss_eikonal_weight == 0.0 and head.target_radius == (3.0, 50.0)
    # the collider's box and near plane are the volume range and 1 m, in scene units
    assert head.collider.scene_box == pytest.approx([v / 51.2 for v in head.point_cloud_range])
    assert head.collider.near_plane == pytest.approx(1.0 / 51.2)


def test_plane_known_answer_depth_and_surface_gradient_at_default_constants():
    """2000 stratified rays into the plane x = 20 m at the paper config's constants: camera z-depth
    and d(depth)/d(plane offset), which must be ~1 for every ray (NeuS' geometry gradient). The camera is
    at the height of the volume's centre (z = -1 m) and the rows within +-40 px of the optical axis, so
    every ray meets the plane well inside the [-5, 3] m box."""
    torch.manual_seed(0)
    head = _paper_head()
    head.train()
    r, h, w = 2000, 256, 704
    ego2img = _ego2img(1, f=560.0, size=(h, w), height=-1.0)
    uv = torch.stack([torch.rand(r) * w, h / 2 + (torch.rand(r) - 0.5) * 80], -1).unsqueeze(0)
    offset = torch.full((1, r), 20.0, requires_grad=True)
    _plane_field(head, offset)
    rays, hit = head._rays(uv, torch.zeros(1, r, dtype=torch.long), ego2img)
    assert hit.all()
    out = head.render(torch.zeros(1, 32, 5, 128, 128), rays)
    depth = out['depth'] / rays.depth_scale / head.scene_scale  # camera z, m
    grad, = torch.autograd.grad(depth.sum(), offset)
    err = (depth - 20.0).abs()
    # measured: error 7.8 mm mean / 11.6 mm max, gradient 0.997 +- 0.000
    assert err.mean() < 0.03 and err.max() < 0.05, (err.mean(), err.max())
    assert abs(grad.mean().item() - 1) < 0.02 and grad.std().item() < 0.02, (grad.mean(), grad.std())
    assert ((grad - 1).abs() > 0.5).float().mean() == 0
    assert torch.allclose(out['opacity'], torch.ones_like(out['opacity']), atol=1e-3)


def _plane_sweep(head, dist, angle_deg, r=300, seed=0):
    """Render ``r`` rays of a camera at (0, 0, -1 m) looking along +x into the plane ``n . p = dist`` (m), ``n`` at
    ``angle_deg`` from +x in the ground plane. Returns, for the rays whose true hit lies inside the volume beyond the
    1 m near plane: the camera z-depth error (m) and the ratio of d(depth)/d(dist) to its true value
    ``1 / ((n . d) * depth_scale)`` (d the unit ray direction), 1 for exact NeuS geometry gradients."""
    torch.manual_seed(seed)
    s = head.scene_scale
    th = math.radians(angle_deg)
    n = torch.tensor([math.cos(th), math.sin(th), 0.0])
    offset = torch.full((1, r), float(dist), requires_grad=True)
    geo = head.sdf_field.geo_feat_channels

    def forward(volume, points):
        off = offset.view(offset.shape + (1, ) * (points.dim() - 1 - offset.dim()))
        return dict(
            sdf=off * s - (points * n.to(points)).sum(-1),
            geo_feat=points.new_zeros(points.shape[:-1] + (geo, )),
            feat=points.new_zeros(points.shape[:-1] + (volume.shape[1], )))

    head.sdf_field.forward = forward
    h, w = 256, 704
    uv = torch.stack([torch.rand(r) * w, h / 2 + (torch.rand(r) - 0.5) * 80], -1).unsqueeze(0)
    rays, hit = head._rays(uv, torch.zeros(1, r, dtype=torch.long), _ego2img(1, f=560.0, size=(h, w), height=-1.0))
    out = head.render(torch.zeros(1, 32, 5, 128, 128), rays)
    depth = out['depth'] / rays.depth_scale / s  # camera z, m
    grad, = torch.autograd.grad(depth.sum(), offset)
    d = rays.directions[0] / rays.directions[0].norm(dim=-1, keepdim=True)
    o = rays.origins[0] / s
    t = (dist - (o * n).sum(-1)) / (d * n).sum(-1)  # true hit distance along the ray, m
    p = o + t[:, None] * d
    keep = hit[0] & (t > 1.0) & (p[:, :2].abs() < 51.2).all(-1) & (p[:, 2] > -5) & (p[:, 2] < 3)
    err = (depth[0].detach() - t / rays.depth_scale[0])[keep].abs()
    ratio = (grad[0] * (d * n).sum(-1) * rays.depth_scale[0])[keep]
    return err, ratio


def test_plane_geometry_gradient_across_distances_and_angles():
    """NeuS geometry gradients at the paper config's constants over planes at 5-50 m and 0-80 deg (docs/mim4d/
    README.md, "Where NeuS geometry gradients are weak"). At the initial sharpness (inv_s 20.1 per unit = 0.39 per
    m: a logistic density ~2.5 m wide) the gradient is ~1 at 10-35 m facing the camera and weak where that density
    is cut by the 1 m near plane or the volume's exit, or spread along grazing rays; at the sharpness training
    reaches (variance 0.53: inv_s 200 per unit = 3.9 per m) it is ~1 everywhere. Measured (ratio mean +- std):
    initial 10 m 0.898, 20 m 0.997, 35 m 0.990, 20 m at 30 deg 0.983 +- 0.027, 5 m 0.638, 50 m 0.399, 20 m at
    80 deg 0.827 +- 0.206; sharp: 1.006 (5 m), 0.960 (50 m), 0.983 +- 0.091 (20 m at 80 deg)."""
    head = _paper_head()
    head.train()
    ratio = {k: _plane_sweep(head, *k)[1] for k in [(10, 0), (20, 0), (35, 0), (20, 30), (5, 0), (50, 0), (20, 80)]}
    for k in [(10, 0), (20, 0), (35, 0), (20, 30)]:
        assert abs(ratio[k].mean().item() - 1) < 0.12, (k, ratio[k].mean())
    assert ratio[(5, 0)].mean() < 0.75  # the density is cut by the near plane
    assert ratio[(50, 0)].mean() < 0.5  # ... by the volume's exit at 51.2 m
    assert ratio[(20, 80)].std() > 0.15  # grazing rays: uneven
    with torch.no_grad():
        head.sdf_field.variance.fill_(0.53)
    for k in [(5, 0), (20, 0), (50, 0), (20, 60), (20, 80)]:
        err, r = _plane_sweep(head, *k)
        assert abs(r.mean().item() - 1) < 0.05 and ((r - 1).abs() > 0.5).float().mean() < 0.03, (k, r.mean())
        assert err.mean() < 0.05, (k, err.mean())


def test_metre_constants_in_a_metre_scene_give_a_worse_geometry_gradient():
    """The constants of the previous version (inv_s 20.1 and 64 * 2**i per metre, 4 steps) on the same
    plane: the depth is fine but d(depth)/d(offset) is far from 1 on many rays (what the fix removes)."""
    torch.manual_seed(0)
    cfg = _paper_render_cfg()
    cfg.update(scene_scale=1.0, importance_sampler=dict(type='NeuSUpSampler', num_samples=24, num_steps=4))
    head = MODELS.build(cfg)
    head.train()
    r = 2000
    uv = torch.stack([torch.rand(r) * 704, 128 + (torch.rand(r) - 0.5) * 80], -1).unsqueeze(0)
    offset = torch.full((1, r), 20.0, requires_grad=True)
    _plane_field(head, offset)
    rays, _ = head._rays(uv, torch.zeros(1, r, dtype=torch.long), _ego2img(1, f=560.0, size=(256, 704), height=-1.0))
    out = head.render(torch.zeros(1, 32, 5, 128, 128), rays)
    grad, = torch.autograd.grad((out['depth'] / rays.depth_scale).sum(), offset)
    assert ((grad - 1).abs() > 0.5).float().mean() > 0.1  # measured: 1.42 +- 0.43, 28 % of rays off by > 0.5


def test_rays_are_clipped_to_the_volume_and_depth_targets_filtered_and_along_the_ray():
    head = _head(target_radius=(3.0, 50.0))
    ego2img = _ego2img(2)
    depth = torch.zeros(1, 2, 32, 48)
    depth[0, 0, 10:14, 20:24] = 4.0  # inside (x = 4 m), radius ~4 m
    depth[0, 0, 20:22, 30:32] = 2.0  # radius ~2 m < 3 m: filtered
    depth[0, 1, 10:14, 20:24] = 9.0  # x = -9 m: outside the +-6.4 m volume
    mask = head.target_mask(ego2img, depth)
    assert mask[0, 0, 10:14, 20:24].all() and not mask[0, 0, 20:22, 30:32].any() and not mask[0, 1].any()
    rays, tgt_rgb, tgt_depth, hit = head.sample_rays(ego2img, depth, torch.rand(1, 2, 3, 32, 48))
    assert hit.all()
    s = head.scene_scale
    assert s == pytest.approx(1 / 6.4)
    # 16 LiDAR targets in camera 0: all its rays start there; the target is the distance along the ray (scene units)
    t0 = tgt_depth[0, :16]
    assert (t0 > 0).all() and torch.allclose(t0, 4.0 * rays.depth_scale[0, :16] * s)
    assert (tgt_depth[0, 16:] == 0).all()
    # rays start at the 1 m near plane and end where they leave the box (|x| = 6.4 m for camera 0's central rays)
    assert torch.allclose(rays.near, torch.full_like(rays.near, 1.0 * s))
    exit_pts = rays.points_at(rays.far.unsqueeze(-1)).squeeze(-2) / s
    lo, hi = torch.tensor(PCR[:3]), torch.tensor(PCR[3:])
    on_face = ((exit_pts - lo).abs() < 1e-4) | ((exit_pts - hi).abs() < 1e-4)
    assert on_face.any(-1).all()


def test_render_reads_the_volume_once_per_sample_point(monkeypatch):
    head = _head()
    calls = []
    orig = fields_mod.volume_fields.sample_volume

    def counting(volume, points, grid):
        calls.append(points.shape)
        return orig(volume, points, grid)

    monkeypatch.setattr(fields_mod.volume_fields, 'sample_volume', counting)
    rays, *_ = head.sample_rays(_ego2img(2), torch.full((1, 2, 32, 48), 4.0), torch.rand(1, 2, 3, 32, 48))
    head.render(torch.randn(1, 4, 4, 16, 16), rays)
    # up-sampler: the 25 uniform edges + 8 new samples (no grad), then once at the 33 final edges; no RGB read
    assert [c[-2] for c in calls] == [25, 8, 33]


def test_empty_ray_depth_is_normalised_not_zero():
    head = _head()
    head.eval()
    rays, *_ = head.sample_rays(_ego2img(1), torch.zeros(1, 1, 32, 48), torch.rand(1, 1, 3, 32, 48))
    _plane_field(head, torch.tensor(1e3))  # no surface inside the box
    out = head.render(torch.zeros(1, 4, 4, 16, 16), rays)
    assert (out['opacity'] < 1e-3).all()
    assert ((out['depth'] >= rays.near) & (out['depth'] <= rays.far)).all()


def test_known_plane_sdf_renders_its_depth_in_metres():
    # a one-layer SDF field reading only the normalised x: sdf = (plane_x - x) in scene units
    # (fixed near/far: the bottom rows would leave the 4 m high box before the plane)
    head = _head(
        sdf_field=dict(hidden_channels=16, geo_feat_channels=4, num_layers=1, init_variance=0.8),
        collider=dict(type='NearFarCollider', near_plane=0.1, far_plane=12.0))
    lin = head.sdf_field.mlp[0]
    plane_x = 4.0
    with torch.no_grad():
        lin.weight.zero_()
        lin.bias.zero_()
        lin.weight[0, 4] = -1.0  # x (scene units) = x_norm for a grid centred on 0 with scene_scale 1 / 6.4
        lin.bias[0] = plane_x / 6.4
    head.eval()
    out = head.render_image(torch.zeros(1, 4, 4, 16, 16), _ego2img(1), (32, 48))
    assert out['depth'].shape == (1, 1, 4, 6)
    assert torch.allclose(out['opacity'], torch.ones_like(out['opacity']), atol=1e-2)
    assert torch.allclose(out['depth'], torch.full_like(out['depth'], plane_x), atol=0.05)


def test_loss_gradients_reach_volume_and_fields_and_mask():
    torch.manual_seed(0)
    head = _head(loss_eikonal_weight=0.1)
    head.train()
    volume = torch.randn(2, 4, 4, 16, 16, requires_grad=True)
    ego2img = _ego2img(2).expand(2, 2, 4, 4)
    depth = torch.zeros(2, 2, 32, 48)
    depth[:, :, 10:14, 20:24] = 3.0  # LiDAR hits
    imgs = torch.rand(2, 2, 3, 32, 48)
    rays, tgt_rgb, tgt_depth, hit = head.sample_rays(ego2img, depth, imgs)
    assert rays.origins.shape == (2, 32, 3) and tgt_rgb.shape == (2, 32, 3)
    assert (tgt_depth > 0).all()  # 16 LiDAR pixels per image: all rays start there
    losses = head.loss(volume, rays, tgt_rgb, tgt_depth, hit, torch.tensor([True, False]), '_pseudo')
    assert set(losses) == {'loss_rgb_pseudo', 'loss_depth_pseudo', 'loss_eikonal_pseudo'}
    sum(losses.values()).backward()
    assert volume.grad[0].abs().sum() > 0
    missing = [n for n, p in head.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing, missing
    assert set(_head().loss(volume, rays, tgt_rgb, tgt_depth, hit)) == {'loss_rgb', 'loss_depth'}


def test_depth_loss_decreases_when_fitting_a_volume():
    torch.manual_seed(0)
    head = _head()
    volume = torch.zeros(1, 4, 4, 16, 16, requires_grad=True)
    ego2img = _ego2img(2)
    depth = torch.zeros(1, 2, 32, 48)
    depth[:, :, 8:24, 12:36] = 3.0
    imgs = torch.rand(1, 2, 3, 32, 48)
    opt = torch.optim.Adam([volume, *head.parameters()], lr=1e-2)
    rays, tgt_rgb, tgt_depth, hit = head.sample_rays(ego2img, depth, imgs)
    first = None
    for _ in range(40):
        loss = head.loss(volume, rays, tgt_rgb, tgt_depth, hit)['loss_depth']
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


def test_bad_scene_scale_and_radius_are_refused():
    with pytest.raises(ValueError, match='scene_scale'):
        _head(scene_scale=0.0)
    with pytest.raises(ValueError, match='target_radius'):
        _head(target_radius=(5.0, 3.0))
    with pytest.raises(KeyError, match='collider'):
        _head(collider=dict(type='Sphere'))
