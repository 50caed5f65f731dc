"""GeoMIM decoder: completes masked perspective-view features and predicts camera-aware depth.

GeoMIM (Liu et al., ICCV 2023, https://arxiv.org/abs/2303.11325) Sec. 3; official decoder part of
``SwinTransformerBEV`` (``decoder_embed_new``, ``mask_token``, ``decoder_pos_embed``, ``decoder_blocks``,
``decoder_blocks_pix``, ``decoder_cross_module``, ``PoseSEModule``) in
``pretrain/mmdet3d/models/backbones/swin_geomim.py`` and the ``depthnet`` of
``pretrain/mmdet3d/models/vtransforms/depth_lss_gt.py`` (Sense-X/GeoMIM).

Layout (paper defaults)::

    feats (B, N, C_enc, h, w) --Linear--> 512 ; masked tokens <- mask token ; + 2D sin-cos position
    blocks 0..7 (ViT blocks, 16 heads), CVA after blocks 1 and 5          -> semantic tokens -> LN
    fork after block 3 -> camera SE gate -> depth blocks 0..3, CVA after 1 -> depth tokens    -> LN
    cat(depth, semantic) -> 2 x (conv3x3-BN-ReLU) -> conv1x1 -> D depth logits + C_sem semantic channels
"""
from typing import Dict, Optional, Sequence

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmdet3d.registry import MODELS
from mmengine.model import BaseModule, ModuleList
from mmpretrain.models.backbones.vision_transformer import TransformerEncoderLayer
from mmpretrain.models.utils import build_2d_sincos_position_embedding
from torch import Tensor, nn

from ..layers.cross_view_attention import CrossViewAttention
from ..utils.camera_params import CAMERA_VECTOR_DIMS

TIMM_BLOCK_KEYS = (('norm1.', 'ln1.'), ('norm2.', 'ln2.'), ('mlp.fc1.', 'ffn.layers.0.0.'), ('mlp.fc2.',
                                                                                             'ffn.layers.1.'))


def timm_block_key(key: str) -> str:
    """A timm ``Block`` (or official GeoMIM ``WBlock``) parameter name relative to the block -> the mmpretrain
    ``TransformerEncoderLayer`` name our decoder and CVA blocks use (``attn.qkv`` / ``attn.proj`` are the same)."""
    for src, dst in TIMM_BLOCK_KEYS:
        if key.startswith(src):
            return dst + key[len(src):]
    return key


class CameraBatchNorm1d(nn.BatchNorm1d):
    """``BatchNorm1d`` over camera vectors that also trains on a single camera (``B x N = 1``: a monocular
    rig at batch 1, where ``nn.BatchNorm1d`` raises "Expected more than 1 value per channel").

    With two or more vectors it is ``nn.BatchNorm1d`` exactly (same keys, so checkpoints load). With one vector
    in training there is no batch variance: the running mean is updated with the vector (momentum as usual),
    the running variance is kept, and the vector is normalised with the running statistics.
    """

    def forward(self, x: Tensor) -> Tensor:
        """``x`` ``(M, C)`` camera vectors (M = B x N cameras) -> normalised ``(M, C)``."""
        if not self.training or x.shape[0] > 1:
            return super().forward(x)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(x.detach().mean(0), alpha=m)
        # copies: the buffers are updated in place by later calls (GeoMIM runs the decoder twice per step)
        return F.batch_norm(x, self.running_mean.clone(), self.running_var.clone(), self.weight, self.bias, False, 0.0,
                            self.eps)


class CameraAwareSE(BaseModule):
    """BEVDepth-style camera-aware gate (official ``PoseSEModule``): camera vector -> BatchNorm1d ->
    MLP (Linear-GELU-Linear) -> SE (Linear-ReLU-Linear-sigmoid) -> per-channel gate on the tokens."""

    def __init__(self, embed_dims: int, camera_dims: int = CAMERA_VECTOR_DIMS) -> None:
        super().__init__()
        self.bn = CameraBatchNorm1d(camera_dims)
        self.mlp = nn.Sequential(nn.Linear(camera_dims, embed_dims), nn.GELU(), nn.Linear(embed_dims, embed_dims))
        self.se = nn.Sequential(
            nn.Linear(embed_dims, embed_dims), nn.ReLU(inplace=True), nn.Linear(embed_dims, embed_dims), nn.Sigmoid())

    def forward(self, tokens: Tensor, cam_params: Tensor) -> Tensor:
        """tokens: (M, L, C); cam_params: (M, camera_dims) -> gated tokens (M, L, C)."""
        gate = self.se(self.mlp(self.bn(cam_params)))
        return tokens * gate[:, None, :]


@MODELS.register_module()
class GeoMIMDecoder(BaseModule):
    """GeoMIM pretraining decoder with semantic and camera-aware geometry (depth) branches.

    Args:
        in_channels (int): encoder width C_enc at stride 16 (Swin-B fused map: 512).
        embed_dims (int): decoder width. Defaults to 512 (paper).
        num_heads (int): heads of every decoder block and CVA block. Defaults to 16.
        num_blocks (int): blocks of the semantic trunk. Defaults to 8.
        mlp_ratio (float): FFN ratio. Defaults to 4.
        cva_indices (Sequence[int]): trunk blocks followed by a CVA block. Defaults to (1, 5) (official).
        depth_fork_index (int): the depth branch starts from the trunk tokens after this block
            (0-based, after its CVA if any). Defaults to 3 (official: 4 shared blocks).
        num_depth_blocks (int): blocks of the depth branch. Defaults to 4 (official ``depth // 2``).
        depth_cva_indices (Sequence[int]): depth-branch blocks followed by a CVA block. Default (1,).
        semantic_channels (int): output semantic channels C_sem (LSS context). Defaults to 80.
        num_depth_bins (int): D. Defaults to 118 (1-60 m, 0.5 m).
        camera_dims (int): camera vector size. Defaults to 22.
        head_convs (int): conv3x3-norm-ReLU layers of the output head before its 1x1 conv. Default 2.
        head_norm_cfg (dict): head norm. Defaults to ``dict(type='BN2d')`` (official SyncBN).
        pos_table_size (tuple[int, int], optional): None (default): the 2D sin-cos position embedding is built
            at the token grid of every input. ``(h0, w0)``: as the official decoder, a frozen table
            ``pos_table`` ``(1, C, h0, w0)`` (initialised to the 2D sin-cos at that grid; the official one is
            MixMIM's ``decoder_pos_embed`` at 224 / 32 = 7x7, loaded from the checkpoint) is bicubically
            interpolated to the token grid (``swin_geomim.py``: ``F.interpolate(decoder_pos_embed, bicubic)``).
            At 256x704 px (16x44 tokens) the two differ; official checkpoints need ``(7, 7)``.
        drop_path_rate (float): stochastic depth of the decoder blocks. Defaults to 0.
        init_cfg (dict, optional): mmengine init config. A MixMIM pretraining checkpoint starts the decoder as
            the official loader does (non-strictly): ``dict(type='Pretrained', checkpoint=MIXMIM_CKPT,
            prefix='neck.')`` (mmpretrain's MixMIM) or without ``prefix`` (Sense-X/MixMIM's timm layout). Its 8
            ``decoder_blocks`` become ``blocks``, its final norm ``norm``, ``mask_token`` and
            ``decoder_pos_embed`` (into ``pos_table`` when ``pos_table_size`` is set) load too; its
            ``decoder_embed`` (another input width) and ``decoder_pred`` do not, and the depth branch, CVA
            blocks, camera gate and head keep their initialisation (see :meth:`_from_mixmim`).
    """

    def __init__(self,
                 in_channels: int = 512,
                 embed_dims: int = 512,
                 num_heads: int = 16,
                 num_blocks: int = 8,
                 mlp_ratio: float = 4.,
                 cva_indices: Sequence[int] = (1, 5),
                 depth_fork_index: int = 3,
                 num_depth_blocks: int = 4,
                 depth_cva_indices: Sequence[int] = (1, ),
                 semantic_channels: int = 80,
                 num_depth_bins: int = 118,
                 camera_dims: int = CAMERA_VECTOR_DIMS,
                 head_convs: int = 2,
                 head_norm_cfg: dict = dict(type='BN2d'),
                 pos_table_size: Optional[Sequence[int]] = None,
                 drop_path_rate: float = 0.,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not 0 <= depth_fork_index < num_blocks:
            raise ValueError(f'GeoMIMDecoder: depth_fork_index must be in [0, {num_blocks}), got {depth_fork_index}')
        for name, idx, n in (('cva_indices', cva_indices, num_blocks), ('depth_cva_indices', depth_cva_indices,
                                                                        num_depth_blocks)):
            if not all(0 <= i < n for i in idx) or len(set(idx)) != len(idx):
                raise ValueError(f'GeoMIMDecoder: {name} must be distinct indices in [0, {n}), got {tuple(idx)}')
        self.embed_dims, self.camera_dims = embed_dims, camera_dims
        self.cva_indices, self.depth_cva_indices = tuple(cva_indices), tuple(depth_cva_indices)
        self.depth_fork_index = depth_fork_index
        self.semantic_channels, self.num_depth_bins = semantic_channels, num_depth_bins

        self.pos_table_size = tuple(pos_table_size) if pos_table_size is not None else None
        if self.pos_table_size is not None:
            if len(self.pos_table_size) != 2 or min(self.pos_table_size) < 1:
                raise ValueError(f'GeoMIMDecoder: pos_table_size must be (h0, w0), got {pos_table_size}')
            self.register_buffer('pos_table', self.sincos(*self.pos_table_size).permute(2, 0, 1)[None].contiguous())
        self.register_load_state_dict_pre_hook(GeoMIMDecoder._from_mixmim)
        self.embed = nn.Linear(in_channels, embed_dims)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, 1, 1, embed_dims))

        def block() -> TransformerEncoderLayer:
            return TransformerEncoderLayer(
                embed_dims, num_heads, int(embed_dims * mlp_ratio), drop_path_rate=drop_path_rate, qkv_bias=True)

        def cva() -> CrossViewAttention:
            return CrossViewAttention(embed_dims, num_heads, mlp_ratio, drop_path_rate=drop_path_rate)

        self.blocks = ModuleList([block() for _ in range(num_blocks)])
        self.cva = ModuleList([cva() for _ in self.cva_indices])
        self.norm = nn.LayerNorm(embed_dims)
        self.camera_se = CameraAwareSE(embed_dims, camera_dims)
        self.depth_blocks = ModuleList([block() for _ in range(num_depth_blocks)])
        self.depth_cva = ModuleList([cva() for _ in self.depth_cva_indices])
        self.depth_norm = nn.LayerNorm(embed_dims)
        convs = [
            ConvModule(2 * embed_dims if i == 0 else embed_dims, embed_dims, 3, padding=1, norm_cfg=head_norm_cfg)
            for i in range(head_convs)
        ]
        self.head = nn.Sequential(
            *convs, nn.Conv2d(embed_dims if head_convs else 2 * embed_dims, num_depth_bins + semantic_channels, 1))

    @staticmethod
    def _from_mixmim(module: 'GeoMIMDecoder', state_dict: dict, prefix: str, *args) -> None:
        """Load-state-dict pre-hook: a MixMIM decoder (keys ``decoder_blocks.*``) is renamed to ours in place.

        mmpretrain (``MixMIMPretrainDecoder``: ``ln1``/``ln2``/``ffn``, final norm ``ln1``) and timm layouts
        (``norm1``/``norm2``/``mlp.fc1``/``mlp.fc2``, final norm ``decoder_norm``) are both accepted. As the
        official GeoMIM loader (``swin_geomim.py`` ``init_weights``, non-strict), ``decoder_embed`` and
        ``decoder_pred`` are not loaded; a ``decoder_pos_embed`` ``(1, L, C)`` becomes ``pos_table``
        ``(1, C, sqrt(L), sqrt(L))`` when this decoder has one.
        """
        if not any(k.startswith(prefix + 'decoder_blocks.') for k in state_dict):
            return
        for key in [k for k in state_dict if k.startswith(prefix)]:
            rest, value = key[len(prefix):], state_dict[key]
            new = None
            if rest.startswith('decoder_blocks.'):
                idx, tail = rest[len('decoder_blocks.'):].split('.', 1)
                new = f'blocks.{idx}.{timm_block_key(tail)}'
            elif rest.startswith(('decoder_norm.', 'ln1.')):
                new = 'norm.' + rest.split('.', 1)[1]
            elif rest == 'mask_token':
                new, value = 'mask_token', value.reshape(1, 1, 1, 1, -1)
            elif rest == 'decoder_pos_embed' and module.pos_table_size is not None and value.dim() == 3:
                side = int(round(value.shape[1]**0.5))
                new, value = 'pos_table', value.reshape(1, side, side, -1).permute(0, 3, 1, 2).contiguous()
            elif rest.startswith(('decoder_embed.', 'decoder_pred.', 'decoder_pos_embed')):
                del state_dict[key]  # not loaded (official: decoder_embed_new has another input width)
                continue
            if new is not None:
                del state_dict[key]
                state_dict[prefix + new] = value

    def sincos(self, h: int, w: int) -> Tensor:
        """The fixed 2D sin-cos position embedding of an ``h x w`` token grid, ``(h, w, C)`` (mmpretrain's)."""
        return build_2d_sincos_position_embedding((h, w), self.embed_dims).reshape(w, h, -1).transpose(0, 1)

    def init_weights(self) -> None:
        """MAE-style init (xavier Linear, unit LN, mask token N(0, 0.02)), then children's own init (CVA
        output projections back to zero). Runs once (mmengine's ``is_init``)."""
        if self.is_init:
            return
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.trunc_normal_(self.mask_token, std=.02)
        super().init_weights()

    def _run(self,
             x: Tensor,
             blocks: ModuleList,
             cvas: ModuleList,
             cva_indices: Sequence[int],
             grid: tuple,
             fork: Optional[int] = None):
        B, N, h, w = grid
        forked = None
        for i, blk in enumerate(blocks):
            x = blk(x)
            if i in cva_indices:
                x = cvas[cva_indices.index(i)](x.view(B, N, h, w, -1)).reshape(B * N, h * w, -1)
            if i == fork:
                forked = x
        return x, forked

    def forward(self, feats: Tensor, mask: Optional[Tensor], cam_params: Tensor) -> Dict[str, Tensor]:
        """Decode one masked view of the multi-view encoder features.

        Args:
            feats (Tensor): ``(B, N, C_enc, h, w)`` stride-16 encoder features.
            mask (Tensor | None): ``(B, N, h_m, w_m)`` bool, True = masked (replaced by the mask token),
                at the token grid or a coarser one dividing it (e.g. 32 px units: ``h_m = h / 2``), or
                None (nothing masked). For GeoMIM's complementary masks call once with ``mask`` and once
                with ``~mask`` (or once on the two concatenated along B).
            cam_params (Tensor): ``(B, N, 22)`` from :func:`~mim3d_plugin.models.utils.camera_aware_vector`.

        Returns:
            dict: ``semantic`` ``(B, N, C_sem, h, w)`` and ``depth_logits`` ``(B, N, D, h, w)`` (softmax
            over D gives the depth distribution).
        """
        if feats.dim() != 5:
            raise ValueError(f'GeoMIMDecoder: feats must be (B, N, C, h, w), got {tuple(feats.shape)}')
        B, N, _, h, w = feats.shape
        if cam_params.shape != (B, N, self.camera_dims):
            raise ValueError(f'GeoMIMDecoder: cam_params must be {(B, N, self.camera_dims)}, got '
                             f'{tuple(cam_params.shape)}')
        x = self.embed(feats.permute(0, 1, 3, 4, 2))  # (B, N, h, w, C)
        if mask is not None:
            if mask.dim() != 4 or mask.shape[:2] != (B, N) or h % mask.shape[2] or w % mask.shape[3] \
                    or mask.dtype != torch.bool:
                raise ValueError(f'GeoMIMDecoder: mask must be bool (B={B}, N={N}, h_m, w_m) with h_m | {h} '
                                 f'and w_m | {w}, got {mask.dtype} {tuple(mask.shape)}')
            mask = mask.repeat_interleave(h // mask.shape[2], 2).repeat_interleave(w // mask.shape[3], 3)
            x = torch.where(mask[..., None], self.mask_token.to(x.dtype), x)
        if self.pos_table_size is None:
            pos = self.sincos(h, w)
        else:
            pos = F.interpolate(self.pos_table.float(), size=(h, w), mode='bicubic')[0].permute(1, 2, 0)
        x = (x + pos.to(x)).reshape(B * N, h * w, self.embed_dims)

        grid = (B, N, h, w)
        x, forked = self._run(x, self.blocks, self.cva, self.cva_indices, grid, self.depth_fork_index)
        semantic = self.norm(x)
        depth = self.camera_se(forked, cam_params.reshape(B * N, -1).to(x.dtype))
        depth, _ = self._run(depth, self.depth_blocks, self.depth_cva, self.depth_cva_indices, grid)
        depth = self.depth_norm(depth)

        maps = torch.cat([depth, semantic], dim=-1).transpose(1, 2).reshape(B * N, -1, h, w)
        out = self.head(maps).view(B, N, -1, h, w)
        return dict(depth_logits=out[:, :, :self.num_depth_bins], semantic=out[:, :, self.num_depth_bins:])
