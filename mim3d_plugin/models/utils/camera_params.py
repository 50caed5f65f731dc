"""Per-camera parameter vector for camera-aware depth prediction (BEVDepth / GeoMIM).

GeoMIM (Liu et al., ICCV 2023) Sec. 3, official ``PoseSEModule.get_mlp_input`` in
``pretrain/mmdet3d/models/backbones/swin_geomim.py`` (Sense-X/GeoMIM), itself BEVDepth's
``get_mlp_input`` (Li et al., AAAI 2023).
"""
import torch
from torch import Tensor

CAMERA_VECTOR_DIMS = 22


def camera_aware_vector(cam2img: Tensor, img_aug_matrix: Tensor, cam2ego: Tensor) -> Tensor:
    """Build the 22-d camera vector of every view.

    Layout (official order)::

        [fx, fy, cx, cy,                      # original intrinsics (px)
         a00, a01, tu, a10, a11, tv,          # image augmentation: rows of its 2x3 pixel affine map
         r00, r01, r02, tx, r10, ..., tz]     # cam2ego[:3, :4] row-major (rotation, translation in m)

    ``img_aug_matrix`` follows ``geometry/frames.py`` (BEVFusion's layout): it acts on ``(u, v, d, 1)``,
    ``[u', v'] = A [u, v] + t`` with the 2x2 ``A = [:2, :2]`` and the pixel translation ``t = [:2, 3]``;
    ``d`` is unchanged. The original intrinsics are ``inv(M) @ cam2img`` with ``M`` the same map acting on
    homogeneous pixels ``(u z, v z, z, 1)`` (``t`` in column 2).

    Args:
        cam2img (Tensor): ``(B, N, 4, 4)`` camera -> augmented image (intrinsics with the augmentation
            folded in, px).
        img_aug_matrix (Tensor): ``(B, N, 4, 4)`` original px -> augmented px.
        cam2ego (Tensor): ``(B, N, 4, 4)`` camera -> ego (m).

    Returns:
        Tensor: ``(B, N, 22)``.

    Raises:
        ValueError: wrong shapes, or an ``img_aug_matrix`` that is not a pixel affine map (non-zero
            ``[:2, 2]``, or a third row other than ``[0, 0, 1, 0]``).
    """
    for name, mat in (('cam2img', cam2img), ('img_aug_matrix', img_aug_matrix), ('cam2ego', cam2ego)):
        if mat.dim() != 4 or mat.shape[-2:] != (4, 4):
            raise ValueError(f'camera_aware_vector: {name} must be (B, N, 4, 4), got {tuple(mat.shape)}')
    if not (cam2img.shape == img_aug_matrix.shape == cam2ego.shape):
        raise ValueError(f'camera_aware_vector: shapes differ: cam2img {tuple(cam2img.shape)}, '
                         f'img_aug_matrix {tuple(img_aug_matrix.shape)}, cam2ego {tuple(cam2ego.shape)}')
    third_row = img_aug_matrix.new_tensor([0., 0., 1., 0.])
    if img_aug_matrix[..., :2, 2].abs().max() > 1e-6 or (img_aug_matrix[..., 2, :] - third_row).abs().max() > 1e-6:
        raise ValueError('camera_aware_vector: img_aug_matrix must act on (u, v, d, 1) as [u\', v\'] = A [u, v] + t '
                         '(A in [..., :2, :2], t in [..., :2, 3], [..., :2, 2] = 0, depth row [0, 0, 1, 0]); see '
                         'mim3d_plugin/geometry/frames.py')
    rot, trans = img_aug_matrix[..., :2, :2], img_aug_matrix[..., :2, 3]
    homogeneous = torch.zeros_like(img_aug_matrix)
    homogeneous[..., :2, :2], homogeneous[..., :2, 2] = rot, trans
    homogeneous[..., 2, 2] = homogeneous[..., 3, 3] = 1
    intrinsics = torch.linalg.solve(homogeneous.double(), cam2img.double()).to(cam2img.dtype)
    vec = torch.stack([
        intrinsics[..., 0, 0],
        intrinsics[..., 1, 1],
        intrinsics[..., 0, 2],
        intrinsics[..., 1, 2],
        rot[..., 0, 0],
        rot[..., 0, 1],
        trans[..., 0],
        rot[..., 1, 0],
        rot[..., 1, 1],
        trans[..., 1],
    ],
                      dim=-1)
    return torch.cat([vec, cam2ego[..., :3, :4].flatten(-2)], dim=-1)
