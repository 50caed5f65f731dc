"""3D Hungarian assignment and the 3D L1 match cost."""
import itertools

import torch
from mmdet3d.registry import TASK_UTILS
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

import mim3d_plugin  # noqa: F401


def _assigner():
    init_default_scope('mmdet3d')
    return TASK_UTILS.build(
        dict(
            type='HungarianBBox3DAssigner',
            match_costs=[dict(type='mmdet.FocalLossCost', weight=2.0),
                         dict(type='BBox3DL1MatchCost', weight=0.25)]))


def test_bbox3d_l1_cost_is_l1_over_first_dims():
    init_default_scope('mmdet3d')
    cost = TASK_UTILS.build(dict(type='BBox3DL1MatchCost', weight=2.0))
    pred = torch.randn(5, 10)
    gt = torch.randn(3, 10)
    c = cost(InstanceData(bboxes=pred), InstanceData(bboxes=gt))
    assert torch.allclose(c[1, 2], 2.0 * (pred[1, :8] - gt[2, :8]).abs().sum())


def test_assignment_is_the_brute_force_optimum():
    assigner = _assigner()
    torch.manual_seed(0)
    scores, boxes = torch.randn(5, 3), torch.randn(5, 10)
    gt = InstanceData(labels=torch.tensor([0, 2, 1]), bboxes=torch.randn(3, 10))
    res = assigner.assign(InstanceData(scores=scores, bboxes=boxes), gt)
    costs = sum(
        c(pred_instances=InstanceData(scores=scores, bboxes=boxes), gt_instances=gt) for c in assigner.match_costs)
    best = min(sum(costs[p[g], g] for g in range(3)) for p in itertools.permutations(range(5), 3))
    got_pairs = [(q, int(res.gt_inds[q]) - 1) for q in range(5) if res.gt_inds[q] > 0]
    assert len(got_pairs) == 3 and (res.gt_inds == 0).sum() == 2
    assert torch.isclose(sum(costs[q, g] for q, g in got_pairs), best)
    assert all(int(res.labels[q]) == int(gt.labels[g]) for q, g in got_pairs)


def test_non_finite_predictions_do_not_crash():
    assigner = _assigner()
    boxes = torch.randn(4, 10)
    boxes[1] = float('nan')
    res = assigner.assign(
        InstanceData(scores=torch.randn(4, 3), bboxes=boxes),
        InstanceData(labels=torch.tensor([1]), bboxes=torch.randn(1, 10)))
    assert (res.gt_inds > 0).sum() == 1 and res.gt_inds[1] == 0
