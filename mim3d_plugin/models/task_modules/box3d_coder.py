"""Normalised 3D box encoding and the NMS-free box coder of DETR-style 3D heads.

Reproduces the box parametrisation of DETR3D / BEVFormer (``normalize_bbox`` and
``NMSFreeCoder`` in ``projects/mmdet3d_plugin`` of fundamentalvision/BEVFormer; registered here as
``NMSFreeBBox3DCoder``, as mmdet3d's DETR3D and PETR projects register ``NMSFreeCoder`` in the same registry)
on mmdet3d 1.x LiDAR boxes: ``(x, y, z, dx, dy, dz, yaw, vx, vy)`` with ``z`` the
*gravity* centre, ``dx/dy/dz`` the sizes along the box's own x/y/z axes (m) and
``yaw`` in rad (mmdet3d 1.x LiDAR convention).
"""
from typing import Dict, Optional, Sequence

import torch
from mmdet3d.registry import TASK_UTILS
from torch import Tensor

#: number of entries of a normalised box (with velocity)
NORM_BOX_DIM = 10


def normalize_bbox3d(bboxes: Tensor) -> Tensor:
    """Encode boxes to the regression target of DETR-style 3D heads.

    Args:
        bboxes (Tensor): ``(..., 7)`` or ``(..., 9)`` boxes ``(x, y, z, dx,
            dy, dz, yaw[, vx, vy])``, centre (m, gravity centre), sizes (m,
            > 0), yaw (rad), velocity (m/s).

    Returns:
        Tensor: ``(..., 8)`` or ``(..., 10)``: ``(x, y, z, log dx, log dy,
        log dz, sin yaw, cos yaw[, vx, vy])``.

    Raises:
        ValueError: if the last dimension is neither 7 nor 9.
    """
    if bboxes.shape[-1] not in (7, 9):
        raise ValueError(f'normalize_bbox3d: boxes must end with 7 or 9 values, got {tuple(bboxes.shape)}')
    out = [bboxes[..., :3], bboxes[..., 3:6].clamp(min=1e-5).log(), bboxes[..., 6:7].sin(), bboxes[..., 6:7].cos()]
    if bboxes.shape[-1] == 9:
        out.append(bboxes[..., 7:9])
    return torch.cat(out, dim=-1)


def denormalize_bbox3d(norm_bboxes: Tensor) -> Tensor:
    """Inverse of :func:`normalize_bbox3d`.

    Args:
        norm_bboxes (Tensor): ``(..., 8)`` or ``(..., 10)`` normalised boxes.

    Returns:
        Tensor: ``(..., 7)`` or ``(..., 9)`` boxes ``(x, y, z_gravity, dx, dy,
        dz, yaw[, vx, vy])``.
    """
    if norm_bboxes.shape[-1] not in (8, 10):
        raise ValueError(f'denormalize_bbox3d: expected 8 or 10 values, got {tuple(norm_bboxes.shape)}')
    yaw = torch.atan2(norm_bboxes[..., 6:7], norm_bboxes[..., 7:8])
    out = [norm_bboxes[..., :3], norm_bboxes[..., 3:6].exp(), yaw]
    if norm_bboxes.shape[-1] == 10:
        out.append(norm_bboxes[..., 8:10])
    return torch.cat(out, dim=-1)


@TASK_UTILS.register_module()
class NMSFreeBBox3DCoder:
    """Decode the set predictions of a DETR-style 3D head without NMS.

    Takes the top ``max_num`` (query, class) pairs by sigmoid score, decodes
    their boxes and filters by score and centre range (DETR3D, Wang et al.,
    CoRL 2021, https://arxiv.org/abs/2110.06922; official
    ``core/bbox/coders/nms_free_coder.py``).

    Args:
        post_center_range (Sequence[float], optional): ``[x_min, y_min, z_min,
            x_max, y_max, z_max]`` (m); boxes whose centre is outside are
            dropped. Default: None (keep all).
        max_num (int): number of kept detections per sample. Default: 300.
        score_threshold (float, optional): minimum score. Default: None.
        num_classes (int): number of classes. Default: 10.
    """

    def __init__(self,
                 post_center_range: Optional[Sequence[float]] = None,
                 max_num: int = 300,
                 score_threshold: Optional[float] = None,
                 num_classes: int = 10,
                 pc_range: Optional[Sequence[float]] = None) -> None:
        # ``pc_range`` is accepted for config compatibility with DETR3D; it is unused
        # because our boxes are regressed in metres, not in [0, 1].
        self.post_center_range = None if post_center_range is None else list(post_center_range)
        if self.post_center_range is not None and len(self.post_center_range) != 6:
            raise ValueError(f'NMSFreeBBox3DCoder: post_center_range needs 6 numbers, got {post_center_range}')
        self.max_num = max_num
        self.score_threshold = score_threshold
        self.num_classes = num_classes

    def encode(self, bboxes: Tensor) -> Tensor:
        """``(K, 9)`` boxes -> ``(K, 10)`` normalised targets (see :func:`normalize_bbox3d`)."""
        return normalize_bbox3d(bboxes)

    def decode(self, cls_scores: Tensor, bbox_preds: Tensor) -> Dict[str, Tensor]:
        """Decode one sample.

        Args:
            cls_scores (Tensor): ``(Q, num_classes)`` logits.
            bbox_preds (Tensor): ``(Q, 10)`` normalised boxes (metres, see
                :func:`normalize_bbox3d`).

        Returns:
            dict: ``bboxes`` ``(K, 9)`` (gravity-centre boxes), ``scores``
            ``(K,)``, ``labels`` ``(K,)`` with ``K <= max_num``.
        """
        if cls_scores.shape[-1] != self.num_classes:
            raise ValueError(f'NMSFreeBBox3DCoder: cls_scores has {cls_scores.shape[-1]} classes, '
                             f'expected num_classes={self.num_classes}')
        scores = cls_scores.sigmoid().flatten()
        k = min(self.max_num, scores.numel())
        scores, index = scores.topk(k)
        labels = index % self.num_classes
        boxes = denormalize_bbox3d(bbox_preds[index // self.num_classes])
        keep = torch.ones_like(scores, dtype=torch.bool)
        if self.score_threshold is not None:
            keep &= scores > self.score_threshold
        if self.post_center_range is not None:
            rng = boxes.new_tensor(self.post_center_range)
            keep &= ((boxes[:, :3] >= rng[:3]) & (boxes[:, :3] <= rng[3:])).all(-1)
        return dict(bboxes=boxes[keep], scores=scores[keep], labels=labels[keep])
