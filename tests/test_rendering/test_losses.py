import torch

from mim3d_plugin.rendering import depth_l1_loss, eikonal_loss, rgb_l1_loss


def test_depth_l1_ignores_pixels_without_lidar():
    pred = torch.tensor([1.0, 5.0, 100.0])
    target = torch.tensor([2.0, 5.5, 0.0])
    assert torch.isclose(depth_l1_loss(pred, target), torch.tensor(0.75))


def test_rgb_l1_and_eikonal():
    assert torch.isclose(rgb_l1_loss(torch.zeros(2, 3), torch.full((2, 3), 0.5)), torch.tensor(0.5))
    g = torch.tensor([[0.0, 0.0, 1.0], [0.0, 2.0, 0.0]])
    assert torch.isclose(eikonal_loss(g), torch.tensor(0.5))
    empty = depth_l1_loss(torch.ones(3, requires_grad=True), torch.zeros(3))
    assert empty.item() == 0 and empty.requires_grad
