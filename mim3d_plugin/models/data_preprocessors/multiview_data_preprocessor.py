"""Batch multi-view images, LiDAR depth maps and points (mmdet3d ``Det3DDataPreprocessor``)."""
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmdet3d.models.data_preprocessors import Det3DDataPreprocessor
from mmdet3d.registry import MODELS
from torch import Tensor


def pad_and_stack_depth(depth: Sequence[Tensor], size: Tuple[int, int], who: str) -> Tensor:
    """Zero-pad every depth map ``(..., h, w)`` to ``size = (H, W)`` (bottom / right, like the images) and stack.

    Padding is invalid depth (0 m). Used by :class:`MultiViewDataPreprocessor` (``(N, h, w)`` per sample) and
    :class:`RGBDDataPreprocessor` (``(h, w)`` per sample).

    Raises:
        ValueError: a map larger than ``size`` (named by sample index).
    """
    height, width = size
    out = []
    for i, d in enumerate(depth):
        if d.shape[-2] > height or d.shape[-1] > width:
            raise ValueError(f'{who}: depth of sample {i} has shape {tuple(d.shape)}, larger than the batched '
                             f'images ({height}, {width})')
        out.append(F.pad(d.float(), (0, width - d.shape[-1], 0, height - d.shape[-2]), value=0.0))
    return torch.stack(out)


@MODELS.register_module()
class MultiViewDataPreprocessor(Det3DDataPreprocessor):
    """mmdet3d ``Det3DDataPreprocessor`` that also stacks the per-view depth maps.

    Outputs ``inputs``:

    - ``imgs`` (B, N, 3, H, W) float: images normalised with ``mean``/``std``
      (after optional ``bgr_to_rgb``), padded to ``pad_size_divisor`` (by the
      parent class);
    - ``depth`` (B, N, H, W) float metres, 0 = no LiDAR point, zero-padded to
      the image size;
    - ``points`` list of B (P_b, C) tensors, untouched (``voxel=False`` by
      default; set ``voxel=True`` + ``voxel_layer`` to also get ``voxels``).

    Args: see ``Det3DDataPreprocessor``.

    Raises:
        ValueError: depth maps whose number of views or size does not fit the images.
    """

    def simple_process(self, data: dict, training: bool = False) -> dict:
        data = dict(data)
        data['inputs'] = dict(data['inputs'])
        depth = data['inputs'].pop('depth', None)
        out = super().simple_process(data, training)
        if depth is not None:
            out['inputs']['depth'] = self._stack_depth(depth, out['inputs'].get('imgs'))
        return out

    def _stack_depth(self, depth: Union[List[Tensor], Tensor], imgs: Optional[Tensor]) -> Tensor:
        depth = list(depth) if isinstance(depth, (list, tuple)) else list(depth.unbind(0))
        for i, d in enumerate(depth):
            if d.dim() != 3:
                raise ValueError(f'{type(self).__name__}: depth of sample {i} must be (N, H, W), got '
                                 f'{tuple(d.shape)}')
        if imgs is not None:
            n_views, height, width = imgs.shape[1], imgs.shape[-2], imgs.shape[-1]
        else:
            n_views = depth[0].shape[0]
            height, width = max(d.shape[1] for d in depth), max(d.shape[2] for d in depth)
        for i, d in enumerate(depth):
            if d.shape[0] != n_views:
                raise ValueError(f'{type(self).__name__}: depth of sample {i} has shape {tuple(d.shape)}, '
                                 f'images need ({n_views}, <={height}, <={width})')
        return pad_and_stack_depth(depth, (height, width), type(self).__name__).to(self.device)
