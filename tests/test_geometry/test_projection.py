"""Analytic tests of ``mim3d_plugin.geometry.projection``."""
import math

import torch
from mmdet3d.structures import points_cam2img

from mim3d_plugin.geometry import (make_transform, pad_intrinsics, points_to_depth_map, project_points, rotation_z,
                                   unproject_depth)

# ego -> OpenCV camera looking along ego +x (camera x = -ego y, camera y = -ego z, camera z = ego x)
EGO2CAM_ROT = torch.tensor([[0., -1., 0.], [0., 0., -1.], [1., 0., 0.]], dtype=torch.float64)
H, W = 90, 160


def camera(fx=100., fy=100., cx=80., cy=45., yaw=0.0, position=(0., 0., 0.)):
    """(lidar2img, cam2img, lidar2cam) float64 4x4 of a camera at ``position`` (m) looking along ego yaw ``yaw``."""
    cam2lidar = make_transform(
        rotation_z(torch.tensor(yaw), dtype=torch.float64) @ EGO2CAM_ROT.T, torch.tensor(position, dtype=torch.float64))
    lidar2cam = torch.linalg.inv(cam2lidar)
    cam2img = pad_intrinsics(torch.tensor([[fx, 0., cx], [0., fy, cy], [0., 0., 1.]], dtype=torch.float64))
    return cam2img @ lidar2cam, cam2img, lidar2cam


def image_aug(scale, angle, flip, crop, size=(H, W)):
    """(4, 4) augmented px <- original px: resize, crop, horizontal flip, rotation about the image centre."""
    h, w = size
    a = torch.eye(3, dtype=torch.float64)
    a[:2, :2] *= scale
    a[:2, 2] -= torch.tensor(crop, dtype=torch.float64)
    if flip:
        a = torch.tensor([[-1., 0., w], [0., 1., 0.], [0., 0., 1.]], dtype=torch.float64) @ a
    c, s = math.cos(angle), math.sin(angle)
    centre = torch.tensor([w / 2, h / 2], dtype=torch.float64)
    rot = torch.eye(3, dtype=torch.float64)
    rot[:2, :2] = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
    rot[:2, 2] = centre - rot[:2, :2] @ centre
    return pad_intrinsics(rot @ a)


def test_known_pixel():
    lidar2img, _, _ = camera(position=(1., 0., 1.5))
    pts = torch.tensor([[11., 2., 2.5], [11., -2., 0.5]], dtype=torch.float64)
    uv, depth, valid = project_points(pts, lidar2img, (H, W))
    # camera coordinates (-2, -1, 10) and (2, 1, 10)
    torch.testing.assert_close(uv, torch.tensor([[60., 35.], [100., 55.]], dtype=torch.float64))
    torch.testing.assert_close(depth, torch.tensor([10., 10.], dtype=torch.float64))
    assert valid.all()


def test_project_unproject_round_trip_with_folded_augmentation():
    gen = torch.Generator().manual_seed(0)
    pts = torch.rand(200, 3, generator=gen, dtype=torch.float64) * torch.tensor([40., 30., 6.], dtype=torch.float64)
    pts = pts + torch.tensor([2., -15., -2.], dtype=torch.float64)
    base, _, _ = camera(yaw=0.1, position=(0.5, 0.2, 1.6))
    aug = image_aug(scale=0.44, angle=0.2, flip=True, crop=(-10., 5.))
    lidar2img = aug @ base
    uv, depth, _ = project_points(pts, lidar2img)
    # the folded projection equals the augmentation applied to the original pixels
    uv0, depth0, _ = project_points(pts, base)
    aug_px = (torch.cat([uv0, torch.ones_like(uv0[:, :1])], dim=1) @ aug[:3, :3].T)[:, :2]
    torch.testing.assert_close(uv, aug_px)
    torch.testing.assert_close(depth, depth0)
    torch.testing.assert_close(unproject_depth(uv, depth, lidar2img), pts)
    # and the other way round: pixels with depth -> points -> the same pixels
    uv_in = torch.rand(50, 2, generator=gen, dtype=torch.float64) * torch.tensor([W, H], dtype=torch.float64)
    d_in = torch.rand(50, generator=gen, dtype=torch.float64) * 50 + 1
    uv_out, d_out, valid = project_points(unproject_depth(uv_in, d_in, lidar2img), lidar2img, (H, W))
    torch.testing.assert_close(uv_out, uv_in)
    torch.testing.assert_close(d_out, d_in)
    assert valid.all()


def test_behind_camera_and_outside_image_are_invalid():
    lidar2img, _, _ = camera()
    pts = torch.tensor(
        [
            [10., 0., 0.],  # in front, image centre
            [-10., 0., 0.],  # behind: would project to the centre too
            [0., 1., 0.],  # on the camera plane
            [10., 50., 0.],  # in front, left of the image
            [10., 0., -20.],  # below the image
        ],
        dtype=torch.float64)
    uv, depth, valid = project_points(pts, lidar2img, (H, W))
    assert valid.tolist() == [True, False, False, False, False]
    assert torch.isfinite(uv).all()
    assert depth.tolist() == [10., -10., 0., 10., 10.]
    # without an image shape only the depth matters
    assert project_points(pts, lidar2img)[2].tolist() == [True, False, False, True, True]
    # the image is [0, W) x [0, H)
    edge = unproject_depth(
        torch.tensor([[1e-6, 1e-6], [W, H - 1.], [W - 1e-6, H - 1e-6]], dtype=torch.float64),
        torch.full((3, ), 5., dtype=torch.float64), lidar2img)
    assert project_points(edge, lidar2img, (H, W))[2].tolist() == [True, False, True]


def test_agrees_with_mmdet3d_points_cam2img():
    gen = torch.Generator().manual_seed(1)
    base, cam2img, lidar2cam = camera(fx=1266.4, fy=1266.4, cx=816.3, cy=491.5, yaw=-0.9, position=(1.5, -0.5, 1.5))
    aug = image_aug(scale=0.48, angle=-0.1, flip=False, crop=(32., 176.), size=(900, 1600))
    pts = torch.randn(500, 3, generator=gen, dtype=torch.float64) * 20
    uv, depth, valid = project_points(pts.float(), (aug @ base).float())
    ref = points_cam2img(pts.float(), (aug @ base).float(), with_depth=True)
    torch.testing.assert_close(uv[valid], ref[valid][:, :2], atol=1e-3, rtol=1e-5)
    torch.testing.assert_close(depth, ref[:, 2], atol=1e-4, rtol=1e-5)
    assert torch.equal(uv[valid].floor(), ref[valid][:, :2].floor())
    # the same through mmdet3d's two-step lidar -> cam -> img with a 3x3 intrinsic matrix
    cam_pts = (torch.cat([pts, torch.ones_like(pts[:, :1])], 1) @ lidar2cam.T)[:, :3]
    ref2 = points_cam2img(cam_pts, (aug @ cam2img)[:3, :3])
    uv64, _, valid64 = project_points(pts, aug @ base)
    torch.testing.assert_close(uv64[valid64], ref2[valid64])


def test_batched_broadcasting():
    mats = torch.stack([camera(yaw=y)[0] for y in (0., math.pi / 2, math.pi)]).unsqueeze(0).expand(2, 3, 4, 4)
    pts = torch.randn(2, 1, 10, 3, dtype=torch.float64) * 10
    uv, depth, valid = project_points(pts, mats, (H, W))
    assert uv.shape == (2, 3, 10, 2) and depth.shape == valid.shape == (2, 3, 10)
    torch.testing.assert_close(uv[1, 2], project_points(pts[1, 0], mats[1, 2])[0])


def test_points_to_depth_map_keeps_nearest():
    mats = torch.stack([camera()[0], camera(yaw=math.pi)[0]])
    # pixel of (10, 0, 0) in camera 0 is (80, 45); (20, 0, 0) lies on the same ray, farther
    pts = torch.tensor(
        [
            [20., 0., 0.],
            [10., 0., 0.],
            [30., 0., 0.],  # three on one ray: keep 10 m
            [-5., 0., 0.],  # behind camera 0, in front of camera 1 at (80, 45)
            [10., -1.5, 0.3],  # camera (1.5, -0.3, 10) -> px (95, 42)
            [10., 100., 0.],  # outside
        ],
        dtype=torch.float64)
    depth = points_to_depth_map(pts, mats, (H, W))
    assert depth.shape == (2, H, W)
    torch.testing.assert_close(depth[:, [45, 42, 45], [80, 95, 80]][[0, 0, 1], [0, 1, 2]],
                               torch.tensor([10., 10., 5.], dtype=torch.float64))
    assert (depth > 0).sum() == 3
