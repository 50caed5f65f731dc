"""Matching costs for 3D set prediction (used by :class:`HungarianBBox3DAssigner`)."""
from typing import Optional, Union

import torch
from mmdet3d.registry import TASK_UTILS
from mmdet.models.task_modules.assigners.match_cost import BaseMatchCost
from mmengine.structures import InstanceData
from torch import Tensor


@TASK_UTILS.register_module()
class BBox3DL1MatchCost(BaseMatchCost):
    """L1 distance between normalised 3D boxes (DETR3D's ``BBox3DL1Cost``; named apart from it because mmdet3d's
    DETR3D and PETR projects register that name in the same registry).

    ``pred_instances.bboxes`` ``(Q, D)`` and ``gt_instances.bboxes`` ``(G, D)``
    are normalised boxes (:func:`normalize_bbox3d`); the cost is the L1 distance
    over the first ``num_dims`` entries (default 8: centre, log size, sin/cos
    yaw; velocity excluded as in DETR3D).

    Args:
        num_dims (int): number of leading entries compared. Default: 8.
        weight (float): cost weight. Default: 1.
    """

    def __init__(self, num_dims: int = 8, weight: Union[float, int] = 1.) -> None:
        super().__init__(weight=weight)
        self.num_dims = num_dims

    def __call__(self,
                 pred_instances: InstanceData,
                 gt_instances: InstanceData,
                 img_meta: Optional[dict] = None,
                 **kwargs) -> Tensor:
        """Returns the ``(Q, G)`` weighted cost."""
        pred, gt = pred_instances.bboxes, gt_instances.bboxes
        if pred.shape[-1] < self.num_dims or gt.shape[-1] < self.num_dims:
            raise ValueError(f'BBox3DL1MatchCost: boxes need >= {self.num_dims} entries, got pred {tuple(pred.shape)} '
                             f'and gt {tuple(gt.shape)}')
        return torch.cdist(pred[:, :self.num_dims], gt[:, :self.num_dims].to(pred.dtype), p=1) * self.weight
