"""3D-awareness probes: occupancy targets, losses and scores by known answers; a probe separates features that
carry depth from features that do not; tools/analysis_tools/probe_3d.py end to end on the bundled frames."""
import json
import math
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.registry import init_default_scope

from mim3d_plugin.evaluation.probes import (bev_occupancy, depth_scores, fit_depth_probe, occupancy_iou, predict_depth,
                                            silog_loss, summarise_seeds)
from mim3d_plugin.geometry import VoxelGrid

init_default_scope('mmdet3d')
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_bev_occupancy_cells_and_height_band():
    grid = VoxelGrid([-4.0, -2.0, -5.0, 4.0, 2.0, 3.0], [1.0, 1.0, 8.0])  # X = 8, Y = 4
    pts = torch.tensor([
        [-3.5, -1.5, 0.0],  # x cell 0, y cell 0
        [3.9, 1.9, 0.5],  # x 7, y 3
        [0.2, -0.2, -1.6],  # below the band (road): ignored
        [0.2, -0.2, 1.2],  # above the band: ignored
        [9.0, 0.0, 0.0]
    ])  # outside the grid
    occ = bev_occupancy([pts], grid, (-1.5, 1.0))
    assert occ.shape == (1, 4, 8)
    assert occ[0, 0, 0] == 1 and occ[0, 3, 7] == 1 and occ.sum() == 2  # rows = y, columns = x


def test_silog_loss_formula_and_scale_behaviour():
    gt = torch.tensor([[2.0, 4.0], [8.0, 0.0]])
    pred = torch.tensor([[2.5, 3.0], [8.0, 5.0]])
    d = torch.log(torch.tensor([2.5 / 2, 3.0 / 4, 8.0 / 8]))
    ref = 10 * math.sqrt(float(d.pow(2).mean() - 0.85 * d.mean().pow(2)))
    assert abs(float(silog_loss(pred, gt)) - ref) < 1e-5
    # fully scale invariant at lambda = 1; the default 0.85 penalises a global scale error (scale-aware probe)
    assert abs(float(silog_loss(2 * pred, gt, 1.0)) - float(silog_loss(pred, gt, 1.0))) < 1e-5
    assert float(silog_loss(2 * gt, gt)) > 1.0 > float(silog_loss(gt, gt)) - 1e-3
    with pytest.raises(ValueError, match='no pixel'):
        silog_loss(pred, torch.zeros_like(gt))


def test_depth_scores_pool_pixels_overall_and_per_camera():
    gt = torch.tensor([[[2.0, 0.0]], [[4.0, 10.0]]])  # (N=2, 1, 2)
    pred = torch.tensor([[[3.0, 7.0]], [[4.0, 8.0]]])
    s = depth_scores([pred], [gt], [['CAM_A', 'CAM_B']])
    assert s['CAM_A']['pixels'] == 1 and abs(s['CAM_A']['abs_rel'] - 0.5) < 1e-9
    assert abs(s['CAM_B']['rmse'] - math.sqrt(2.0)) < 1e-9 and s['CAM_B']['delta1'] == 0.5  # 10 / 8 = 1.25: not < 1.25
    assert s['overall']['pixels'] == 3
    assert abs(s['overall']['abs_rel'] - (0.5 + 0 + 0.2) / 3) < 1e-9
    assert abs(s['overall']['delta1'] - 1 / 3) < 1e-9


def test_occupancy_iou_known_answer():
    logits = [torch.tensor([[1.0, -1.0], [1.0, 1.0]])]
    target = [torch.tensor([[1.0, 1.0], [0.0, 1.0]])]
    r = occupancy_iou(logits, target)
    assert abs(r['iou'] - 2 / 4) < 1e-9 and abs(r['precision'] - 2 / 3) < 1e-9 and abs(r['recall'] - 2 / 3) < 1e-9


def _synthetic_frames(n, informative, seed):
    """Scenes whose depth varies with the image row and a per-frame offset; features either carry the
    (downsampled) log depth or are noise of the same shape."""
    g = torch.Generator().manual_seed(seed)
    frames = []
    rows = torch.linspace(0, 1, 32).view(1, 32, 1)
    for _ in range(n):
        base = 3 + 30 * torch.rand(2, 1, 1, generator=g)
        depth = (base * (0.3 + rows)).expand(2, 32, 48).clone()
        sparse = depth * (torch.rand(2, 32, 48, generator=g) < 0.3)
        coarse = torch.nn.functional.avg_pool2d(depth.log()[:, None], 8)  # (2, 1, 4, 6)
        feat = coarse.repeat(1, 4, 1, 1) if informative else torch.randn(2, 4, 4, 6, generator=g)
        frames.append(dict(feats=[feat], depth=sparse))
    return frames


def test_depth_probe_separates_informative_from_uninformative_features():
    scores = {}
    for informative in (True, False):
        train = _synthetic_frames(24, informative, 0)
        val = _synthetic_frames(8, informative, 1)
        probe = fit_depth_probe(train, [4], iters=150, seed=0, batch_views=8, lr=3e-3)
        scores[informative] = depth_scores(
            predict_depth(probe, val), [f['depth'] for f in val], [['A', 'B']] * len(val))['overall']
    assert scores[True]['abs_rel'] < 0.15, scores
    assert scores[False]['abs_rel'] > 2 * scores[True]['abs_rel'], scores
    assert scores[True]['delta1'] > scores[False]['delta1'] + 0.2, scores


def test_summarise_seeds_mean_and_sample_std():
    s = summarise_seeds([dict(a=1.0), dict(a=2.0), dict(a=3.0)])
    assert s['a']['mean'] == 2.0 and abs(s['a']['std'] - 1.0) < 1e-12 and s['a']['values'] == [1.0, 2.0, 3.0]


@pytest.mark.slow
def test_probe_tool_end_to_end_on_the_bundled_frames(nus_infos, tmp_path):
    """Random-init backbone of the small BEVDet config, 3 frames per split, 2 seeds: JSON with both probes,
    per-camera scores, spread over seeds and cost; then the same backbone from a checkpoint by prefix."""
    cfg = 'projects/BEVDet/configs/bevdet-swin-w64-d1121_1xb1-4e_nus-mini.py'
    common = ['--max-frames', '3', '--seeds', '0', '1', '--depth-iters', '15', '--bev-iters', '5']
    out = tmp_path / 'random'
    proc = subprocess.run(
        [
            sys.executable, 'tools/analysis_tools/probe_3d.py', cfg, '--random-init', '--name', 'rnd', '--work-dir',
            str(out)
        ] + common,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    res = json.loads((out / 'probe_3d.json').read_text())
    assert res['frames'] == dict(train=3, val=3) and res['init']['init'] == 'random'
    summary = res['depth']['summary']
    assert len(summary['abs_rel']['values']) == 2 and summary['abs_rel']['std'] >= 0
    assert 0 < summary['abs_rel']['mean'] < 10 and 0 <= summary['delta1']['mean'] <= 1
    assert set(res['depth']['per_seed'][0]) >= {'overall', 'CAM_FRONT', 'CAM_BACK_RIGHT'}
    assert 0 <= res['bev']['summary']['iou']['mean'] <= 1 and res['cost']['peak_rss_mib'] > 0
    assert '| rnd |' in proc.stdout

    # a "pretraining" checkpoint: the random backbone's weights under backbone., loaded back by prefix
    init_default_scope('mmdet3d')
    from mmdet3d.registry import MODELS
    from mmengine.config import Config

    import mim3d_plugin  # noqa: F401
    import projects.BEVDet.bevdet  # noqa: F401
    backbone = MODELS.build(Config.fromfile(osp.join(ROOT, cfg)).model.img_backbone)
    ckpt = tmp_path / 'pretrain.pth'
    torch.save(dict(state_dict={'backbone.' + k: v for k, v in backbone.state_dict().items()}), ckpt)
    out = tmp_path / 'ckpt'
    proc = subprocess.run(
        [
            sys.executable, 'tools/analysis_tools/probe_3d.py', cfg, '--checkpoint',
            str(ckpt), '--probes', 'depth', '--work-dir',
            str(out)
        ] + common,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    res = json.loads((out / 'probe_3d.json').read_text())
    assert res['init']['prefix'] == 'backbone.' and res['init']['missing_keys'] == 0
    assert res['init']['loaded_keys'] == len(backbone.state_dict()) and 'bev' not in res
