import pytest
import torch

from mim3d_plugin.rendering import AABBCollider, NearFarCollider, RayBundle


def _rays(origins, dirs):
    origins, dirs = torch.tensor(origins).unsqueeze(0), torch.tensor(dirs).unsqueeze(0)
    dirs = dirs / dirs.norm(dim=-1, keepdim=True)
    r = origins.shape[1]
    return RayBundle(origins, dirs, torch.ones(1, r), torch.zeros(1, r), torch.ones(1, r),
                     torch.zeros(1, r, dtype=torch.long))


def test_aabb_collider_clips_to_box_faces_and_near_plane():
    col = AABBCollider([-10., -10., -2., 10., 10., 4.], near_plane=1.0)
    rays = _rays([[0., 0., 0.], [0., 0., 0.], [-20., 0., 0.], [0., 0., 0.]],
                 [[1., 0., 0.], [1., 0., 1.], [1., 0., 0.], [0., 0., -1.]])
    out, hit = col(rays)
    assert hit.all()
    # +x from the centre: x = 10 face; 45 deg up: z = 4 face at t = 4 * sqrt(2)
    # from outside: enters at x = -10 (t = 10), leaves at x = 10 (t = 30); straight down: z = -2 at t = 2
    assert torch.allclose(out.near[0], torch.tensor([1.0, 1.0, 10.0, 1.0]))
    assert torch.allclose(out.far[0], torch.tensor([10.0, 4 * 2**0.5, 30.0, 2.0]), atol=1e-5)
    # axis-parallel rays (zero direction components) stay finite
    assert torch.isfinite(out.near).all() and torch.isfinite(out.far).all()


def test_aabb_collider_flags_rays_that_miss_or_end_before_the_near_plane():
    col = AABBCollider([-1., -1., -1., 1., 1., 1.], near_plane=0.5)
    rays = _rays([[5., 5., 0.], [0., 0., 0.9], [0., 0., 0.]], [[1., 0., 0.], [0., 0., 1.], [0., 1., 0.]])
    out, hit = col(rays)
    assert hit.tolist() == [[False, False, True]]  # misses; leaves the box at t = 0.1 < near 0.5; hits
    assert (out.far > out.near).all()


def test_near_far_collider_and_bad_arguments():
    out, hit = NearFarCollider(0.5, 40.0)(_rays([[0., 0., 0.]], [[0., 1., 0.]]))
    assert hit.all() and out.near.item() == 0.5 and out.far.item() == 40.0
    with pytest.raises(ValueError, match='scene_box'):
        AABBCollider([0, 0, 0, 0, 1, 1])
    with pytest.raises(ValueError, match='near_plane'):
        NearFarCollider(3.0, 1.0)


def test_scaled_rays_keep_directions_and_scale_distances():
    rays = _rays([[1., 2., 3.]], [[0., 3., 4.]])
    s = rays.scaled(0.5)
    assert torch.allclose(s.origins, torch.tensor([[[0.5, 1.0, 1.5]]]))
    assert torch.equal(s.directions, rays.directions) and torch.equal(s.depth_scale, rays.depth_scale)
    assert torch.allclose(s.far, rays.far * 0.5)
