"""Mask3D masked-3D-prior head: decodes the fused RGB-D bottleneck into dense depth
(Hou et al., CVPR 2023, Sec. 3: "the color and depth features are fused into a bottleneck from
which dense depth is reconstructed").

Depth normalisation (``depth_norm``), applied to the depth input of the encoder and to the
target, and inverted for predictions:

- ``'log'`` (default): ``n = log(d / depth_norm_scale)``. Relative (scale-free) errors, the same
  loss weight for a 0.5 m error at 2 m indoors and a 5 m error at 20 m on nuScenes, no clipping;
  the prediction ``depth_norm_scale * exp(n)`` is positive by construction.
- ``'linear'``: ``n = d / depth_norm_scale`` (metres over a typical range, e.g. 10 m indoors,
  60 m driving).
- ``'standardize'``: MultiMAE's robust per-image standardisation (Bachmann et al., ECCV 2022,
  ``standardize_depth_map``): the valid depths of each image are sorted, the lowest and highest
  ``depth_trunc`` (10 %) dropped, and ``n = (d - mean) / sqrt(var + 1e-6)`` with the mean and
  (unbiased) variance of the rest. Scale-free; predictions are mapped back to metres with the
  statistics of the same image's depth input.

Invalid pixels (depth 0) carry no target: the L1 loss is averaged over valid pixels only
(``loss_region='masked'``, the default: valid pixels of depth-masked patches only, MAE / MultiMAE
style, so no loss comes from depth the model can see; ``'all'``: every valid pixel of the dense map).
"""
import math
from typing import Dict, Optional, Tuple

import torch
from mmengine.model import BaseModule
from mmpretrain.models.necks.mae_neck import MAEPretrainDecoder
from torch import Tensor

from mmdet3d.registry import MODELS
from ..backbones.mask3d_vit import sincos_pos_embed_2d

DEPTH_NORMS = ('log', 'linear', 'standardize')


def robust_depth_stats(depth: Tensor, trunc: float = 0.1) -> Tuple[Tensor, Tensor]:
    """Per-image mean and std of the valid depths without the lowest / highest ``trunc`` fraction.

    MultiMAE ``standardize_depth_map`` (sort, drop ``trunc`` at both ends, mean and unbiased
    variance, ``std = sqrt(var + 1e-6)``).

    Args:
        depth (Tensor): ``(B, H, W)`` metres, 0 = invalid.
        trunc (float): fraction dropped at each end, in [0, 0.5).

    Returns:
        tuple[Tensor, Tensor]: ``(B, 1, 1)`` mean and std (mean 0, std 1 for an image without
        enough valid pixels).
    """
    d = depth.flatten(1)
    valid = d > 0
    n = valid.sum(1)  # (B,)
    ranked = torch.sort(torch.where(valid, d, torch.full_like(d, float('inf'))), dim=1)[0]  # valid first
    pos = torch.arange(d.shape[1], device=d.device).unsqueeze(0)
    keep = (pos >= (trunc * n).long().unsqueeze(1)) & (pos < ((1 - trunc) * n).long().unsqueeze(1))
    count = keep.sum(1).to(d.dtype)
    vals = torch.where(keep, ranked, torch.zeros_like(ranked))
    mean = vals.sum(1) / count.clamp(min=1)
    dev = torch.where(keep, ranked - mean.unsqueeze(1), torch.zeros_like(ranked))
    var = (dev ** 2).sum(1) / (count - 1).clamp(min=1)  # unbiased, as torch.var
    enough = count >= 2
    mean = torch.where(enough, mean, torch.zeros_like(mean))
    std = torch.where(enough, torch.sqrt(var + 1e-6), torch.ones_like(var))
    return mean.view(-1, 1, 1), std.view(-1, 1, 1)


def normalize_depth(depth: Tensor, depth_norm: str = 'log', scale: float = 1., trunc: float = 0.1
                    ) -> Tuple[Tensor, Tensor]:
    """Depth ``(B, H, W)`` metres (0 = invalid) -> (normalised depth, 0 where invalid; valid mask).

    ``depth_norm``: ``'log'`` (``log(d / scale)``), ``'linear'`` (``d / scale``) or ``'standardize'`` (per image,
    robust mean / std of the valid depths without the ``trunc`` fraction at each end; MultiMAE).
    """
    valid = depth > 0
    if depth_norm == 'standardize':
        mean, std = robust_depth_stats(depth, trunc)
        n = (depth - mean) / std
    else:
        d = depth.clamp(min=1e-3) / scale
        n = d.log() if depth_norm == 'log' else d
    return torch.where(valid, n, torch.zeros_like(n)), valid


def encode_depth_input(depth: Tensor, depth_norm: str = 'log', scale: float = 1., trunc: float = 0.1) -> Tensor:
    """Encoder depth input of Mask3D: ``(B, H, W)`` metres -> ``(B, 2, H, W)`` = (normalised depth, validity)."""
    n, valid = normalize_depth(depth, depth_norm, scale, trunc)
    return torch.stack([n, valid.to(n.dtype)], dim=1)


def patchify(x: Tensor, patch_size: int) -> Tensor:
    """(B, C, H, W) -> (B, h*w, p*p*C), patches row-major, pixels ordered (p, q, c) as MAE."""
    B, C, H, W = x.shape
    p = patch_size
    if H % p or W % p:
        raise ValueError(f'patchify: {H}x{W} not divisible by patch size {p}')
    h, w = H // p, W // p
    x = x.reshape(B, C, h, p, w, p).permute(0, 2, 4, 3, 5, 1)
    return x.reshape(B, h * w, p * p * C)


def normalize_patches(patches: Tensor, eps: float = 1e-6) -> Tensor:
    """MAE's ``norm_pix`` target: each patch ``(..., L, p*p*C)`` minus its mean over its values, divided by
    ``sqrt(var + eps)`` (mmpretrain ``MAEPretrainHead.construct_target``)."""
    mean = patches.mean(dim=-1, keepdim=True)
    var = patches.var(dim=-1, keepdim=True)
    return (patches - mean) / (var + eps)**.5


def unpatchify(x: Tensor, hw: Tuple[int, int], patch_size: int, channels: int) -> Tensor:
    """Inverse of :func:`patchify`: (B, h*w, p*p*C) -> (B, C, h*p, w*p)."""
    B = x.shape[0]
    h, w = hw
    p = patch_size
    if x.shape[1] != h * w or x.shape[2] != p * p * channels:
        raise ValueError(f'unpatchify: got {tuple(x.shape)} for grid {hw}, patch {p}, '
                         f'{channels} channels')
    x = x.reshape(B, h, w, p, p, channels).permute(0, 5, 1, 3, 2, 4)
    return x.reshape(B, channels, h * p, w * p)


@MODELS.register_module()
class Mask3DPretrainDecoder(MAEPretrainDecoder):
    """MAE decoder on an already completed (h, w) token grid, non-square grids allowed.

    The fused bottleneck of :class:`Mask3DViT` already holds a token for every patch (mask
    tokens are inserted per modality there), so this decoder only re-embeds, adds its fixed
    row-major sin-cos position embedding, runs ``decoder_depth`` transformer blocks and
    predicts ``patch_size**2 * in_chans`` values per patch.

    Args:
        patch_resolution (tuple[int, int]): (h, w) grid the position embedding is built for
            (other grids are interpolated).
        **kwargs: ``MAEPretrainDecoder`` arguments (patch_size, in_chans, embed_dim,
            decoder_embed_dim, decoder_depth, decoder_num_heads, mlp_ratio, norm_cfg).
    """

    def __init__(self, patch_resolution: Tuple[int, int] = (14, 14), **kwargs) -> None:
        self.patch_resolution = tuple(patch_resolution)
        super().__init__(num_patches=self.patch_resolution[0] * self.patch_resolution[1],
                         **kwargs)
        del self.mask_token  # the bottleneck already carries per-modality mask tokens

    def init_weights(self) -> None:
        super(MAEPretrainDecoder, self).init_weights()
        self.decoder_pos_embed.data.copy_(
            sincos_pos_embed_2d(self.patch_resolution, self.decoder_pos_embed.shape[-1],
                                cls_token=True))

    def forward(self, x: Tensor, hw: Tuple[int, int]) -> Tensor:
        """Args: x (B, 1 + h*w, C_enc) full grid with class token; hw = (h, w).

        Returns:
            Tensor: (B, h*w, patch_size**2 * in_chans).
        """
        x = self.decoder_embed(x)
        pos = self.decoder_pos_embed
        if tuple(hw) != self.patch_resolution:
            from mmpretrain.models.utils import resize_pos_embed
            pos = resize_pos_embed(pos, self.patch_resolution, hw, 'bicubic', 1)
        if x.shape[1] != pos.shape[1]:
            raise ValueError(f'Mask3DPretrainDecoder: {x.shape[1]} tokens for grid {hw}')
        x = x + pos
        for blk in self.decoder_blocks:
            x = blk(x)
        return self.decoder_pred(self.decoder_norm(x))[:, 1:]


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

    def __init__(self, decoder: dict, patch_size: int = 16, depth_norm: str = 'log',
                 depth_norm_scale: float = 1., loss_region: str = 'masked',
                 loss_weight: float = 1., depth_trunc: float = 0.1, init_cfg: Optional[dict] = None) -> None:
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
