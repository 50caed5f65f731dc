"""Ray bundles and ray samples: small tensor dataclasses shared by samplers, fields and renderers.

Rays live in the frame of the voxel volume they are rendered from (MIM4D: the
target frame's LiDAR frame), in metres when built by :func:`rays_from_pixels`,
in scene units (metres x ``scene_scale``) after :meth:`RayBundle.scaled`. Every
tensor carries a leading batch dim ``B`` that matches the batch of the volume, then
``R`` rays, then ``S`` samples.
"""
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor

from mim3d_plugin.geometry import unproject_depth


@dataclass
class RayBundle:
    """A batch of rays.

    Attributes:
        origins (Tensor): ``(B, R, 3)`` ray origins (camera centres), m (or scene units).
        directions (Tensor): ``(B, R, 3)`` unit directions.
        depth_scale (Tensor): ``(B, R)`` metres along the ray per metre of
            camera z (``|d|`` of the un-normalised direction at z = 1), so
            camera depth = ``t / depth_scale``.
        near (Tensor): ``(B, R)`` start distance along the ray (units of ``origins``).
        far (Tensor): ``(B, R)`` end distance along the ray (units of ``origins``).
        camera_index (Tensor): ``(B, R)`` long, the camera each ray comes from.
    """
    origins: Tensor
    directions: Tensor
    depth_scale: Tensor
    near: Tensor
    far: Tensor
    camera_index: Tensor

    def points_at(self, t: Tensor) -> Tensor:
        """``(B, R, S)`` distances -> ``(B, R, S, 3)`` points (in the units of ``origins``)."""
        return self.origins.unsqueeze(-2) + self.directions.unsqueeze(-2) * t.unsqueeze(-1)

    def scaled(self, scale: float) -> 'RayBundle':
        """The same rays in a scene scaled by ``scale`` (origins, near and far multiplied;
        directions and ``depth_scale``, a ratio, unchanged)."""
        return RayBundle(
            origins=self.origins * scale,
            directions=self.directions,
            depth_scale=self.depth_scale,
            near=self.near * scale,
            far=self.far * scale,
            camera_index=self.camera_index)

    def with_range(self, near: Tensor, far: Tensor) -> 'RayBundle':
        """The same rays with new ``(B, R)`` ``near`` / ``far``."""
        return RayBundle(
            origins=self.origins,
            directions=self.directions,
            depth_scale=self.depth_scale,
            near=near,
            far=far,
            camera_index=self.camera_index)


@dataclass
class RaySamples:
    """Contiguous intervals along each ray.

    Attributes:
        t_edges (Tensor): ``(B, R, S + 1)`` sorted interval edges, m along the ray.
    """
    t_edges: Tensor

    @property
    def starts(self) -> Tensor:
        """``(B, R, S)`` interval starts, m."""
        return self.t_edges[..., :-1]

    @property
    def ends(self) -> Tensor:
        """``(B, R, S)`` interval ends, m."""
        return self.t_edges[..., 1:]

    @property
    def mids(self) -> Tensor:
        """``(B, R, S)`` interval mid-points, m."""
        return 0.5 * (self.starts + self.ends)

    @property
    def deltas(self) -> Tensor:
        """``(B, R, S)`` interval lengths, m."""
        return self.ends - self.starts


def rays_from_pixels(uv: Tensor, camera_index: Tensor, src2img: Tensor, near: float, far: float) -> RayBundle:
    """Rays through pixels of posed cameras.

    Args:
        uv (Tensor): ``(B, R, 2)`` pixel coordinates (px, mmdet3d convention;
            use ``col + 0.5`` for a pixel centre).
        camera_index (Tensor): ``(B, R)`` long index into the cameras.
        src2img (Tensor): ``(B, N_cam, 4, 4)`` projection from the volume frame
            (e.g. ``ego2img``) with the image augmentation folded in.
        near (float): ray start, m along the ray.
        far (float): ray end, m along the ray.

    Returns:
        RayBundle: rays in the volume (source) frame.
    """
    if uv.shape[:2] != camera_index.shape or uv.shape[-1] != 2:
        raise ValueError(f'rays_from_pixels: uv must be (B, R, 2) and camera_index (B, R), got '
                         f'{tuple(uv.shape)} and {tuple(camera_index.shape)}')
    b = uv.shape[0]
    mats = src2img[torch.arange(b, device=uv.device).unsqueeze(1), camera_index]  # (B, R, 4, 4)
    pts = unproject_depth(
        uv.unsqueeze(-2).expand(-1, -1, 2, -1),
        torch.tensor([0., 1.], dtype=uv.dtype, device=uv.device).expand(uv.shape[:2] + (2, )),
        mats.to(uv.dtype))  # (B, R, 2, 3): camera centre and the point at z = 1 m
    origins, dirs = pts[..., 0, :], pts[..., 1, :] - pts[..., 0, :]
    scale = dirs.norm(dim=-1)
    return RayBundle(
        origins=origins,
        directions=dirs / scale.unsqueeze(-1),
        depth_scale=scale,
        near=torch.full_like(scale, near),
        far=torch.full_like(scale, far),
        camera_index=camera_index)


def pixel_centers(rows: Tensor, cols: Tensor) -> Tensor:
    """Integer pixel indices ``(...)`` -> ``(..., 2)`` centre coordinates ``(u, v)`` in px."""
    return torch.stack([cols.to(torch.float32) + 0.5, rows.to(torch.float32) + 0.5], dim=-1)


__all__: Sequence[str] = ['RayBundle', 'RaySamples', 'rays_from_pixels', 'pixel_centers']
