"""Multi-scale deformable attention sampling: mmcv's kernel where it runs, else mmcv's own PyTorch path."""
from mmcv.ops.multi_scale_deform_attn import MultiScaleDeformableAttnFunction, multi_scale_deformable_attn_pytorch
from torch import Tensor

from .availability import compiled_op_available


def ms_deform_attn(value: Tensor,
                   spatial_shapes: Tensor,
                   level_start_index: Tensor,
                   sampling_locations: Tensor,
                   attention_weights: Tensor,
                   im2col_step: int = 64) -> Tensor:
    """Sample and weight values at deformable locations (Deformable DETR, Zhu et al. 2021, Eq. 3).

    mmcv's ``MultiScaleDeformableAttnFunction`` where its kernel runs on the device (CUDA builds), else
    ``multi_scale_deformable_attn_pytorch`` (``F.grid_sample``, bilinear, zero padding, ``align_corners=False``): the
    same sampling, more memory (``tests/test_ops/test_ms_deform_attn.py`` pins the two against each other).

    Args:
        value (Tensor): ``(B, L, heads, C/heads)`` flattened multi-level values.
        spatial_shapes (Tensor): ``(levels, 2)`` long ``(H, W)`` of each level.
        level_start_index (Tensor): ``(levels,)`` long start of each level in ``L``.
        sampling_locations (Tensor): ``(B, Q, heads, levels, P, 2)`` in ``[0, 1]``
            (x = column / W, y = row / H).
        attention_weights (Tensor): ``(B, Q, heads, levels, P)``.
        im2col_step (int): the kernel's batch chunk. Default: 64.

    Returns:
        Tensor: ``(B, Q, C)``.
    """
    if compiled_op_available('ms_deform_attn', value.device):
        return MultiScaleDeformableAttnFunction.apply(value, spatial_shapes, level_start_index, sampling_locations,
                                                      attention_weights, im2col_step)
    return multi_scale_deformable_attn_pytorch(value, spatial_shapes, sampling_locations, attention_weights)
