"""Rendering losses (plain functions; the head applies the config weights).

MIM4D / UniPAD: L1 on rendered RGB and on rendered depth where LiDAR hits
(``SurfaceModel.loss``); an eikonal regulariser on the SDF gradient (NeuS) is
available but in neither official config.
"""
from typing import Optional

from torch import Tensor


def rgb_l1_loss(pred: Tensor, target: Tensor, mask: Optional[Tensor] = None) -> Tensor:
    """Mean L1 over rays (and channels).

    Args:
        pred (Tensor): ``(..., 3)`` rendered colour in [0, 1].
        target (Tensor): ``(..., 3)`` pixel colour in [0, 1].
        mask (Tensor, optional): ``(...)`` bool, rays to keep.
    """
    err = (pred - target).abs().mean(-1)
    return _masked_mean(err, mask)


def depth_l1_loss(pred: Tensor, target: Tensor, mask: Optional[Tensor] = None) -> Tensor:
    """Mean L1 over rays whose target depth is valid (> 0), in the units of the inputs
    (scene units in :class:`VolumeRenderingHead`).

    Args:
        pred (Tensor): ``(...)`` rendered depth.
        target (Tensor): ``(...)`` LiDAR depth; 0 = no point.
        mask (Tensor, optional): ``(...)`` bool, further rays to keep.
    """
    valid = target > 0
    if mask is not None:
        valid = valid & mask
    return _masked_mean((pred - target).abs(), valid)


def eikonal_loss(gradients: Tensor) -> Tensor:
    """``mean((|grad f| - 1)^2)`` over ``(..., 3)`` SDF gradients."""
    return ((gradients.norm(dim=-1) - 1)**2).mean()


def _masked_mean(values: Tensor, mask: Optional[Tensor]) -> Tensor:
    if mask is None:
        return values.mean()
    mask = mask.to(values.dtype)
    # Always depends on ``values`` so an empty mask still gives a (zero) gradient path.
    return (values * mask).sum() / mask.sum().clamp(min=1.0)
