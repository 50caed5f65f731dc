"""One-to-one Hungarian assignment of 3D set predictions to ground truth."""
from typing import List, Optional, Union

import torch
from mmdet3d.registry import TASK_UTILS
from mmdet.models.task_modules.assigners import AssignResult, HungarianAssigner
from mmengine.structures import InstanceData


@TASK_UTILS.register_module()
class HungarianBBox3DAssigner(HungarianAssigner):
    """Hungarian assigner for DETR-style 3D heads (the official DETR3D / BEVFormer ``HungarianAssigner3D``; named
    apart from it because mmdet3d's own projects/ register that name in the same registry).

    mmdet's :class:`HungarianAssigner` with two changes: match costs are built
    from mmdet3d's ``TASK_UTILS`` (so ``BBox3DL1MatchCost`` and, with the ``mmdet.``
    prefix, mmdet's ``FocalLossCost`` both resolve), and non-finite costs (a
    diverged prediction) are replaced by a large finite value instead of
    crashing scipy's ``linear_sum_assignment``.

    ``pred_instances`` must carry ``scores`` ``(Q, C)`` logits and ``bboxes``
    ``(Q, 10)`` normalised boxes; ``gt_instances`` ``labels`` ``(G,)`` and
    ``bboxes`` ``(G, 10)`` normalised boxes (:func:`normalize_bbox3d`).

    Args:
        match_costs (list[dict] | dict): match cost configs, e.g.
            ``[dict(type='mmdet.FocalLossCost', weight=2.0),
            dict(type='BBox3DL1MatchCost', weight=0.25)]``.
    """

    def __init__(self, match_costs: Union[List[dict], dict]) -> None:
        if isinstance(match_costs, dict):
            match_costs = [match_costs]
        if not match_costs:
            raise ValueError('HungarianBBox3DAssigner: match_costs must not be empty')
        self.match_costs = [_FiniteCost(TASK_UTILS.build(cfg)) for cfg in match_costs]

    def assign(self,
               pred_instances: InstanceData,
               gt_instances: InstanceData,
               img_meta: Optional[dict] = None,
               **kwargs) -> AssignResult:
        """Assign; see :meth:`mmdet.models.task_modules.HungarianAssigner.assign`.

        The costs are computed in float32 with autocast off (official: the heads run the assigner on float32
        outputs): under fp16 the finite stand-in 1e8 for a non-finite cost overflows to inf and scipy refuses the
        matrix ("cost matrix is infeasible"), and fp16 / bf16 focal costs round away small differences."""
        device_type = pred_instances.bboxes.device.type
        with torch.autocast(device_type=device_type, enabled=False):
            return super().assign(_float32(pred_instances), _float32(gt_instances), img_meta, **kwargs)


def _float32(instances: InstanceData) -> InstanceData:
    """A copy of ``instances`` with every floating-point tensor field in float32."""
    out = instances.new()
    for key, value in instances.items():
        out[key] = value.float() if isinstance(value, torch.Tensor) and value.is_floating_point() else value
    return out


class _FiniteCost:
    """Wraps a match cost and replaces NaN/inf by +-1e8."""

    def __init__(self, cost) -> None:
        self.cost = cost

    def __call__(self, **kwargs) -> torch.Tensor:
        return torch.nan_to_num(self.cost(**kwargs), nan=1e8, posinf=1e8, neginf=-1e8)
