import torch

from mim3d_plugin.rendering import NeuSUpSampler, RayBundle, UniformSampler, sample_pdf


def _rays(b=2, r=5):
    dirs = torch.zeros(b, r, 3)
    dirs[..., 0] = 1
    return RayBundle(
        torch.zeros(b, r, 3), dirs, torch.ones(b, r), torch.full((b, r), 1.0), torch.full((b, r), 21.0),
        torch.zeros(b, r, dtype=torch.long))


def test_uniform_sampler_edges_cover_near_far_sorted():
    rays = _rays()
    s = UniformSampler(10)(rays, training=True)
    assert s.t_edges.shape == (2, 5, 11)
    assert torch.allclose(s.t_edges[..., 0], rays.near) and torch.allclose(s.t_edges[..., -1], rays.far)
    assert (s.deltas > 0).all()
    det = UniformSampler(10)(rays, training=False)
    assert torch.allclose(det.deltas, torch.full_like(det.deltas, 2.0))


def test_sample_pdf_concentrates_in_heavy_interval():
    edges = torch.linspace(0, 10, 11).expand(1, 1, 11)
    w = torch.zeros(1, 1, 10)
    w[..., 6] = 1.0
    t = sample_pdf(edges, w, 32)
    assert ((t >= 6) & (t <= 7)).float().mean() > 0.95


def test_neus_upsampler_adds_samples_near_surface():
    rays = _rays()
    base = UniformSampler(8, stratified=False)(rays)
    up = NeuSUpSampler(16, num_steps=4)(rays, base, lambda p: 12.3 - p[..., 0])
    assert up.t_edges.shape[-1] == 9 + 16
    assert (up.deltas >= 0).all()
    near_surface = ((up.t_edges - 12.3).abs() < 1.0).sum(-1)
    assert (near_surface >= 10).all()
