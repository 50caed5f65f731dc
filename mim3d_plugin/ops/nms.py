"""Rotated BEV IoU and NMS in PyTorch, equal to mmcv's ``box_iou_rotated`` / ``nms_rotated`` kernels.

The IoU of two rotated rectangles is the area of their intersection polygon (the corners of each inside the other and
the crossings of their edges, ordered by angle around their mean, shoelace formula) over the union; greedy NMS keeps
the highest-scoring box and drops every later box whose IoU with a kept one exceeds the threshold, as mmcv's
``nms_rotated`` does. ``tests/test_ops/test_nms.py`` pins both to the kernels on CPU.
"""
from typing import Optional

import torch
import torchvision
from torch import Tensor

from .availability import compiled_op_available


def box_corners_xywhr(boxes: Tensor) -> Tensor:
    """``(N, 5)`` ``(x, y, w, h, angle)`` boxes (angle in radians, counter-clockwise) -> ``(N, 4, 2)`` corners."""
    x, y, w, h, a = boxes.unbind(-1)
    cos, sin = torch.cos(a), torch.sin(a)
    dx = torch.stack([w, -w, -w, w], -1) / 2
    dy = torch.stack([h, h, -h, -h], -1) / 2
    return torch.stack(
        [x[:, None] + dx * cos[:, None] - dy * sin[:, None], y[:, None] + dx * sin[:, None] + dy * cos[:, None]], -1)


def _inside(points: Tensor, boxes: Tensor, eps: float = 1e-6) -> Tensor:
    """``points`` ``(N, M, P, 2)`` inside box ``m`` of ``boxes`` ``(M, 5)`` -> ``(N, M, P)``."""
    c = boxes[None, :, None, :2]
    cos, sin = torch.cos(boxes[:, 4])[None, :, None], torch.sin(boxes[:, 4])[None, :, None]
    d = points - c
    u = d[..., 0] * cos + d[..., 1] * sin
    v = -d[..., 0] * sin + d[..., 1] * cos
    return (u.abs() <= boxes[None, :, None, 2] / 2 + eps) & (v.abs() <= boxes[None, :, None, 3] / 2 + eps)


def _intersection_area(a: Tensor, b: Tensor) -> Tensor:
    """Intersection area ``(N, M)`` of ``(N, 5)`` and ``(M, 5)`` xywhr boxes."""
    ca, cb = box_corners_xywhr(a), box_corners_xywhr(b)  # (N, 4, 2), (M, 4, 2)
    n, m = a.shape[0], b.shape[0]
    a_in_b = _inside(ca[:, None].expand(n, m, 4, 2), b)
    b_in_a = _inside(cb[None].expand(n, m, 4, 2).transpose(0, 1), a).transpose(0, 1)
    # edge crossings: edge i of a (p + t r) with edge j of b (q + s e)
    p, r = ca, ca.roll(-1, dims=1) - ca
    q, e = cb, cb.roll(-1, dims=1) - cb
    p, r = p[:, None, :, None], r[:, None, :, None]  # (N, 1, 4, 1, 2)
    q, e = q[None, :, None], e[None, :, None]  # (1, M, 1, 4, 2)
    denom = r[..., 0] * e[..., 1] - r[..., 1] * e[..., 0]
    qp = q - p
    safe = torch.where(denom.abs() > 1e-12, denom, torch.ones_like(denom))
    t = (qp[..., 0] * e[..., 1] - qp[..., 1] * e[..., 0]) / safe
    s = (qp[..., 0] * r[..., 1] - qp[..., 1] * r[..., 0]) / safe
    cross_ok = (denom.abs() > 1e-12) & (t >= 0) & (t <= 1) & (s >= 0) & (s <= 1)
    crossings = (p + t[..., None] * r).reshape(n, m, 16, 2)
    pts = torch.cat([ca[:, None].expand(n, m, 4, 2), cb[None].expand(n, m, 4, 2), crossings], 2)  # (N, M, 24, 2)
    ok = torch.cat([a_in_b, b_in_a, cross_ok.reshape(n, m, 16)], 2)
    count = ok.sum(-1)
    center = (pts * ok[..., None]).sum(2) / count.clamp(min=1)[..., None]
    ang = torch.atan2(pts[..., 1] - center[..., None, 1], pts[..., 0] - center[..., None, 0])
    ang = torch.where(ok, ang, torch.full_like(ang, 10.0))  # invalid points last
    order = ang.argsort(-1)
    pts = torch.gather(pts, 2, order[..., None].expand_as(pts))
    ok = torch.gather(ok, 2, order)
    first = pts[:, :, :1].expand_as(pts)
    pts = torch.where(ok[..., None], pts, first)  # invalid points repeat the first one: zero area
    rel = pts - center[:, :, None]
    nxt = rel.roll(-1, dims=2)
    area = 0.5 * (rel[..., 0] * nxt[..., 1] - rel[..., 1] * nxt[..., 0]).sum(-1).abs()
    return torch.where(count >= 3, area, torch.zeros_like(area))


def box_iou_rotated_pytorch(boxes1: Tensor, boxes2: Tensor, chunk: int = 256) -> Tensor:
    """IoU ``(N, M)`` of rotated boxes ``(N, 5)``, ``(M, 5)`` ``(x, y, w, h, angle)`` (mmcv's ``box_iou_rotated``
    with ``mode='iou', aligned=False``), computed in float32 in row chunks of ``chunk`` boxes."""
    b1, b2 = boxes1.float(), boxes2.float()
    area1 = b1[:, 2] * b1[:, 3]
    area2 = b2[:, 2] * b2[:, 3]
    rows = []
    for i in range(0, b1.shape[0], chunk):
        inter = _intersection_area(b1[i:i + chunk], b2)
        union = area1[i:i + chunk, None] + area2[None] - inter
        rows.append(inter / union.clamp(min=1e-6))
    return torch.cat(rows) if rows else b1.new_zeros(0, b2.shape[0])


def box_intersection_rotated_aligned(boxes1: Tensor, boxes2: Tensor, chunk: int = 64) -> Tensor:
    """Intersection area ``(N,)`` of box ``i`` of ``boxes1`` with box ``i`` of ``boxes2`` (``(N, 5)`` xywhr each):
    mmcv's ``box_iou_rotated(mode='iof', aligned=True)`` times the area of ``boxes1`` where its kernel runs
    (``compiled_op_available('box_iou_rotated')``), else the PyTorch path (the diagonals of ``chunk`` x ``chunk``
    blocks of :func:`_intersection_area`)."""
    if boxes1.shape != boxes2.shape or boxes1.dim() != 2 or boxes1.shape[-1] != 5:
        raise ValueError(f'box_intersection_rotated_aligned: boxes must be (N, 5) each, got {tuple(boxes1.shape)} '
                         f'and {tuple(boxes2.shape)}')
    b1, b2 = boxes1.float(), boxes2.float()
    if b1.shape[0] == 0:
        return b1.new_zeros(0)
    if compiled_op_available('box_iou_rotated', b1.device):
        from mmcv.ops import box_iou_rotated
        return box_iou_rotated(b1, b2, mode='iof', aligned=True) * b1[:, 2] * b1[:, 3]
    return torch.cat(
        [_intersection_area(b1[i:i + chunk], b2[i:i + chunk]).diagonal() for i in range(0, b1.shape[0], chunk)])


def nms_rotated_pytorch(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Greedy NMS of ``(N, 5)`` xywhr boxes: indices kept, by decreasing score (mmcv's ``nms_rotated(...)[1]``)."""
    order = scores.argsort(descending=True)
    iou = box_iou_rotated_pytorch(boxes[order], boxes[order]) > iou_threshold
    suppressed = torch.zeros(order.numel(), dtype=torch.bool)
    iou_cpu = iou.cpu()
    keep = []
    for i in range(order.numel()):
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= iou_cpu[i]
    return order[torch.as_tensor(keep, dtype=torch.long, device=order.device)]


def nms_bev(boxes: Tensor,
            scores: Tensor,
            thresh: float,
            pre_max_size: Optional[int] = None,
            post_max_size: Optional[int] = None) -> Tensor:
    """mmdet3d's ``nms_bev`` (``(N, 5)`` ``(x1, y1, x2, y2, ry)`` boxes; same arguments and result) with the
    PyTorch NMS where mmcv's ``nms_rotated`` kernel does not run on the boxes' device."""
    if compiled_op_available('nms_rotated', boxes.device):
        import mmdet3d.models.layers.box3d_nms as box3d_nms
        return getattr(box3d_nms, '_mmdet3d_nms_bev', box3d_nms.nms_bev)(boxes, scores, thresh, pre_max_size,
                                                                         post_max_size)
    assert boxes.size(1) == 5, 'Input boxes shape should be [N, 5]'
    order = scores.sort(0, descending=True)[1]
    if pre_max_size is not None:
        order = order[:pre_max_size]
    b = boxes[order]
    xywhr = torch.stack(
        ((b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, b[:, 2] - b[:, 0], b[:, 3] - b[:, 1], b[:, 4]), -1)
    keep = order[nms_rotated_pytorch(xywhr, scores[order], thresh)]
    if post_max_size is not None:
        keep = keep[:post_max_size]
    return keep


def nms_normal_bev(boxes: Tensor, scores: Tensor, thresh: float) -> Tensor:
    """mmdet3d's ``nms_normal_bev`` (axis-aligned NMS of ``(N, 5)`` ``(x1, y1, x2, y2, ry)`` boxes, the angle
    ignored; indices by decreasing score) with ``torchvision.ops.nms`` where mmcv's ``nms`` kernel does not run."""
    if compiled_op_available('nms', boxes.device):
        import mmdet3d.models.layers.box3d_nms as box3d_nms
        return getattr(box3d_nms, '_mmdet3d_nms_normal_bev', box3d_nms.nms_normal_bev)(boxes, scores, thresh)
    assert boxes.shape[1] == 5, 'Input boxes shape should be [N, 5]'
    return torchvision.ops.nms(boxes[:, :-1].float(), scores.float(), thresh)


def patch_library_call_sites() -> None:
    """Point mmdet3d's own callers of the NMS kernels at the functions above (idempotent).

    ``box3d_multiclass_nms`` (FCOS3D, PointPillars, ...) and ``CenterHead.get_task_detections`` call ``nms_bev`` /
    ``nms_normal_bev`` by module-global name; a config cannot redirect them. Rebinding those names to the functions
    here keeps mmdet3d's computation (they call mmdet3d's functions wherever mmcv's kernel runs) and adds the PyTorch
    path elsewhere (``tests/test_ops/test_nms.py``).
    """
    import mmdet3d.models.dense_heads.centerpoint_head as centerpoint_head
    import mmdet3d.models.layers.box3d_nms as box3d_nms
    if getattr(box3d_nms, '_mim3d_patched', False):
        return
    centerpoint_head.nms_bev = nms_bev
    box3d_nms._mmdet3d_nms_bev, box3d_nms._mmdet3d_nms_normal_bev = box3d_nms.nms_bev, box3d_nms.nms_normal_bev
    box3d_nms.nms_bev = nms_bev
    box3d_nms.nms_normal_bev = nms_normal_bev
    box3d_nms._mim3d_patched = True
