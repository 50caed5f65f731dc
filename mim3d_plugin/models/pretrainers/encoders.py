"""Shared masked encoders of :class:`MaskedPretrainer`: one forward per batch -> :class:`EncoderOutput`.

Every encoder holds the pretrained backbone as ``backbone`` (checkpoint keys ``encoder.backbone.*``) and has:

- ``mask_kind``: what its mask hides (``mim3d_plugin/models/pretext_heads/base.py``);
- ``forward(inputs, num_frames, generator=None, mask_ratio=None, ...)``: the masked encoding of the batch, masks
  drawn from ``generator`` (evaluation: a seeded one) at ``mask_ratio`` (default: the training ratio);
- ``extract_feat(imgs)``: the backbone's features of unmasked images (mmpretrain's ``mode='tensor'``).
"""
from typing import Optional, Tuple

import torch
from mmdet3d.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor

from ..pretext_heads.base import EncoderOutput, split_views
from ..utils import DEPTH_NORMS, encode_depth_input


@MODELS.register_module()
class UnitMaskSwinEncoder(BaseModule):
    """GeoMIM's encoder: :class:`GeoMIMSwin` with complementary unit masks (paper Sec. 3.1, official
    ``swin_geomim.py``).

    A random unit mask (``mask_unit`` px, ratio ``mask_ratio``; shared over the views of a sample when
    ``mask_shared_over_views``, i.e. over all ``F * N`` views of a clip) splits the tokens into two groups that
    are encoded side by side, each attending only to itself, into one stride-16 map.

    Args:
        backbone (dict): :class:`GeoMIMSwin` with ``use_mask=True``.

    Output: ``feats`` ``(B, V, 4 * embed_dims, H / 16, W / 16)``, ``mask`` ``(B, V, H / u, W / u)`` (True =
    group 1), kind ``'complementary'``.

    Raises:
        ValueError: the backbone does not mask.
    """

    mask_kind = 'complementary'

    def __init__(self, backbone: dict, init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        if not getattr(self.backbone, 'use_mask', False):
            raise ValueError(f'UnitMaskSwinEncoder: the backbone ({type(self.backbone).__name__}) must be built '
                             'with use_mask=True (masked pretraining)')

    def forward(self,
                inputs: dict,
                num_frames: int,
                generator: Optional[torch.Generator] = None,
                mask_ratio: Optional[float] = None) -> EncoderOutput:
        imgs = inputs['imgs']
        n = split_views(imgs, num_frames, type(self).__name__)
        mask = None
        if generator is not None or mask_ratio is not None:
            mask = self.backbone.generate_mask(
                imgs.shape[0], imgs.shape[1], imgs.shape[-2:], imgs.device, generator=generator, mask_ratio=mask_ratio)
        feats, mask = self.backbone(imgs, mask)
        return EncoderOutput(
            'complementary',
            num_frames,
            n,
            feats=feats,
            stride=imgs.shape[-1] // feats.shape[-1],
            mask=mask,
            mask_unit=self.backbone.mask_unit,
            extras=dict(generator=generator))

    def extract_feat(self, imgs: Tensor) -> Tuple[Tensor]:
        """The fused stride-16 map of unmasked images ``(B, V, 3, H, W)``: ``((B, V, C, H / 16, W / 16), )``."""
        u = self.backbone.mask_unit
        mask = torch.zeros(
            imgs.shape[:2] + (imgs.shape[-2] // u, imgs.shape[-1] // u), dtype=torch.bool, device=imgs.device)
        return (self.backbone(imgs, mask)[0], )


@MODELS.register_module()
class SparseMaskEncoder(BaseModule):
    """MIM4D's encoder: a SparK-masked ConvNeXt (:class:`MaskConvNeXt`, each view masked independently with
    ``mask_patch_size`` px patches at ``mask_ratio``) and a neck; level ``neck_level`` is the shared map
    (official MIM4D ``uvtr_ssl`` image branch).

    Args:
        backbone (dict): :class:`MaskConvNeXt` config.
        neck (dict): e.g. ``mmdet.FPN``.
        neck_level (int): neck output shared with the heads. Default 0.
        use_mask (bool): False -> an unmasked dense encoder (kind ``'none'``). Default True.

    Output: ``feats`` ``(B, V, C, H / s, W / s)`` (masked positions are zero), ``mask`` ``(B, V, H / p, W / p)``
    True = not visible, ``extras['visible']`` ``(B * V, H / p, W / p)`` (the backbone's own mask).
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 neck_level: int = 0,
                 use_mask: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck)
        self.neck_level = neck_level
        self.use_mask = use_mask

    @property
    def mask_kind(self) -> str:
        return 'sparse' if self.use_mask else 'none'

    def forward(self,
                inputs: dict,
                num_frames: int,
                generator: Optional[torch.Generator] = None,
                mask_ratio: Optional[float] = None) -> EncoderOutput:
        imgs = inputs['imgs']
        n = split_views(imgs, num_frames, type(self).__name__)
        b, v = imgs.shape[:2]
        flat = imgs.flatten(0, 1)
        visible = None
        if self.use_mask:
            visible = self.backbone.random_mask(
                flat.shape[0], flat.shape[-2:], device=flat.device, generator=generator, mask_ratio=mask_ratio)
        feats = self.neck(self.backbone(flat, visible))[self.neck_level]
        feats = feats.view((b, v) + feats.shape[1:])
        mask = None if visible is None else ~visible.view((b, v) + visible.shape[1:])
        return EncoderOutput(
            self.mask_kind,
            num_frames,
            n,
            feats=feats,
            stride=imgs.shape[-1] // feats.shape[-1],
            mask=mask,
            mask_unit=self.backbone.mask_patch_size,
            extras=dict(visible=visible, generator=generator))

    def extract_feat(self, imgs: Tensor) -> Tuple[Tensor, ...]:
        """The ConvNeXt stage maps (``out_indices``) of unmasked images ``(B, V, 3, H, W)``, each
        ``(B * V, C_i, H / s_i, W / s_i)``."""
        return self.backbone(imgs.flatten(0, 1))


def rgbd_frames(inputs: dict, who: str) -> Tuple[Tensor, Tensor, Tuple[int, ...]]:
    """``imgs`` ``(B, [V,] 3, H, W)``, ``depth`` ``(B, [V,] [1,] H, W)`` m -> flat RGB-D frames.

    Returns:
        tuple: imgs ``(B * V, 3, H, W)``, depth ``(B * V, H, W)`` m, leading shape ``(B,)`` or ``(B, V)``.

    Raises:
        KeyError: ``imgs`` or ``depth`` missing. ValueError: shapes that do not match.
    """
    for key in ('imgs', 'depth'):
        if key not in inputs:
            raise KeyError(f'{who}: inputs lack {key!r} (got {sorted(inputs)})')
    imgs, depth = inputs['imgs'], inputs['depth']
    lead = tuple(imgs.shape[:-3])
    if len(lead) not in (1, 2):
        raise ValueError(f'{who}: imgs must be (B, 3, H, W) or (B, N, 3, H, W), got {tuple(imgs.shape)}')
    if depth.dim() == imgs.dim():  # (..., 1, H, W)
        depth = depth.squeeze(-3)
    if tuple(depth.shape) != lead + tuple(imgs.shape[-2:]):
        raise ValueError(f'{who}: depth {tuple(depth.shape)} does not match imgs {tuple(imgs.shape)}')
    return imgs.flatten(0, len(lead) - 1), depth.flatten(0, len(lead) - 1), lead


@MODELS.register_module()
class RGBDTokenEncoder(BaseModule):
    """Mask3D's encoder: :class:`Mask3DViT` on masked RGB patches and masked depth patches, fused at the
    bottleneck (paper Sec. 3, Fig. 2). Every view of every frame is one RGB-D frame; single RGB-D frames
    (``imgs`` ``(B, 3, H, W)``) are one view each.

    Args:
        backbone (dict): :class:`Mask3DViT` with ``with_depth_encoder=True``.
        depth_norm (str): depth input normalisation, ``'log'`` / ``'linear'`` / ``'standardize'`` (the
            :class:`Mask3DHead` setting of the same name; :class:`DepthPriorHead` checks they agree).
        depth_norm_scale (float): m. depth_trunc (float): see :func:`normalize_depth`.

    Output: kind ``'rgbd_tokens'``, ``tokens`` = the backbone's dict (``latent`` ``(B * V, 1 + h * w, C)``,
    ``rgb_mask``/``depth_mask`` ``(B * V, h * w)`` 1 = dropped, ``hw``), ``extras``: ``imgs``/``depth`` flat
    frames and their leading shape ``lead``.

    Raises:
        ValueError: an unknown ``depth_norm``; a backbone without its depth encoder.
    """

    mask_kind = 'rgbd_tokens'

    def __init__(self,
                 backbone: dict,
                 depth_norm: str = 'log',
                 depth_norm_scale: float = 1.,
                 depth_trunc: float = 0.1,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if depth_norm not in DEPTH_NORMS:
            raise ValueError(f'RGBDTokenEncoder: depth_norm must be one of {DEPTH_NORMS}, got {depth_norm!r}')
        self.backbone = MODELS.build(backbone)
        if not getattr(self.backbone, 'with_depth_encoder', False):
            raise ValueError(f'RGBDTokenEncoder: the backbone ({type(self.backbone).__name__}) must be built with '
                             'with_depth_encoder=True (masked RGB-D pretraining)')
        self.depth_norm, self.depth_norm_scale, self.depth_trunc = depth_norm, float(depth_norm_scale), depth_trunc

    def forward(self,
                inputs: dict,
                num_frames: int,
                generator: Optional[torch.Generator] = None,
                mask_ratio: Optional[float] = None,
                depth_mask_ratio: Optional[float] = None) -> EncoderOutput:
        imgs, depth, lead = rgbd_frames(inputs, type(self).__name__)
        views = lead[1] if len(lead) == 2 else 1
        if views % num_frames:
            raise ValueError(f'RGBDTokenEncoder: {views} views per sample is not a multiple of '
                             f'num_frames={num_frames}')
        depth_input = encode_depth_input(depth, self.depth_norm, self.depth_norm_scale, self.depth_trunc)
        tokens = self.backbone(
            imgs, depth_input, mask_ratio=mask_ratio, depth_mask_ratio=depth_mask_ratio, generator=generator)
        return EncoderOutput(
            'rgbd_tokens',
            num_frames,
            views // num_frames,
            tokens=tokens,
            stride=self.backbone.patch_size,
            extras=dict(imgs=imgs, depth=depth, lead=lead, generator=generator))

    def extract_feat(self, imgs: Tensor) -> Tuple[Tensor, ...]:
        """The ViT's downstream maps of unmasked RGB ``(B, [V,] 3, H, W)`` (no depth), each
        ``(B * V, C, H / p, W / p)``."""
        return self.backbone(imgs.flatten(0, imgs.dim() - 4))
