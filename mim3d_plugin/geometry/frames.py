"""Coordinate-frame conventions and rigid-transform helpers shared by every method.

Conventions (the same as mmdet3d 1.x and the nuScenes devkit)::

    ego / LiDAR (right-handed)          camera (OpenCV)            pixel
          z up                              z forward                (0,0) ----> u (px)
          |  x forward                     /                          |
          | /                             o----> x right              |
    y <---o                               |                           v v (px)
     left                                 v y down

* Every transform is a homogeneous 4x4 matrix named ``src2dst`` (``lidar2ego``,
  ``ego2global``, ``lidar2cam``, ``cam2img``, ``lidar2img``) that maps column
  vectors: ``p_dst = src2dst @ p_src``. Batched matrices have shape
  ``(..., 4, 4)``, e.g. ``(B, N_cam, 4, 4)``.
* ``cam2img`` is the 3x3 intrinsic matrix padded to 4x4 (the last row and column
  are those of the identity). Image augmentation (resize, crop, flip, rotate) is
  folded into ``cam2img`` by the data pipeline, which also records the
  augmentation alone as ``img_aug_matrix`` (augmented px <- original px) in
  BEVFusion's layout: it acts on ``(u, v, d, 1)`` as ``[u', v'] = A [u, v] + t``
  with ``A = img_aug_matrix[:2, :2]``, ``t = img_aug_matrix[:2, 3]`` and the depth
  ``d`` unchanged. Folded into ``cam2img`` the same map acts on homogeneous
  pixels ``(u z, v z, z, 1)``, i.e. with ``t`` moved to column 2.
* Pixel coordinates are those of mmdet3d's ``points_cam2img``: ``u = x/z``,
  ``v = y/z`` after applying ``cam2img``; no half-pixel offset. A pixel with
  integer index ``(row, col)`` covers ``[col, col+1) x [row, row+1)``.
* Units: metres for positions, radians for angles, pixels for image coordinates.

This module imports only torch (the project style guide: geometry is the bottom of
the dependency graph).
"""
from typing import Optional

import torch
from torch import Tensor


def to_homogeneous(points: Tensor) -> Tensor:
    """Append a 1 to the last dimension.

    Args:
        points (Tensor): ``(..., 3)`` points.

    Returns:
        Tensor: ``(..., 4)`` homogeneous points.
    """
    return torch.cat([points, points.new_ones(points.shape[:-1] + (1, ))], dim=-1)


def apply_transform(points: Tensor, src2dst: Tensor) -> Tensor:
    """Apply a batch of homogeneous transforms to a batch of 3D points.

    Args:
        points (Tensor): ``(..., P, 3)`` points in the source frame (m).
        src2dst (Tensor): ``(..., 4, 4)`` transform; its batch dims must
            broadcast against those of ``points``.

    Returns:
        Tensor: ``(..., P, 3)`` points in the destination frame (m). The
        homogeneous coordinate is assumed to stay 1 (rigid or affine
        transform); use :func:`mim3d_plugin.geometry.project_points` for
        projective ones.
    """
    if points.shape[-1] != 3:
        raise ValueError(f'apply_transform: points must end with 3 coordinates, got shape {tuple(points.shape)}')
    if src2dst.shape[-2:] != (4, 4):
        raise ValueError(f'apply_transform: src2dst must be (..., 4, 4), got {tuple(src2dst.shape)}')
    rot = src2dst[..., :3, :3]
    trans = src2dst[..., :3, 3]
    return points @ rot.transpose(-1, -2) + trans.unsqueeze(-2)


def make_transform(rotation: Tensor, translation: Tensor) -> Tensor:
    """Build ``(..., 4, 4)`` transforms from ``(..., 3, 3)`` rotations and ``(..., 3)`` translations (m)."""
    batch = rotation.shape[:-2]
    out = torch.zeros(batch + (4, 4), dtype=rotation.dtype, device=rotation.device)
    out[..., :3, :3] = rotation
    out[..., :3, 3] = translation
    out[..., 3, 3] = 1
    return out


def invert_rigid(src2dst: Tensor) -> Tensor:
    """Invert rigid transforms ``[R | t]`` exactly as ``[R^T | -R^T t]``.

    Args:
        src2dst (Tensor): ``(..., 4, 4)`` rigid transforms (R orthonormal).

    Returns:
        Tensor: ``(..., 4, 4)`` ``dst2src``.
    """
    rot_t = src2dst[..., :3, :3].transpose(-1, -2)
    trans = -(rot_t @ src2dst[..., :3, 3:4]).squeeze(-1)
    return make_transform(rot_t, trans)


def pad_intrinsics(cam2img: Tensor) -> Tensor:
    """Pad ``(..., 3, 3)`` or ``(..., 3, 4)`` intrinsics to ``(..., 4, 4)``; 4x4 input is returned as is."""
    if cam2img.shape[-2:] == (4, 4):
        return cam2img
    if cam2img.shape[-2:] not in ((3, 3), (3, 4)):
        raise ValueError(f'cam2img must be (..., 3, 3), (..., 3, 4) or (..., 4, 4), got {tuple(cam2img.shape)}')
    out = torch.zeros(cam2img.shape[:-2] + (4, 4), dtype=cam2img.dtype, device=cam2img.device)
    out[..., :3, :cam2img.shape[-1]] = cam2img
    out[..., 3, 3] = 1
    return out


def rotation_z(yaw: Tensor, dtype: Optional[torch.dtype] = None) -> Tensor:
    """``(..., 3, 3)`` rotation about +z by ``yaw`` (rad, counter-clockwise seen from above).

    The dtype is ``dtype`` if given, else that of a floating-point tensor ``yaw``, else float32.
    """
    if dtype is None:
        dtype = yaw.dtype if isinstance(yaw, Tensor) and yaw.is_floating_point() else torch.float32
    yaw = torch.as_tensor(yaw, dtype=dtype)
    c, s = torch.cos(yaw), torch.sin(yaw)
    z, o = torch.zeros_like(c), torch.ones_like(c)
    return torch.stack([c, -s, z, s, c, z, z, z, o], dim=-1).reshape(yaw.shape + (3, 3))


def transform_boxes(boxes: Tensor, src2dst: Tensor) -> Tensor:
    """Re-express 3D boxes in another frame by a rigid transform.

    Args:
        boxes (Tensor): ``(K, 7)`` or ``(K, 9)`` boxes ``(x, y, z, dx, dy, dz, yaw[, vx, vy])`` in the source frame:
            the *gravity* centre (m), sizes along the box's own axes (m), yaw about +z from +x (rad), velocity (m/s).
        src2dst (Tensor): ``(4, 4)`` rigid transform.

    Returns:
        Tensor: ``(K, 7)`` / ``(K, 9)`` in the destination frame: centre ``R c + t``; yaw of the rotated heading
        ``R (cos yaw, sin yaw, 0)`` projected onto the xy plane (``atan2``; nuScenes devkit ``yaw_pitch_roll[0]`` of
        the rotated orientation); velocity ``(R (vx, vy, 0))[:2]`` (a translation does not move a velocity); sizes
        unchanged. With a rotation about z only it is exact and invertible.

    Raises:
        ValueError: boxes not ``(K, 7)`` / ``(K, 9)`` or ``src2dst`` not ``(4, 4)``.
    """
    if boxes.dim() != 2 or boxes.shape[-1] not in (7, 9):
        raise ValueError(f'transform_boxes: boxes must be (K, 7) or (K, 9), got {tuple(boxes.shape)}')
    if tuple(src2dst.shape) != (4, 4):
        raise ValueError(f'transform_boxes: src2dst must be (4, 4), got {tuple(src2dst.shape)}')
    mat = src2dst.to(boxes)  # the boxes' dtype and device (a CPU matrix with CUDA boxes fails on a GPU)
    rot = mat[:3, :3]
    out = boxes.clone()
    out[:, :3] = boxes[:, :3] @ rot.T + mat[:3, 3]
    zeros = torch.zeros_like(boxes[:, 6])
    heading = torch.stack([boxes[:, 6].cos(), boxes[:, 6].sin(), zeros], -1) @ rot.T
    out[:, 6] = torch.atan2(heading[:, 1], heading[:, 0])
    if boxes.shape[-1] == 9:
        out[:, 7:9] = (torch.cat([boxes[:, 7:9], zeros[:, None]], -1) @ rot.T)[:, :2]
    return out
