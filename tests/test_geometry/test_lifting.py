"""Analytic tests of ``mim3d_plugin.geometry.lifting``."""
import math

import pytest
import torch

from mim3d_plugin.geometry import (VoxelGrid, create_frustum, depth_bin_centers, depth_weighted_pooling,
                                   frustum_to_points, make_transform, pad_intrinsics, project_points, rotation_z,
                                   sample_multiview_features, voxel_pooling)

EGO2CAM_ROT = torch.tensor([[0., -1., 0.], [0., 0., -1.], [1., 0., 0.]], dtype=torch.float64)


def lidar2img(fx=20., fy=20., cx=16., cy=8., yaw=0.0, position=(0., 0., 0.), aug=None):
    """(4, 4) float64 camera at ``position`` (m) looking along ego yaw ``yaw``; optional (3, 3) pixel augmentation."""
    cam2lidar = make_transform(
        rotation_z(torch.tensor(yaw), dtype=torch.float64) @ EGO2CAM_ROT.T, torch.tensor(position, dtype=torch.float64))
    k = torch.tensor([[fx, 0., cx], [0., fy, cy], [0., 0., 1.]], dtype=torch.float64)
    if aug is not None:
        k = aug @ k
    return pad_intrinsics(k) @ torch.linalg.inv(cam2lidar)


def two_batches_two_cams():
    rot = torch.tensor([[math.cos(0.3), -math.sin(0.3), 4.], [math.sin(0.3), math.cos(0.3), -2.], [0., 0., 1.]],
                       dtype=torch.float64)
    return torch.stack([
        torch.stack([lidar2img(position=(0.5, 0., 1.)),
                     lidar2img(yaw=2.0, position=(0., 0.3, 1.2))]),
        torch.stack([lidar2img(yaw=-0.4, aug=rot), lidar2img(yaw=math.pi, fx=15., fy=18.)]),
    ])


def test_depth_bins_and_frustum():
    bins = depth_bin_centers((1.0, 60.0, 0.5))
    assert bins.shape == (118, ) and bins[0] == 1.0 and bins[-1] == 59.5
    frustum = create_frustum((16, 32), (2, 4), torch.tensor([2., 5.]))
    assert frustum.shape == (2, 2, 4, 3)
    # cell (row 1, col 2) of a stride-8 map covers pixels [16, 24) x [8, 16): centre (20, 12)
    assert frustum[1, 1, 2].tolist() == [20., 12., 5.]
    assert frustum[0, 0, 0].tolist() == [4., 4., 2.]


def test_frustum_points_project_back_to_their_pixels():
    mats = two_batches_two_cams()
    depths = depth_bin_centers((1.0, 9.0, 2.0), dtype=torch.float64)
    frustum = create_frustum((16, 32), (4, 8), depths)
    points = frustum_to_points(frustum, mats)
    assert points.shape == (2, 2, 4, 4, 8, 3)
    uv, depth, valid = project_points(points.flatten(2, 4), mats, (16, 32))
    torch.testing.assert_close(uv, frustum[..., :2].reshape(1, 1, -1, 2).expand_as(uv))
    torch.testing.assert_close(depth, frustum[..., 2].reshape(1, 1, -1).expand_as(depth))
    assert valid.all()
    # known answer, camera (b=0, n=0) at (0.5, 0, 1) looking forward: cell (0, 0) at depth 3 m
    # pixel (2, 2) -> camera ((2-16)*3/20, (2-8)*3/20, 3) = (-2.1, -0.9, 3) -> lidar (3.5, 2.1, 1.9)
    torch.testing.assert_close(points[0, 0, 1, 0, 0], torch.tensor([3.5, 2.1, 1.9], dtype=torch.float64))


def test_voxel_pooling_known_answer():
    grid = VoxelGrid([0, 0, 0, 4, 2, 1], [1, 1, 1])
    points = torch.tensor([[[0.5, 0.5, 0.5], [0.9, 0.1, 0.2], [3.5, 1.5, 0.5], [5., 0., 0.]],
                           [[0.5, 0.5, 0.5], [2.5, 0.5, 0.5], [-0.1, 0., 0.], [0., 0., 1.]]])
    feats = torch.arange(16.).view(2, 4, 2)
    out = voxel_pooling(points, feats, grid)
    assert out.shape == (2, 2, 1, 2, 4)
    expected = torch.zeros(2, 2, 1, 2, 4)
    expected[0, :, 0, 0, 0] = feats[0, 0] + feats[0, 1]
    expected[0, :, 0, 1, 3] = feats[0, 2]
    expected[1, :, 0, 0, 0] = feats[1, 0]
    expected[1, :, 0, 0, 2] = feats[1, 1]
    torch.testing.assert_close(out, expected)


def naive_weighted_pooling(points, depth, context, grid):
    b, n_cam, n_d, h, w, _ = points.shape
    nx, ny, nz = grid.num_voxels
    out = torch.zeros(b, context.shape[2], nz, ny, nx, dtype=context.dtype)
    for bi in range(b):
        for n in range(n_cam):
            for d in range(n_d):
                for i in range(h):
                    for j in range(w):
                        p = points[bi, n, d, i, j]
                        idx = [math.floor((p[a].item() - grid.pc_min[a]) / grid.voxel_size[a]) for a in range(3)]
                        if all(0 <= idx[a] < grid.num_voxels[a] for a in range(3)):
                            out[bi, :, idx[2], idx[1], idx[0]] += depth[bi, n, d, i, j] * context[bi, n, :, i, j]
    return out


def test_depth_weighted_pooling_equals_outer_product_and_naive_reference():
    torch.manual_seed(0)
    grid = VoxelGrid([-6, -6, -1, 6, 6, 3], [2, 2, 2])
    mats = two_batches_two_cams()
    depths = depth_bin_centers((1., 8., 1.5), dtype=torch.float64)
    points = frustum_to_points(create_frustum((16, 32), (2, 4), depths), mats)
    depth = torch.rand(2, 2, 5, 2, 4, dtype=torch.float64, requires_grad=True)
    context = torch.randn(2, 2, 3, 2, 4, dtype=torch.float64, requires_grad=True)
    out = depth_weighted_pooling(points, depth, context, grid)
    assert out.shape == (2, 3, 2, 6, 6)
    # explicit outer product (B, N, D, h, w, C) pooled point by point
    outer = depth.unsqueeze(-1) * context.permute(0, 1, 3, 4, 2).unsqueeze(2)
    ref = voxel_pooling(points.reshape(2, -1, 3), outer.reshape(2, -1, 3), grid)
    torch.testing.assert_close(out, ref)
    naive = naive_weighted_pooling(points, depth.detach(), context.detach(), grid)
    assert (naive != 0).sum() > 20  # many frustum points fall inside the grid
    torch.testing.assert_close(out.detach(), naive)
    # gradients w.r.t. depth and context equal those through the explicit outer product
    weight = torch.randn_like(out)
    grads = torch.autograd.grad((out * weight).sum(), (depth, context))
    grads_ref = torch.autograd.grad((ref * weight).sum(), (depth, context))
    for g, g_ref in zip(grads, grads_ref):
        assert g.abs().sum() > 0
        torch.testing.assert_close(g, g_ref)


def test_sample_multiview_features_reads_the_projected_pixel():
    mats = two_batches_two_cams()[:1].float()
    h, w, img_h, img_w = 4, 8, 16, 32
    cols = (torch.arange(w) + 0.5) * img_w / w
    rows = (torch.arange(h) + 0.5) * img_h / h
    # channel 0 = u, channel 1 = v of each cell centre: bilinear sampling of a linear map is exact inside
    feats = torch.stack([cols.view(1, w).expand(h, w), rows.view(h, 1).expand(h, w)]).expand(1, 2, 2, h, w)
    uv_target = torch.tensor([[5., 3.], [20.5, 9.], [27., 13.]])
    depth = torch.tensor([2., 7., 4.])
    pts_cam0 = torch.cat([uv_target * depth[:, None], depth[:, None], torch.ones(3, 1)], 1) @ \
        torch.linalg.inv(mats[0, 0]).T
    behind = pts_cam0[:1, :3].clone()
    behind[0, 0] = -50.  # behind camera 0
    points = torch.cat([pts_cam0[:, :3], behind]).unsqueeze(0)
    sampled, valid = sample_multiview_features(points, feats, mats, (img_h, img_w))
    assert sampled.shape == (1, 2, 4, 2) and valid.shape == (1, 2, 4)
    assert valid[0, 0].tolist() == [True, True, True, False]
    torch.testing.assert_close(sampled[0, 0, :3], uv_target, atol=1e-4, rtol=0)
    assert (sampled[~valid] == 0).all()


def test_depth_weighted_pooling_gradcheck_and_edge_cases():
    torch.manual_seed(2)
    grid = VoxelGrid([-6, -6, -1, 6, 6, 3], [2, 2, 2])
    points = torch.randn(2, 2, 3, 2, 2, 3, dtype=torch.float64) * 5
    depth = torch.rand(2, 2, 3, 2, 2, dtype=torch.float64, requires_grad=True)
    context = torch.randn(2, 2, 4, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda d, c: depth_weighted_pooling(points, d, c, grid), (depth, context))
    # only one input requiring grad
    ctx_only = context.detach().requires_grad_()
    depth_weighted_pooling(points, depth.detach(), ctx_only, grid).sum().backward()
    assert ctx_only.grad.abs().sum() > 0
    # every point outside the grid: zeros, and zero gradients
    far = points + 100
    out = depth_weighted_pooling(far, depth, context, grid)
    assert out.shape == (2, 4, 2, 6, 6) and (out == 0).all()
    out.sum().backward()
    assert (context.grad == 0).all() and (depth.grad == 0).all()


def test_frustum_linspace_convention_is_the_official_bevdet_one_and_differs_from_centres():
    """Official BEVDet/BEVFusion ``create_frustum``: ``torch.linspace(0, W - 1, fW)`` (and H); ours by default
    the centre of the pixels a feature cell covers. At 256x704 / 16 the two differ by up to 8 px (at the borders)."""
    depths = torch.tensor([1.0, 30.0])
    official = create_frustum((256, 704), (16, 44), depths, pixels='linspace')
    assert torch.allclose(official[0, 0, :, 0], torch.linspace(0, 703, 44))
    assert torch.allclose(official[0, :, 0, 1], torch.linspace(0, 255, 16))
    ours = create_frustum((256, 704), (16, 44), depths)
    assert torch.allclose(ours[0, 0, :2, 0], torch.tensor([8.0, 24.0]))
    du = (official - ours)[..., 0].abs()
    assert du.max() == pytest.approx(8.0) and du.min() < 0.5
    corner = create_frustum((256, 704), (16, 44), depths, pixels='corner')  # official UVTR arange(0, W, stride)
    assert torch.allclose(corner[0, 0, :, 0], torch.arange(0, 704, 16.0))
    assert torch.allclose(corner[0, :, 0, 1], torch.arange(0, 256, 16.0))
    with pytest.raises(ValueError, match='pixels'):
        create_frustum((16, 32), (2, 4), depths, pixels='edge')
