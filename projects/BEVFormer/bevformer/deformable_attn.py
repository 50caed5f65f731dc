"""Dispatch of multi-scale deformable attention sampling to mmcv's CUDA kernel or its PyTorch path."""
import torch
from mmcv.ops.multi_scale_deform_attn import MultiScaleDeformableAttnFunction, multi_scale_deformable_attn_pytorch
from torch import Tensor


def ms_deform_attn(value: Tensor,
                   spatial_shapes: Tensor,
                   level_start_index: Tensor,
                   sampling_locations: Tensor,
                   attention_weights: Tensor,
                   im2col_step: int = 64) -> Tensor:
    """Sample and weight values at deformable locations (mmcv's op; CUDA kernel on GPU, PyTorch on CPU).

    Args:
        value (Tensor): ``(B, L, heads, C/heads)`` flattened multi-level values.
        spatial_shapes (Tensor): ``(levels, 2)`` long ``(H, W)`` of each level.
        level_start_index (Tensor): ``(levels,)`` long start of each level in ``L``.
        sampling_locations (Tensor): ``(B, Q, heads, levels, P, 2)`` in ``[0, 1]``
            (x = column / W, y = row / H).
        attention_weights (Tensor): ``(B, Q, heads, levels, P)``.

    Returns:
        Tensor: ``(B, Q, C)``.
    """
    if value.is_cuda:
        return MultiScaleDeformableAttnFunction.apply(value, spatial_shapes, level_start_index, sampling_locations,
                                                      attention_weights, im2col_step)
    return multi_scale_deformable_attn_pytorch(value, spatial_shapes, sampling_locations, attention_weights)


def inverse_sigmoid(x: Tensor, eps: float = 1e-5) -> Tensor:
    """``log(x / (1 - x))`` with clamping (inverse of ``sigmoid``)."""
    x = x.clamp(0, 1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))
