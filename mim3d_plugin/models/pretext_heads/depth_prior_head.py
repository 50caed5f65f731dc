"""RGB-D depth-prior pretext head (Mask3D, Hou et al., CVPR 2023, Sec. 3): masked depth patches + image
features -> dense depth, masked L1."""
from typing import Dict, Optional

import numpy as np
import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks.transformer import PatchEmbed
from mmdet3d.registry import MODELS
from mmengine.model import BaseModule, ModuleList
from mmpretrain.models.backbones.vision_transformer import TransformerEncoderLayer
from torch import Tensor, nn

from ...evaluation.depth_baselines import DEPTH_BASELINES, visible_depth_baselines
from ..utils import encode_depth_input, encode_visible_depth, restore_full_grid, sincos_pos_embed_2d, units_to_cells
from .base import BasePretextHead, EncoderOutput


@MODELS.register_module()
class DepthTokenFusion(BaseModule):
    """Mask3D's depth encoder and bottleneck fusion for a dense (Swin / ConvNeXt) image map.

    :class:`Mask3DViT` fuses depth tokens into its own token sequence; a dense encoder has no such sequence, so
    this module builds it from the map: each cell of the stride-``patch_size`` map is projected to
    ``embed_dims`` (cells the encoder did not see get ``rgb_mask_token``, SparK's densify step); the depth input
    (normalised depth, validity) is patch-embedded at the same stride, ``depth_mask_ratio`` of the patches are
    dropped and the visible ones encoded (:func:`encode_visible_depth`: ``depth_num_layers`` transformer layers,
    LN, projection), dropped ones get ``depth_mask_token``; the two are summed per patch and a class token is
    prepended, which is the bottleneck :class:`Mask3DHead` decodes.

    Args:
        in_channels (int): encoder map width. embed_dims (int): fused width (the head decoder's ``embed_dim``).
        patch_size (int): px per map cell (the encoder stride) = depth patch size.
        depth_mask_ratio (float): fraction of depth patches dropped. Default 0.75 (Mask3D).
        depth_in_channels (int): Default 2. depth_embed_dims (int): Default 384.
        depth_num_layers (int): Default 2. depth_num_heads (int): Default 6.

    Returns of ``forward``: dict ``latent`` ``(M, 1 + h * w, embed_dims)``, ``depth_mask``/``rgb_mask``
    ``(M, h * w)`` (1 = dropped / not seen), ``hw``.
    """

    def __init__(self,
                 in_channels: int,
                 embed_dims: int,
                 patch_size: int = 16,
                 depth_mask_ratio: float = 0.75,
                 depth_in_channels: int = 2,
                 depth_embed_dims: int = 384,
                 depth_num_layers: int = 2,
                 depth_num_heads: int = 6,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.patch_size = patch_size
        self.depth_mask_ratio = depth_mask_ratio
        self.rgb_proj = nn.Linear(in_channels, embed_dims)
        self.depth_patch_embed = PatchEmbed(
            in_channels=depth_in_channels,
            embed_dims=depth_embed_dims,
            conv_type='Conv2d',
            kernel_size=patch_size,
            stride=patch_size)
        self.depth_layers = ModuleList([
            TransformerEncoderLayer(
                depth_embed_dims,
                depth_num_heads,
                4 * depth_embed_dims,
                qkv_bias=True,
                norm_cfg=dict(type='LN', eps=1e-6)) for _ in range(depth_num_layers)
        ])
        self.depth_norm = build_norm_layer(dict(type='LN', eps=1e-6), depth_embed_dims)[1]
        self.depth_proj = nn.Linear(depth_embed_dims, embed_dims)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dims))
        self.rgb_mask_token = nn.Parameter(torch.zeros(1, 1, embed_dims))
        self.depth_mask_token = nn.Parameter(torch.zeros(1, 1, embed_dims))

    def init_weights(self) -> None:
        super().init_weights()
        w = self.depth_patch_embed.projection.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        for token in (self.cls_token, self.rgb_mask_token, self.depth_mask_token):
            nn.init.normal_(token, std=.02)

    def forward(self,
                feats: Tensor,
                hidden: Optional[Tensor],
                depth_input: Tensor,
                depth_drop: Optional[Tensor] = None,
                mask_ratio: Optional[float] = None,
                generator: Optional[torch.Generator] = None) -> Dict[str, Tensor]:
        """feats ``(M, C, h, w)``; hidden ``(M, h_m, w_m)`` bool (True = cell not seen, gets the RGB mask token) or
        None; depth_input ``(M, 2, H, W)`` with ``H = h * patch_size``; depth_drop ``(M, h * w)`` bool (True = depth
        patch dropped) or None (``mask_ratio``, default ``depth_mask_ratio``, at random, drawn from ``generator``)."""
        m, _, h, w = feats.shape
        if tuple(depth_input.shape[-2:]) != (h * self.patch_size, w * self.patch_size):
            raise ValueError(f'DepthTokenFusion: a {h}x{w} map at patch_size={self.patch_size} px needs depth '
                             f'{(h * self.patch_size, w * self.patch_size)}, got {tuple(depth_input.shape[-2:])}')
        rgb = self.rgb_proj(feats.flatten(2).transpose(1, 2))
        rgb_mask = torch.zeros(m, h * w, device=feats.device, dtype=feats.dtype)
        if hidden is not None:
            cells = units_to_cells(hidden, (h, w)).reshape(m, h * w, 1)
            rgb = torch.where(cells, self.rgb_mask_token.to(rgb.dtype), rgb)
            rgb_mask = cells[..., 0].to(feats.dtype)
        x, hw = self.depth_patch_embed(depth_input)
        x = x + sincos_pos_embed_2d(hw, x.shape[-1]).to(x)
        ratio = self.depth_mask_ratio if mask_ratio is None else mask_ratio
        latent, depth_mask, ids_restore = encode_visible_depth(
            x, ratio, self.depth_layers, self.depth_norm, self.depth_proj, generator, drop=depth_drop)
        patches = rgb + restore_full_grid(latent, ids_restore, self.depth_mask_token)
        latent = torch.cat([self.cls_token.to(patches.dtype).expand(m, -1, -1), patches], dim=1)
        return dict(latent=latent, depth_mask=depth_mask, rgb_mask=rgb_mask, hw=hw)


@MODELS.register_module()
class DepthPriorHead(BasePretextHead):
    """Mask3D's depth decoder (``head``: :class:`Mask3DHead` or :class:`RGBDReconstructionHead`) on the shared
    encoder, and Mask3D's depth evaluation.

    - ``rgbd_tokens`` encoder (:class:`RGBDTokenEncoder`, Mask3D): the encoder already fused the masked RGB and
      depth tokens; the loss is ``head.loss`` of that bottleneck on every frame (Mask3D, Sec. 3).
    - dense encoders (``complementary`` / ``sparse`` / ``none``): ``fusion`` (:class:`DepthTokenFusion`) builds the
      bottleneck from the current frame's maps and its LiDAR depth maps, one pass per :meth:`EncoderOutput.passes`
      (the cells a pass hid get the RGB mask token; a complementary encoder is read group by group, the other
      group hidden, and the loss averaged over the two passes); ``head`` decodes dense depth, masked L1 on the
      dropped depth patches. Only
      :class:`Mask3DHead` (an RGB target would need its own mask: use :class:`MaskedPixelHead`).

    Evaluation (``mode='predict'``, e.g. ``tools/test.py`` with :class:`DepthMetric`): ``test_cfg`` fixes the masks
    (drawn from the pretrainer's seeded generator, so two runs score the same pixels) and the scored region.

    Args:
        head (dict): :class:`Mask3DHead` config (``decoder.embed_dim`` = the fused width).
        fusion (dict, optional): :class:`DepthTokenFusion` config, required for dense encoders
            (``patch_size`` = ``head.patch_size`` = the encoder stride).
        depth_mask (str): how the depth mask meets the encoder's image mask (dense masked encoders):
            ``'random'`` (default, Mask3D: independent, ``fusion.depth_mask_ratio``; the RGB of about
            ``1 - image mask ratio`` of the dropped patches is seen, Mask3D's ViT 0.25); ``'image_hidden'``: drop the
            depth exactly under the image units the pass hid (``sparse``: not seen; ``complementary``: the other
            group, per pass), both modalities missing there (RGB seen: 0); ``'image_visible'``: drop it under the
            seen units, so dropped depth must be inferred from the image of the same place (RGB seen: 1, a
            monocular-depth task, not Mask3D's). Non-random masks take the encoder's ratio. The seen fraction is
            logged as ``visible_target``.
        test_cfg (dict, optional): evaluation masking: ``mask_ratio`` (RGB patches dropped by an RGB-D encoder;
            default: its training ratio), ``depth_mask_ratio`` (default: the training ratio; 1 = monocular depth:
            no depth input at all) and ``eval_region`` (``'all'`` valid pixels, default, or ``'masked'``: the valid
            pixels of dropped depth patches, the pretext task itself) and ``baselines`` (names of
            :data:`~mim3d_plugin.evaluation.depth_baselines.DEPTH_BASELINES`: each adds a ``baseline_<name>`` depth
            map filled from the visible depth alone, which :class:`DepthMetric` scores with ``pred_key``; default
            none).

    Inputs: ``imgs`` ``(B, [V,] 3, H, W)``, ``depth`` ``(B, [V,] H, W)`` m (0 = no point).

    Raises:
        ValueError: a dense encoder without ``fusion`` or with an RGB-reconstructing head; an RGB-D encoder whose
        depth normalisation differs from the head's; patch sizes that differ; an unknown ``test_cfg`` key or
        ``eval_region``.
    """

    accepted_masks = ('rgbd_tokens', 'complementary', 'sparse', 'none')

    DEPTH_MASKS = ('random', 'image_hidden', 'image_visible')
    TEST_KEYS = ('mask_ratio', 'depth_mask_ratio', 'eval_region', 'baselines')

    def __init__(self,
                 head: dict,
                 fusion: Optional[dict] = None,
                 depth_mask: str = 'random',
                 test_cfg: Optional[dict] = None,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if depth_mask not in self.DEPTH_MASKS:
            raise ValueError(f'DepthPriorHead: depth_mask must be one of {self.DEPTH_MASKS}, got {depth_mask!r}')
        test_cfg = dict(test_cfg or {})
        unknown = sorted(set(test_cfg) - set(self.TEST_KEYS))
        if unknown:
            raise ValueError(f'DepthPriorHead: unknown test_cfg keys {unknown}; known: {self.TEST_KEYS}')
        test_cfg.setdefault('eval_region', 'all')
        test_cfg['baselines'] = tuple(test_cfg.get('baselines') or ())
        unknown = sorted(set(test_cfg['baselines']) - set(DEPTH_BASELINES))
        if unknown:
            raise ValueError(f'DepthPriorHead: unknown test_cfg.baselines {unknown}; known: {DEPTH_BASELINES}')
        if test_cfg['baselines'] and test_cfg.get('depth_mask_ratio') == 1:
            raise ValueError('DepthPriorHead: test_cfg.baselines fill dropped depth from the visible depth, and '
                             'depth_mask_ratio=1 leaves none; set test_cfg.baselines=[] for monocular evaluation')
        if test_cfg['eval_region'] not in ('all', 'masked'):
            raise ValueError(f"DepthPriorHead: test_cfg.eval_region must be 'all' or 'masked', got "
                             f"{test_cfg['eval_region']!r}")
        self.head = MODELS.build(head)
        self.fusion = MODELS.build(fusion) if fusion is not None else None
        self.depth_mask = depth_mask
        self.test_cfg = test_cfg
        self.encoder_kind = None  # set by check_encoder

    def check_encoder(self, encoder, num_frames: int, name: str) -> None:
        super().check_encoder(encoder, num_frames, name)
        self.encoder_kind = encoder.mask_kind
        who = f'MaskedPretrainer: head {name!r} (DepthPriorHead)'
        if encoder.mask_kind == 'rgbd_tokens':
            if self.fusion is not None:
                raise ValueError(f'{who}: the RGB-D encoder fuses depth itself; remove fusion')
            mine = (self.head.depth_norm, self.head.depth_norm_scale, self.head.depth_trunc)
            theirs = (encoder.depth_norm, encoder.depth_norm_scale, encoder.depth_trunc)
            if mine != theirs:
                raise ValueError(f'{who}: encoder depth input (depth_norm, scale, trunc) {theirs} differs from the '
                                 f'head target {mine}')
            return
        if self.fusion is None:
            raise ValueError(f'{who}: a dense {encoder.mask_kind!r} encoder needs fusion=dict(type='
                             "'DepthTokenFusion', ...) to build the depth tokens")
        if self.depth_mask != 'random' and encoder.mask_kind not in ('complementary', 'sparse'):
            raise ValueError(f'{who}: depth_mask={self.depth_mask!r} follows the image mask, which a '
                             f'{encoder.mask_kind!r} encoder does not have; use depth_mask=\'random\'')
        if hasattr(self.head, 'rgb_decoder'):
            raise ValueError(f'{who}: {type(self.head).__name__} reconstructs RGB, which has no mask on a dense '
                             'encoder; use Mask3DHead here and a MaskedPixelHead for pixels')
        if self.fusion.patch_size != self.head.patch_size:
            raise ValueError(f'{who}: fusion.patch_size={self.fusion.patch_size} != head.patch_size='
                             f'{self.head.patch_size}')

    def encoder_test_cfg(self) -> dict:
        """The encoder's evaluation mask ratios: ``test_cfg.mask_ratio`` (image), and ``depth_mask_ratio`` when the
        encoder draws the depth mask (RGB-D tokens; on dense encoders this head's fusion draws it)."""
        keys = ('mask_ratio', 'depth_mask_ratio') if self.encoder_kind == 'rgbd_tokens' else \
            ('mask_ratio', )
        return {k: self.test_cfg[k] for k in keys if k in self.test_cfg}

    def num_passes(self, enc: EncoderOutput) -> int:
        """Encoder passes this head decodes: 2 on a complementary encoder (each group with the other hidden), else 1."""
        return 2 if enc.mask_kind == 'complementary' else 1

    def bottleneck(self,
                   enc: EncoderOutput,
                   inputs: dict,
                   depth_mask_ratio: Optional[float] = None,
                   pass_index: int = 0):
        """-> (bottleneck dict, flat images ``(M, 3, H, W)``, flat depth ``(M, H, W)`` m, leading shape).

        ``depth_mask_ratio`` overrides ``fusion.depth_mask_ratio`` (dense encoders, ``depth_mask='random'``).
        Dense encoders are read per pass (:meth:`EncoderOutput.passes`): the cells the pass hid get the RGB mask
        token (a complementary encoder's other group is zeroed there, so no hidden pixel reaches the bottleneck).
        """
        if enc.mask_kind == 'rgbd_tokens':
            return enc.tokens, enc.extras['imgs'], enc.extras['depth'], enc.extras['lead']
        feats, units = enc.passes('current')[pass_index]
        feats = feats.flatten(0, 1)
        if enc.stride != self.fusion.patch_size:
            raise ValueError(f'DepthPriorHead: encoder stride {enc.stride} px != fusion.patch_size '
                             f'{self.fusion.patch_size}')
        imgs = enc.current(inputs['imgs']).flatten(0, 1)
        depth = enc.current(inputs['depth']).flatten(0, 1)
        hidden = units.flatten(0, 1) if enc.mask_kind in ('sparse', 'complementary') else None
        depth_drop = None
        if self.depth_mask != 'random':
            cells = units_to_cells(hidden, feats.shape[-2:])
            depth_drop = (cells if self.depth_mask == 'image_hidden' else ~cells).flatten(1)
        h = self.head
        out = self.fusion(
            feats,
            hidden,
            encode_depth_input(depth, h.depth_norm, h.depth_norm_scale, h.depth_trunc),
            depth_drop,
            mask_ratio=depth_mask_ratio,
            generator=enc.extras.get('generator'))
        return out, imgs, depth, (enc.feats.shape[0], enc.num_views)

    def loss(self, enc: EncoderOutput, inputs: dict, geometry: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """``head.loss`` averaged over the passes (:meth:`num_passes`), and ``visible_target``: the fraction of
        the dropped depth patches whose RGB the features read had seen (Mask3D at 75 % / 75 %: about 0.25)."""
        n = self.num_passes(enc)
        losses: Dict[str, Tensor] = {}
        for p in range(n):
            out, imgs, depth, _ = self.bottleneck(enc, inputs, pass_index=p)
            items = dict(self.head.loss(out, imgs, depth))
            with torch.no_grad():
                dropped = out['depth_mask'] > 0
                seen = out['rgb_mask'] <= 0 if out.get('rgb_mask') is not None else torch.ones_like(dropped)
                items['visible_target'] = (dropped & seen).sum().float() / dropped.sum().clamp(min=1)
            for key, value in items.items():
                losses[key] = losses[key] + value if key in losses else value
        return {key: value / n for key, value in losses.items()}

    @torch.no_grad()
    def predict(self, enc: EncoderOutput, inputs: dict, geometry: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """Dense depth of every decoded frame, ``(B, [V,] H, W)`` each: ``pred_depth`` and ``gt_depth`` (m),
        ``depth_mask`` (True = the depth patch was dropped) and ``eval_mask`` (the pixels :class:`DepthMetric`
        scores: valid ones, of dropped patches if ``test_cfg.eval_region='masked'``), and ``baseline_<name>`` for
        each of ``test_cfg.baselines`` (:func:`visible_depth_baselines`: the visible depth copied, dropped patches
        filled without the image). ``V``: views of an RGB-D encoder's frames, or the current frame's views of a
        dense encoder (no ``V`` for single RGB-D frames)."""
        dense_ratio = None if enc.mask_kind == 'rgbd_tokens' else self.test_cfg.get('depth_mask_ratio')
        out, _, depth, lead = self.bottleneck(enc, inputs, dense_ratio)
        h, w = out['hw']
        p = self.head.patch_size
        dropped = F.interpolate(out['depth_mask'].reshape(-1, 1, h, w).float(), scale_factor=p)[:, 0] > 0
        eval_mask = depth > 0
        if self.test_cfg['eval_region'] == 'masked':
            eval_mask = eval_mask & dropped
        shape = tuple(lead) + tuple(depth.shape[-2:])
        pred = self.head.predict_depth(out, depth)
        maps = dict(pred_depth=pred, gt_depth=depth, depth_mask=dropped, eval_mask=eval_mask)
        if self.test_cfg['baselines']:
            baselines = visible_depth_baselines(depth, dropped, p, self.test_cfg['baselines'])
            maps.update({f'baseline_{k}': v for k, v in baselines.items()})
        return {k: v.reshape(shape) for k, v in maps.items()}

    @torch.no_grad()
    def visual_panels(self,
                      enc: EncoderOutput,
                      inputs: dict,
                      geometry: Dict[str, Tensor],
                      data_preprocessor=None,
                      max_views: int = 3) -> Dict[str, np.ndarray]:
        """``rgb_gt_pred``: the RGB input (top row, when the data preprocessor normalises), the true
        depth and the decoded depth of the first sample's first ``max_views`` decoded frames, one colour scale (m),
        ``(H, W, 3)`` uint8."""
        from mim3d_plugin.visualization import colorize_depth, denormalize, hstack, vstack
        r = self.predict(enc, inputs, geometry)
        gt, pred = r['gt_depth'][0], r['pred_depth'][0]
        if gt.dim() == 2:
            gt, pred = gt[None], pred[None]
        n = min(max_views, gt.shape[0])
        top = max(float(gt[:n].max()), 1e-3)
        rows = []
        pre = data_preprocessor
        if pre is not None and getattr(pre, '_enable_normalize', False):
            imgs = inputs['imgs'][0] if enc.mask_kind == 'rgbd_tokens' else enc.current(inputs['imgs'])[0]
            imgs = imgs[None] if imgs.dim() == 3 else imgs
            mean, std = pre.mean.flatten().tolist(), pre.std.flatten().tolist()
            rows.append(hstack([denormalize(imgs[v], mean, std) for v in range(n)]))
        rows += [hstack([colorize_depth(x[v], top) for v in range(n)]) for x in (gt, pred)]
        return {'rgb_gt_pred': vstack(rows)}
