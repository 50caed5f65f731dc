"""BEV map-segmentation ground truth, head and metric (issue 27, item 2): known answers on the bundled frames, and the
head / metric against BEVFusion's equations re-derived here."""
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mim3d_plugin.datasets.transforms import LoadBEVSegmentation, bev_cell_centres, boxes_bev_mask
from mim3d_plugin.evaluation.metrics import BEVSegMetric
from mim3d_plugin.models.heads.bev_seg_head import BEVMapSegHead, resample_bev, sigmoid_focal_loss


def _infos(nus_infos):
    out = []
    for split in ('train', 'val'):
        with open(osp.join(nus_infos, f'nuscenes_infos_{split}.pkl'), 'rb') as f:
            out += pickle.load(f)['data_list']
    return out


def _results(info):
    return dict(
        ego2global=info['ego2global'],
        lidar2ego=info['lidar_points']['lidar2ego'],
        scene_token=info['scene_token'],
        token=info['token'])


@pytest.mark.slow
def test_the_ego_and_its_next_positions_are_on_drivable_cells_in_every_frame(nus_root, nus_infos):
    """The raster -> BEV transform for each frame's pose: the cell under the ego is drivable (81 of 81 frames), and
    so are the cells of the ego's positions 1-12 key frames later (8 to 49 m away), moved into this frame's BEV.
    The same positions read on a rotated, transposed or mirrored grid fall off the road far more often (measured:
    38 %, 57 %, 70 % on the road vs 100 %): the check sees the grid's orientation."""
    t = LoadBEVSegmentation(
        nus_root, 'v1.0-mini', classes=('drivable_area', ), xbound=(-50, 50, 0.5), ybound=(-50, 50, 0.5))
    infos = _infos(nus_infos)
    by_token = {i['token']: i for i in infos}
    ego_ok, hits = 0, {'as is': [], 'rot90': [], 'transposed': [], 'mirrored': []}
    for info in infos:
        mask = t.transform(_results(info))['gt_masks_bev'][0]

        def on_road(x, y):
            return bool(mask[int((y + 50) / 0.5), int((x + 50) / 0.5)])

        lidar2global = np.asarray(info['ego2global']) @ np.asarray(info['lidar_points']['lidar2ego'])
        global2lidar = np.linalg.inv(lidar2global)
        ego = global2lidar @ np.asarray(info['ego2global'])[:, 3]
        ego_ok += on_road(ego[0], ego[1])
        nxt = info
        for _ in range(12):
            nxt = by_token.get(nxt['next'])
            if nxt is None:
                break
            x, y = (global2lidar @ np.asarray(nxt['ego2global'])[:, 3])[:2]
            if np.hypot(x, y) < 8 or max(abs(x), abs(y)) >= 49:
                continue
            hits['as is'].append(on_road(x, y))
            hits['rot90'].append(on_road(-y, x))
            hits['transposed'].append(on_road(y, x))
            hits['mirrored'].append(on_road(-x, y))
    assert ego_ok == len(infos) == 81
    rate = {k: float(np.mean(v)) for k, v in hits.items()}
    assert len(hits['as is']) > 400 and rate['as is'] > 0.97, rate
    assert max(rate['rot90'], rate['transposed'], rate['mirrored']) < 0.8, rate


@pytest.mark.slow
def test_bad_map_inputs_get_clear_errors(nus_root, nus_infos, tmp_path):
    info = _infos(nus_infos)[0]
    t = LoadBEVSegmentation(nus_root, 'v1.0-mini', classes=('drivable_area', 'ped_crossing'))
    with pytest.raises(FileNotFoundError, match=r'maps/expansion/(boston-seaport|singapore-[a-z]+)\.json'):
        t.transform(_results(info))
    with pytest.raises(KeyError, match="scene_token 'nope' is not in v1.0-mini/scene.json"):
        t.transform(dict(_results(info), scene_token='nope'))
    with pytest.raises(ValueError, match='unknown classes'):
        LoadBEVSegmentation(nus_root, 'v1.0-mini', classes=('lanes', ))
    with pytest.raises(ValueError, match='class_names'):
        LoadBEVSegmentation(nus_root, 'v1.0-mini', classes=('vehicle', ))


def test_boxes_rasterise_to_their_footprint_and_score_iou_1():
    centres = bev_cell_centres((-10, 10, 0.5), (-10, 10, 0.5))
    boxes = np.array([[2.0, -3.0, 0.0, 4.0, 2.0, 1.5, np.pi / 2]])  # 4 m long along y after the 90 deg yaw
    mask = boxes_bev_mask(boxes, centres)
    assert mask.sum() == 8 * 4  # 4 m x 2 m at 0.5 m
    rows, cols = np.nonzero(mask)
    assert centres[rows, cols, 1].min() == pytest.approx(-4.75) and centres[rows, cols, 0].max() == pytest.approx(2.75)
    metric = BEVSegMetric(classes=('vehicle', ))
    gt = torch.from_numpy(mask)[None]
    metric.process({}, [dict(pred_masks_bev=gt.float(), gt_masks_bev=gt)])
    assert metric.compute_metrics(metric.results)['vehicle/iou@max'] == pytest.approx(1.0)


def test_metric_is_bevfusion_evaluate_map():
    g = torch.Generator().manual_seed(0)
    samples = [
        dict(pred_masks_bev=torch.rand(2, 20, 20, generator=g), gt_masks_bev=torch.rand(2, 20, 20, generator=g) > 0.6)
        for _ in range(3)
    ]
    metric = BEVSegMetric(classes=('a', 'b'))
    metric.process({}, samples)
    ours = metric.compute_metrics(metric.results)
    thresholds = torch.tensor([0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65])
    tp = fp = fn = torch.zeros(2, 7)
    for s in samples:
        p = s['pred_masks_bev'].reshape(2, -1)[:, :, None] >= thresholds
        lab = s['gt_masks_bev'].reshape(2, -1)[:, :, None]
        tp, fp, fn = tp + (p & lab).sum(1), fp + (p & ~lab).sum(1), fn + (~p & lab).sum(1)
    ious = tp / (tp + fp + fn + 1e-7)
    assert ours['a/iou@max'] == pytest.approx(float(ious[0].max()), abs=1e-6)
    assert ours['b/iou@0.45'] == pytest.approx(float(ious[1, 2]), abs=1e-6)
    assert ours['mean/iou@max'] == pytest.approx(float(ious.max(1).values.mean()), abs=1e-6)


def test_head_resampling_and_loss_are_bevfusions_in_our_layout():
    """BEVFusion's BEVGridTransform works on (B, C, X, Y) maps; ours on (B, C, Y, X): the same samples, transposed."""
    g = torch.Generator().manual_seed(0)
    x_yx = torch.randn(2, 3, 16, 24, generator=g)  # Y = 16 rows over +-40 m (5 m), X = 24 cols over +-60 m
    inb, outb = ((-60.0, 60.0, 5.0), (-40.0, 40.0, 5.0)), ((-50.0, 50.0, 2.0), (-30.0, 30.0, 2.0))
    ours = resample_bev(x_yx, inb, outb)
    # official (re-derived): input (B, C, X, Y), coords per (x, y) scope, u over x (rows), v over y (cols)
    x_xy = x_yx.transpose(2, 3)
    coords = []
    for (imin, imax, _), (omin, omax, ostep) in zip(inb, outb):
        v = torch.arange(omin + ostep / 2, omax, ostep)
        coords.append((v - imin) / (imax - imin) * 2 - 1)
    u, v = torch.meshgrid(coords, indexing='ij')
    grid = torch.stack([v, u], -1)[None].expand(2, -1, -1, -1)
    official = F.grid_sample(x_xy, grid, mode='bilinear', align_corners=False)
    assert ours.shape == (2, 3, 30, 50)
    assert (ours - official.transpose(2, 3)).abs().max() < 1e-6
    logits, target = torch.randn(4, 10, generator=g), torch.rand(4, 10, generator=g) > 0.5
    p = logits.sigmoid()
    ce = -(target * torch.log(p) + (~target) * torch.log(1 - p))
    p_t = torch.where(target, p, 1 - p)
    assert float(sigmoid_focal_loss(logits, target)) == pytest.approx(float((ce * (1 - p_t)**2).mean()), rel=1e-5)
    head = BEVMapSegHead(3, ('drivable_area', 'vehicle'), inb, outb)
    losses = head.loss(x_yx, torch.zeros(2, 2, 30, 50, dtype=torch.bool))
    assert sorted(losses) == ['loss_bev_seg_drivable_area', 'loss_bev_seg_vehicle']
    with pytest.raises(ValueError, match='do not match'):
        head.loss(x_yx, torch.zeros(2, 2, 50, 30, dtype=torch.bool))
