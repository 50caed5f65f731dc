"""Sigmoid focal loss that runs on any device: mmdet's ``FocalLoss`` with the kernel-or-PyTorch choice made here."""
import torch.nn.functional as F
from mmdet3d.registry import MODELS
from mmdet.models.losses import FocalLoss
from mmdet.models.losses.focal_loss import py_sigmoid_focal_loss

from .availability import compiled_op_available


@MODELS.register_module()
class PortableFocalLoss(FocalLoss):
    """mmdet's ``FocalLoss`` (Lin et al. 2017, Eq. 5; same arguments) that uses mmcv's ``sigmoid_focal_loss`` kernel
    only where it runs on the input's device, else mmdet's ``py_sigmoid_focal_loss`` on one-hot targets (the same
    loss; ``tests/test_ops/test_focal_loss.py``). mmdet's own class calls the kernel on every CUDA tensor, which fails
    where mmcv was built without CUDA kernels (or is mmcv-lite).

    Shapes: ``pred`` ``(N, C)`` logits; ``target`` ``(N,)`` long labels in ``[0, C]`` (``C`` = background) or
    ``(N, C)`` one-hot; ``weight`` ``(N,)`` / ``(N, C)``.
    """

    def forward(self, pred, target, weight=None, avg_factor=None, reduction_override=None):
        if not self.use_sigmoid or self.activated or pred.dim() == target.dim() or compiled_op_available(
                'sigmoid_focal_loss', pred.device):
            return super().forward(pred, target, weight, avg_factor, reduction_override)
        assert reduction_override in (None, 'none', 'mean', 'sum')
        reduction = reduction_override if reduction_override else self.reduction
        num_classes = pred.size(1)
        one_hot = F.one_hot(target, num_classes=num_classes + 1)[:, :num_classes]
        return self.loss_weight * py_sigmoid_focal_loss(
            pred, one_hot, weight, gamma=self.gamma, alpha=self.alpha, reduction=reduction, avg_factor=avg_factor)
