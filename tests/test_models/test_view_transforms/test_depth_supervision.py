"""Tests of the BEVDepth-style depth targets and BCE loss."""
import pytest
import torch
import torch.nn.functional as F

from mim3d_plugin.models.view_transforms import depth_bce_loss, depth_to_bins

BOUND = (1.0, 5.0, 0.5)  # 8 bins: [1, 1.5), [1.5, 2), ..., [4.5, 5)


def test_nearest_depth_per_cell_and_bins():
    depth = torch.zeros(1, 2, 4, 6)
    depth[0, 0, 0, 0] = 3.2  # cell (0, 0): nearest of 3.2 and 2.1 -> 2.1 -> bin 2
    depth[0, 0, 1, 1] = 2.1
    depth[0, 0, 2, 4] = 4.99  # cell (1, 2) -> bin 7
    depth[0, 1, 0, 2] = 0.7  # below start: invalid
    depth[0, 1, 3, 5] = 5.0  # at stop: invalid
    depth[0, 1, 2, 2] = 1.0  # cell (1, 1) of camera 1 -> bin 0
    target, valid = depth_to_bins(depth, 2, BOUND)
    assert target.shape == (1, 2, 2, 3, 8) and valid.shape == (1, 2, 2, 3)
    assert valid.nonzero().tolist() == [[0, 0, 0, 0], [0, 0, 1, 2], [0, 1, 1, 1]]
    assert target[0, 0, 0, 0].argmax() == 2 and target[0, 0, 1, 2].argmax() == 7 and target[0, 1, 1, 1].argmax() == 0
    assert target.sum() == 3  # one-hot on valid cells, zeros elsewhere
    with pytest.raises(ValueError, match='multiple'):
        depth_to_bins(torch.zeros(1, 1, 5, 6), 2, BOUND)


def test_bce_loss_matches_manual_and_is_minimal_at_target():
    torch.manual_seed(0)
    depth = torch.zeros(2, 1, 4, 4)
    depth[0, 0, 0, 0], depth[1, 0, 3, 3], depth[1, 0, 0, 3] = 1.2, 4.0, 2.7
    target, valid = depth_to_bins(depth, 2, BOUND)
    logits = torch.randn(2, 1, 8, 2, 2, requires_grad=True)
    prob = logits.softmax(2)
    loss = depth_bce_loss(prob, target, valid)
    pred = prob.permute(0, 1, 3, 4, 2)
    manual = sum(F.binary_cross_entropy(pred[idx], target[idx], reduction='sum') for idx in map(tuple, valid.nonzero()))
    torch.testing.assert_close(loss, manual / 3)
    loss.backward()
    assert logits.grad[valid.unsqueeze(2).expand_as(logits)].abs().sum() > 0
    assert logits.grad[~valid.unsqueeze(2).expand_as(logits)].abs().sum() == 0  # background cells are ignored
    perfect = depth_bce_loss(target.permute(0, 1, 4, 2, 3), target, valid)
    assert perfect < 1e-6 < loss
    empty = depth_bce_loss(prob, torch.zeros_like(target), torch.zeros_like(valid))
    assert empty == 0
