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

    The original intrinsics are ``inv(img_aug_matrix) @ cam2img``. Following ``geometry/frames.py``,
    ``img_aug_matrix`` maps original to augmented homogeneous pixels ``(u*z, v*z, z, 1)``, so its 2x2
    rotation/scale is ``[:2, :2]`` and its pixel translation is ``[:2, 2]`` (the column that multiplies
    the depth z; ``[:2, 3]`` must be 0).

    Args:
        cam2img (Tensor): ``(B, N, 4, 4)`` camera -> augmented image (intrinsics with the augmentation
            folded in, px).
        img_aug_matrix (Tensor): ``(B, N, 4, 4)`` original px -> augmented px.
        cam2ego (Tensor): ``(B, N, 4, 4)`` camera -> ego (m).

    Returns:
        Tensor: ``(B, N, 22)``.

    Raises:
        ValueError: wrong shapes, or an ``img_aug_matrix`` with a non-zero ``[:2, 3]`` (a translation
            applied after the perspective division, which cannot be folded into ``cam2img``).
    """
    for name, mat in (('cam2img', cam2img), ('img_aug_matrix', img_aug_matrix), ('cam2ego', cam2ego)):
        if mat.dim() != 4 or mat.shape[-2:] != (4, 4):
            raise ValueError(f'camera_aware_vector: {name} must be (B, N, 4, 4), got {tuple(mat.shape)}')
    if not (cam2img.shape == img_aug_matrix.shape == cam2ego.shape):
        raise ValueError(f'camera_aware_vector: shapes differ: cam2img {tuple(cam2img.shape)}, '
                         f'img_aug_matrix {tuple(img_aug_matrix.shape)}, cam2ego {tuple(cam2ego.shape)}')
    if img_aug_matrix[..., :2, 3].abs().max() > 1e-6:
        raise ValueError('camera_aware_vector: img_aug_matrix[..., :2, 3] must be 0 (pixel translation '
                         'belongs in [..., :2, 2], see mim3d_plugin/geometry/frames.py)')
    intrinsics = torch.linalg.solve(img_aug_matrix.double(), cam2img.double()).to(cam2img.dtype)
    rot, trans = img_aug_matrix[..., :2, :2], img_aug_matrix[..., :2, 2]
    vec = torch.stack([
        intrinsics[..., 0, 0], intrinsics[..., 1, 1], intrinsics[..., 0, 2], intrinsics[..., 1, 2],
        rot[..., 0, 0], rot[..., 0, 1], trans[..., 0],
        rot[..., 1, 0], rot[..., 1, 1], trans[..., 1],
    ], dim=-1)
    return torch.cat([vec, cam2ego[..., :3, :4].flatten(-2)], dim=-1)
