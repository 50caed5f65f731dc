"""Mask3D masked-3D-prior head: decodes the fused RGB-D bottleneck into dense depth
(Hou et al., CVPR 2023, Sec. 3: "the color and depth features are fused into a bottleneck from
which dense depth is reconstructed").

Depth normalisation (``depth_norm``: ``'log'``, ``'linear'``, ``'standardize'``) is applied to the
depth input of the encoder and to the target, and inverted for predictions
(:mod:`mim3d_plugin.models.utils.depth_norm`).

Invalid pixels (depth 0) carry no target: the L1 loss is averaged over valid pixels only
(``loss_region='masked'``, the default: valid pixels of depth-masked patches only, MAE / MultiMAE
style, so no loss comes from depth the model can see; ``'all'``: every valid pixel of the dense map).
"""
import math
from typing import Dict, Optional, Tuple

from mmdet3d.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor

from ..utils.depth_norm import DEPTH_NORMS, encode_depth_input, normalize_depth, robust_depth_stats
from ..utils.patches import patchify, unpatchify


@MODELS.register_module()
class Mask3DHead(BaseModule):
    """Dense depth from the fused bottleneck, masked L1 on valid pixels.

    Args:
        decoder (dict): :class:`Mask3DPretrainDecoder` config (``in_chans`` is forced to 1).
        patch_size (int): patch size in px (same as the backbone).
        depth_norm (str): ``'log'``, ``'linear'`` or ``'standardize'`` (module docstring).
        depth_norm_scale (float): metres, see ``depth_norm``. Defaults to 1.
        depth_trunc (float): fraction of the valid depths dropped at each end by
            ``'standardize'``. Defaults to 0.1 (MultiMAE).
        loss_region (str): ``'masked'`` (depth-masked patches only, default) or ``'all'`` valid pixels.
        loss_weight (float): weight of the depth L1 loss.
        init_cfg (dict, optional): initialisation config.
    """

    def __init__(self,
                 decoder: dict,
                 patch_size: int = 16,
                 depth_norm: str = 'log',
                 depth_norm_scale: float = 1.,
                 loss_region: str = 'masked',
                 loss_weight: float = 1.,
                 depth_trunc: float = 0.1,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if depth_norm not in DEPTH_NORMS:
            raise ValueError(f'depth_norm must be one of {DEPTH_NORMS}, got {depth_norm!r}')
        if loss_region not in ('all', 'masked'):
            raise ValueError(f"loss_region must be 'all' or 'masked', got {loss_region!r}")
        if depth_norm_scale <= 0:
            raise ValueError(f'depth_norm_scale must be > 0 m, got {depth_norm_scale}')
        if not 0 <= depth_trunc < 0.5:
            raise ValueError(f'depth_trunc must be in [0, 0.5), got {depth_trunc}')
        self.depth_trunc = float(depth_trunc)
        self.patch_size = patch_size
        self.depth_norm = depth_norm
        self.depth_norm_scale = float(depth_norm_scale)
        self.loss_region = loss_region
        self.loss_weight = loss_weight
        decoder = dict(decoder, patch_size=patch_size, in_chans=1)
        decoder.setdefault('type', 'Mask3DPretrainDecoder')
        self.depth_decoder = MODELS.build(decoder)

    def normalize_depth(self, depth: Tensor) -> Tuple[Tensor, Tensor]:
        """Depth (B, H, W) metres (0 = invalid) -> (normalised depth, 0 where invalid; valid)."""
        return normalize_depth(depth, self.depth_norm, self.depth_norm_scale, self.depth_trunc)

    def denormalize_depth(self, n: Tensor, depth: Optional[Tensor] = None) -> Tensor:
        """Inverse of :meth:`normalize_depth` (metres); log outputs clamped to avoid overflow.

        ``'standardize'`` needs the image's depth input ``depth`` (B, H, W) metres for its statistics.
        """
        if self.depth_norm == 'log':
            return self.depth_norm_scale * n.clamp(max=math.log(1e4)).exp()
        if self.depth_norm == 'standardize':
            if depth is None:
                raise ValueError("Mask3DHead: depth_norm='standardize' maps predictions back to metres with the "
                                 'statistics of the depth input; pass it as `depth`')
            mean, std = robust_depth_stats(depth, self.depth_trunc)
            return (n * std + mean).clamp(min=0)
        return self.depth_norm_scale * n

    def encode_depth_input(self, depth: Tensor) -> Tensor:
        """Encoder depth input: (B, H, W) metres -> (B, 2, H, W) = (normalised depth, validity)."""
        return encode_depth_input(depth, self.depth_norm, self.depth_norm_scale, self.depth_trunc)

    def predict_depth(self, out: Dict[str, Tensor], depth: Optional[Tensor] = None) -> Tensor:
        """Backbone output dict -> (B, H, W) predicted depth in metres (``depth``: the depth input,
        needed by ``'standardize'``)."""
        pred = self.depth_decoder(out['latent'], out['hw'])
        pred = unpatchify(pred, out['hw'], self.patch_size, 1)[:, 0]
        return self.denormalize_depth(pred, depth)

    def depth_loss(self, pred: Tensor, depth: Tensor, depth_mask: Tensor) -> Tensor:
        """Masked L1 between predicted patches and the normalised depth target.

        Args:
            pred (Tensor): (B, L, p*p) normalised depth per patch.
            depth (Tensor): (B, H, W) target metres, 0 = invalid.
            depth_mask (Tensor): (B, L), 1 = depth patch was dropped.
        """
        target, valid = self.normalize_depth(depth)
        target = patchify(target[:, None], self.patch_size)
        weight = patchify(valid[:, None].to(pred.dtype), self.patch_size)
        if self.loss_region == 'masked':
            weight = weight * depth_mask[..., None]
        num = weight.sum()
        # no valid target in the batch: zero loss that still reaches every head parameter
        return ((pred - target).abs() * weight).sum() / num.clamp(min=1.)

    def loss(self, out: Dict[str, Tensor], img: Tensor, depth: Tensor) -> Dict[str, Tensor]:
        """Args: out backbone dict; img (B, 3, H, W) unused here; depth (B, H, W) metres."""
        pred = self.depth_decoder(out['latent'], out['hw'])
        return dict(loss_depth=self.loss_weight * self.depth_loss(pred, depth, out['depth_mask']))
