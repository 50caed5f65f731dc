"""Analytic tests of ``mim3d_plugin.geometry.ego_motion``."""
import math

import pytest
import torch

from mim3d_plugin.geometry import (VoxelGrid, apply_transform, make_transform, relative_transform, rotation_z, warp_bev,
                                   warp_volume)

GRID = VoxelGrid([-4., -4., -1., 4., 4., 2.], [1., 1., 1.])  # (X, Y, Z) = (8, 8, 3), symmetric in x and y


def transform(yaw=0.0, translation=(0., 0., 0.), batch=1):
    tf = make_transform(rotation_z(torch.tensor(yaw)), torch.tensor(translation))
    return tf.expand(batch, 4, 4)


def single_voxel(i, j, k, channels=2):
    volume = torch.zeros(1, channels, *GRID.shape_zyx)
    volume[0, :, k, j, i] = torch.arange(1., channels + 1)
    return volume


def test_relative_transform_maps_points_through_global():
    src2global = transform(0.7, (10., -3., 0.5))
    dst2global = transform(-0.2, (12., 1., 0.4))
    src2dst = relative_transform(src2global, dst2global)
    pts = torch.randn(1, 5, 3)
    torch.testing.assert_close(
        apply_transform(apply_transform(pts, src2dst), dst2global), apply_transform(pts, src2global))
    torch.testing.assert_close(relative_transform(src2global, src2global), torch.eye(4).expand(1, 4, 4))


@pytest.mark.parametrize('mode', ['bilinear', 'nearest'])
def test_identity_is_a_no_op(mode):
    volume = torch.randn(2, 3, *GRID.shape_zyx)
    warped, inside = warp_volume(volume, transform(batch=2), GRID, mode=mode)
    torch.testing.assert_close(warped, volume)
    assert inside.all() and inside.shape == (2, 3, 8, 8)
    bev = torch.randn(2, 3, 8, 8)
    warped_bev, inside_bev = warp_bev(bev, transform(batch=2), GRID, mode=mode)
    torch.testing.assert_close(warped_bev, bev)
    assert inside_bev.all() and inside_bev.shape == (2, 8, 8)


def test_volume_translation_moves_voxel_by_whole_cells():
    volume = single_voxel(5, 2, 1)
    # destination point p reads the source at p + t: content at source centre c appears at c - t
    warped, inside = warp_volume(volume, transform(translation=(2., -1., 1.)), GRID)
    expected = single_voxel(3, 3, 0)
    torch.testing.assert_close(warped, expected)
    # cells whose source lies beyond the grid are flagged (x + 2 >= 4 m, y - 1 < -4 m, z + 1 >= 2 m)
    assert not inside[0, :, :, 6:].any() and not inside[0, :, 0, :].any() and not inside[0, 2].any()
    assert inside[0, :2, 1:, :6].all()


def test_volume_rotation_moves_voxel_to_rotated_centre():
    # source voxel (i=6, j=5, k=0) has centre (2.5, 1.5, -0.5); dst2src = R(90 deg): p = R^T c = (1.5, -2.5, -0.5)
    warped, _ = warp_volume(single_voxel(6, 5, 0), transform(math.pi / 2), GRID)
    torch.testing.assert_close(warped, single_voxel(5, 1, 0), atol=1e-5, rtol=0)


def test_volume_flow_displaces_content():
    flow = torch.zeros(1, 3, *GRID.shape_zyx)
    flow[0, 0] = 1.  # every destination voxel reads 1 m further along x in the source
    warped, _ = warp_volume(single_voxel(4, 4, 2), transform(), GRID, flow=flow)
    torch.testing.assert_close(warped, single_voxel(3, 4, 2))


def test_bev_translation_and_rotation():
    bev = single_voxel(6, 5, 0)[:, :, 0]  # (1, 2, 8, 8): cell x = 6, y = 5 (centre (2.5, 1.5))
    warped, inside = warp_bev(bev, transform(translation=(-1., 2., 0.)), GRID)
    torch.testing.assert_close(warped, single_voxel(7, 3, 0)[:, :, 0])
    assert not inside[0, :, 0].any() and not inside[0, 6:].any() and inside[0, :6, 1:].all()
    warped, _ = warp_bev(bev, transform(-math.pi / 2), GRID)  # p = R(90) c = (-1.5, 2.5) -> cell (2, 6)
    torch.testing.assert_close(warped, single_voxel(2, 6, 0)[:, :, 0], atol=1e-5, rtol=0)


def test_bev_ignores_vertical_motion():
    """Ego z changes between frames (slopes, suspension): a BEV map must not be attenuated by them."""
    bev = torch.rand(1, 2, 8, 8) + 0.5
    tf = transform(translation=(0., 0., 0.8))
    tf = tf.clone()
    tf[0, :3, :3] = tf[0, :3, :3] @ torch.tensor([[math.cos(0.05), 0., math.sin(0.05)], [0., 1., 0.],
                                                  [-math.sin(0.05), 0., math.cos(0.05)]])  # small pitch
    warped, inside = warp_bev(bev, tf, GRID)
    # only the x-y part of the motion acts: here a pitch -> no shift in x beyond cos(pitch) scaling
    planar = transform()
    planar[0, 0, 0] = math.cos(0.05)
    expected, _ = warp_bev(bev, planar, GRID)
    torch.testing.assert_close(warped, expected)
    assert inside.any()
