"""Pinhole projection of 3D points into images and the inverse lifting of pixels with depth.

Every method and both projects project through :func:`project_points` and lift
through :func:`unproject_depth`; nobody else writes a matmul-and-divide. Pixel
conventions are those of mmdet3d's ``points_cam2img`` (see ``frames.py``).
"""
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor

from .frames import apply_transform


def project_points(points: Tensor,
                   src2img: Tensor,
                   img_shape: Optional[Sequence[int]] = None,
                   min_depth: float = 1e-3) -> Tuple[Tensor, Tensor, Tensor]:
    """Project 3D points into images.

    Args:
        points (Tensor): ``(..., P, 3)`` points (m) in the source frame
            (e.g. LiDAR).
        src2img (Tensor): ``(..., 4, 4)`` projection ``cam2img @ src2cam``;
            batch dims broadcast against those of ``points`` (e.g. points
            ``(B, 1, P, 3)`` with ``lidar2img`` ``(B, N_cam, 4, 4)``).
        img_shape (tuple[int, int], optional): ``(H, W)`` in px. If given,
            points outside ``[0, W) x [0, H)`` are invalid.
        min_depth (float): points with camera depth ``<= min_depth`` (m), i.e.
            behind or on the camera plane, are invalid. Default: 1e-3.

    Returns:
        tuple[Tensor, Tensor, Tensor]:
            - uv ``(..., P, 2)``: pixel coordinates ``(u, v)`` in px (finite
              even for invalid points: depth is clamped before the division).
            - depth ``(..., P)``: camera z in m.
            - valid ``(..., P)``: bool, in front of the camera and inside the
              image.
    """
    cam = apply_transform(points, src2img)
    depth = cam[..., 2]
    uv = cam[..., :2] / depth.clamp(min=min_depth).unsqueeze(-1)
    valid = depth > min_depth
    if img_shape is not None:
        h, w = int(img_shape[0]), int(img_shape[1])
        valid = valid & (uv[..., 0] >= 0) & (uv[..., 0] < w) & (uv[..., 1] >= 0) & (uv[..., 1] < h)
    return uv, depth, valid


def unproject_depth(uv: Tensor, depth: Tensor, src2img: Tensor) -> Tensor:
    """Lift pixels with metric depth back to 3D points (inverse of :func:`project_points`).

    Args:
        uv (Tensor): ``(..., P, 2)`` pixel coordinates in px.
        depth (Tensor): ``(..., P)`` camera z in m.
        src2img (Tensor): ``(..., 4, 4)`` the projection that produced ``uv``
            (any invertible ``cam2img @ src2cam``, including folded image
            augmentation).

    Returns:
        Tensor: ``(..., P, 3)`` points in the source frame (m).
    """
    cam = torch.cat([uv * depth.unsqueeze(-1), depth.unsqueeze(-1)], dim=-1)
    return apply_transform(cam, torch.linalg.inv(src2img))


def points_to_depth_map(points: Tensor, src2img: Tensor, img_shape: Sequence[int]) -> Tensor:
    """Rasterise points into sparse per-camera depth maps, keeping the nearest point per pixel.

    Args:
        points (Tensor): ``(P, 3)`` points (m) in the source frame (e.g. LiDAR).
        src2img (Tensor): ``(N_cam, 4, 4)`` projections.
        img_shape (tuple[int, int]): ``(H, W)`` in px.

    Returns:
        Tensor: ``(N_cam, H, W)`` depth in m; 0 marks pixels with no point.
    """
    h, w = int(img_shape[0]), int(img_shape[1])
    n_cam = src2img.shape[0]
    uv, depth, valid = project_points(points.unsqueeze(0), src2img, (h, w))
    cam_idx = torch.arange(n_cam, device=points.device).unsqueeze(1).expand_as(depth)
    cols = uv[..., 0].floor().long()
    rows = uv[..., 1].floor().long()
    flat = (cam_idx * h + rows) * w + cols
    flat, d = flat[valid], depth[valid]
    out = torch.full((n_cam * h * w, ), float('inf'), dtype=points.dtype, device=points.device)
    out = out.scatter_reduce(0, flat, d, reduce='amin', include_self=True)
    out[torch.isinf(out)] = 0
    return out.view(n_cam, h, w)
