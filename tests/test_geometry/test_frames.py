"""Analytic tests of ``mim3d_plugin.geometry.frames``."""
import math

import pytest
import torch

from mim3d_plugin.geometry import (apply_transform, invert_rigid, make_transform, pad_intrinsics, rotation_z,
                                   to_homogeneous)


def random_rigid(batch=(), seed=0):
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(batch + (3, 3), generator=gen, dtype=torch.float64))
    q = q * torch.linalg.det(q).sign().unsqueeze(-1).unsqueeze(-1)  # proper rotation
    return make_transform(q, torch.randn(batch + (3, ), generator=gen, dtype=torch.float64) * 10)


def test_apply_transform_equals_homogeneous_matmul():
    tf = random_rigid((2, 3))
    pts = torch.randn(2, 3, 7, 3, dtype=torch.float64)
    ref = (to_homogeneous(pts) @ tf.transpose(-1, -2))[..., :3]
    torch.testing.assert_close(apply_transform(pts, tf), ref)
    # broadcasting: (1, P, 3) points against (B, 4, 4) transforms
    out = apply_transform(pts[0, :1], tf[0])
    assert out.shape == (3, 7, 3)
    torch.testing.assert_close(out[2], apply_transform(pts[0, 0], tf[0, 2]))


def test_apply_transform_errors():
    with pytest.raises(ValueError, match='3 coordinates'):
        apply_transform(torch.zeros(5, 2), torch.eye(4))
    with pytest.raises(ValueError, match=r'\(\.\.\., 4, 4\)'):
        apply_transform(torch.zeros(5, 3), torch.eye(3))


def test_invert_rigid_and_make_transform():
    tf = random_rigid((4, ))
    inv = invert_rigid(tf)
    torch.testing.assert_close(inv @ tf, torch.eye(4, dtype=torch.float64).expand(4, 4, 4))
    torch.testing.assert_close(inv, torch.linalg.inv(tf))
    pts = torch.randn(4, 6, 3, dtype=torch.float64)
    torch.testing.assert_close(apply_transform(apply_transform(pts, tf), inv), pts)
    assert tf[..., 3, :].tolist() == [[0., 0., 0., 1.]] * 4


def test_rotation_z_is_counter_clockwise_and_keeps_dtype():
    rot = rotation_z(torch.tensor(math.pi / 2))
    # x forward rotates onto y left (counter-clockwise seen from above), z is fixed
    torch.testing.assert_close(rot @ torch.tensor([1., 0., 0.]), torch.tensor([0., 1., 0.]))
    torch.testing.assert_close(rot @ torch.tensor([0., 0., 1.]), torch.tensor([0., 0., 1.]))
    yaws = torch.tensor([0.3, -1.2, 2.9], dtype=torch.float64)
    rots = rotation_z(yaws)
    assert rots.shape == (3, 3, 3) and rots.dtype == torch.float64
    torch.testing.assert_close(rots @ rots.transpose(-1, -2), torch.eye(3, dtype=torch.float64).expand(3, 3, 3))
    torch.testing.assert_close(torch.atan2(rots[:, 1, 0], rots[:, 0, 0]), yaws)
    assert rotation_z(0.5).dtype == torch.float32
    assert rotation_z(0.5, dtype=torch.float64).dtype == torch.float64


def test_pad_intrinsics():
    k = torch.tensor([[800., 0., 320.], [0., 780., 240.], [0., 0., 1.]])
    padded = pad_intrinsics(k)
    assert padded.shape == (4, 4)
    torch.testing.assert_close(padded[:3, :3], k)
    assert padded[3].tolist() == [0., 0., 0., 1.] and padded[:3, 3].tolist() == [0., 0., 0.]
    p34 = torch.cat([k, torch.tensor([[1.], [2.], [3.]])], dim=1)
    assert pad_intrinsics(p34)[:3, 3].tolist() == [1., 2., 3.]
    assert pad_intrinsics(k.expand(2, 6, 3, 3)).shape == (2, 6, 4, 4)
    assert pad_intrinsics(padded) is padded
    with pytest.raises(ValueError, match='cam2img'):
        pad_intrinsics(torch.eye(2))


def test_transform_boxes_by_a_z_rotation_is_exact_and_invertible():
    """A yaw-only rigid transform: centres moved, yaw increased by the angle (wrapped), velocity rotated, sizes kept;
    the inverse brings the boxes back; a heading keeps pointing where the transformed box front points."""
    import math

    from mim3d_plugin.geometry import invert_rigid, make_transform, rotation_z, transform_boxes
    g = torch.Generator().manual_seed(0)
    boxes = torch.cat([
        torch.randn(6, 3, generator=g) * 10,
        torch.rand(6, 3, generator=g) + 0.5, (torch.rand(6, 1, generator=g) * 2 - 1) * math.pi,
        torch.randn(6, 2, generator=g)
    ], -1).double()
    angle = 1.2
    mat = make_transform(rotation_z(torch.tensor(angle, dtype=torch.float64)), torch.tensor([1.0, -2.0, 0.5]).double())
    out = transform_boxes(boxes, mat)
    rot = mat[:3, :3]
    assert torch.allclose(out[:, :3], boxes[:, :3] @ rot.T + mat[:3, 3])
    assert torch.allclose(out[:, 3:6], boxes[:, 3:6])
    dyaw = torch.remainder(out[:, 6] - boxes[:, 6] - angle + math.pi, 2 * math.pi) - math.pi
    assert dyaw.abs().max() < 1e-12
    assert torch.allclose(out[:, 7:9], boxes[:, 7:9] @ rot[:2, :2].T)
    back = transform_boxes(out, invert_rigid(mat))
    dback = torch.remainder(back[:, 6] - boxes[:, 6] + math.pi, 2 * math.pi) - math.pi
    assert torch.allclose(back[:, [0, 1, 2, 3, 4, 5, 7, 8]],
                          boxes[:, [0, 1, 2, 3, 4, 5, 7, 8]]) and dback.abs().max() < 1e-12
    with pytest.raises(ValueError, match=r'\(K, 7\) or \(K, 9\)'):
        transform_boxes(boxes[:, :8], mat)
