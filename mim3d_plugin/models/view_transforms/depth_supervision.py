"""LiDAR depth supervision of a categorical depth distribution (BEVDepth style).

Reproduces BEVDepth's ``get_downsampled_gt_depth`` and ``get_depth_loss``
(``bevdepth/layers/heads/..`` / BEVDet ``DepthNet``-based ``BEVDepth`` in
``mmdet3d/models/necks/view_transformer.py``): sparse LiDAR depth maps are
reduced to the nearest valid depth inside every ``stride x stride`` cell,
quantised into the depth bins of ``grid_config['depth']`` and supervised with a
binary cross-entropy on foreground cells only (cells holding at least one LiDAR
point whose depth falls into the bin range). GeoMIM uses this loss with weight
0.01 on its geometry branch.

Bin ``k`` covers ``[start + k * step, start + (k + 1) * step)`` m: the frustum
point of bin ``k`` sits at its lower edge, ``start + k * step``, as in BEVDet.
"""
from typing import Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def depth_to_bins(depth_maps: Tensor,
                  downsample: int,
                  depth_bound: Sequence[float],
                  sid: bool = False) -> Tuple[Tensor, Tensor]:
    """One-hot depth-bin targets at feature resolution from sparse LiDAR depth maps.

    Args:
        depth_maps (Tensor): ``(B, N_cam, H, W)`` depth in m (camera z) at
            network-input resolution; ``0`` (or any value ``<= 0``) marks pixels
            without a LiDAR point.
        downsample (int): feature stride; ``H`` and ``W`` must be multiples.
        depth_bound (Sequence[float]): ``(start, stop, step)`` m, BEVDet's
            ``grid_config['depth']``.
        sid (bool): spacing-increasing bins (:func:`mim3d_plugin.geometry.depth_bin_centers`): bin
            ``floor(log(d / start) * (D - 1) / log((stop - 1) / start))`` (official ``get_downsampled_gt_depth``
            with ``sid``). Default: False.

    Returns:
        tuple[Tensor, Tensor]:
            - ``(B, N_cam, h, w, D)`` float one-hot targets (all zeros where
              invalid), ``h = H / downsample``.
            - ``(B, N_cam, h, w)`` bool foreground mask: the cell holds a point
              with depth in ``[start, start + D * step)``.

    Raises:
        ValueError: on a wrong rank or a size not divisible by ``downsample``.
    """
    if depth_maps.dim() != 4:
        raise ValueError(f'depth_to_bins: depth_maps must be (B, N_cam, H, W) m, got {tuple(depth_maps.shape)}')
    b, n_cam, img_h, img_w = depth_maps.shape
    if img_h % downsample or img_w % downsample:
        raise ValueError(f'depth_to_bins: depth map size {(img_h, img_w)} is not a multiple of '
                         f'downsample={downsample}')
    start, stop, step = (float(v) for v in depth_bound)
    n_bins = int(round((stop - start) / step))
    h, w = img_h // downsample, img_w // downsample
    cells = depth_maps.reshape(b, n_cam, h, downsample, w, downsample).permute(0, 1, 2, 4, 3, 5)
    cells = cells.reshape(b, n_cam, h, w, downsample * downsample)
    cells = torch.where(cells > 0, cells, torch.full_like(cells, float('inf')))
    nearest = cells.min(dim=-1).values  # (B, N, h, w), inf where empty
    if sid:
        index = torch.floor(torch.log(nearest / start) * (n_bins - 1) / float(np.log((stop - 1.0) / start)))
    else:
        index = torch.floor((nearest - start) / step)
    valid = torch.isfinite(nearest) & (index >= 0) & (index < n_bins)
    index = torch.where(valid, index, torch.zeros_like(index)).long()
    one_hot = F.one_hot(index, n_bins).to(depth_maps.dtype) * valid.unsqueeze(-1).to(depth_maps.dtype)
    return one_hot, valid


def depth_bce_loss(depth_prob: Tensor, depth_target: Tensor, valid: Tensor) -> Tensor:
    """Binary cross-entropy between predicted depth distributions and one-hot targets on foreground cells.

    As BEVDepth's ``get_depth_loss``: the BCE is summed over bins and
    foreground cells and divided by ``max(1, number of foreground cells)``.
    The loss weight (0.01 in GeoMIM and BEVDepth to 3.0 in BEVDet's BEVDepth
    configs) is applied by the caller. Computed in float32.

    Args:
        depth_prob (Tensor): ``(B, N_cam, D, h, w)`` probabilities (softmax over D).
        depth_target (Tensor): ``(B, N_cam, h, w, D)`` from :func:`depth_to_bins`.
        valid (Tensor): ``(B, N_cam, h, w)`` bool foreground mask.

    Returns:
        Tensor: scalar loss (0 with a gradient path when there is no foreground).
    """
    if depth_prob.shape[:2] + depth_prob.shape[3:] + depth_prob.shape[2:3] != depth_target.shape:
        raise ValueError(f'depth_bce_loss: depth_prob {tuple(depth_prob.shape)} (B, N, D, h, w) does not match '
                         f'depth_target {tuple(depth_target.shape)} (B, N, h, w, D)')
    pred = depth_prob.permute(0, 1, 3, 4, 2).float()
    with torch.autocast(device_type=pred.device.type, enabled=False):
        bce = F.binary_cross_entropy(pred, depth_target.float(), reduction='none')
    # masked sum instead of indexing by ``valid``: no host sync (a boolean index needs the count on the host)
    loss = (bce * valid[..., None].to(bce.dtype)).sum()
    return loss / valid.sum().clamp(min=1).to(loss.dtype)
