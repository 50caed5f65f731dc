"""Stateless volume rendering: opacities -> compositing weights -> per-ray RGB, depth, opacity.

Alpha-to-weight compositing lives in exactly one function, :func:`alpha_to_weights`.
:func:`neus_alpha` turns SDF values at interval edges into NeuS' discrete opacity
(Wang et al., NeuS, NeurIPS 2021, Eq. 13), which needs no SDF gradient.
"""
from typing import Optional

import torch
from torch import Tensor


def neus_alpha(sdf_edges: Tensor, inv_s: Tensor) -> Tensor:
    """NeuS discrete opacity of each interval from the SDF at its two edges.

    ``alpha_i = clamp((Phi_s(f_i) - Phi_s(f_{i+1})) / Phi_s(f_i), 0, 1)`` with the
    logistic CDF ``Phi_s(x) = sigmoid(s * x)``.

    Args:
        sdf_edges (Tensor): ``(..., S + 1)`` SDF at the interval edges (scene
            units), positive outside surfaces.
        inv_s (Tensor): sharpness ``s`` (1 / scene unit), broadcastable to ``(..., 1)``.

    Returns:
        Tensor: ``(..., S)`` opacities in [0, 1].
    """
    cdf = torch.sigmoid(sdf_edges * inv_s)
    prev, nxt = cdf[..., :-1], cdf[..., 1:]
    return ((prev - nxt + 1e-5) / (prev + 1e-5)).clamp(0.0, 1.0)


def alpha_to_weights(alpha: Tensor) -> Tensor:
    """Front-to-back compositing: ``w_i = alpha_i * prod_{j<i} (1 - alpha_j)``.

    Args:
        alpha (Tensor): ``(..., S)`` per-interval opacities in [0, 1].

    Returns:
        Tensor: ``(..., S)`` weights; their sum is the ray's opacity.
    """
    trans = torch.cumprod(torch.cat([torch.ones_like(alpha[..., :1]), 1.0 - alpha + 1e-7], -1), -1)
    return alpha * trans[..., :-1]


def render_rgb(weights: Tensor, rgb: Tensor, background: float = 0.0) -> Tensor:
    """``(..., S)`` weights, ``(..., S, 3)`` colours -> ``(..., 3)`` colour (+ background x transmittance)."""
    out = (weights.unsqueeze(-1) * rgb).sum(-2)
    if background:
        out = out + (1 - weights.sum(-1, keepdim=True)) * background
    return out


def render_depth(weights: Tensor, t: Tensor, depth_scale: Optional[Tensor] = None) -> Tensor:
    """Expected distance along the ray, normalised by the accumulated weight.

    ``sum_i w_i t_i / (sum_i w_i + 1e-10)``, clipped to ``[min_i t_i, max_i t_i]``
    of each ray: MIM4D / UniPAD ``DepthRenderer`` (``renderers.py``; they use
    the interval starts, we pass the interval mid-points, where the NeuS opacity
    of :func:`neus_alpha` is centred). An empty ray renders its mean sample
    distance instead of ~0, so the depth loss does not reward opacity by itself.

    Args:
        weights (Tensor): ``(..., S)`` compositing weights.
        t (Tensor): ``(..., S)`` sample distances along the ray.
        depth_scale (Tensor, optional): ``(...)`` distance along the ray per unit
            of camera z; if given, the result is camera z-depth.

    Returns:
        Tensor: ``(...)`` distance along the ray (or camera z), in the units of ``t``.
    """
    depth = (weights * t).sum(-1) / (weights.sum(-1) + 1e-10)
    depth = torch.minimum(torch.maximum(depth, t.amin(-1)), t.amax(-1))
    return depth if depth_scale is None else depth / depth_scale


def render_opacity(weights: Tensor) -> Tensor:
    """``(..., S)`` weights -> ``(...)`` accumulated opacity."""
    return weights.sum(-1)
