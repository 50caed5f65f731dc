"""Analytic tests of ``mim3d_plugin.geometry.grid.VoxelGrid``."""
import pytest
import torch
import torch.nn.functional as F

from mim3d_plugin.geometry import VoxelGrid

RANGE = [-4.0, -3.0, -1.0, 4.0, 3.0, 2.0]
SIZE = [1.0, 0.5, 1.5]  # (X, Y, Z) = (8, 12, 2)


def test_shape_and_errors():
    grid = VoxelGrid(RANGE, SIZE)
    assert grid.num_voxels == (8, 12, 2) and grid.shape_zyx == (2, 12, 8)
    paper = VoxelGrid([-54, -54, -5, 54, 54, 3], [0.075, 0.075, 0.2])
    assert paper.num_voxels == (1440, 1440, 40)
    with pytest.raises(ValueError, match='whole multiple'):
        VoxelGrid(RANGE, [0.7, 0.5, 1.5])
    with pytest.raises(ValueError, match='whole multiple'):
        VoxelGrid([1, 0, 0, 0, 1, 1], [1, 1, 1])
    with pytest.raises(ValueError, match='6 numbers'):
        VoxelGrid(RANGE[:5], SIZE)


def test_metric_index_round_trip_and_centres():
    grid = VoxelGrid(RANGE, SIZE)
    pts = torch.rand(100, 3, dtype=torch.float64) * 20 - 10
    torch.testing.assert_close(grid.index_to_metric(grid.metric_to_index(pts)), pts)
    # integer indices are voxel centres, the range minimum is index -0.5
    assert grid.index_to_metric(torch.tensor([0., 0., 0.])).tolist() == [-3.5, -2.75, -0.25]
    assert grid.metric_to_index(torch.tensor([-4., -3., -1.])).tolist() == [-0.5, -0.5, -0.5]
    centres = grid.voxel_centers(dtype=torch.float64)
    assert centres.shape == (2, 12, 8, 3)
    k, j, i = 1, 7, 3
    torch.testing.assert_close(centres[k, j, i], grid.index_to_metric(torch.tensor([i, j, k], dtype=torch.float64)))
    zz, yy, xx = torch.meshgrid(torch.arange(2.), torch.arange(12.), torch.arange(8.), indexing='ij')
    torch.testing.assert_close(grid.metric_to_index(centres), torch.stack([xx, yy, zz], -1).double())


def test_flat_index():
    grid = VoxelGrid(RANGE, SIZE)
    centres = grid.voxel_centers()
    flat, valid = grid.flat_index(centres)
    assert valid.all()
    assert torch.equal(flat.flatten(), torch.arange(2 * 12 * 8))  # (Z, Y, X) row-major
    # a point in voxel (x=5, y=2, z=1) and points outside
    pts = torch.tensor([[1.2, -1.9, 0.6], [4.0, 0., 0.], [-4.0, -3.0, -1.0], [0., 0., 2.1], [0., -3.01, 0.]])
    flat, valid = grid.flat_index(pts)
    assert valid.tolist() == [True, False, True, False, False]
    assert flat.tolist() == [(1 * 12 + 2) * 8 + 5, 0, 0, 0, 0]


def test_normalize_matches_grid_sample():
    grid = VoxelGrid(RANGE, SIZE)
    lo, hi = torch.tensor(RANGE[:3]), torch.tensor(RANGE[3:])
    assert grid.normalize(lo).tolist() == [-1., -1., -1.] and grid.normalize(hi).tolist() == [1., 1., 1.]
    volume = torch.randn(1, 3, *grid.shape_zyx)
    centres = grid.voxel_centers()
    sampled = F.grid_sample(volume, grid.normalize(centres).unsqueeze(0), align_corners=False)
    torch.testing.assert_close(sampled, volume)
    assert 'num_voxels(XYZ)=(8, 12, 2)' in repr(grid)


def test_flat_index_official_truncation_keeps_points_one_voxel_below_the_range():
    """BEVDet dev2.1 / BEVFusion index with ``.long()`` (truncation toward zero): a point up to one voxel below the
    lower bound lands in the first voxel; floor (our default) drops it. Above the range both drop it."""
    grid = VoxelGrid([-51.2, -51.2, -5.0, 51.2, 51.2, 3.0], [0.8, 0.8, 8.0])
    pts = torch.tensor([
        [10.0, 0.0, -6.0],  # z 1 m below -5 m: trunc -> cell 0, floor -> outside
        [10.0, 0.0, -12.9],  # z 7.9 m below: still inside (-1, 0) voxel units
        [-51.9, 0.0, 0.0],  # x 0.7 m below -51.2 m
        [10.0, 0.0, -13.1],  # more than one voxel below: dropped by both
        [10.0, 0.0, 3.5]
    ])  # above: dropped by both
    flat_t, valid_t = grid.flat_index(pts, 'trunc')
    flat_f, valid_f = grid.flat_index(pts, 'floor')
    assert valid_t.tolist() == [True, True, True, False, False]
    assert valid_f.tolist() == [False, False, False, False, False]
    x10 = int((10.0 + 51.2) / 0.8)
    assert flat_t[:3].tolist() == [64 * 128 + x10, 64 * 128 + x10, 64 * 128 + 0]
    with pytest.raises(ValueError, match='rounding'):
        grid.flat_index(pts, 'round')
