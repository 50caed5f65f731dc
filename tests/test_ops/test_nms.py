"""The PyTorch rotated IoU and NMS equal mmcv's kernels (issue 25, item 1)."""
import math

import pytest
import torch
from mmcv.ops import box_iou_rotated
from mmdet3d.models.layers import nms_bev as mmdet3d_nms_bev

from mim3d_plugin.ops import box_iou_rotated_pytorch, compiled_op_available, nms_bev, pytorch_ops_only

needs_kernel = pytest.mark.skipif(not compiled_op_available('nms_rotated', 'cpu'), reason='mmcv without rotated ops')


def _boxes(n, seed, spread=6.0):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * spread
    wh = 0.5 + 2.5 * torch.rand(n, 2, generator=g)
    a = (torch.rand(n, 1, generator=g) - 0.5) * 2 * math.pi
    return torch.cat([xy, wh, a], 1)


def test_known_answers():
    square = torch.tensor([[0.0, 0.0, 2.0, 2.0, 0.0]])
    turned = torch.tensor([[0.0, 0.0, 2.0, 2.0, math.pi / 2], [5.0, 0.0, 2.0, 2.0, 0.3], [1.0, 0.0, 2.0, 2.0, 0.0],
                           [0.0, 0.0, 2.0, 2.0, math.pi / 4]])
    iou = box_iou_rotated_pytorch(square, turned)[0]
    # 90 deg: the same square; far: 0; shifted by half: 2 / 6; 45 deg: octagon area 8 (sqrt 2 - 1) over 8 - that
    octagon = 8 * (math.sqrt(2) - 1)
    expected = [1.0, 0.0, 2.0 / 6.0, octagon / (8 - octagon)]
    assert torch.allclose(iou, torch.tensor(expected), atol=1e-5), iou


@needs_kernel
def test_iou_equals_the_mmcv_kernel():
    a, b = _boxes(120, 0), _boxes(90, 1)
    ref = box_iou_rotated(a, b)
    ours = box_iou_rotated_pytorch(a, b, chunk=32)
    assert (ref > 0).float().mean() > 0.05  # many overlapping pairs
    assert (ours - ref).abs().max() < 1e-4


@needs_kernel
@pytest.mark.parametrize('thresh', [0.1, 0.5])
def test_nms_bev_keeps_what_mmdet3d_keeps(thresh):
    xywhr = _boxes(300, 2, spread=15.0)
    xyxyr = torch.cat([xywhr[:, :2] - xywhr[:, 2:4] / 2, xywhr[:, :2] + xywhr[:, 2:4] / 2, xywhr[:, 4:]], 1)
    scores = torch.rand(300, generator=torch.Generator().manual_seed(3))
    ref = mmdet3d_nms_bev(xyxyr, scores, thresh, pre_max_size=250, post_max_size=80)
    with pytorch_ops_only():
        ours = nms_bev(xyxyr, scores, thresh, pre_max_size=250, post_max_size=80)
    assert 20 < ref.numel() <= 80
    assert torch.equal(ref, ours)


def test_axis_aligned_nms_equals_mmdet3d_and_the_library_call_sites_use_the_portable_functions():
    import mmdet3d.models.dense_heads.centerpoint_head as centerpoint_head
    import mmdet3d.models.layers.box3d_nms as box3d_nms
    from mmdet3d.models.layers import nms_normal_bev as mmdet3d_nms_normal_bev

    from mim3d_plugin.ops import nms_normal_bev
    assert box3d_nms.nms_bev is nms_bev and centerpoint_head.nms_bev is nms_bev
    assert box3d_nms.nms_normal_bev is nms_normal_bev
    xywhr = _boxes(200, 4, spread=12.0)
    xyxyr = torch.cat([xywhr[:, :2] - xywhr[:, 2:4] / 2, xywhr[:, :2] + xywhr[:, 2:4] / 2, xywhr[:, 4:]], 1)
    scores = torch.rand(200, generator=torch.Generator().manual_seed(5))
    ref = mmdet3d_nms_normal_bev(xyxyr, scores, 0.3)
    with pytorch_ops_only():
        ours = nms_normal_bev(xyxyr, scores, 0.3)
    assert 20 < ref.numel() < 200
    assert torch.equal(ref, ours)
