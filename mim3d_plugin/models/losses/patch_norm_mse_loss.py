"""MSE against patch-normalised BEV targets (GeoMIM's feature-regression loss)."""
from typing import Optional

from mmdet3d.registry import MODELS
from torch import Tensor, nn

from ..utils.patches import normalize_patches


def patch_normalize(feat: Tensor, patch_size: int, eps: float = 1e-6) -> Tensor:
    """Normalise a feature map per non-overlapping ``patch_size x patch_size`` patch (MAE norm-pix).

    Each patch's ``C * p * p`` values are shifted to zero mean and scaled to unit variance
    (unbiased variance, as ``torch.var``), as GeoMIM normalises the LiDAR BEV target
    (``pretrain/mmdet3d/models/fusion_models/bevfusion_geomim.py``: 18x18 BEV patches).

    Args:
        feat (Tensor): ``(B, C, H, W)``; ``H`` and ``W`` must be multiples of ``patch_size``.
        patch_size (int): patch side in cells.
        eps (float): added to the variance.

    Returns:
        Tensor: ``(B, C, H, W)`` normalised features.

    Raises:
        ValueError: if ``H`` or ``W`` is not a multiple of ``patch_size``.
    """
    b, c, h, w = feat.shape
    p = int(patch_size)
    if h % p or w % p:
        raise ValueError(f'patch_normalize: BEV size {(h, w)} is not a multiple of patch_size={p}')
    x = feat.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5).reshape(b, h // p, w // p, -1)
    x = normalize_patches(x, eps)  # the one norm-pix target (MAE), also of the pixel and RGB-D heads
    return x.reshape(b, h // p, w // p, c, p, p).permute(0, 3, 1, 4, 2, 5).reshape(b, c, h, w)


@MODELS.register_module()
class PatchNormMSELoss(nn.Module):
    """Mean squared error between a predicted BEV map and the patch-normalised target.

    Args:
        patch_size (int): target normalisation patch in BEV cells (GeoMIM: 18 on 180x180).
            ``None`` disables the normalisation. Default: 18.
        eps (float): variance epsilon. Default: 1e-6.
        loss_weight (float): Default: 1.0.
    """

    def __init__(self, patch_size: Optional[int] = 18, eps: float = 1e-6, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.patch_size, self.eps, self.loss_weight = patch_size, eps, loss_weight

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        """``pred`` and ``target`` ``(B, C, Y, X)`` on the same BEV grid -> scalar loss."""
        if pred.shape != target.shape:
            raise ValueError(f'PatchNormMSELoss: prediction {tuple(pred.shape)} and teacher target '
                             f'{tuple(target.shape)} differ: the student BEV grid/channels must match the teacher')
        target = target.detach().float()
        if self.patch_size:
            target = patch_normalize(target, self.patch_size, self.eps)
        return self.loss_weight * (pred.float() - target).pow(2).mean()
