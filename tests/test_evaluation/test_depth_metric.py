"""DepthMetric: known-answer AbsRel / RMSE / delta<1.25, invalid and eval masks."""
import math

import pytest
import torch

from mim3d_plugin.evaluation.metrics.depth_metric import DepthMetric, depth_metrics


def test_known_answer():
    gt = torch.tensor([[1., 2.], [0., 4.]])
    pred = torch.tensor([[1.1, 2.], [5., 2.]])
    m = DepthMetric()
    m.process({}, [dict(pred_depth=pred, gt_depth=gt)])
    res = m.compute_metrics(m.results)
    assert res['abs_rel'] == pytest.approx((0.1 + 0 + 0.5) / 3)
    assert res['rmse'] == pytest.approx(math.sqrt((0.01 + 0 + 4) / 3))
    assert res['delta1'] == pytest.approx(2 / 3)
    assert res['num_pixels'] == 3


def test_pooling_eval_mask_and_range():
    gt = torch.tensor([[1., 2.], [3., 100.]])
    pred = gt.clone()
    pred[0, 0] = 2.  # error only at a pixel excluded by eval_mask
    m = DepthMetric(max_depth=80.)
    m.process({}, [dict(pred_depth=pred, gt_depth=gt, eval_mask=torch.tensor([[False, True], [True, True]]))])
    m.process({}, [dict(pred_depth=gt[:1], gt_depth=gt[:1])])
    res = m.compute_metrics(m.results)
    assert res['abs_rel'] == 0 and res['delta1'] == 1 and res['num_pixels'] == 4


def test_errors():
    with pytest.raises(ValueError):
        depth_metrics(torch.zeros(2, 2), torch.zeros(3, 2))
    m = DepthMetric()
    with pytest.raises(KeyError, match='pred_depth'):
        m.process({}, [dict(gt_depth=torch.ones(2, 2))])
    m.process({}, [dict(pred_depth=torch.ones(2, 2), gt_depth=torch.zeros(2, 2))])
    with pytest.raises(ValueError, match='no valid'):
        m.compute_metrics(m.results)


def test_reads_the_depth_heads_field():
    """MaskedPretrainer.predict puts each head's predictions in a field named after the head."""
    gt = torch.tensor([[1., 2.], [3., 4.]])
    m = DepthMetric(prediction='depth')
    m.process({}, [dict(depth=dict(pred_depth=2 * gt, gt_depth=gt))])
    assert m.compute_metrics(m.results)['abs_rel'] == pytest.approx(1.0)
    with pytest.raises(KeyError, match="no field 'depth'"):
        m.process({}, [dict(pred_depth=gt, gt_depth=gt)])
