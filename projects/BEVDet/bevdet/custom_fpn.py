"""FPN that returns only selected levels and builds output convs only for them (BEVDet ``CustomFPN``).

BEVDet (HuangJunJie2017/BEVDet ``mmdet3d/models/necks/fpn.py``) fuses the
stride-16 and stride-32 backbone outputs top-down and keeps the stride-16 map
(``out_ids=[0]``) for the view transformer. mmdet's ``FPN`` would build (and
leave untrained) output convs for every level; this subclass drops them.
"""
from typing import Sequence, Tuple

import torch.nn.functional as F
from mmdet3d.registry import MODELS
from mmdet.models.necks import FPN
from torch import Tensor, nn


@MODELS.register_module()
class CustomFPN(FPN):
    """mmdet ``FPN`` (no extra levels) returning the levels ``out_ids``.

    Args:
        in_channels (Sequence[int]): channels of the backbone levels, e.g.
            ``[1024, 2048]`` (ResNet-50 stages 3 and 4).
        out_channels (int): output channels (BEVDet: 512).
        out_ids (Sequence[int]): levels returned, index into ``in_channels``
            (after ``start_level``). Default: (0,).
        **kwargs: other mmdet ``FPN`` arguments except ``num_outs`` and
            ``add_extra_convs``.
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int, out_ids: Sequence[int] = (0, ), **kwargs) -> None:
        start = kwargs.get('start_level', 0)
        num_levels = len(in_channels) - start
        super().__init__(in_channels, out_channels, num_outs=num_levels, **kwargs)
        self.out_ids = tuple(int(i) for i in out_ids)
        if not self.out_ids or any(not 0 <= i < num_levels for i in self.out_ids):
            raise ValueError(f'CustomFPN: out_ids {list(out_ids)} must index the {num_levels} levels')
        self.fpn_convs = nn.ModuleList(
            [conv if i in self.out_ids else nn.Identity() for i, conv in enumerate(self.fpn_convs)])

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """Backbone levels ``(B, C_i, H_i, W_i)`` -> tuple of ``(B, out_channels, H_i, W_i)`` for ``out_ids``."""
        if len(inputs) != len(self.in_channels):
            raise ValueError(f'CustomFPN: expected {len(self.in_channels)} input levels, got {len(inputs)}')
        laterals = [conv(inputs[i + self.start_level]) for i, conv in enumerate(self.lateral_convs)]
        for i in range(len(laterals) - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + F.interpolate(
                laterals[i], size=laterals[i - 1].shape[2:], **self.upsample_cfg)
        return tuple(self.fpn_convs[i](laterals[i]) for i in self.out_ids)
