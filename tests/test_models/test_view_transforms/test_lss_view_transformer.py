"""Tests of ``LSSViewTransformer``: naive reference, known-answer geometry, gradients, paper-scale shapes."""
import math
import time

import pytest
import torch
from mmdet3d.registry import MODELS

import mim3d_plugin  # noqa: F401  (registers the modules)
from mim3d_plugin.geometry import make_transform, pad_intrinsics, rotation_z

# ego -> OpenCV camera looking along ego +x (camera x = -ego y, camera y = -ego z, camera z = ego x)
EGO2CAM_ROT = torch.tensor([[0., -1., 0.], [0., 0., -1.], [1., 0., 0.]], dtype=torch.float64)


def camera_lidar2img(fx, fy, cx, cy, yaw=0.0, position=(0., 0., 0.)):
    """lidar2img (4, 4) float64 of a pinhole camera at ``position`` (m) looking along ego yaw ``yaw`` (rad)."""
    cam2lidar_rot = rotation_z(torch.tensor(yaw, dtype=torch.float64), dtype=torch.float64) @ EGO2CAM_ROT.T
    cam2lidar = make_transform(cam2lidar_rot, torch.tensor(position, dtype=torch.float64))
    cam2img = pad_intrinsics(torch.tensor([[fx, 0., cx], [0., fy, cy], [0., 0., 1.]], dtype=torch.float64))
    return cam2img @ torch.linalg.inv(cam2lidar)


def naive_splat(depth_prob, context, lidar2img, grid_config, input_size, downsample):
    """Per-point python loops: lift each (camera, bin, cell) and add depth * context to its voxel."""
    b, n_cam, n_d, h, w = depth_prob.shape
    c = context.shape[2]
    lo = [grid_config[k][0] for k in 'xyz']
    hi = [grid_config[k][1] for k in 'xyz']
    size = [grid_config[k][2] for k in 'xyz']
    nx, ny, nz = (round((hi[a] - lo[a]) / size[a]) for a in range(3))
    out = torch.zeros(b, c, nz, ny, nx, dtype=context.dtype)
    start, _, step = grid_config['depth']
    for bi in range(b):
        for n in range(n_cam):
            img2lidar = torch.linalg.inv(lidar2img[bi, n])
            for k in range(n_d):
                d = start + k * step
                for i in range(h):
                    for j in range(w):
                        u = (j + 0.5) * downsample
                        v = (i + 0.5) * downsample
                        p = img2lidar @ torch.tensor([u * d, v * d, d, 1.0], dtype=img2lidar.dtype)
                        idx = [math.floor((p[a].item() - lo[a]) / size[a]) for a in range(3)]
                        if not (0 <= idx[0] < nx and 0 <= idx[1] < ny and 0 <= idx[2] < nz):
                            continue
                        out[bi, :, idx[2], idx[1], idx[0]] += depth_prob[bi, n, k, i, j] * context[bi, n, :, i, j]
    return out


TINY = dict(x=[-8., 8., 2.], y=[-8., 8., 2.], z=[-2., 4., 3.], depth=[1., 9., 1.])


def tiny_cameras(batch=2):
    mats = []
    for bi in range(batch):
        mats.append(
            torch.stack([
                camera_lidar2img(10., 10., 8., 4., yaw=0.3 * bi, position=(0.5, 0., 1.)),
                camera_lidar2img(12., 11., 7., 5., yaw=math.pi * 0.6 + 0.1 * bi, position=(0., 0.4, 1.2)),
            ]))
    return torch.stack(mats)


def test_equals_naive_reference():
    torch.manual_seed(0)
    vt = LSS = MODELS.build(
        dict(
            type='LSSViewTransformer',
            grid_config=TINY,
            input_size=(8, 16),
            downsample=4,
            in_channels=5,
            out_channels=3,
            collapse_z=False)).double()
    assert LSS.num_bins == 8
    lidar2img = tiny_cameras()
    logits = torch.randn(2, 2, 8, 2, 4, dtype=torch.float64)
    context = torch.randn(2, 2, 3, 2, 4, dtype=torch.float64)
    volume, depth_prob = vt(context, lidar2img, depth_logits=logits)
    assert volume.shape == (2, 3, 2, 8, 8) and depth_prob.shape == (2, 2, 8, 2, 4)
    torch.testing.assert_close(depth_prob, logits.softmax(2))
    ref = naive_splat(depth_prob, context, lidar2img, TINY, (8, 16), 4)
    assert ref.abs().sum() > 0  # the cameras see the grid
    torch.testing.assert_close(volume, ref)
    # collapse_z concatenates the z slices into channels, z-major
    vt.collapse_z = True
    bev, _ = vt(context, lidar2img, depth_logits=logits)
    torch.testing.assert_close(bev, torch.cat([ref[:, :, 0], ref[:, :, 1]], dim=1))


def test_single_point_mass_lands_in_known_cell():
    grid_config = dict(x=[-16., 16., 2.], y=[-16., 16., 2.], z=[-5., 5., 5.], depth=[1., 20., 1.])
    vt = MODELS.build(
        dict(
            type='LSSViewTransformer',
            grid_config=grid_config,
            input_size=(32, 64),
            downsample=8,
            in_channels=4,
            out_channels=2,
            with_depth_net=False,
            collapse_z=False))
    # front camera at (1, 0, 1.5) m; fx = fy = 32 px, principal point (32, 16) px
    lidar2img = camera_lidar2img(32., 32., 32., 16., position=(1., 0., 1.5)).float().view(1, 1, 4, 4)
    logits = torch.full((1, 1, 19, 4, 8), -1e4)
    logits[0, 0, 9, 1, 6] = 0.  # feature cell (row 1, col 6) -> pixel (u, v) = (52, 12); bin 9 -> depth 10 m
    context = torch.zeros(1, 1, 2, 4, 8)
    context[0, 0, :, 1, 6] = torch.tensor([3., -2.])
    volume, _ = vt(context, lidar2img, depth_logits=logits)
    # camera point ((52-32)*10/32, (12-16)*10/32, 10) = (6.25, -1.25, 10) -> lidar (11, -6.25, 2.75)
    # -> voxel x = floor((11+16)/2) = 13, y = floor((-6.25+16)/2) = 4, z = floor((2.75+5)/5) = 1
    nonzero = volume.abs().sum(1).nonzero().tolist()
    assert nonzero == [[0, 1, 4, 13]]
    torch.testing.assert_close(volume[0, :, 1, 4, 13], torch.tensor([3., -2.]))


def test_depth_net_path_and_gradients():
    torch.manual_seed(1)
    vt = MODELS.build(
        dict(
            type='LSSViewTransformer',
            grid_config=TINY,
            input_size=(8, 16),
            downsample=4,
            in_channels=5,
            out_channels=3,
            bev_downsample=2))
    vt.init_weights()
    feats = torch.randn(2, 2, 5, 2, 4, requires_grad=True)
    bev, depth_prob = vt(feats, tiny_cameras().float())
    assert bev.shape == (2, 6, 4, 4) and depth_prob.shape == (2, 2, 8, 2, 4)
    assert vt.bev_channels == 6
    (bev.square().sum() + depth_prob[..., 0, :, :].sum()).backward()
    assert feats.grad is not None and feats.grad.abs().sum() > 0
    for name, param in vt.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    # GeoMIM / BEVFusion depth net (two 3x3 conv-BN-ReLU layers, then 1x1)
    vt3 = MODELS.build(
        dict(
            type='LSSViewTransformer',
            grid_config=TINY,
            input_size=(8, 16),
            downsample=4,
            in_channels=10,
            out_channels=3,
            depth_net_mid_channels=6))
    assert len(vt3.depth_net) == 3
    bev, depth_prob = vt3(torch.randn(2, 2, 10, 2, 4), tiny_cameras().float())
    assert bev.shape == (2, 6, 8, 8)
    (bev.square().sum() + depth_prob[..., 0, :, :].sum()).backward()
    for name, param in vt3.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    # external depth logits and context both receive gradients
    vt2 = MODELS.build(
        dict(
            type='LSSViewTransformer',
            grid_config=TINY,
            input_size=(8, 16),
            downsample=4,
            in_channels=5,
            out_channels=3,
            with_depth_net=False))
    logits = torch.randn(2, 2, 8, 2, 4, requires_grad=True)
    context = torch.randn(2, 2, 3, 2, 4, requires_grad=True)
    bev, _ = vt2(context, tiny_cameras().float(), depth_logits=logits)
    (bev * torch.randn_like(bev)).sum().backward()
    assert logits.grad.abs().sum() > 0 and context.grad.abs().sum() > 0


def test_input_errors():
    vt = MODELS.build(
        dict(
            type='LSSViewTransformer',
            grid_config=TINY,
            input_size=(8, 16),
            downsample=4,
            in_channels=5,
            out_channels=3,
            with_depth_net=False))
    with pytest.raises(ValueError, match='depth_logits must be given'):
        vt(torch.zeros(1, 2, 3, 2, 4), tiny_cameras(1).float())
    with pytest.raises(ValueError, match='feats'):
        vt(torch.zeros(1, 2, 3, 3, 4), tiny_cameras(1).float(), depth_logits=torch.zeros(1, 2, 8, 3, 4))
    with pytest.raises(ValueError, match='depth_logits must be'):
        vt(torch.zeros(1, 2, 3, 2, 4), tiny_cameras(1).float(), depth_logits=torch.zeros(1, 2, 7, 2, 4))
    with pytest.raises(ValueError, match='lidar2img'):
        vt(torch.zeros(1, 2, 3, 2, 4), torch.eye(4).expand(1, 3, 4, 4), depth_logits=torch.zeros(1, 2, 8, 2, 4))
    with pytest.raises(ValueError, match='multiple of downsample'):
        MODELS.build(dict(type='LSSViewTransformer', grid_config=TINY, input_size=(10, 16), downsample=4))
    with pytest.raises(ValueError, match=r"grid_config\['z'\]"):
        MODELS.build(
            dict(
                type='LSSViewTransformer',
                grid_config=dict(x=TINY['x'], y=TINY['y'], depth=TINY['depth']),
                input_size=(8, 16),
                downsample=4))


def test_paper_scale_cpu():
    """GeoMIM shapes: 6 views, 256x704 input (16x44 features), 118 bins, 80 channels, 360x360 -> 180x180."""
    grid_config = dict(x=[-54., 54., 0.3], y=[-54., 54., 0.3], z=[-10., 10., 20.], depth=[1., 60., 0.5])
    vt = MODELS.build(
        dict(
            type='LSSViewTransformer',
            grid_config=grid_config,
            input_size=(256, 704),
            downsample=16,
            in_channels=80,
            out_channels=80,
            with_depth_net=False,
            bev_downsample=2))
    yaws = torch.tensor([0., -0.95, 0.95, math.pi, -2.2, 2.2])
    lidar2img = torch.stack([
        camera_lidar2img(700., 700., 352., 128., yaw=float(y), position=(1., 0., 1.6)) for y in yaws
    ]).float().unsqueeze(0)
    context = torch.randn(1, 6, 80, 16, 44, requires_grad=True)
    logits = torch.randn(1, 6, 118, 16, 44, requires_grad=True)
    start = time.perf_counter()
    bev_full = vt.splat(logits.softmax(2), context, lidar2img)
    bev, _ = vt(context, lidar2img, depth_logits=logits)
    bev.mean().backward()
    elapsed = time.perf_counter() - start
    assert bev_full.shape == (1, 80, 1, 360, 360) and bev.shape == (1, 80, 180, 180)
    assert torch.isfinite(bev).all() and logits.grad.abs().sum() > 0
    # most of the 6 * 118 * 16 * 44 frustum points fall inside +-54 m
    assert (bev_full.abs().sum(1) > 0).sum() > 10000
    print(f'paper-scale LSS forward+backward on CPU: {elapsed:.2f} s')  # informative only


def test_depth_target_and_loss_methods():
    vt = MODELS.build(
        dict(
            type='LSSViewTransformer',
            grid_config=TINY,
            input_size=(8, 16),
            downsample=4,
            in_channels=5,
            out_channels=3))
    depth = torch.zeros(1, 2, 8, 16)
    depth[0, 1, 5, 9] = 3.5  # feature cell (1, 2), bin floor((3.5 - 1) / 1) = 2
    target, valid = vt.get_depth_target(depth)
    assert target.shape == (1, 2, 2, 4, 8) and valid.nonzero().tolist() == [[0, 1, 1, 2]]
    assert target[0, 1, 1, 2].argmax() == 2
    _, depth_prob = vt(torch.randn(1, 2, 5, 2, 4), tiny_cameras(1).float())
    assert vt.depth_loss(depth_prob, depth) > 0
    with pytest.raises(ValueError, match='depth maps'):
        vt.get_depth_target(torch.zeros(1, 2, 4, 16))


def test_splat_runs_in_float32_under_autocast():
    vt = MODELS.build(
        dict(
            type='LSSViewTransformer',
            grid_config=TINY,
            input_size=(8, 16),
            downsample=4,
            in_channels=5,
            out_channels=3,
            with_depth_net=False))
    context = torch.randn(1, 2, 3, 2, 4)
    logits = torch.randn(1, 2, 8, 2, 4)
    ref, _ = vt(context, tiny_cameras(1).float(), depth_logits=logits)
    with torch.autocast(device_type='cpu', dtype=torch.bfloat16):
        out, depth_prob = vt(context.bfloat16(), tiny_cameras(1).float(), depth_logits=logits.bfloat16())
    assert out.dtype == depth_prob.dtype == torch.float32
    torch.testing.assert_close(out, ref, atol=0.05, rtol=0.02)
