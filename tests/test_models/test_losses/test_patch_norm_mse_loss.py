import pytest
import torch

from mim3d_plugin.models.losses import PatchNormMSELoss, patch_normalize


def test_patch_normalize_matches_per_patch_reference():
    torch.manual_seed(0)
    feat = torch.randn(2, 3, 4, 6) * 5 + 2
    out = patch_normalize(feat, 2, eps=0.0)
    for b in range(2):
        for i in range(2):
            for j in range(3):
                patch = feat[b, :, 2 * i:2 * i + 2, 2 * j:2 * j + 2]
                ref = (patch - patch.mean()) / patch.var().sqrt()
                torch.testing.assert_close(out[b, :, 2 * i:2 * i + 2, 2 * j:2 * j + 2], ref)


def test_loss_zero_for_normalised_prediction_and_decreases():
    torch.manual_seed(0)
    target = torch.randn(1, 4, 6, 6)
    loss = PatchNormMSELoss(patch_size=3)
    assert loss(patch_normalize(target, 3), target).item() == pytest.approx(0, abs=1e-6)
    pred = torch.zeros(1, 4, 6, 6, requires_grad=True)
    opt = torch.optim.SGD([pred], lr=10.0)
    first = loss(pred, target).item()
    for _ in range(20):
        opt.zero_grad()
        value = loss(pred, target)
        value.backward()
        opt.step()
    assert value.item() < 0.1 * first


def test_errors():
    with pytest.raises(ValueError, match='multiple of patch_size'):
        patch_normalize(torch.zeros(1, 1, 5, 6), 3)
    with pytest.raises(ValueError, match='must match the teacher'):
        PatchNormMSELoss(3)(torch.zeros(1, 2, 6, 6), torch.zeros(1, 3, 6, 6))
