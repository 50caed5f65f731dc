"""ImageGridMask image augmentation."""
import pytest
import torch

from mim3d_plugin.models.layers import ImageGridMask


def test_grid_mask_masks_a_fraction_in_training_only():
    torch.manual_seed(0)
    gm = ImageGridMask(prob=1.0, ratio=0.5, mode=1, rotate=1)
    x = torch.ones(2, 3, 64, 176)
    y = gm(x)
    kept = (y != 0).float().mean()
    assert 0.05 < kept < 0.95
    assert torch.equal(y[0], y[1])  # one mask per call, shared by the batch
    assert set(torch.unique(y).tolist()) <= {0.0, 1.0}
    gm.eval()
    assert torch.equal(gm(x), x)


def test_grid_mask_modes_are_complementary_and_validated():
    g = torch.Generator().manual_seed(3)
    keep0 = ImageGridMask(mode=0).make_mask(32, 48, generator=g)
    g = torch.Generator().manual_seed(3)
    keep1 = ImageGridMask(mode=1).make_mask(32, 48, generator=g)
    assert torch.equal(keep0 + keep1, torch.ones(32, 48))
    with pytest.raises(ValueError, match='ratio'):
        ImageGridMask(ratio=1.5)
