import math

import pytest
import torch
from mmdet3d.registry import MODELS

import mim3d_plugin  # noqa: F401
from mim3d_plugin.geometry import VoxelGrid, make_transform, relative_transform, rotation_z

PCR, VOX = [-6.4, -6.4, -2.0, 6.4, 6.4, 2.0], [0.8, 0.8, 1.0]  # 16 x 16 x 4


def _builder(**kw):
    cfg = dict(
        type='SceneFlowPseudo3DBuilder',
        point_cloud_range=PCR,
        voxel_size=VOX,
        embed_dims=8,
        num_frames=2,
        num_heads=2,
        num_points=2)
    cfg.update(kw)
    m = MODELS.build(cfg)
    m.init_weights()
    return m


def test_warp_moves_single_voxel_to_metric_destination():
    builder = _builder(embed_dims=1, num_heads=1)
    grid = VoxelGrid(PCR, VOX)
    vol = torch.zeros(1, 2, 1, 4, 16, 16)
    # one occupied voxel at index x=10, y=9, z=1 of frame 0 (centre x=2.0 m, y=1.2 m, z=-0.5 m)
    vol[0, 0, 0, 1, 9, 10] = 1.0
    # the earlier frame's ego sits 1.6 m behind the target and is yawed by +90 deg
    frame2global = make_transform(rotation_z(torch.tensor(math.pi / 2)), torch.tensor([-1.6, 0.0, 0.0]))
    frame2target = relative_transform(frame2global, torch.eye(4)).expand(1, 2, 4, 4)
    warped, inside = builder.warp(vol, frame2target)
    src = grid.index_to_metric(torch.tensor([10.0, 9.0, 1.0]))
    dst = frame2global[:3, :3] @ src + frame2global[:3, 3]  # (-1.2 - 1.6, 2.0, -0.5) m
    ix, iy, iz = grid.metric_to_index(dst).round().long().tolist()
    assert (ix, iy, iz) == (4, 10, 1)
    assert torch.isclose(warped[0, 0, 0, iz, iy, ix], torch.tensor(1.0), atol=1e-5)
    assert torch.isclose(warped[0, 0].sum(), torch.tensor(1.0), atol=1e-5)
    assert warped[0, 1].sum() == 0  # frame 1 was empty
    # voxels whose source falls outside the grid are flagged
    assert not inside[0, 0].all() and inside[0, 0, iz, iy, ix]


def test_identity_warp_is_noop():
    builder = _builder()
    vol = torch.randn(2, 2, 8, 4, 16, 16)
    warped, inside = builder.warp(vol, torch.eye(4).expand(2, 2, 4, 4))
    assert torch.allclose(warped, vol, atol=1e-5) and inside.all()


def test_predictor_shapes_masking_and_gradients():
    torch.manual_seed(0)
    builder = _builder(num_layers=2)
    vol = torch.randn(2, 2, 8, 4, 16, 16, requires_grad=True)
    valid = torch.tensor([[True, True], [False, True]])
    out = builder(vol, torch.eye(4).expand(2, 2, 4, 4), valid)
    assert out.shape == (2, 8, 4, 16, 16) and torch.isfinite(out).all()
    out.pow(2).sum().backward()
    missing = [n for n, p in builder.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing, missing
    # the invalid (repeated) frame of sample 1 does not influence its prediction
    assert vol.grad[1, 0].abs().sum() == 0 and vol.grad[1, 1].abs().sum() > 0
    # a sample with no valid frame still gives finite values
    out2 = builder(vol.detach(), torch.eye(4).expand(2, 2, 4, 4), torch.zeros(2, 2, dtype=torch.bool))
    assert torch.isfinite(out2).all()
    with pytest.raises(ValueError, match='expected T=2'):
        builder(vol[:, :1], torch.eye(4).expand(2, 1, 4, 4))
