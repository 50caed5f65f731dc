import math

import torch

from mim3d_plugin.rendering import (NeuSUpSampler, RayBundle, UniformSampler, alpha_to_weights, neus_alpha,
                                    render_depth, render_opacity, render_rgb)


def test_constant_colour_with_normalised_weights_renders_that_colour():
    w = torch.softmax(torch.randn(4, 7), -1)
    rgb = torch.tensor([0.2, 0.5, 0.9]).expand(4, 7, 3)
    assert torch.allclose(render_rgb(w, rgb), torch.tensor([0.2, 0.5, 0.9]).expand(4, 3), atol=1e-6)


def test_single_opaque_sample_depth_is_its_distance():
    alpha = torch.tensor([[0., 0., 1., 0.3]])
    w = alpha_to_weights(alpha)
    assert torch.allclose(w, torch.tensor([[0., 0., 1., 0.]]), atol=1e-5)
    t = torch.tensor([[1., 2., 3.5, 5.]])
    assert torch.allclose(render_depth(w, t, torch.ones(1)), torch.tensor([3.5]), atol=1e-4)
    assert torch.allclose(render_opacity(w), torch.ones(1), atol=1e-5)


def test_depth_is_normalised_by_opacity_and_clipped_to_the_samples():
    t = torch.tensor([[2.0, 4.0, 6.0]])
    w = torch.tensor([[0.0, 0.2, 0.0]])  # 20 % opaque at 4 m: the expectation given a hit is 4 m, not 0.8 m
    assert torch.allclose(render_depth(w, t), torch.tensor([4.0]))
    assert torch.allclose(render_depth(w, t, torch.tensor([2.0])), torch.tensor([2.0]))  # camera z
    assert torch.allclose(render_depth(torch.zeros(1, 3), t), torch.tensor([2.0]))  # empty ray: clipped to t_min


def _render_analytic(sdf_fn, rays, inv_s=2000.):
    samples = UniformSampler(72, stratified=False)(rays)
    samples = NeuSUpSampler(24, num_steps=4)(rays, samples, sdf_fn)
    sdf = sdf_fn(rays.points_at(samples.t_edges))
    w = alpha_to_weights(neus_alpha(sdf, torch.tensor(inv_s)))
    return render_depth(w, samples.mids, rays.depth_scale), render_opacity(w)


def test_plane_sdf_renders_plane_depth():
    # camera at origin looking along +x (camera z = ego x); plane x = 10 m
    r = 6
    ang = torch.linspace(-0.5, 0.5, r)
    dirs = torch.stack([torch.cos(ang), torch.sin(ang), torch.zeros(r)], -1).unsqueeze(0)
    rays = RayBundle(
        torch.zeros(1, r, 3), dirs, 1 / torch.cos(ang).unsqueeze(0), torch.full((1, r), 0.5), torch.full((1, r), 40.0),
        torch.zeros(1, r, dtype=torch.long))
    depth, opacity = _render_analytic(lambda p: 10.0 - p[..., 0], rays)
    assert torch.allclose(opacity, torch.ones_like(opacity), atol=1e-3)
    assert torch.allclose(depth, torch.full_like(depth, 10.0), atol=0.05)


def test_sphere_sdf_renders_sphere_distance():
    centre, radius = torch.tensor([15.0, 0.0, 0.0]), 4.0
    offs = torch.tensor([0.0, 0.1, -0.2])
    dirs = torch.stack([torch.ones(3), offs, torch.zeros(3)], -1)
    dirs = (dirs / dirs.norm(dim=-1, keepdim=True)).unsqueeze(0)
    rays = RayBundle(
        torch.zeros(1, 3, 3), dirs, torch.ones(1, 3), torch.full((1, 3), 0.5), torch.full((1, 3), 40.0),
        torch.zeros(1, 3, dtype=torch.long))
    depth, _ = _render_analytic(lambda p: (p - centre).norm(dim=-1) - radius, rays)
    # analytic ray-sphere intersection distance
    b = (dirs[0] @ centre)
    expected = b - torch.sqrt(b**2 - (centre @ centre - radius**2))
    assert torch.allclose(depth[0], expected, atol=0.05), (depth, expected)
    assert not math.isnan(depth.sum().item())
