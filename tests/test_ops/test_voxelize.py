"""The PyTorch voxelization equals mmcv's kernel (issue 25, item 1)."""
import pytest
import torch
from mmdet3d.models.data_preprocessors.voxelize import VoxelizationByGridShape, voxelization

from mim3d_plugin.ops import (PortableDet3DDataPreprocessor, compiled_op_available, dynamic_voxelize_pytorch,
                              hard_voxelize_pytorch, pytorch_ops_only)

PCR = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]


def _points(n=4000, seed=0):
    g = torch.Generator().manual_seed(seed)
    xyz = (torch.rand(n, 3, generator=g) - 0.5) * torch.tensor([120.0, 120.0, 10.0])  # some outside the range
    return torch.cat([xyz, torch.rand(n, 2, generator=g)], 1)


def _kernel_hard(points, voxel_size, max_points, max_voxels):
    return voxelization(points, voxel_size, PCR, max_points, max_voxels, True)


@pytest.mark.skipif(not compiled_op_available('voxelization', 'cpu'), reason='mmcv built without voxelization ops')
@pytest.mark.parametrize('voxel_size,max_points,max_voxels', [([0.8, 0.8, 8.0], 32, 16384), ([0.8, 0.8, 8.0], 3, 500),
                                                              ([2.0, 2.0, 0.5], 5, 40000)])
def test_hard_voxelize_equals_the_mmcv_kernel(voxel_size, max_points, max_voxels):
    points = _points()
    ref = _kernel_hard(points, voxel_size, max_points, max_voxels)
    ours = hard_voxelize_pytorch(points, voxel_size, PCR, max_points, max_voxels)
    assert ref[1].shape == ours[1].shape
    for a, b in zip(ref, ours):
        assert torch.equal(a, b)
    if max_voxels == 500:
        assert ours[1].shape[0] == 500  # the cap binds, and both keep the same first-opened voxels
    assert int(ours[2].max()) <= max_points


@pytest.mark.skipif(not compiled_op_available('voxelization', 'cpu'), reason='mmcv built without voxelization ops')
def test_dynamic_voxelize_equals_the_mmcv_kernel():
    points = _points()
    ref = voxelization(points, [0.8, 0.8, 8.0], PCR, -1, -1, True)
    ours = dynamic_voxelize_pytorch(points, [0.8, 0.8, 8.0], PCR)
    assert (ours == -1).all(1).sum() > 0  # points outside the range are marked
    assert torch.equal(ref, ours)


def test_known_answer_two_points_in_one_voxel_one_outside():
    points = torch.tensor([[0.1, 0.1, 0.0, 1.0], [0.2, 0.3, 0.1, 2.0], [60.0, 0.0, 0.0, 3.0], [-0.1, 0.1, 0.0, 4.0]])
    voxels, coors, num = hard_voxelize_pytorch(points, [0.8, 0.8, 8.0], PCR, 2, 10)
    # x 0.1 -> column (0.1 + 51.2) / 0.8 = 64; -0.1 -> 63; z -> 0
    assert coors.tolist() == [[0, 64, 64], [0, 64, 63]]
    assert num.tolist() == [2, 1]
    assert voxels[0, :, 3].tolist() == [1.0, 2.0] and voxels[1, :, 3].tolist() == [4.0, 0.0]


def test_the_data_preprocessor_voxelizes_alike_with_and_without_the_kernel():
    pre = PortableDet3DDataPreprocessor(
        voxel=True,
        voxel_layer=dict(
            max_num_points=32, voxel_size=[0.8, 0.8, 8.0], max_voxels=(16384, 16384), point_cloud_range=PCR))
    assert isinstance(pre.voxel_layer, VoxelizationByGridShape)
    points = [_points(seed=1), _points(seed=2)]
    ref = pre.voxelize(points, [])
    with pytorch_ops_only():
        ours = pre.voxelize(points, [])
    for key in ('voxels', 'coors', 'num_points'):
        assert torch.equal(ref[key], ours[key]), key
