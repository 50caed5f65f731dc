import torch

from mim3d_plugin.geometry import make_transform, pad_intrinsics, project_points
from mim3d_plugin.rendering import pixel_centers, rays_from_pixels


def _ego2img():
    # camera at (1, 2, 1.5) m looking along ego +x (OpenCV z = ego x, x = -ego y, y = -ego z)
    rot = torch.tensor([[0., -1, 0], [0, 0, -1], [1, 0, 0]])
    cam_pos = torch.tensor([1., 2., 1.5])
    ego2cam = make_transform(rot, -rot @ cam_pos)
    k = pad_intrinsics(torch.tensor([[50., 0, 24], [0, 50, 16], [0, 0, 1]]))
    return (k @ ego2cam).view(1, 1, 4, 4), cam_pos


def test_rays_start_at_camera_and_reproject_to_their_pixel():
    ego2img, cam_pos = _ego2img()
    rows, cols = torch.tensor([[0, 5, 31]]), torch.tensor([[0, 20, 47]])
    uv = pixel_centers(rows, cols)
    rays = rays_from_pixels(uv, torch.zeros_like(rows), ego2img, near=0.5, far=40.)
    assert torch.allclose(rays.origins, cam_pos.expand(1, 3, 3), atol=1e-5)
    assert torch.allclose(rays.directions.norm(dim=-1), torch.ones(1, 3), atol=1e-6)
    z = torch.tensor([[3., 7., 20.]])
    pts = rays.origins + rays.directions * (z * rays.depth_scale).unsqueeze(-1)
    uv2, depth, valid = project_points(pts.unsqueeze(1), ego2img, (32, 48))
    assert valid.all()
    assert torch.allclose(uv2[0, 0], uv[0], atol=1e-3)
    assert torch.allclose(depth[0, 0], z[0], atol=1e-4)
    # the central pixel ray is the optical axis (ego +x), with scale 1
    assert rays.depth_scale[0, 0] > 1 and torch.isclose(rays.depth_scale[0, 1], torch.tensor(1.0), atol=0.1)
