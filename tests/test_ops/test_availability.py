"""The op choice is made per op and device, logged once, and can be forced to the PyTorch paths."""
import pytest
import torch

from mim3d_plugin.ops import PROBES, check_sparse_conv, compiled_op_available, op_choices, pytorch_ops_only


def test_forced_pytorch_paths_and_back():
    before = op_choices('cpu')
    with pytorch_ops_only():
        assert set(op_choices('cpu').values()) == {'pytorch'}
        with pytest.raises(RuntimeError, match='pillar teacher'):
            check_sparse_conv('cpu')
    assert op_choices('cpu') == before
    assert set(before) == set(PROBES)


def test_a_missing_kernel_is_detected_not_assumed():
    # mmcv's CPU build has no sigmoid focal loss kernel: the probe must find that out
    from mmcv.ops import sigmoid_focal_loss
    try:
        sigmoid_focal_loss(torch.zeros(2, 3), torch.tensor([0, 1]), 2.0, 0.25, None, 'mean')
        runs = True
    except RuntimeError:
        runs = False
    assert compiled_op_available('sigmoid_focal_loss', 'cpu') == runs


def test_unknown_op_is_refused():
    with pytest.raises(KeyError, match='no probe'):
        compiled_op_available('roi_align', 'cpu')


def test_hidden_kernels_raise_and_come_back():
    from mmcv.ops import nms
    boxes, scores = torch.tensor([[0.0, 0.0, 2.0, 1.0]]), torch.tensor([0.9])
    with pytorch_ops_only():
        with pytest.raises(RuntimeError, match='hidden'):
            nms(boxes, scores, 0.5)
    assert nms(boxes, scores, 0.5)[1].tolist() == [0]
