"""GeoMIM Swin encoder: MixMIM-style Swin with complementary-group masking and a stride-16 fused output.

Reproduces the camera encoder of GeoMIM (Liu et al., ICCV 2023, https://arxiv.org/abs/2303.11325;
official ``pretrain/mmdet3d/models/backbones/swin_geomim.py`` and, for fine-tuning,
``bevdet/mmdet3d/models/backbones/swin_bev.py`` of Sense-X/GeoMIM), built on mmpretrain 1.2's MixMIM
classes so that MixMIM checkpoints load by key (``patch_embed.*``, ``absolute_pos_embed``,
``layers.{i}.blocks.{j}.*``, ``layers.{i}.downsample.*``; MixMIM's final ``norm.*`` is mapped to
``norm3.*``, the stage-4 output norm).

Masking (official GeoMIM, MixMIM style): the image is split into ``mask_unit`` x ``mask_unit`` px units
(32 px, ratio 0.5). A boolean unit mask splits the tokens into two complementary groups, *visible*
(``mask == False``) and *masked* (``mask == True``). No token is dropped or replaced in the encoder:
every window attention (encoder stages and the fusion block) is restricted to tokens of the same group,
so each group is encoded from its own pixels only (with ``mask_unit`` a multiple of the stage-4 stride
no patch merging or top-down upsampling mixes groups either). One encoder pass thus yields the features
of both complementary views of the image; the decoder is run once with ``mask`` and once with ``~mask``
(mask ratio ``r`` and ``1 - r``).
"""
from functools import partial
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks.transformer import PatchEmbed, PatchMerging
from mmdet3d.registry import MODELS
from mmengine.model import BaseModule, ModuleList
from mmpretrain.models.backbones.mixmim import MixMIMBlock, MixMIMTransformer, MixMIMWindowAttention
from mmpretrain.models.selfsup.mixmim import MixMIMPretrainTransformer
from mmpretrain.models.utils import build_2d_sincos_position_embedding, resize_pos_embed
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint


def window_attention_mask(groups: Optional[Tensor],
                          batch: int,
                          hw_shape: Tuple[int, int],
                          window_size: int,
                          mask_padding: bool = True,
                          device: Optional[torch.device] = None) -> Optional[Tensor]:
    """Boolean ``(B * nW, L, L)`` "may attend" matrix of every window (``L = window_size ** 2``).

    Args:
        groups (Tensor | None): ``(B, H, W)`` long group id per token (0 or 1), or None (one group).
        batch (int): B, used when ``groups`` is None.
        hw_shape (tuple[int, int]): token grid (H, W) before padding to multiples of the window.
        window_size (int): window side (tokens).
        mask_padding (bool): with one group (``groups`` None), keep the zero padding out of the attention
            (True) or let every token attend to the padded zero tokens (False: the official GeoMIM / mmdet
            Swin behaviour of non-shifted windows without a group mask). With two groups the padding is
            always excluded (the official group mask marks it masked in both groups).
        device (torch.device, optional): where to build the mask when ``groups`` is None (the tokens' device:
            built there, no host-to-device copy per stage and step). Default: the CPU.

    Returns:
        Tensor | None: True where query i may attend key j: same group and key not padding (padding
        gets group -1). A token may always attend itself, so no row is empty. None when there is one
        group and no padding (plain window attention).
    """
    H, W = hw_shape
    pad_b, pad_r = (-H) % window_size, (-W) % window_size
    if groups is None and ((pad_b == 0 and pad_r == 0) or not mask_padding):
        return None
    if groups is None:
        groups = torch.zeros((1, H, W), dtype=torch.long, device=device).expand(batch, H, W)
    groups = F.pad(groups, (0, pad_r, 0, pad_b), value=-1)
    Hp, Wp = groups.shape[1:]
    windows = groups.reshape(-1, Hp // window_size, window_size, Wp // window_size, window_size)
    windows = windows.permute(0, 1, 3, 2, 4).reshape(-1, window_size * window_size)
    allowed = (windows[:, :, None] == windows[:, None, :]) & (windows[:, None, :] >= 0)
    eye = torch.eye(window_size * window_size, dtype=torch.bool, device=groups.device)
    return allowed | eye


class _GroupWindowAttention(MixMIMWindowAttention):
    """MixMIM window attention (relative position bias) with a boolean per-window attention mask."""

    def forward(self, x: Tensor, allowed: Optional[Tensor] = None) -> Tensor:
        """x: (B*nW, L, C); allowed: (B*nW, L, L) bool or None -> (B*nW, L, C)."""
        B_, L, C = x.shape
        qkv = self.qkv(x).reshape(B_, L, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        attn_mask = bias.view(L, L, -1).permute(2, 0, 1).unsqueeze(0).to(q.dtype)  # (1, nH, L, L)
        if allowed is not None:
            attn_mask = attn_mask.masked_fill(~allowed[:, None], float('-inf'))
        x = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.attn_drop.p if self.training else 0., scale=self.scale)
        return self.proj_drop(self.proj(x.transpose(1, 2).reshape(B_, L, C)))


class GeoMIMSwinBlock(MixMIMBlock):
    """Non-shifted Swin block on a dynamic token grid: pads to window multiples, masks padding and
    (optionally) restricts attention to same-group tokens. Same parameter names as ``MixMIMBlock``."""

    def __init__(self, embed_dims: int, num_heads: int, window_size: int, **kwargs) -> None:
        # MixMIMBlock clamps the window to its (static) input resolution; ours is dynamic, so pass a
        # resolution equal to the window (the clamp becomes a no-op) and pad in forward instead.
        super().__init__(
            embed_dims=embed_dims,
            input_resolution=(window_size, window_size),
            num_heads=num_heads,
            window_size=window_size,
            **kwargs)
        self.input_resolution = None
        self.attn = _GroupWindowAttention(
            embed_dims=embed_dims,
            window_size=(window_size, window_size),
            num_heads=num_heads,
            qkv_bias=kwargs.get('qkv_bias', True),
            attn_drop_rate=kwargs.get('attn_drop_rate', 0.),
            proj_drop_rate=kwargs.get('proj_drop_rate', 0.))

    def forward(self, x: Tensor, hw_shape: Tuple[int, int], allowed: Optional[Tensor] = None) -> Tensor:
        """x: (B, H*W, C) tokens; allowed: from :func:`window_attention_mask` -> (B, H*W, C)."""
        H, W = hw_shape
        B, L, C = x.shape
        ws = self.window_size
        shortcut = x
        x = self.ln1(x).view(B, H, W, C)
        x = F.pad(x, (0, 0, 0, (-W) % ws, 0, (-H) % ws))
        Hp, Wp = x.shape[1:3]
        windows = self.window_partition(x, ws).view(-1, ws * ws, C)
        windows = self.attn(windows, allowed)
        x = self.window_reverse(windows.view(-1, ws, ws, C), Hp, Wp, ws)[:, :H, :W]
        x = shortcut + self.drop_path(x.reshape(B, L, C))
        return self.ffn(self.norm2(x), identity=x)


class GeoMIMSwinStage(BaseModule):
    """One Swin stage (``blocks`` + optional ``downsample`` PatchMerging), keys as ``MixMIMLayer``."""

    def __init__(self,
                 embed_dims: int,
                 depth: int,
                 num_heads: int,
                 window_size: int,
                 mlp_ratio: float,
                 qkv_bias: bool,
                 proj_drop_rate: float,
                 attn_drop_rate: float,
                 drop_path_rates: Sequence[float],
                 norm_cfg: dict,
                 downsample: bool,
                 use_checkpoint: bool = False,
                 mask_padding: bool = True) -> None:
        super().__init__()
        self.window_size = window_size
        self.use_checkpoint = use_checkpoint
        self.mask_padding = mask_padding
        self.blocks = ModuleList([
            GeoMIMSwinBlock(
                embed_dims,
                num_heads,
                window_size,
                mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias,
                proj_drop_rate=proj_drop_rate,
                attn_drop_rate=attn_drop_rate,
                drop_path_rate=drop_path_rates[i],
                norm_cfg=norm_cfg) for i in range(depth)
        ])
        self.downsample = PatchMerging(
            in_channels=embed_dims, out_channels=2 * embed_dims, norm_cfg=norm_cfg) if downsample else None

    def forward(self, x: Tensor, hw_shape: Tuple[int, int], groups: Optional[Tensor] = None):
        """Returns ``(out (B, H*W, C), hw_shape, down (B, H'*W', 2C), down_hw_shape)``."""
        allowed = window_attention_mask(groups, x.shape[0], hw_shape, self.window_size, self.mask_padding, x.device)
        if allowed is not None:
            allowed = allowed.to(x.device)  # no-op unless groups came from elsewhere
        for blk in self.blocks:
            if self.use_checkpoint and x.requires_grad:
                x = checkpoint(blk, x, hw_shape, allowed, use_reentrant=False)
            else:
                x = blk(x, hw_shape, allowed)
        if self.downsample is None:
            return x, hw_shape, x, hw_shape
        down, down_hw = self.downsample(x, hw_shape)
        return x, hw_shape, down, tuple(down_hw)


class TopDownFusion(BaseModule):
    """Fuses stage 4 into stage 3 (official GeoMIM ``up_p4_fc`` / ``up_smooth_p4`` / ``final_norm``).

    ``fused = norm(block(up2x_nearest(lateral(c4)) + c3))``: a linear lateral projection of the (normed)
    stride-32 map to the stage-3 width, nearest 2x upsampling to the stride-16 grid, addition of the
    (normed) stage-3 map, one window-attention Swin block at the stride-16 grid (same group restriction
    as the encoder) and a final LayerNorm.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 num_heads: int,
                 window_size: int,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True,
                 norm_cfg: dict = dict(type='LN'),
                 mask_padding: bool = True) -> None:
        super().__init__()
        self.window_size = window_size
        self.mask_padding = mask_padding
        self.lateral = nn.Linear(in_channels, out_channels)
        self.block = GeoMIMSwinBlock(
            out_channels, num_heads, window_size, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, norm_cfg=norm_cfg)
        self.norm = build_norm_layer(norm_cfg, out_channels)[1]

    def forward(self,
                c3: Tensor,
                hw3: Tuple[int, int],
                c4: Tensor,
                hw4: Tuple[int, int],
                groups: Optional[Tensor] = None) -> Tensor:
        """c3: (B, h3*w3, C3), c4: (B, h4*w4, C4), groups: (B, h3, w3) or None -> (B, h3*w3, C3)."""
        B = c3.shape[0]
        top = self.lateral(c4).transpose(1, 2).reshape(B, -1, *hw4)
        top = F.interpolate(top, size=hw3, mode='nearest').flatten(2).transpose(1, 2)
        allowed = window_attention_mask(groups, B, hw3, self.window_size, self.mask_padding, c3.device)
        x = self.block(c3 + top, hw3, None if allowed is None else allowed.to(c3.device))
        return self.norm(x)


@MODELS.register_module()
class GeoMIMSwin(MixMIMTransformer):
    """GeoMIM camera encoder (pretraining with masking) and its fine-tuning backbone (masking off).

    Swin with patch 4, non-shifted windows (default 16, 16, 16, 8 as the official code), absolute position
    embedding defined on ``img_size`` / ``patch_size`` and bicubically interpolated to every input grid
    (e.g. 256x704 px -> 64x176 tokens), window partition padded where the grid is not a multiple of the
    window (padding is masked out of the attention). Paper scale (Swin-B): ``arch='base'`` (embed 128,
    depths 2-2-18-2, heads 4-8-16-32).

    Args:
        arch (str | dict): ``'base'``/``'large'``/``'huge'`` or a dict with ``embed_dims``, ``depths``,
            ``num_heads`` (4 stages). Defaults to ``'base'``.
        img_size (int | tuple[int, int]): input size (px) the absolute position embedding is stored for;
            224 matches MixMIM ImageNet checkpoints. Other sizes are interpolated. Defaults to 224.
        patch_size (int): patch size (px). Defaults to 4.
        in_channels (int): image channels. Defaults to 3.
        window_size (int | Sequence[int]): window side per stage (tokens). Defaults to (16, 16, 16, 8).
        mlp_ratio (float): FFN ratio. Defaults to 4.
        qkv_bias (bool): qkv bias. Defaults to True.
        norm_cfg (dict): norm layer. Defaults to ``dict(type='LN')``.
        drop_rate / attn_drop_rate / drop_path_rate (float): dropout rates. Default 0.
        out_indices (Sequence[int]): stages (0..3) whose normed maps are returned when not masking, in increasing
            stride (4/8/16/32 px), as mmdet's / mmpretrain's Swin: the maps an FPN expects. Defaults to (0, 1, 2, 3);
            GeoMIM's own fine-tuning (BEVDet) uses (2, 3), the stages it pretrained with their output norms.
        with_fusion (bool, optional): build the stage-3/4 :class:`TopDownFusion` (stride-16 output),
            required for masked pretraining. None (default) -> ``use_mask or out_fused``, so a fine-tuning
            backbone has no unused parameters (the pretraining checkpoint's ``fusion.*`` keys are then
            reported as unexpected and ignored).
        out_fused (bool): when not masking, the stride-16 output (stage 2, which must be in ``out_indices``) is the
            pretrained fused map (stages 3 and 4 fused top-down, what the GeoMIM decoder read) instead of stage 3's
            own map; the strides stay increasing. Default False.
        fusion_window_size (int): window of the fusion block at stride 16. Defaults to 7 (the official
            ``up_smooth_p4`` is a ``SwinBlock`` with its default window 7).
        use_mask (bool): pretraining mode: forward always masks (a mask is generated when none is
            given) and returns ``(fused, mask)``. Defaults to False.
        mask_ratio (float): fraction of mask units set True (masked) in a generated mask, in (0, 1).
            Defaults to 0.5 (paper).
        mask_unit (int): mask unit side (px); must be a multiple of the stage-4 stride (32). Default 32.
        mask_shared_over_views (bool): one mask pattern per sample, shared by its N views (official).
            Needs a (B, N, 3, H, W) input. Defaults to True.
        mask_shared_over_batch (bool): one pattern for the whole batch (official behaviour). Default False.
        pos_embed_trainable (bool): train the absolute position embedding (official GeoMIM: True; MixMIM
            keeps it fixed). Defaults to True.
        use_checkpoint (bool): activation checkpointing per block. Defaults to False.
        window_padding (str): where a token grid is not a multiple of the window (e.g. 256x704 px: the
            stride-8/16/32 grids 32x88, 16x44, 8x22 with windows 16/16/8) the windows are zero-padded.
            ``'masked'`` (default): padded tokens are never attended. ``'official'``: as the official GeoMIM
            code (``swin_geomim.py`` pretraining and ``swin_bev.py`` fine-tuning, mmdet Swin windows without
            shift): without masking every token also attends to the padded zero tokens; with masking the
            padding is excluded (both conventions agree there). Use ``'official'`` with official weights.
        return_stereo_feat (bool): when not masking, prepend stage 1's raw stride-4 map (before its output norm)
            to the outputs, the temporal-stereo feature of BEVStereo4D (official ``SwinTransformerBEVFT
            return_stereo_feat=True``). Default False.
        init_cfg (dict, optional): e.g. ``dict(type='Pretrained', checkpoint=..., prefix='backbone.')``.
            Shapes that differ (position embedding grid, relative position tables of another window
            size) are interpolated on load.
    """

    def __init__(self,
                 arch: Union[str, dict] = 'base',
                 img_size: Union[int, Tuple[int, int]] = 224,
                 patch_size: int = 4,
                 in_channels: int = 3,
                 window_size: Union[int, Sequence[int]] = (16, 16, 16, 8),
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True,
                 norm_cfg: dict = dict(type='LN'),
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 with_fusion: Optional[bool] = None,
                 out_fused: bool = False,
                 fusion_window_size: int = 7,
                 use_mask: bool = False,
                 mask_ratio: float = 0.5,
                 mask_unit: int = 32,
                 mask_shared_over_views: bool = True,
                 mask_shared_over_batch: bool = False,
                 pos_embed_trainable: bool = True,
                 return_stereo_feat: bool = False,
                 use_checkpoint: bool = False,
                 window_padding: str = 'masked',
                 init_cfg: Optional[dict] = None) -> None:
        # MixMIMTransformer.__init__ builds MixMIM layers with windows clamped to a static resolution;
        # we build the same modules (same names) for dynamic grids, so skip to BaseBackbone.__init__.
        super(MixMIMTransformer, self).__init__(init_cfg=init_cfg)
        if isinstance(arch, str):
            if arch.lower() not in self.arch_zoo:
                raise ValueError(f'GeoMIMSwin: arch {arch!r} not in {sorted(self.arch_zoo)}')
            arch = self.arch_zoo[arch.lower()]
        elif not (isinstance(arch, dict) and {'embed_dims', 'depths', 'num_heads'} <= set(arch)):
            raise ValueError(f'GeoMIMSwin: arch dict needs embed_dims, depths, num_heads, got {arch}')
        self.arch_settings = arch
        self.embed_dims, self.depths, self.num_heads = arch['embed_dims'], list(arch['depths']), list(arch['num_heads'])
        self.num_layers = len(self.depths)
        if self.num_layers != 4 or len(self.num_heads) != 4:
            raise ValueError(f'GeoMIMSwin: expected 4 stages, got depths={self.depths}, heads={self.num_heads}')
        window_size = [window_size] * 4 if isinstance(window_size, int) else list(window_size)
        if len(window_size) != 4:
            raise ValueError(f'GeoMIMSwin: window_size must be an int or 4 ints, got {window_size}')
        out_indices = tuple(out_indices)
        if not all(0 <= i < 4 for i in out_indices) or list(out_indices) != sorted(set(out_indices)):
            raise ValueError(f'GeoMIMSwin: out_indices must be increasing stage indices in 0..3, got {out_indices}')
        if out_fused and 2 not in out_indices:
            raise ValueError(f'GeoMIMSwin: out_fused replaces the stride-16 output (stage 2), which out_indices='
                             f'{out_indices} does not hold; add 2')
        max_stride = patch_size * 2**(self.num_layers - 1)
        if mask_unit % max_stride != 0:
            raise ValueError(f'GeoMIMSwin: mask_unit ({mask_unit} px) must be a multiple of the stage-4 '
                             f'stride ({max_stride} px) so that no layer mixes the two token groups')
        if not 0. < mask_ratio < 1.:
            raise ValueError(f'GeoMIMSwin: mask_ratio must be in (0, 1), got {mask_ratio}')
        if window_padding not in ('masked', 'official'):
            raise ValueError(f"GeoMIMSwin: window_padding must be 'masked' or 'official', got {window_padding!r}")
        self.window_padding = window_padding
        mask_padding = window_padding == 'masked'
        if with_fusion is None:
            with_fusion = use_mask or out_fused
        if (use_mask or out_fused) and not with_fusion:
            raise ValueError('GeoMIMSwin: use_mask / out_fused need with_fusion=True (stride-16 output)')
        self.window_size = window_size
        self.patch_size, self.mlp_ratio, self.qkv_bias = patch_size, mlp_ratio, qkv_bias
        self.drop_rate, self.attn_drop_rate = drop_rate, attn_drop_rate
        self.use_checkpoint = use_checkpoint
        self.encoder_stride = max_stride
        self.out_indices, self.with_fusion, self.out_fused = out_indices, with_fusion, out_fused
        self.return_stereo_feat = bool(return_stereo_feat)
        self.use_mask, self.mask_ratio, self.mask_unit = use_mask, mask_ratio, mask_unit
        self.mask_shared_over_views, self.mask_shared_over_batch = mask_shared_over_views, mask_shared_over_batch

        self.patch_embed = PatchEmbed(
            in_channels=in_channels,
            input_size=img_size,
            embed_dims=self.embed_dims,
            conv_type='Conv2d',
            kernel_size=patch_size,
            stride=patch_size,
            norm_cfg=dict(type='LN'))
        self.patch_resolution = tuple(self.patch_embed.init_out_size)
        self.num_patches = self.patch_resolution[0] * self.patch_resolution[1]
        self.absolute_pos_embed = nn.Parameter(
            torch.zeros(1, self.num_patches, self.embed_dims), requires_grad=pos_embed_trainable)
        self.drop_after_pos = nn.Dropout(p=drop_rate)
        dpr = torch.linspace(0, drop_path_rate, sum(self.depths)).tolist()
        self.layers = ModuleList()
        for i in range(self.num_layers):
            self.layers.append(
                GeoMIMSwinStage(
                    self.embed_dims * 2**i,
                    self.depths[i],
                    self.num_heads[i],
                    window_size[i],
                    mlp_ratio,
                    qkv_bias,
                    drop_rate,
                    attn_drop_rate,
                    dpr[sum(self.depths[:i]):sum(self.depths[:i + 1])],
                    norm_cfg,
                    downsample=i < self.num_layers - 1,
                    use_checkpoint=use_checkpoint,
                    mask_padding=mask_padding))
        self.num_features = [self.embed_dims * 2**i for i in range(self.num_layers)]
        # masked pretraining outputs the fused map only (stage-3/4 norms); otherwise the norms of out_indices (and of
        # the fusion's inputs)
        self.norm_indices = [2, 3] if use_mask else sorted(set(out_indices) | ({2, 3} if with_fusion else set()))
        for i in self.norm_indices:
            self.add_module(f'norm{i}', build_norm_layer(norm_cfg, self.num_features[i])[1])
        self.fusion = TopDownFusion(self.num_features[3], self.num_features[2], self.num_heads[2], fusion_window_size,
                                    mlp_ratio, qkv_bias, norm_cfg, mask_padding) if with_fusion else None
        self.register_load_state_dict_pre_hook(GeoMIMSwin._adapt_checkpoint)

    def train(self, mode: bool = True) -> 'GeoMIMSwin':
        """As ``nn.Module.train``: returns the module (mmpretrain's ``BaseBackbone.train`` returns None, so
        ``GeoMIMSwin(...).eval()`` was None)."""
        super().train(mode)
        return self

    # ------------------------------------------------------------------ weights
    def init_weights(self) -> None:
        """Scratch init (MixMIM pretraining style: fixed 2D sin-cos position embedding, xavier Linear,
        unit LayerNorm), then mmengine's ``init_cfg`` (a ``Pretrained`` checkpoint overrides it). Runs once:
        a second call (mmengine's ``is_init``) keeps the weights."""
        if self.is_init:
            return
        h, w = self.patch_resolution  # mmpretrain's helper flattens (w, h): transpose to row-major (h, w)
        pos = build_2d_sincos_position_embedding((h, w), self.embed_dims).reshape(w, h, -1).transpose(0, 1)
        self.absolute_pos_embed.data.copy_(pos.reshape(1, h * w, self.embed_dims))
        self.apply(partial(MixMIMPretrainTransformer._init_weights, self))
        super().init_weights()

    @staticmethod
    def _adapt_checkpoint(module: 'GeoMIMSwin', state_dict: dict, prefix: str, *args) -> None:
        """Load-time key/shape adaptation: MixMIM ``norm`` -> ``norm3``; absolute position embedding of
        another square grid and relative position bias tables of another window size are interpolated
        (bicubic); index buffers are regenerated."""
        own = module.state_dict()
        if prefix + 'norm.weight' in state_dict and 'norm3.weight' in own and prefix + 'norm3.weight' not in state_dict:
            for name in ('weight', 'bias'):
                state_dict[prefix + 'norm3.' + name] = state_dict.pop(prefix + 'norm.' + name)
        # a fine-tuning backbone ignores the parts of a pretraining checkpoint it does not build: the stage-3/4
        # fusion block and the output norms of stages it does not output
        built = {n.split('.')[0] for n in own}
        optional = {'fusion', 'norm0', 'norm1', 'norm2', 'norm3'}
        unused = [k for k in state_dict if k.startswith(prefix) and k[len(prefix):].split('.')[0] in optional - built]
        for k in unused:
            del state_dict[k]
        if unused:
            from mmengine.logging import print_log
            print_log(
                f'GeoMIMSwin: {len(unused)} keys of the checkpoint belong to parts this backbone does not build '
                f'({sorted({k[len(prefix):].split(".")[0] for k in unused})}: out_indices={module.out_indices}, '
                f'with_fusion={module.with_fusion}) and are not used',
                logger='current')
        key = prefix + 'absolute_pos_embed'
        if key in state_dict and state_dict[key].shape != own['absolute_pos_embed'].shape:
            src = state_dict[key]
            side = int(round(src.shape[1]**0.5))
            if src.dim() != 3 or side * side != src.shape[1] or src.shape[2] != module.embed_dims:
                raise ValueError(f'GeoMIMSwin: checkpoint {key} has shape {tuple(src.shape)}, expected '
                                 f'{tuple(own["absolute_pos_embed"].shape)}; set img_size to the checkpoint\'s')
            state_dict[key] = resize_pos_embed(src, (side, side), module.patch_resolution, 'bicubic', 0)
        for name, current in own.items():
            if not name.endswith('relative_position_bias_table') or prefix + name not in state_dict:
                continue
            src = state_dict[prefix + name]
            if src.shape == current.shape or src.shape[1] != current.shape[1]:
                continue
            s1, s2 = int(round(src.shape[0]**0.5)), int(round(current.shape[0]**0.5))
            grid = src.t().reshape(1, -1, s1, s1).float()
            grid = F.interpolate(grid, size=(s2, s2), mode='bicubic', align_corners=True)
            state_dict[prefix + name] = grid.reshape(-1, s2 * s2).t().to(src.dtype)
            index = name.replace('bias_table', 'index')
            state_dict[prefix + index] = own[index]

    # ------------------------------------------------------------------ masking
    def generate_mask(self,
                      batch_size: int,
                      num_views: int,
                      img_shape: Tuple[int, int],
                      device: Union[str, torch.device, None] = None,
                      generator: Optional[torch.Generator] = None,
                      mask_ratio: Optional[float] = None) -> Tensor:
        """Random mask over ``mask_unit`` px units: exactly ``int(L * mask_ratio)`` of the ``L`` units of
        each pattern are True (masked), chosen by argsort of uniform noise (MixMIM / official GeoMIM).

        Args:
            batch_size (int): B. num_views (int): N. img_shape (tuple): (H, W) px, multiples of mask_unit.
            device: device of the mask. generator (torch.Generator, optional): for reproducible masks.
            mask_ratio (float, optional): overrides ``self.mask_ratio`` (evaluation), in [0, 1).

        Returns:
            Tensor: ``(B, N, H / mask_unit, W / mask_unit)`` bool, True = masked. Patterns are shared
            over views / the batch according to ``mask_shared_over_views`` / ``mask_shared_over_batch``.
        """
        H, W = img_shape
        if H % self.mask_unit or W % self.mask_unit:
            raise ValueError(f'GeoMIMSwin: image size {(H, W)} must be a multiple of mask_unit={self.mask_unit} px')
        hm, wm = H // self.mask_unit, W // self.mask_unit
        num_units = hm * wm
        patterns = 1 if self.mask_shared_over_batch else batch_size
        patterns_per_sample = 1 if self.mask_shared_over_views else num_views
        ratio = self.mask_ratio if mask_ratio is None else float(mask_ratio)
        if not 0. <= ratio < 1.:
            raise ValueError(f'GeoMIMSwin: mask_ratio must be in [0, 1), got {ratio}')
        noise = torch.rand(patterns, patterns_per_sample, num_units, device=device, generator=generator)
        ids = noise.argsort(dim=-1)[..., :int(num_units * ratio)]
        mask = torch.zeros_like(noise, dtype=torch.bool).scatter_(-1, ids, True)
        return mask.view(patterns, patterns_per_sample, hm, wm).expand(batch_size, num_views, hm, wm).contiguous()

    # ------------------------------------------------------------------ forward
    def forward(self, imgs: Tensor, mask: Optional[Tensor] = None) -> Tuple[Tensor, ...]:
        """Encode images.

        Args:
            imgs (Tensor): ``(B, N, 3, H, W)`` or ``(B*N, 3, H, W)`` normalised images.
            mask (Tensor, optional): ``(B, N, H/u, W/u)`` (or ``(B*N, H/u, W/u)`` for 4-D images) bool
                unit mask, ``u = mask_unit``, True = masked group. Given -> masked forward; None ->
                generated when ``use_mask`` (4-D images count as N = 1 view per sample).

        Returns:
            tuple[Tensor]: masked: ``(fused, mask)``, fused ``(B, N, C3, H/16, W/16)`` (``(B*N, ...)``
            for 4-D input) with ``C3 = 4 * embed_dims`` holding the features of both groups, each
            computed from its own group only, and the mask used (same layout as the input mask).
            Not masked: the normed maps of ``out_indices`` ``(B*N or B, N, C_i, H/s_i, W/s_i)``,
            ``s_i = 4 * 2**i``, in increasing stride; with ``out_fused`` the stride-16 one is the fused map.
        """
        if imgs.dim() == 5:
            B, N = imgs.shape[:2]
            x = imgs.flatten(0, 1)
        elif imgs.dim() == 4:
            B, N = imgs.shape[0], 1
            x = imgs
        else:
            raise ValueError(f'GeoMIMSwin: imgs must be (B, N, 3, H, W) or (B*N, 3, H, W), got {tuple(imgs.shape)}')
        lead = imgs.shape[:-3]
        masked = self.use_mask or mask is not None
        groups = None
        if masked:
            if mask is None:
                mask = self.generate_mask(B, N, imgs.shape[-2:], imgs.device)
                mask = mask if imgs.dim() == 5 else mask.flatten(0, 1)
            expected = tuple(lead) + (imgs.shape[-2] // self.mask_unit, imgs.shape[-1] // self.mask_unit)
            if tuple(mask.shape) != expected or mask.dtype != torch.bool or imgs.shape[-2] % self.mask_unit \
                    or imgs.shape[-1] % self.mask_unit:
                raise ValueError(f'GeoMIMSwin: mask must be bool of shape {expected} (unit {self.mask_unit} px, '
                                 f'image {tuple(imgs.shape[-2:])} a multiple of it), got {mask.dtype} '
                                 f'{tuple(mask.shape)}')
            unit_groups = mask.reshape(-1, *mask.shape[-2:]).long()

        x, hw = self.patch_embed(x)
        x = x + resize_pos_embed(self.absolute_pos_embed, self.patch_resolution, hw, 'bicubic', 0)
        x = self.drop_after_pos(x)
        outs, shapes = {}, {}

        def to_map(t: Tensor, hw_: Tuple[int, int]) -> Tensor:
            return t.transpose(1, 2).reshape(*lead, t.shape[-1], *hw_)

        stereo = ()
        for i, stage in enumerate(self.layers):
            if masked:
                f = self.mask_unit // (self.patch_size * 2**i)
                groups = unit_groups.repeat_interleave(f, 1).repeat_interleave(f, 2)
            out, out_hw, x, hw = stage(x, hw, groups)
            if i == 0 and self.return_stereo_feat and not masked:
                stereo = (to_map(out, out_hw), )
            if i in self.norm_indices:
                outs[i], shapes[i] = getattr(self, f'norm{i}')(out), out_hw

        fused = None
        if self.with_fusion and (masked or self.out_fused):
            fused_groups = None
            if masked:
                f = self.mask_unit // (self.patch_size * 4)
                fused_groups = unit_groups.repeat_interleave(f, 1).repeat_interleave(f, 2)
            fused = to_map(self.fusion(outs[2], shapes[2], outs[3], shapes[3], fused_groups), shapes[2])
        if masked:
            return fused, mask
        return stereo + tuple(
            fused if (i == 2 and self.out_fused) else to_map(outs[i], shapes[i]) for i in self.out_indices)
