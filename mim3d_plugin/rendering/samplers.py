"""Ray samplers: ray bundle (and, for importance sampling, current weights or an SDF) in,
ray samples out.

* :class:`UniformSampler` - evenly spaced (stratified while training) intervals
  between ``near`` and ``far``.
* :func:`sample_pdf` - inverse-transform sampling of a piecewise-constant PDF
  (NeRF's hierarchical sampling).
* :class:`NeuSUpSampler` - NeuS' up-sampling (Wang et al. 2021, Sec. 3.4 and the
  official ``up_sample``): with a fixed, increasing sharpness ``base_inv_s * 2**i``
  the SDF at the current samples gives NeuS opacities, whose weights are
  re-sampled by :func:`sample_pdf`; new SDF values are queried at each step.
  MIM4D / UniPAD (``NeuSSampler`` in ``ray_samplers.py``): 72 uniform + 24
  importance samples in **one** step with ``base_inv_s = 64`` per unit of their
  normalised scene (1 unit = 51.2 m), which are the defaults here; the
  sharpness is per scene unit, so it means the same at every ``scene_scale``.

Samplers hold no learnable weights. Importance samples are drawn without
gradients, as in NeuS/UniPAD/MIM4D.
"""
from typing import Callable

import torch
from torch import Tensor

from .rays import RayBundle, RaySamples
from .renderers import alpha_to_weights, neus_alpha


class UniformSampler:
    """``num_samples`` intervals of equal length between ``near`` and ``far``.

    Args:
        num_samples (int): intervals per ray (``S``). MIM4D: 72.
        stratified (bool): jitter each edge uniformly inside its interval while
            training (NeRF). Default: True.
    """

    def __init__(self, num_samples: int, stratified: bool = True) -> None:
        if num_samples < 1:
            raise ValueError(f'UniformSampler: num_samples must be >= 1, got {num_samples}')
        self.num_samples = num_samples
        self.stratified = stratified

    def __call__(self, rays: RayBundle, training: bool = False) -> RaySamples:
        steps = torch.linspace(0, 1, self.num_samples + 1, device=rays.near.device, dtype=rays.near.dtype)
        if self.stratified and training:
            jitter = (torch.rand(rays.near.shape + (self.num_samples + 1, ), device=steps.device, dtype=steps.dtype)
                      - 0.5) / self.num_samples
            jitter[..., 0] = 0
            jitter[..., -1] = 0
            steps = steps + jitter
        t = rays.near.unsqueeze(-1) + (rays.far - rays.near).unsqueeze(-1) * steps
        return RaySamples(t_edges=t)


def sample_pdf(t_edges: Tensor, weights: Tensor, num_samples: int, deterministic: bool = True) -> Tensor:
    """Draw distances from the piecewise-constant PDF given by interval weights.

    Args:
        t_edges (Tensor): ``(B, R, S + 1)`` sorted interval edges, m.
        weights (Tensor): ``(B, R, S)`` non-negative weights of the intervals.
        num_samples (int): distances to draw per ray.
        deterministic (bool): evenly spaced CDF levels instead of random ones.

    Returns:
        Tensor: ``(B, R, num_samples)`` sorted distances, m.
    """
    weights = weights + 1e-5
    pdf = weights / weights.sum(-1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(pdf[..., :1]), torch.cumsum(pdf, -1)], -1).clamp(max=1)
    shape = cdf.shape[:-1] + (num_samples, )
    if deterministic:
        u = torch.linspace(
            0.5 / num_samples, 1 - 0.5 / num_samples, num_samples, device=cdf.device, dtype=cdf.dtype).expand(shape)
    else:
        u = torch.rand(shape, device=cdf.device, dtype=cdf.dtype)
    u = u.contiguous()
    idx = torch.searchsorted(cdf.contiguous(), u, right=True)
    below = (idx - 1).clamp(min=0, max=cdf.shape[-1] - 1)
    above = idx.clamp(max=cdf.shape[-1] - 1)
    cdf_lo, cdf_hi = cdf.gather(-1, below), cdf.gather(-1, above)
    t_lo, t_hi = t_edges.gather(-1, below), t_edges.gather(-1, above)
    denom = torch.where(cdf_hi - cdf_lo < 1e-5, torch.ones_like(cdf_hi), cdf_hi - cdf_lo)
    return t_lo + (u - cdf_lo) / denom * (t_hi - t_lo)


class NeuSUpSampler:
    """NeuS hierarchical up-sampling on top of a base sampler.

    Args:
        num_samples (int): importance samples added per ray in total. MIM4D: 24.
        num_steps (int): up-sampling iterations (``num_samples`` must divide
            evenly). Default: 1 (MIM4D / UniPAD; NeuS used 64 samples in 4 steps).
        base_inv_s (float): sharpness (1 / scene unit) of the first step; step
            ``i`` uses ``base_inv_s * 2**i``. Default: 64 (NeuS, MIM4D, UniPAD).
    """

    def __init__(self, num_samples: int, num_steps: int = 1, base_inv_s: float = 64.0) -> None:
        if num_samples < 0 or num_steps < 1 or num_samples % num_steps:
            raise ValueError(f'NeuSUpSampler: num_samples ({num_samples}) must be a non-negative multiple of '
                             f'num_steps ({num_steps})')
        self.num_samples = num_samples
        self.num_steps = num_steps
        self.base_inv_s = base_inv_s

    @torch.no_grad()
    def __call__(self,
                 rays: RayBundle,
                 samples: RaySamples,
                 sdf_fn: Callable[[Tensor], Tensor],
                 training: bool = False) -> RaySamples:
        """Add importance samples near the SDF zero crossing.

        Args:
            rays (RayBundle): the rays.
            samples (RaySamples): base samples (e.g. uniform).
            sdf_fn (callable): ``(B, R, P, 3)`` points -> ``(B, R, P)`` SDF (scene units).
            training (bool): random CDF levels if True.

        Returns:
            RaySamples: ``S + num_samples`` sorted intervals.
        """
        if self.num_samples == 0:
            return samples
        t = samples.t_edges
        sdf = sdf_fn(rays.points_at(t))
        per_step = self.num_samples // self.num_steps
        for i in range(self.num_steps):
            alpha = neus_alpha(sdf, torch.full_like(sdf[..., :1], self.base_inv_s * 2**i))
            weights = alpha_to_weights(alpha)
            new_t = sample_pdf(t, weights, per_step, deterministic=not training)
            new_sdf = sdf_fn(rays.points_at(new_t))
            t, order = torch.sort(torch.cat([t, new_t], -1), -1)
            sdf = torch.cat([sdf, new_sdf], -1).gather(-1, order)
        return RaySamples(t_edges=t)
