"""Mask3DViT: the RGB ViT of Mask3D with random patch masking, a depth patch encoder and
bottleneck fusion (Hou et al., "Mask3D: Pre-training 2D Vision Transformers by Learning Masked
3D Priors", CVPR 2023, Sec. 3 / Fig. 2; no official code exists).

Pretraining path (``forward(img, depth)``): the RGB patches are embedded, a random subset is
dropped (``mask_ratio``, MAE style) and the visible tokens go through the ViT; the depth patches
are embedded by a separate, lighter encoder, a random subset is dropped (``depth_mask_ratio``)
and only visible depth tokens are encoded. At the bottleneck both streams are put back on the full
(h, w) patch grid (learned per-modality mask tokens at dropped positions) and summed per patch,
which gives the fused sequence the depth decoder (``Mask3DHead``) reads.

Downstream path (``forward(img)``): a plain mmpretrain ``VisionTransformer`` forward (no masking,
no depth encoder) returning ``featmap`` tensors for ``out_indices``; checkpoint keys are those of
``mmpretrain.VisionTransformer`` / ``MAEViT`` (plus ``depth_*`` keys that a downstream model built
with ``with_depth_encoder=False`` ignores).

Unlike mmpretrain's ``MAEViT``, patch grids may be non-square (e.g. 16x44 for 256x704 nuScenes
crops): the fixed sin-cos position embedding is built row-major on (h, w).
"""
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks.transformer import PatchEmbed
from mmdet3d.registry import MODELS
from mmengine.model import ModuleList
from mmpretrain.models.backbones.vision_transformer import TransformerEncoderLayer
from mmpretrain.models.selfsup.mae import MAEViT
from mmpretrain.models.utils import resize_pos_embed
from torch import Tensor

from ..utils.token_masking import encode_visible_depth, random_masking, restore_full_grid, sincos_pos_embed_2d


@MODELS.register_module()
class Mask3DViT(MAEViT):
    """RGB ViT encoder with random patch masking + depth patch encoder fused at the bottleneck.

    Args:
        arch (str | dict): mmpretrain ViT arch (``'b'`` = ViT-B: 768 wide, 12 layers, 12 heads).
        img_size (int | tuple[int, int]): pretraining input (H, W) in px; sets the patch grid.
        patch_size (int): patch size in px. Defaults to 16.
        out_indices (int | Sequence[int]): layers returned by the downstream (unmasked) forward.
            Default -1 (the last layer).
        out_type (str): downstream output type (mmpretrain), ``'featmap'`` gives (B, C, h, w).
        pyramid_strides (Sequence[int], optional): the downstream output as a feature pyramid of the last
            ``out_indices`` map at these strides (px), ViTDet's simple feature pyramid (Li et al., ECCV 2022, Sec. 3:
            every scale from the single last map, in parallel) with parameter-free rescaling (bilinear upsampling,
            max pooling) so that every backbone parameter is a pretrained one; the learnable projections are the
            neck's (mmdet's ``FPN`` on top: ``in_channels=[C] * len(pyramid_strides)``). Default ``(4, 8, 16, 32)``,
            the maps an mmdet / mmdet3d FPN expects; None: one stride-``patch_size`` map per ``out_indices`` layer.
        mask_ratio (float): fraction of RGB patches dropped in pretraining. Defaults to 0.75.
        depth_mask_ratio (float): fraction of depth patches dropped. Defaults to 0.75.
        with_depth_encoder (bool): build the depth encoder and fusion (pretraining, set by the Mask3D configs); a
            fine-tuning backbone has none (no unused parameters) and ignores those keys of a pretraining checkpoint.
            Defaults to False.
        depth_in_channels (int): channels of the depth input (normalised depth, validity).
        depth_embed_dims (int): width of the depth encoder. Defaults to 384.
        depth_num_layers (int): transformer layers of the depth encoder (0 = patch embedding
            only). Defaults to 2.
        depth_num_heads (int): heads of the depth encoder layers. Defaults to 6.
        pretrained_patch_resolution (tuple[int, int], optional): (h, w) grid of a checkpoint
            whose ``pos_embed`` is non-square, needed to resize it on loading.
        **kwargs: the remaining ``MAEViT`` arguments (drop_path_rate, norm_cfg, ...).
    """

    def __init__(self,
                 arch: Union[str, dict] = 'b',
                 img_size: Union[int, Tuple[int, int]] = 224,
                 patch_size: int = 16,
                 out_indices: Union[int, Sequence[int]] = -1,
                 out_type: str = 'featmap',
                 pyramid_strides: Optional[Sequence[int]] = (4, 8, 16, 32),
                 mask_ratio: float = 0.75,
                 depth_mask_ratio: float = 0.75,
                 with_depth_encoder: bool = False,
                 depth_in_channels: int = 2,
                 depth_embed_dims: int = 384,
                 depth_num_layers: int = 2,
                 depth_num_heads: int = 6,
                 pretrained_patch_resolution: Optional[Tuple[int, int]] = None,
                 **kwargs) -> None:
        super().__init__(
            arch=arch,
            img_size=img_size,
            patch_size=patch_size,
            out_indices=out_indices,
            out_type=out_type,
            mask_ratio=mask_ratio,
            **kwargs)
        if not self.final_norm:
            raise ValueError('Mask3DViT needs final_norm=True (the bottleneck is normalised)')
        self.patch_size = patch_size
        if pyramid_strides is not None:
            pyramid_strides = tuple(int(v) for v in pyramid_strides)
            bad = [v for v in pyramid_strides if not (v % patch_size == 0 or patch_size % v == 0)]
            if bad or list(pyramid_strides) != sorted(set(pyramid_strides)):
                raise ValueError(f'Mask3DViT: pyramid_strides must be increasing strides that divide or are multiples '
                                 f'of patch_size={patch_size} px, got {pyramid_strides}')
            if len(self.out_indices) != 1:
                raise ValueError(f'Mask3DViT: the simple feature pyramid is built from one map; out_indices must be '
                                 f'one layer with pyramid_strides, got {list(self.out_indices)} (pyramid_strides=None '
                                 'returns every out_indices map)')
            if self.out_type != 'featmap':
                raise ValueError(f"Mask3DViT: pyramid_strides needs out_type='featmap', got {self.out_type!r}")
        self.pyramid_strides = pyramid_strides
        self.depth_mask_ratio = depth_mask_ratio
        self.with_depth_encoder = with_depth_encoder
        self.pretrained_patch_resolution = pretrained_patch_resolution
        if with_depth_encoder:
            self.depth_patch_embed = PatchEmbed(
                in_channels=depth_in_channels,
                input_size=img_size,
                embed_dims=depth_embed_dims,
                conv_type='Conv2d',
                kernel_size=patch_size,
                stride=patch_size)
            self.depth_pos_embed = nn.Parameter(torch.zeros(1, self.num_patches, depth_embed_dims), requires_grad=False)
            self.depth_layers = ModuleList([
                TransformerEncoderLayer(
                    depth_embed_dims,
                    depth_num_heads,
                    4 * depth_embed_dims,
                    qkv_bias=True,
                    norm_cfg=dict(type='LN', eps=1e-6)) for _ in range(depth_num_layers)
            ])
            self.depth_norm = build_norm_layer(dict(type='LN', eps=1e-6), depth_embed_dims)[1]
            self.depth_proj = nn.Linear(depth_embed_dims, self.embed_dims)
            self.rgb_mask_token = nn.Parameter(torch.zeros(1, 1, self.embed_dims))
            self.depth_mask_token = nn.Parameter(torch.zeros(1, 1, self.embed_dims))
        self._register_load_state_dict_pre_hook(self._drop_pretraining_keys)

    def init_weights(self) -> None:
        """MAE init (fixed row-major sin-cos position embeddings, xavier patch embeddings)."""
        super(MAEViT, self).init_weights()
        if isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained':
            return
        self.pos_embed.data.copy_(sincos_pos_embed_2d(self.patch_resolution, self.embed_dims, cls_token=True))
        w = self.patch_embed.projection.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.normal_(self.cls_token, std=.02)
        if self.with_depth_encoder:
            self.depth_pos_embed.data.copy_(sincos_pos_embed_2d(self.patch_resolution, self.depth_pos_embed.shape[-1]))
            w = self.depth_patch_embed.projection.weight.data
            nn.init.xavier_uniform_(w.view(w.shape[0], -1))
            nn.init.normal_(self.rgb_mask_token, std=.02)
            nn.init.normal_(self.depth_mask_token, std=.02)

    def simple_pyramid(self, x: Tensor) -> Tuple[Tensor, ...]:
        """ViTDet's simple feature pyramid of the last map ``(B, C, H / p, W / p)``: one ``(B, C, H / s, W / s)`` map
        per ``pyramid_strides`` ``s`` (bilinear upsampling for ``s < p``, max pooling for ``s > p``)."""
        outs = []
        for s in self.pyramid_strides:
            if s < self.patch_size:
                outs.append(F.interpolate(x, scale_factor=self.patch_size // s, mode='bilinear', align_corners=False))
            elif s > self.patch_size:
                outs.append(F.max_pool2d(x, kernel_size=s // self.patch_size, stride=s // self.patch_size))
            else:
                outs.append(x)
        return tuple(outs)

    PRETRAINING_KEYS = ('depth_patch_embed.', 'depth_pos_embed', 'depth_layers.', 'depth_norm.', 'depth_proj.',
                        'rgb_mask_token', 'depth_mask_token')

    def _drop_pretraining_keys(self, state_dict, prefix, *args, **kwargs):
        """A backbone built for fine-tuning (``with_depth_encoder=False``) ignores the depth encoder and mask tokens
        of a pretraining checkpoint (one log line), so it loads with no unexpected key."""
        if self.with_depth_encoder:
            return
        drop = [k for k in state_dict if k.startswith(prefix) and k[len(prefix):].startswith(self.PRETRAINING_KEYS)]
        for k in drop:
            del state_dict[k]
        if drop:
            from mmengine.logging import print_log
            print_log(
                f'Mask3DViT: {len(drop)} pretraining-only keys of the checkpoint (depth encoder, mask tokens) '
                'are not used by this fine-tuning backbone',
                logger='current')

    def _prepare_pos_embed(self, state_dict, prefix, *args, **kwargs):
        """Resize a checkpoint ``pos_embed`` whose grid differs (square or given grid)."""
        name = prefix + 'pos_embed'
        if name not in state_dict or state_dict[name].shape == self.pos_embed.shape:
            return
        n = state_dict[name].shape[1] - self.num_extra_tokens
        src = self.pretrained_patch_resolution
        if src is None:
            side = int(round(n**.5))
            if side * side != n:
                raise ValueError(f'{name}: checkpoint grid of {n} tokens is not square; set '
                                 'Mask3DViT.pretrained_patch_resolution=(h, w) of the pretraining input')
            src = (side, side)
        if src[0] * src[1] != n:
            raise ValueError(f'{name}: pretrained_patch_resolution {src} does not match the '
                             f'{n} checkpoint tokens')
        state_dict[name] = resize_pos_embed(state_dict[name], src, self.patch_resolution, self.interpolate_mode,
                                            self.num_extra_tokens)

    def _pos_embed(self, param: Tensor, hw: Tuple[int, int], extra: int) -> Tensor:
        if tuple(hw) == tuple(self.patch_resolution):
            return param
        return resize_pos_embed(param, self.patch_resolution, hw, self.interpolate_mode, extra)

    def encode_rgb(self,
                   img: Tensor,
                   mask_ratio: float,
                   generator: Optional[torch.Generator] = None) -> Dict[str, Tensor]:
        """Encode the visible RGB patches.

        Returns:
            dict: ``latent`` (B, 1 + L_keep, C) after the final norm, ``mask`` (B, L),
            ``ids_restore`` (B, L), ``hw`` patch grid.
        """
        B = img.shape[0]
        x, hw = self.patch_embed(img)
        pos = self._pos_embed(self.pos_embed, hw, 1)
        x, mask, ids_restore = random_masking(x + pos[:, 1:], mask_ratio, generator)
        x = torch.cat([(self.cls_token + pos[:, :1]).expand(B, -1, -1), x], dim=1)
        for layer in self.layers:
            x = layer(x)
        return dict(latent=self.norm1(x), mask=mask, ids_restore=ids_restore, hw=hw)

    def encode_depth(self,
                     depth: Tensor,
                     mask_ratio: float,
                     generator: Optional[torch.Generator] = None) -> Dict[str, Tensor]:
        """Encode the visible depth patches (masked ones are dropped, never encoded).

        Returns:
            dict: ``latent`` (B, L_keep, C) projected to the RGB width, ``mask`` (B, L),
            ``ids_restore`` (B, L), ``hw``.
        """
        x, hw = self.depth_patch_embed(depth)
        x = x + self._pos_embed(self.depth_pos_embed, hw, 0)
        latent, mask, ids_restore = encode_visible_depth(x, mask_ratio, self.depth_layers, self.depth_norm,
                                                         self.depth_proj, generator)
        return dict(latent=latent, mask=mask, ids_restore=ids_restore, hw=hw)

    def forward(self,
                img: Tensor,
                depth: Optional[Tensor] = None,
                mask_ratio: Optional[float] = None,
                depth_mask_ratio: Optional[float] = None,
                generator: Optional[torch.Generator] = None):
        """Downstream features, or the fused masked RGB-D bottleneck for pretraining.

        Args:
            img (Tensor): (B, 3, H, W) normalised RGB; H, W multiples of ``patch_size``.
            depth (Tensor, optional): (B, depth_in_channels, H, W) encoded depth input (see
                ``Mask3DHead.encode_depth_input``). ``None`` -> downstream forward.
            mask_ratio / depth_mask_ratio (float, optional): override the configured ratios
                (evaluation, e.g. 0 and 1 for monocular depth).
            generator (torch.Generator, optional): reproducible masks.

        Returns:
            tuple[Tensor] (downstream): per ``out_indices`` a (B, C, h, w) map (stride
            ``patch_size``). dict (pretraining): ``latent`` (B, 1 + h*w, C) fused tokens (class
            token first, then patches row-major), ``rgb_mask`` and ``depth_mask`` (B, h*w),
            1 = dropped, and ``hw`` = (h, w).
        """
        if depth is None:
            outs = super(MAEViT, self).forward(img)
            return outs if self.pyramid_strides is None else self.simple_pyramid(outs[-1])
        if not self.with_depth_encoder:
            raise RuntimeError('Mask3DViT built with with_depth_encoder=False cannot take depth')
        H, W = img.shape[-2:]
        if H % self.patch_size or W % self.patch_size:
            raise ValueError(f'Mask3DViT: input {H}x{W} not divisible by patch {self.patch_size}')
        if depth.shape[-2:] != img.shape[-2:]:
            raise ValueError(f'Mask3DViT: depth {tuple(depth.shape)} and img '
                             f'{tuple(img.shape)} sizes differ')
        rgb = self.encode_rgb(img, self.mask_ratio if mask_ratio is None else mask_ratio, generator)
        dep = self.encode_depth(depth, self.depth_mask_ratio if depth_mask_ratio is None else depth_mask_ratio,
                                generator)
        patches = (
            restore_full_grid(rgb['latent'][:, 1:], rgb['ids_restore'], self.rgb_mask_token)
            + restore_full_grid(dep['latent'], dep['ids_restore'], self.depth_mask_token))
        latent = torch.cat([rgb['latent'][:, :1], patches], dim=1)
        return dict(latent=latent, rgb_mask=rgb['mask'], depth_mask=dep['mask'], hw=rgb['hw'])
