"""Normalised 3D box encoding and the NMS-free coder."""
import math

import pytest
import torch

from mim3d_plugin.models.task_modules import NMSFreeBBox3DCoder, denormalize_bbox3d, normalize_bbox3d


def test_normalize_round_trip_and_layout():
    boxes = torch.tensor([[1.0, -2.0, 0.5, 4.0, 2.0, 1.5, 0.3, 1.0, -0.5],
                          [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, -3.0, 0.0, 0.0]])
    norm = normalize_bbox3d(boxes)
    assert norm.shape == (2, 10)
    assert torch.allclose(norm[0, 3:6], torch.log(torch.tensor([4.0, 2.0, 1.5])))
    assert torch.allclose(norm[0, 6:8], torch.tensor([math.sin(0.3), math.cos(0.3)]))
    assert torch.allclose(denormalize_bbox3d(norm), boxes, atol=1e-6)
    assert normalize_bbox3d(boxes[:, :7]).shape == (2, 8)
    with pytest.raises(ValueError, match='7 or 9'):
        normalize_bbox3d(torch.zeros(2, 8))


def test_nms_free_coder_topk_and_filters():
    coder = NMSFreeBBox3DCoder(
        post_center_range=[-10, -10, -5, 10, 10, 5], max_num=3, score_threshold=0.1, num_classes=2)
    logits = torch.full((4, 2), -10.0)
    logits[0, 1] = 3.0  # best: query 0, class 1
    logits[2, 0] = 2.0  # second: query 2, class 0
    logits[3, 1] = 1.0  # third but its centre is outside the range
    boxes = normalize_bbox3d(torch.tensor([[1.0, 2.0, 0.0, 2.0, 1.0, 1.5, 0.2, 0.0, 0.0]]).repeat(4, 1))
    boxes[3, 0] = 50.0
    out = coder.decode(logits, boxes)
    assert out['labels'].tolist() == [1, 0]
    assert torch.allclose(out['scores'], torch.sigmoid(torch.tensor([3.0, 2.0])))
    assert torch.allclose(out['bboxes'][0, :7], torch.tensor([1.0, 2.0, 0.0, 2.0, 1.0, 1.5, 0.2]), atol=1e-6)
    with pytest.raises(ValueError, match='num_classes'):
        coder.decode(torch.zeros(4, 3), boxes)
