"""Trivial depth baselines of Mask3D's evaluation: known answers on a hand-built grid, a per-patch loop written from
the definitions, the metric reporting them beside the model (the head filling them: tests/test_models/
test_pretrainers/test_mask3d.py)."""
import math

import pytest
import torch

from mim3d_plugin.evaluation import DepthMetric, visible_depth_baselines

P = 2  # px per patch


def _grid():
    """3 x 4 patches of 2 x 2 px; the middle row of patches has no visible depth at all."""
    depth = torch.zeros(1, 6, 8)
    vals = torch.tensor([[1., 2., 3., 4.], [5., 6., 7., 8.], [9., 10., 11., 12.]])
    depth[0] = vals.repeat_interleave(P, 0).repeat_interleave(P, 1)
    depth[0, 0, 0] = 0.  # one invalid pixel in patch (0, 0)
    dropped = torch.zeros(1, 3, 4, dtype=torch.bool)
    dropped[0, 0, 1] = dropped[0, 1, :] = dropped[0, 2, 3] = True
    return depth, dropped.repeat_interleave(P, 1).repeat_interleave(P, 2)


def test_known_answers_on_a_hand_built_grid():
    depth, dropped = _grid()
    out = visible_depth_baselines(depth, dropped, P)
    # visible pixels are copied, invalid ones stay 0
    for b in out.values():
        assert torch.equal(b[~dropped], depth[~dropped])
    row = out['row_median'][0, ::P, ::P]  # one value per patch
    # row 0: visible patches (0,0) [1, 1, 1, valid 3 px], (0,2) [3 x 4], (0,3) [4 x 4] -> 11 values, median 3
    assert row[0, 1] == 3.
    # row 1 has no visible depth: the nearest row with some, ties to the upper one (row 0)
    assert (row[1] == 3.).all()
    # row 2: patches 9, 10, 11 visible (4 px each) -> lower median of 12 values = 10
    assert row[2, 3] == 10.
    near = out['nearest_patch'][0, ::P, ::P]
    assert near[0, 1] == 1.  # (0,0) and (0,2) tie at distance 1: the lower row-major index
    # (1,0): visible (0,0) and (2,0) tie at distance 1 -> (0,0); (1,1): of its 4 neighbours only (2,1) is visible;
    # (1,2): (0,2) and (2,2) tie -> (0,2); (1,3): (0,3) at 1 ((2,3) is dropped)
    assert near[1, 0] == 1. and near[1, 1] == 10. and near[1, 2] == 3. and near[1, 3] == 4.
    assert near[2, 3] == 11.  # (1,3) dropped, (2,2) at distance 1


def _loop_reference(depth, dropped, p):
    """The two baselines written out patch by patch from their definitions (no shared code)."""
    m, H, W = depth.shape
    h, w = H // p, W // p
    row_out, near_out = depth.clone(), depth.clone()
    for i in range(m):
        vis = {}
        for r in range(h):
            for c in range(w):
                pd = depth[i, r * p:(r + 1) * p, c * p:(c + 1) * p]
                if not dropped[i, r * p, c * p] and (pd > 0).any():
                    vis[(r, c)] = pd[pd > 0]
        rows = {r: torch.cat([v for (rr, _), v in vis.items() if rr == r]) for r in {k[0] for k in vis}}
        for r in range(h):
            for c in range(w):
                if not dropped[i, r * p, c * p]:
                    continue
                rr = min(rows, key=lambda k: (abs(k - r), k))
                vals = rows[rr].sort().values
                row_val = vals[(len(vals) - 1) // 2]
                key = min(vis, key=lambda k: ((k[0] - r)**2 + (k[1] - c)**2, k[0] * w + k[1]))
                vals = vis[key].sort().values
                near_val = vals[(len(vals) - 1) // 2]
                row_out[i, r * p:(r + 1) * p, c * p:(c + 1) * p] = row_val
                near_out[i, r * p:(r + 1) * p, c * p:(c + 1) * p] = near_val
    return row_out, near_out


def test_equal_to_a_patch_by_patch_loop_on_sparse_lidar_like_depth():
    g = torch.Generator().manual_seed(0)
    m, p, h, w = 3, 4, 5, 7
    depth = torch.rand(m, h * p, w * p, generator=g) * 50 + 1
    depth[torch.rand(depth.shape, generator=g) > 0.08] = 0.  # ~8 % valid pixels, as projected LiDAR
    depth[:, :p] = 0.  # the top patch row has no points (sky)
    dropped = (torch.rand(m, h, w, generator=g) < 0.75).repeat_interleave(p, 1).repeat_interleave(p, 2)
    out = visible_depth_baselines(depth, dropped, p)
    row_ref, near_ref = _loop_reference(depth, dropped, p)
    assert torch.equal(out['row_median'], row_ref)
    assert torch.equal(out['nearest_patch'], near_ref)


def test_errors_name_the_problem():
    depth, dropped = _grid()
    with pytest.raises(ValueError, match='unknown baselines'):
        visible_depth_baselines(depth, dropped, P, ['mean'])
    with pytest.raises(ValueError, match='multiple of patch_size'):
        visible_depth_baselines(depth, dropped, 4)
    bad = dropped.clone()
    bad[0, 0, 0] = ~bad[0, 0, 0]
    with pytest.raises(ValueError, match='not constant over each depth patch'):
        visible_depth_baselines(depth, bad, P)
    with pytest.raises(ValueError, match='no visible valid depth'):
        visible_depth_baselines(depth, torch.ones_like(dropped), P)


def test_metric_scores_every_baseline_on_the_model_pixels():
    gt = torch.tensor([[1., 2.], [4., 0.]])
    mask = torch.tensor([[True, True], [False, True]])
    m = DepthMetric(prediction='depth')
    sample = dict(
        pred_depth=gt * 2,
        gt_depth=gt,
        eval_mask=mask,
        baseline_row_median=gt.clone(),
        baseline_nearest_patch=torch.tensor([[1.5, 2.], [100., 7.]]))
    m.process({}, [dict(depth=sample)])
    res = m.compute_metrics(m.results)
    assert res['abs_rel'] == pytest.approx(1.0) and res['num_pixels'] == 2  # pixels (0,0), (0,1)
    assert res['row_median_abs_rel'] == 0 and res['row_median_delta1'] == 1
    assert res['nearest_patch_abs_rel'] == pytest.approx(0.25)  # the (1, 0) error is outside eval_mask
    assert res['nearest_patch_rmse'] == pytest.approx(math.sqrt(0.125))
    # a baseline in some samples only is an error, not a silently smaller pool
    m.process({}, [dict(depth=dict(pred_depth=gt, gt_depth=gt))])
    with pytest.raises(KeyError, match='is in 1 of 2 samples'):
        m.compute_metrics(m.results)
