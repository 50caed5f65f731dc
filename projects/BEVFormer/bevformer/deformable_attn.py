"""Deformable-attention helpers of BEVFormer (the sampling itself: :func:`mim3d_plugin.ops.ms_deform_attn`)."""
import torch
from torch import Tensor

from mim3d_plugin.ops import ms_deform_attn  # noqa: F401  (mmcv's kernel, or its PyTorch path where absent)


def inverse_sigmoid(x: Tensor, eps: float = 1e-5) -> Tensor:
    """``log(x / (1 - x))`` with clamping (inverse of ``sigmoid``)."""
    x = x.clamp(0, 1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))
