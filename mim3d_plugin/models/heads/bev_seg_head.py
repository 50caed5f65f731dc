"""BEV map-segmentation head of BEVFusion (Liu et al., ICRA 2023; official ``mmdet3d/models/heads/segm/vanilla.py``)."""
from typing import Dict, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmdet3d.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor, nn


def sigmoid_focal_loss(logits: Tensor, targets: Tensor, alpha: float = -1.0, gamma: float = 2.0) -> Tensor:
    """Mean sigmoid focal loss (Lin et al. 2017) in float32; ``alpha < 0``: no class weighting (BEVFusion's
    default for map segmentation)."""
    logits, targets = logits.float(), targets.float()
    p = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction='none')
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * (1 - p_t)**gamma
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return loss.mean()


def resample_bev(x: Tensor, input_bounds: Sequence[Sequence[float]],
                 output_bounds: Sequence[Sequence[float]]) -> Tensor:
    """Bilinearly resample a ``(B, C, Y, X)`` BEV map covering ``input_bounds`` = ``(xbound, ybound)`` onto the cell
    centres of ``output_bounds`` (BEVFusion's ``BEVGridTransform``, for this project's ``(Y, X)`` layout; cells
    outside the input read 0). Bounds are ``(min, max, step)`` metres."""
    (ixmin, ixmax, _), (iymin, iymax, _) = input_bounds
    (oxmin, oxmax, oxstep), (oymin, oymax, oystep) = output_bounds
    xs = torch.arange(oxmin + oxstep / 2, oxmax, oxstep, device=x.device, dtype=torch.float32)
    ys = torch.arange(oymin + oystep / 2, oymax, oystep, device=x.device, dtype=torch.float32)
    gx = (xs - ixmin) / (ixmax - ixmin) * 2 - 1
    gy = (ys - iymin) / (iymax - iymin) * 2 - 1
    grid = torch.stack(torch.meshgrid(gy, gx, indexing='ij')[::-1], -1)  # (Yo, Xo, 2) as (x, y)
    return F.grid_sample(x, grid[None].expand(x.shape[0], -1, -1, -1).to(x.dtype), mode='bilinear', align_corners=False)


@MODELS.register_module()
class BEVMapSegHead(BaseModule):
    """Per-class binary BEV segmentation: resample the BEV feature onto the output grid, two 3x3 conv-BN-ReLU, a 1x1
    conv to one logit per class; sigmoid focal loss per class (BEVFusion ``loss='focal'``: alpha -1, gamma 2, mean);
    ``predict`` returns sigmoid probabilities.

    Args:
        in_channels (int): BEV feature channels.
        classes (Sequence[str]): e.g. BEVFusion's ``drivable_area, ped_crossing, walkway, stop_line, carpark_area,
            divider`` or ``drivable_area, vehicle``.
        input_bounds (tuple): ``(xbound, ybound)`` of the BEV feature (the detector's grid), metres.
        output_bounds (tuple): ``(xbound, ybound)`` of the masks. Default: BEVFusion's +-50 m at 0.5 m.
        loss (str): ``'focal'`` or ``'xent'`` (plain BCE). Default: ``'focal'``.
        loss_weight (float): Default: 1.0.

    Shapes: features ``(B, C, Y, X)``; targets ``gt_masks_bev`` ``(B, K, Yo, Xo)`` bool; output ``(B, K, Yo, Xo)``.
    """

    def __init__(self,
                 in_channels: int,
                 classes: Sequence[str],
                 input_bounds: Tuple[Sequence[float], Sequence[float]],
                 output_bounds: Tuple[Sequence[float], Sequence[float]] = ((-50.0, 50.0, 0.5), (-50.0, 50.0, 0.5)),
                 loss: str = 'focal',
                 loss_weight: float = 1.0,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if loss not in ('focal', 'xent'):
            raise ValueError(f"BEVMapSegHead: loss must be 'focal' or 'xent', got {loss!r}")
        self.classes = tuple(classes)
        self.input_bounds, self.output_bounds = input_bounds, output_bounds
        self.loss_type, self.loss_weight = loss, loss_weight
        self.classifier = nn.Sequential(
            nn.Conv2d(in_channels, in_channels, 3, padding=1, bias=False), nn.BatchNorm2d(in_channels), nn.ReLU(True),
            nn.Conv2d(in_channels, in_channels, 3, padding=1, bias=False), nn.BatchNorm2d(in_channels), nn.ReLU(True),
            nn.Conv2d(in_channels, len(self.classes), 1))

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, Y, X)`` -> ``(B, K, Yo, Xo)`` logits."""
        return self.classifier(resample_bev(x, self.input_bounds, self.output_bounds))

    def loss(self, x: Tensor, gt_masks: Tensor) -> Dict[str, Tensor]:
        """One loss per class, ``loss_bev_seg_<class>``."""
        logits = self(x)
        if gt_masks.shape != logits.shape:
            raise ValueError(f'BEVMapSegHead: gt_masks_bev {tuple(gt_masks.shape)} do not match the output '
                             f'{tuple(logits.shape)} (B, classes {self.classes}, Y, X)')
        losses = {}
        for k, name in enumerate(self.classes):
            with torch.autocast(device_type=x.device.type, enabled=False):
                if self.loss_type == 'focal':
                    value = sigmoid_focal_loss(logits[:, k], gt_masks[:, k])
                else:
                    value = F.binary_cross_entropy_with_logits(logits[:, k].float(), gt_masks[:, k].float())
            losses[f'loss_bev_seg_{name}'] = self.loss_weight * value
        return losses

    def predict(self, x: Tensor) -> Tensor:
        """``(B, K, Yo, Xo)`` probabilities."""
        return self(x).float().sigmoid()
