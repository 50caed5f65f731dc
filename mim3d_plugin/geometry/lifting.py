"""Lifting image features into 3D: camera frustums, pooling of points into voxels, and
sampling of multi-view image features at 3D points.

The LSS view transformer (GeoMIM, BEVDet), MIM4D's voxel lifting and BEVFormer's
spatial cross-attention reference points all build on these tensor-only
functions.
"""
from typing import Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .grid import VoxelGrid
from .projection import project_points, unproject_depth


def depth_bin_centers(depth_bound: Sequence[float], device=None, dtype=torch.float32, sid: bool = False) -> Tensor:
    """Depth bins in m of BEVDet's ``grid_config['depth']`` ``(start, stop, step)``.

    Uniform: ``arange(start, stop, step)``; e.g. ``(1.0, 60.0, 0.5)`` gives the 118 bins 1.0, 1.5, ..., 59.5 of GeoMIM
    and BEVDet. ``sid`` (spacing-increasing discretisation, BEVDet dev2.x ``create_frustum`` with ``sid=True``): the
    same number ``D`` of bins, ``exp(log(start) + k / (D - 1) * log((stop - 1) / start))`` for ``k = 0 .. D - 1``.
    """
    start, stop, step = (float(v) for v in depth_bound)
    bins = torch.arange(start, stop - 1e-6, step, device=device, dtype=torch.float64)
    if sid:
        k = torch.arange(bins.shape[0], device=device, dtype=torch.float64)
        bins = torch.exp(np.log(start) + k / (bins.shape[0] - 1) * np.log((stop - 1.0) / start))
    return bins.to(dtype)


def create_frustum(image_size: Sequence[int],
                   feature_size: Sequence[int],
                   depths: Tensor,
                   pixels: str = 'center') -> Tensor:
    """Frustum of a feature map: each feature cell's pixel position at every depth bin.

    Args:
        image_size (tuple[int, int]): ``(H, W)`` of the (augmented) network input, px.
        feature_size (tuple[int, int]): ``(h, w)`` of the feature map.
        depths (Tensor): ``(D,)`` depth bin values, m.
        pixels (str): ``'center'``: the centre of the input pixels a cell covers,
            ``u = (j + 0.5) * W / w``; ``'linspace'``: the official BEVDet /
            BEVFusion / GeoMIM convention ``u = linspace(0, W - 1, w)``; ``'corner'``:
            the top-left pixel of each cell, ``u = j * W / w`` (official UVTR / UniPAD
            ``arange(0, W, stride)``). The last two reproduce checkpoints trained with
            them. Default: ``'center'``.

    Returns:
        Tensor: ``(D, h, w, 3)`` with ``(u, v, d)``: pixel coordinates (px) and the depth (m).

    Raises:
        ValueError: unknown ``pixels``.
    """
    (img_h, img_w), (feat_h, feat_w) = image_size, feature_size
    n_d = depths.shape[0]
    if pixels == 'center':
        u = (torch.arange(feat_w, dtype=depths.dtype, device=depths.device) + 0.5) * (img_w / feat_w)
        v = (torch.arange(feat_h, dtype=depths.dtype, device=depths.device) + 0.5) * (img_h / feat_h)
    elif pixels == 'corner':
        u = torch.arange(feat_w, dtype=depths.dtype, device=depths.device) * (img_w / feat_w)
        v = torch.arange(feat_h, dtype=depths.dtype, device=depths.device) * (img_h / feat_h)
    elif pixels == 'linspace':
        u = torch.linspace(0, img_w - 1, feat_w, dtype=depths.dtype, device=depths.device)
        v = torch.linspace(0, img_h - 1, feat_h, dtype=depths.dtype, device=depths.device)
    else:
        raise ValueError(f"create_frustum: pixels must be 'center', 'linspace' or 'corner', got {pixels!r}")
    return torch.stack([
        u.view(1, 1, feat_w).expand(n_d, feat_h, feat_w),
        v.view(1, feat_h, 1).expand(n_d, feat_h, feat_w),
        depths.view(n_d, 1, 1).expand(n_d, feat_h, feat_w),
    ],
                       dim=-1)


def frustum_to_points(frustum: Tensor, src2img: Tensor) -> Tensor:
    """Lift a frustum into the source frame of every camera.

    Args:
        frustum (Tensor): ``(D, h, w, 3)`` from :func:`create_frustum`.
        src2img (Tensor): ``(B, N_cam, 4, 4)`` e.g. ``lidar2img`` with the
            image augmentation folded in.

    Returns:
        Tensor: ``(B, N_cam, D, h, w, 3)`` points in m in the source frame.
    """
    n_d, h, w, _ = frustum.shape
    flat = frustum.reshape(1, 1, -1, 3)
    pts = unproject_depth(flat[..., :2], flat[..., 2], src2img.unsqueeze(-3).to(frustum.dtype))
    return pts.view(src2img.shape[:2] + (n_d, h, w, 3))


def voxel_pooling(points: Tensor, feats: Tensor, grid: VoxelGrid) -> Tensor:
    """Sum the features of the points falling into each voxel (points outside are dropped).

    Args:
        points (Tensor): ``(B, P, 3)`` m, in the grid's frame.
        feats (Tensor): ``(B, P, C)``.
        grid (VoxelGrid): the target grid.

    Returns:
        Tensor: ``(B, C, Z, Y, X)``.
    """
    b, p, c = feats.shape
    n_vox = grid.shape_zyx[0] * grid.shape_zyx[1] * grid.shape_zyx[2]
    flat, valid = grid.flat_index(points)
    flat = flat + torch.arange(b, device=points.device).unsqueeze(1) * n_vox
    out = feats.new_zeros(b * n_vox, c)
    out.index_add_(0, flat[valid], feats[valid])
    return out.view(b, *grid.shape_zyx, c).permute(0, 4, 1, 2, 3).contiguous()


def depth_weighted_pooling(points: Tensor,
                           depth: Tensor,
                           context: Tensor,
                           grid: VoxelGrid,
                           rounding: str = 'floor') -> Tensor:
    """LSS "splat": pool ``depth (x) context`` into voxels without materialising the outer product.

    Computes, for every voxel ``v``,
    ``out[v] = sum_{n, d, i, j : points[n, d, i, j] in v} depth[n, d, i, j] * context[n, :, i, j]``,
    the quantity of BEVDet's ``bev_pool_v2`` CUDA kernel, as one sparse
    (voxels x pixels) by dense (pixels x C) product. Pure PyTorch, runs on CPU
    and GPU, differentiable w.r.t. ``depth`` and ``context``.

    Args:
        points (Tensor): ``(B, N_cam, D, h, w, 3)`` frustum points in m (grid frame).
        depth (Tensor): ``(B, N_cam, D, h, w)`` depth distribution (weights).
        context (Tensor): ``(B, N_cam, C, h, w)`` context features.
        grid (VoxelGrid): the target grid.
        rounding (str): voxel index of a point, ``'floor'`` or the official ``'trunc'``
            (see :meth:`VoxelGrid.flat_index`). Default: ``'floor'``.

    Returns:
        Tensor: ``(B, C, Z, Y, X)``.
    """
    b, n_cam, n_d, h, w, _ = points.shape
    c = context.shape[2]
    n_vox = grid.shape_zyx[0] * grid.shape_zyx[1] * grid.shape_zyx[2]
    n_pix = n_cam * h * w
    flat, valid = grid.flat_index(points, rounding)  # (B, N, D, h, w)
    batch = torch.arange(b, device=points.device).view(b, 1, 1, 1, 1)
    rows = (flat + batch * n_vox).expand_as(flat)
    pix = torch.arange(n_pix, device=points.device).view(1, n_cam, 1, h, w)
    cols = (pix + batch * n_pix).expand(b, n_cam, n_d, h, w)
    weights = depth.to(context.dtype)
    feats = context.permute(0, 1, 3, 4, 2).reshape(b * n_pix, c)
    out = _SparseSplat.apply(rows[valid], cols[valid], weights[valid], feats, b * n_vox)
    return out.view(b, *grid.shape_zyx, c).permute(0, 4, 1, 2, 3).contiguous()


class _SparseSplat(torch.autograd.Function):
    """``out = M @ feats`` for the sparse ``M[rows[e], cols[e]] = weights[e]``, with a memory-lean backward.

    ``torch.sparse.mm``'s own backward w.r.t. the sparse values forms the dense
    ``grad_out @ feats.T`` (voxels x pixels: ~2 G entries for GeoMIM's
    360x360 grid and 2 x 6 x 16 x 44 pixels) before masking it; here the value
    gradient is ``<grad_out[rows[e]], feats[cols[e]]>``, computed in chunks of
    ``_CHUNK`` entries. First-order gradients only.
    """
    _CHUNK = 1 << 18

    @staticmethod
    def forward(ctx, rows: Tensor, cols: Tensor, weights: Tensor, feats: Tensor, n_rows: int) -> Tensor:
        matrix = torch.sparse_coo_tensor(
            torch.stack([rows, cols]), weights, (n_rows, feats.shape[0]), check_invariants=False)
        ctx.save_for_backward(rows, cols, weights, feats)
        return torch.sparse.mm(matrix, feats)

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        rows, cols, weights, feats = ctx.saved_tensors
        grad_weights = grad_feats = None
        if ctx.needs_input_grad[2]:
            grad_weights = torch.cat(
                [(grad_out[rows[i:i + _SparseSplat._CHUNK]] * feats[cols[i:i + _SparseSplat._CHUNK]]).sum(-1)
                 for i in range(0, rows.numel(), _SparseSplat._CHUNK)]) if rows.numel() else weights.new_zeros(0)
        if ctx.needs_input_grad[3]:
            matrix_t = torch.sparse_coo_tensor(
                torch.stack([cols, rows]), weights, (feats.shape[0], grad_out.shape[0]), check_invariants=False)
            grad_feats = torch.sparse.mm(matrix_t, grad_out.contiguous())
        return None, None, grad_weights, grad_feats, None


def sample_multiview_features(points: Tensor, feats: Tensor, src2img: Tensor,
                              image_size: Sequence[int]) -> Tuple[Tensor, Tensor]:
    """Bilinearly sample multi-view feature maps at the projections of 3D points.

    Args:
        points (Tensor): ``(B, P, 3)`` m in the source frame.
        feats (Tensor): ``(B, N_cam, C, h, w)`` feature maps covering the
            whole ``(H, W)`` input image.
        src2img (Tensor): ``(B, N_cam, 4, 4)``.
        image_size (tuple[int, int]): ``(H, W)`` px of the network input.

    Returns:
        tuple[Tensor, Tensor]: ``(B, N_cam, P, C)`` sampled features (0 where
        invalid) and ``(B, N_cam, P)`` bool validity (in front of the camera
        and inside the image).
    """
    b, n_cam, c, h, w = feats.shape
    img_h, img_w = image_size
    uv, _, valid = project_points(points.unsqueeze(1), src2img, (img_h, img_w))
    norm = torch.stack([uv[..., 0] / img_w, uv[..., 1] / img_h], dim=-1) * 2 - 1
    sampled = F.grid_sample(
        feats.flatten(0, 1),
        norm.flatten(0, 1).unsqueeze(1).to(feats.dtype),
        mode='bilinear',
        padding_mode='zeros',
        align_corners=False)
    sampled = sampled.view(b, n_cam, c, -1).permute(0, 1, 3, 2)
    return sampled * valid.unsqueeze(-1).to(sampled.dtype), valid
