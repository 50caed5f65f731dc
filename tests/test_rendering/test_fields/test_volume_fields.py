import torch

from mim3d_plugin.geometry import VoxelGrid
from mim3d_plugin.rendering import VolumeRGBField, VolumeSDFField, sample_volume

PCR, VOX = [-6.4, -6.4, -2.0, 6.4, 6.4, 2.0], [0.8, 0.8, 1.0]


def test_sample_volume_reads_voxel_centres_and_interpolates_linearly():
    grid = VoxelGrid(PCR, VOX)
    centres = grid.voxel_centers()  # (Z, Y, X, 3)
    volume = centres.permute(3, 0, 1, 2).unsqueeze(0)  # feature = metric coordinate of the voxel centre
    pts = torch.tensor([[[0.4, -1.2, 0.5], [1.0, 0.3, -0.2], [-5.0, 4.1, 1.1]]])
    out = sample_volume(volume, pts, grid)
    assert torch.allclose(out, pts, atol=1e-5)  # a linear field is reproduced exactly inside the centre hull
    far = sample_volume(volume, torch.tensor([[[40.0, 0.0, 0.0]]]), grid)
    assert torch.all(far == 0)


def test_sdf_field_gradient_matches_autograd_and_rgb_in_range():
    torch.manual_seed(0)
    field = VolumeSDFField(4, PCR, VOX, hidden_channels=16, geo_feat_channels=3, grad_step=0.01)
    volume = torch.randn(2, 4, 4, 16, 16)
    pts = (torch.rand(2, 5, 3) - 0.5) * torch.tensor([8.0, 8.0, 2.0])
    num = field.gradient(volume, pts)
    p = pts.clone().requires_grad_(True)
    auto, = torch.autograd.grad(field.sdf(volume, p).sum(), p)
    assert torch.allclose(num, auto, atol=2e-2, rtol=5e-2)
    rgb_field = VolumeRGBField(4, 3, PCR, VOX, hidden_channels=16)
    out = field(volume, pts)
    rgb = rgb_field(volume, pts, torch.nn.functional.normalize(torch.randn(2, 5, 3), dim=-1), out['geo_feat'])
    assert rgb.shape == (2, 5, 3) and (rgb > 0).all() and (rgb < 1).all()
    assert field.inv_s() > 1
