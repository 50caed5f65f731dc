"""Batch single RGB-D frames (Mask3D on RGB-D data)."""
from typing import List, Optional

from mmdet3d.registry import MODELS
from torch import Tensor

from .multiview_data_preprocessor import MultiViewDataPreprocessor, pad_and_stack_depth


@MODELS.register_module()
class RGBDDataPreprocessor(MultiViewDataPreprocessor):
    """:class:`MultiViewDataPreprocessor` for single RGB-D frames (``PackRGBDInputs``).

    Output ``inputs``: ``imgs`` (B, 3, H, W) normalised (mean/std, optional BGR->RGB, padding to
    ``pad_size_divisor``) and ``depth`` (B, H, W) metres, zero-padded like the image (padding is invalid depth).

    Raises:
        KeyError: the packed inputs hold no ``depth``.
    """

    def simple_process(self, data: dict, training: bool = False) -> dict:
        if 'depth' not in data['inputs']:
            raise KeyError("RGBDDataPreprocessor: inputs have no 'depth' (use PackRGBDInputs)")
        return super().simple_process(data, training)

    def _stack_depth(self, depth: List[Tensor], imgs: Optional[Tensor]) -> Tensor:
        return pad_and_stack_depth([d.to(imgs.device) for d in depth], tuple(imgs.shape[-2:]), type(self).__name__)
