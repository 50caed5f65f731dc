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


def _expansion_root(nus_root, tmp_path, location, walkway_xy, divider_xy):
    """A data root with the bundled tables and rasters (links) and a synthetic map expansion of ``location`` holding
    one 4 m x 4 m walkway square centred at ``walkway_xy`` and one 8 m road divider from ``divider_xy`` eastwards
    (global metres), in the devkit's v1.3 schema."""
    import json
    import os
    root = tmp_path / 'nus'
    (root / 'maps' / 'expansion').mkdir(parents=True)
    os.symlink(osp.join(nus_root, 'v1.0-mini'), root / 'v1.0-mini')
    for name in os.listdir(osp.join(nus_root, 'maps')):
        if name.endswith('.png'):
            os.symlink(osp.join(nus_root, 'maps', name), root / 'maps' / name)
    cx, cy = walkway_xy
    nodes = [
        dict(token=f'w{i}', x=x, y=y)
        for i, (x, y) in enumerate([(cx - 2, cy - 2), (cx + 2, cy - 2), (cx + 2, cy + 2), (cx - 2, cy + 2)])
    ]
    nodes += [
        dict(token='d0', x=divider_xy[0], y=divider_xy[1]),
        dict(token='d1', x=divider_xy[0] + 8, y=divider_xy[1])
    ]
    layers = dict(
        version='1.3',
        canvas_edge=[4000.0, 4000.0],
        polygon=[dict(token='wp', exterior_node_tokens=['w0', 'w1', 'w2', 'w3'], holes=[])],
        line=[dict(token='dl', node_tokens=['d0', 'd1'])],
        node=nodes,
        walkway=[dict(token='wk', polygon_token='wp')],
        road_divider=[dict(token='rd', line_token='dl', road_segment_token=None)],
        arcline_path_3={},
        connectivity={})
    for name in ('drivable_area', 'road_segment', 'road_block', 'lane', 'ped_crossing', 'stop_line', 'carpark_area',
                 'lane_divider', 'traffic_light', 'lane_connector'):
        layers[name] = []
    with open(root / 'maps' / 'expansion' / f'{location}.json', 'w') as f:
        json.dump(layers, f)
    return str(root)


@pytest.mark.slow
@pytest.mark.parametrize('flip_x', [False, True])
def test_map_expansion_layers_land_where_they_are(nus_root, nus_infos, tmp_path, flip_x):
    """A walkway square placed 15 m ahead of the ego and a divider 10 m to its left (global coordinates from the
    frame's ego pose) come out at those BEV cells of the ego frame (mirrored with a BEV x flip): walkway cells = the
    4 m x 4 m square (64 of 64 cells at 0.5 m), divider cells along y = +10 m from x = 0 to 8 m."""
    import json

    from mim3d_plugin.datasets.transforms import BEVAug
    info = _infos(nus_infos)[0]
    with open(osp.join(nus_root, 'v1.0-mini', 'scene.json')) as f:
        log = {s['token']: s['log_token'] for s in json.load(f)}[info['scene_token']]
    with open(osp.join(nus_root, 'v1.0-mini', 'log.json')) as f:
        location = {rec['token']: rec['location'] for rec in json.load(f)}[log]
    ego2global = np.asarray(info['ego2global'])
    walk = (ego2global @ [15.0, 0.0, 0.0, 1.0])[:2]
    div = (ego2global @ [0.0, 10.0, 0.0, 1.0])[:2]
    yaw = np.arctan2(ego2global[1, 0], ego2global[0, 0])
    root = _expansion_root(nus_root, tmp_path, location, walk, div)
    # the divider drawn along the ego's x axis: rotate the 8 m segment's end into the ego heading
    with open(osp.join(root, 'maps', 'expansion', f'{location}.json')) as f:
        layers = json.load(f)
    layers['node'][-1].update(x=float(div[0] + 8 * np.cos(yaw)), y=float(div[1] + 8 * np.sin(yaw)))
    # the walkway square aligned with the ego axes too
    for node, (dx, dy) in zip(layers['node'][:4], [(-2, -2), (2, -2), (2, 2), (-2, 2)]):
        g = ego2global @ [15.0 + dx, dy, 0.0, 1.0]
        node.update(x=float(g[0]), y=float(g[1]))
    with open(osp.join(root, 'maps', 'expansion', f'{location}.json'), 'w') as f:
        json.dump(layers, f)
    t = LoadBEVSegmentation(
        root,
        'v1.0-mini',
        classes=('walkway', 'divider', 'drivable_area'),
        xbound=(-25, 25, 0.5),
        ybound=(-25, 25, 0.5))
    res = dict(_results(info), lidar2keyego=np.asarray(info['lidar_points']['lidar2ego']))  # the ego frame
    if flip_x:
        res = BEVAug(rot_lim=(0, 0), scale_lim=(1, 1), flip_dx_ratio=1.0, flip_dy_ratio=0.0).transform(res)
    walkway, divider, drivable = t.transform(res)['gt_masks_bev']
    sign = -1 if flip_x else 1
    centres = bev_cell_centres((-25, 25, 0.5), (-25, 25, 0.5))
    x, y = sign * centres[..., 0], centres[..., 1]  # ego-frame coordinates of each cell
    expected = (np.abs(x - 15) < 2) & (np.abs(y) < 2)
    assert expected.sum() == 64 and np.array_equal(walkway, expected)
    assert divider.any() and np.all(np.abs(y[divider] - 10) <= 1.0) and x[divider].min() > -1.0 and \
        x[divider].max() < 9.0
    assert not drivable.any()  # 'auto': drivable from the expansion's (empty) road_segment + lane, not the raster
    raster = LoadBEVSegmentation(
        root,
        'v1.0-mini',
        classes=('drivable_area', ),
        drivable_source='raster',
        xbound=(-25, 25, 0.5),
        ybound=(-25, 25, 0.5)).transform(dict(res))['gt_masks_bev']
    assert raster[0].any()


@pytest.mark.slow
def test_a_map_of_another_location_is_refused(nus_root, nus_infos, tmp_path):
    """The ego must lie on the map it reads: a map expansion whose canvas does not reach the ego's global position,
    or a semantic-prior raster that small, raise naming the file, the frame and the ego position."""
    import json

    import cv2
    info = _infos(nus_infos)[0]
    with open(osp.join(nus_root, 'v1.0-mini', 'scene.json')) as f:
        log = {s['token']: s['log_token'] for s in json.load(f)}[info['scene_token']]
    with open(osp.join(nus_root, 'v1.0-mini', 'log.json')) as f:
        location = {rec['token']: rec['location'] for rec in json.load(f)}[log]
    root = _expansion_root(nus_root, tmp_path, location, (5.0, 5.0), (1.0, 1.0))
    path = osp.join(root, 'maps', 'expansion', f'{location}.json')
    with open(path) as f:
        layers = json.load(f)
    layers['canvas_edge'] = [100.0, 100.0]  # a 100 m map: the bundled frames are hundreds of metres away
    with open(path, 'w') as f:
        json.dump(layers, f)
    res = dict(_results(info), lidar2keyego=np.asarray(info['lidar_points']['lidar2ego']))
    t = LoadBEVSegmentation(root, 'v1.0-mini', classes=('walkway', ), xbound=(-25, 25, 0.5), ybound=(-25, 25, 0.5))
    with pytest.raises(ValueError, match=rf'frame {info["token"]}: the ego at global .* is outside .*{location}\.json'):
        t.transform(dict(res))
    # the raster: a 10 m x 10 m image in place of the log's raster
    with open(osp.join(nus_root, 'v1.0-mini', 'map.json')) as f:
        raster = next(m['filename'] for m in json.load(f) if log in m['log_tokens'])
    import os
    os.remove(osp.join(root, raster))
    cv2.imwrite(osp.join(root, raster), np.full((100, 100), 255, np.uint8))
    t = LoadBEVSegmentation(
        root,
        'v1.0-mini',
        classes=('drivable_area', ),
        drivable_source='raster',
        xbound=(-25, 25, 0.5),
        ybound=(-25, 25, 0.5))
    with pytest.raises(ValueError, match=r'is outside .*\.png \(extent x 0\.\.10\.0, y 0\.\.10\.0 m\)'):
        t.transform(dict(res))
