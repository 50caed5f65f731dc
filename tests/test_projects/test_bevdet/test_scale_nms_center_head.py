"""ScaleNMSCenterHead: BEVDet's per-task Scale-NMS / circle NMS on mmdet3d's CenterHead."""
import copy

import pytest
import torch
from bevdet_tiny import tiny_bevdet_cfg
from mmdet3d.registry import MODELS
from mmdet3d.structures import LiDARInstance3DBoxes
from mmengine.registry import init_default_scope

import mim3d_plugin  # noqa: F401
import projects.BEVDet.bevdet  # noqa: F401

init_default_scope('mmdet3d')


def _head(type_='ScaleNMSCenterHead', **test_cfg):
    cfg = copy.deepcopy(tiny_bevdet_cfg())
    head = dict(cfg['pts_bbox_head'], type=type_)
    tc = dict(cfg['test_cfg']['pts'], **test_cfg)
    head.update(train_cfg=cfg['train_cfg']['pts'], test_cfg=tc)
    return MODELS.build(head)


def _preds(seed=0, b=2):
    torch.manual_seed(seed)
    out = []
    for n_cls in (1, 2):
        out.append([
            dict(
                heatmap=torch.randn(b, n_cls, 32, 32) * 2,
                reg=torch.rand(b, 2, 32, 32),
                height=torch.randn(b, 1, 32, 32),
                dim=torch.randn(b, 3, 32, 32) * 0.3,
                rot=torch.randn(b, 2, 32, 32),
                vel=torch.randn(b, 2, 32, 32))
        ])
    return tuple(out)


def test_single_values_reproduce_mmdet3d_centerhead_post_processing():
    ours, ref = _head(), _head('CenterHead')
    metas = [dict(box_type_3d=LiDARInstance3DBoxes)] * 2
    a = ours.predict_by_feat(_preds(), metas)
    b = ref.predict_by_feat(_preds(), metas)
    for x, y in zip(a, b):
        assert len(x.scores_3d) > 10
        assert torch.equal(x.labels_3d, y.labels_3d) and torch.allclose(x.scores_3d, y.scores_3d)
        assert torch.allclose(x.bboxes_3d.tensor, y.bboxes_3d.tensor)


def _boxes(xy, size, label):
    n = len(xy)
    boxes = torch.zeros(n, 9)
    boxes[:, :2] = torch.tensor(xy)
    boxes[:, 2] = 0.9
    boxes[:, 3:6] = torch.tensor(size)
    return boxes, torch.linspace(0.9, 0.8, n), torch.full((n, ), label)


def test_scale_nms_removes_small_duplicates_plain_nms_keeps():
    head = _head()
    # two pedestrian detections one BEV cell (0.8 m) apart: 0.6 x 0.6 m boxes do not overlap
    boxes, scores, labels = _boxes([[5.0, 2.0], [5.8, 2.0]], [0.6, 0.6, 1.7], 0)
    plain = head.nms_single(boxes, scores, labels, 1, LiDARInstance3DBoxes, 'rotate', 0.5, 1.0)
    scaled = head.nms_single(boxes, scores, labels, 1, LiDARInstance3DBoxes, 'rotate', 0.5, [4.5, 9.0])
    assert len(plain['scores']) == 2 and len(scaled['scores']) == 1
    assert torch.allclose(scaled['bboxes'][0, 3:6], torch.tensor([0.6, 0.6, 1.7]))  # size restored
    # traffic cones (class 1 of the task) get the x9 factor: 0.4 m cones 1 m apart merge (IoU 0.57 at 3.6 m)
    cones, s, lab = _boxes([[5.0, 2.0], [6.0, 2.0]], [0.4, 0.4, 1.0], 1)
    assert len(head.nms_single(cones, s, lab, 1, LiDARInstance3DBoxes, 'rotate', 0.5, [4.5, 9.0])['scores']) == 1
    # two cars side by side 2.5 m apart stay two objects under the car factor 1.0
    cars, s, lab = _boxes([[10.0, 0.0], [10.0, 2.5]], [4.5, 1.9, 1.6], 0)
    assert len(head.nms_single(cars, s, lab, 0, LiDARInstance3DBoxes, 'rotate', 0.2, 1.0)['scores']) == 2


def test_circle_nms_per_task_and_config_errors():
    head = _head(
        nms_type=['rotate', 'circle'], nms_thr=[0.2, 0.5], nms_rescale_factor=[1.0, [4.5, 9.0]], min_radius=[4, 1.0])
    boxes, scores, labels = _boxes([[5.0, 2.0], [5.5, 2.0], [8.0, 2.0]], [0.6, 0.6, 1.7], 0)
    out = head.nms_single(boxes, scores, labels, 1, LiDARInstance3DBoxes, 'circle', 0.5, 1.0)
    assert out['bboxes'][:, 0].tolist() == [5.0, 8.0]  # 0.5 m apart: within the 1 m radius; 3 m apart: kept
    res = head.predict_by_feat(_preds(), [dict(box_type_3d=LiDARInstance3DBoxes)] * 2)
    assert all(set(r.labels_3d.tolist()) <= {0, 1, 2} for r in res)
    with pytest.raises(ValueError, match='nms_type has 1 entries'):
        _head(nms_type=['rotate']).predict_by_feat(_preds(), [dict(box_type_3d=LiDARInstance3DBoxes)] * 2)
    with pytest.raises(ValueError, match='needs 2 factors'):
        _head(nms_rescale_factor=[1.0, [4.5]]).predict_by_feat(_preds(), [dict(box_type_3d=LiDARInstance3DBoxes)] * 2)
