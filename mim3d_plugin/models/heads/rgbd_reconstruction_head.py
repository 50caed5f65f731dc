"""RGB + depth reconstruction head (MultiMAE-style Mask3D variant).

MultiMAE (Bachmann et al., ECCV 2022) decodes every input modality from the shared bottleneck
with its own decoder. Here the fused Mask3D bottleneck is decoded twice: the depth decoder and
loss of :class:`Mask3DHead`, plus an RGB decoder trained like MAE (He et al., CVPR 2022):
per-patch normalised pixels (``norm_pix``) of the preprocessed image as target, loss on the
RGB-masked patches only (mmpretrain ``PixelReconstructionLoss``).
"""
from typing import Dict, Optional

from mmdet3d.registry import MODELS
from torch import Tensor

from ..utils.patches import normalize_patches, patchify
from .mask3d_head import Mask3DHead


@MODELS.register_module()
class RGBDReconstructionHead(Mask3DHead):
    """Reconstructs both RGB patches (MAE norm-pix) and dense depth from the fused bottleneck.

    Args:
        decoder (dict): depth decoder config (see :class:`Mask3DHead`).
        rgb_decoder (dict, optional): RGB decoder config; defaults to a copy of ``decoder``
            (``in_chans`` forced to 3).
        rgb_loss (dict): pixel loss, default ``mmpretrain.PixelReconstructionLoss`` L2 (MAE).
        norm_pix (bool): normalise each target patch by its mean / std (MAE). Defaults to True.
        rgb_loss_weight (float): weight of the RGB loss. Defaults to 1.
        **kwargs: :class:`Mask3DHead` arguments (patch_size, depth_norm, ...).
    """

    def __init__(self,
                 decoder: dict,
                 rgb_decoder: Optional[dict] = None,
                 rgb_loss: dict = dict(type='mmpretrain.PixelReconstructionLoss', criterion='L2'),
                 norm_pix: bool = True,
                 rgb_loss_weight: float = 1.,
                 **kwargs) -> None:
        super().__init__(decoder=decoder, **kwargs)
        rgb_decoder = dict(rgb_decoder or decoder, patch_size=self.patch_size, in_chans=3)
        rgb_decoder.setdefault('type', 'Mask3DPretrainDecoder')
        self.rgb_decoder = MODELS.build(rgb_decoder)
        self.rgb_loss = MODELS.build(rgb_loss)
        self.norm_pix = norm_pix
        self.rgb_loss_weight = rgb_loss_weight

    def rgb_target(self, img: Tensor) -> Tensor:
        """(B, 3, H, W) preprocessed image -> (B, L, p*p*3) target patches."""
        target = patchify(img, self.patch_size)
        return normalize_patches(target) if self.norm_pix else target

    def loss(self, out: Dict[str, Tensor], img: Tensor, depth: Tensor) -> Dict[str, Tensor]:
        """Args: out backbone dict; img (B, 3, H, W) preprocessed; depth (B, H, W) metres.

        Returns:
            dict: ``loss_depth`` and ``loss_rgb``.
        """
        losses = super().loss(out, img, depth)
        pred_rgb = self.rgb_decoder(out['latent'], out['hw'])
        losses['loss_rgb'] = self.rgb_loss_weight * self.rgb_loss(pred_rgb, self.rgb_target(img), out['rgb_mask'])
        return losses
