"""camera_aware_vector: 22-d camera vector of GeoMIM / BEVDepth (known answers)."""
import math

import pytest
import torch

from mim3d_plugin.geometry import project_points
from mim3d_plugin.models.utils import CAMERA_VECTOR_DIMS, camera_aware_vector


def _rig():
    """One sample, two views: nuScenes-like intrinsics, resize 0.44 + 5 deg rotation + crop."""
    K = torch.eye(4).repeat(1, 2, 1, 1)
    K[0, 0, 0, 0], K[0, 0, 1, 1], K[0, 0, 0, 2], K[0, 0, 1, 2] = 1266.4, 1266.5, 816.3, 491.5
    K[0, 1, 0, 0], K[0, 1, 1, 1], K[0, 1, 0, 2], K[0, 1, 1, 2] = 1260.0, 1259.0, 807.0, 495.0
    aug = torch.eye(4).repeat(1, 2, 1, 1)
    t = math.radians(5.0)
    aug[0, :, :2, :2] = 0.44 * torch.tensor([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    aug[0, :, :2, 3] = torch.tensor([-10.0, -140.0])  # acts on (u, v, d, 1)
    cam2ego = torch.eye(4).repeat(1, 2, 1, 1)
    cam2ego[0, 0, :3, :3] = torch.tensor([[0., 0., 1.], [-1., 0., 0.], [0., -1., 0.]])  # front camera
    cam2ego[0, 0, :3, 3] = torch.tensor([1.70, 0.02, 1.51])
    cam2ego[0, 1, :3, 3] = torch.tensor([-1.0, 0.5, 1.5])
    return K, aug, cam2ego


def _fold(aug, K):
    """cam2img with the augmentation folded in: the same pixel map acting on (u z, v z, z, 1)."""
    m = aug.clone()
    m[..., :2, 2], m[..., :2, 3] = aug[..., :2, 3], 0
    return m @ K


def test_known_answer_layout():
    K, aug, cam2ego = _rig()
    cam2img = _fold(aug, K)  # the augmentation folded into the intrinsics, as the data pipeline does
    vec = camera_aware_vector(cam2img, aug, cam2ego)
    assert vec.shape == (1, 2, CAMERA_VECTOR_DIMS) == (1, 2, 22)
    c, s = 0.44 * math.cos(math.radians(5.0)), 0.44 * math.sin(math.radians(5.0))
    expected = torch.tensor([
        1266.4, 1266.5, 816.3, 491.5, c, -s, -10.0, s, c, -140.0, 0., 0., 1., 1.70, -1., 0., 0., 0.02, 0., -1., 0., 1.51
    ])
    torch.testing.assert_close(vec[0, 0], expected, rtol=1e-5, atol=1e-3)
    assert torch.allclose(vec[0, 1, :4], torch.tensor([1260.0, 1259.0, 807.0, 495.0]), atol=1e-3)
    assert torch.allclose(vec[0, 1, 10:], cam2ego[0, 1, :3, :4].flatten())


def test_convention_matches_projection():
    """The augmented projection equals the original projection followed by the 2x3 affine of the vector."""
    K, aug, cam2ego = _rig()
    cam2img = _fold(aug, K)
    vec = camera_aware_vector(cam2img, aug, cam2ego)[0, 0]
    pts = torch.tensor([[2.0, -1.0, 10.0], [-3.0, 0.5, 25.0]])
    uv_orig, _, _ = project_points(pts, K[0, 0])
    uv_aug, _, _ = project_points(pts, cam2img[0, 0])
    affine = vec[4:10].view(2, 3)
    torch.testing.assert_close(uv_orig @ affine[:, :2].T + affine[:, 2], uv_aug, rtol=1e-5, atol=1e-3)


def test_bad_inputs_raise():
    K, aug, cam2ego = _rig()
    bad = aug.clone()
    bad[..., 0, 2] = 5.0  # a depth-dependent pixel shift: not a pixel affine map
    with pytest.raises(ValueError, match='img_aug_matrix must act on'):
        camera_aware_vector(_fold(aug, K), bad, cam2ego)
    with pytest.raises(ValueError, match='cam2ego'):
        camera_aware_vector(_fold(aug, K), aug, cam2ego[:, :, :3])
    with pytest.raises(ValueError, match='shapes differ'):
        camera_aware_vector(_fold(aug, K), aug, cam2ego[:, :1])
