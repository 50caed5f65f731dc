"""Cross-View Attention (CVA) block of GeoMIM's decoder.

GeoMIM (Liu et al., ICCV 2023, https://arxiv.org/abs/2303.11325), Sec. 3 "Cross-View Attention"; official
``WBlock`` / ``WidthAttention`` in ``pretrain/mmdet3d/models/backbones/swin_geomim.py`` of Sense-X/GeoMIM.
Multi-view cameras of a rig are mounted at about the same height, so a scene element tends to appear
on about the same image row in neighbouring views. CVA lets the tokens of image row ``r`` of every view
attend to row ``r`` of all ``V`` views: ``(B, V, H, W, C) -> (B*H, V*W, C)``, followed by a pre-norm
transformer block (attention + MLP, as ``timm`` ``Block``). Both output projections are zero-initialised
so the block is the identity at initialisation. Unlike the official code (which infers 5 or 6 views from
the batch size) the number of views is read from the input shape: any ``V >= 1`` (``V = 1`` is plain
attention along each image row).
"""
import torch.nn as nn
from mmdet3d.registry import MODELS
from mmpretrain.models.backbones.vision_transformer import TransformerEncoderLayer
from torch import Tensor


@MODELS.register_module()
class CrossViewAttention(TransformerEncoderLayer):
    """Row-wise attention across views, as a pre-norm transformer block with zero-init output projections.

    Built on mmpretrain's ``TransformerEncoderLayer`` (``ln1`` -> ``MultiheadAttention`` -> residual,
    ``ln2`` -> mmcv ``FFN`` -> residual); parameter names are those of that class.

    Args:
        embed_dims (int): token width C. GeoMIM: 512.
        num_heads (int): attention heads. GeoMIM: 16.
        mlp_ratio (float): FFN hidden width / C. Defaults to 4.
        qkv_bias (bool): qkv bias. Defaults to True.
        drop_rate (float): dropout after the projections. Defaults to 0.
        attn_drop_rate (float): attention-weight dropout. Defaults to 0.
        drop_path_rate (float): stochastic depth. Defaults to 0.
        act_cfg (dict): FFN activation. Defaults to GELU.
        norm_cfg (dict): norm layer. Defaults to LN.
        zero_init (bool): zero the attention output projection and the last FFN layer (weights and
            biases) so the block starts as the identity. Defaults to True (official).
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 act_cfg: dict = dict(type='GELU'),
                 norm_cfg: dict = dict(type='LN'),
                 zero_init: bool = True,
                 init_cfg=None) -> None:
        if embed_dims % num_heads != 0:
            raise ValueError(f'CrossViewAttention: embed_dims ({embed_dims}) must be divisible by '
                             f'num_heads ({num_heads})')
        super().__init__(
            embed_dims=embed_dims,
            num_heads=num_heads,
            feedforward_channels=int(embed_dims * mlp_ratio),
            drop_rate=drop_rate,
            attn_drop_rate=attn_drop_rate,
            drop_path_rate=drop_path_rate,
            qkv_bias=qkv_bias,
            act_cfg=act_cfg,
            norm_cfg=norm_cfg,
            init_cfg=init_cfg)
        self.zero_init = zero_init
        self._zero_output_projections()

    def _zero_output_projections(self) -> None:
        if not self.zero_init:
            return
        last_fc = [m for m in self.ffn.modules() if isinstance(m, nn.Linear)][-1]
        for layer in (self.attn.proj, last_fc):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def init_weights(self) -> None:
        """mmpretrain's init (xavier FFN), then zero the output projections again."""
        super().init_weights()
        self._zero_output_projections()

    def forward(self, x: Tensor) -> Tensor:
        """Row-wise cross-view attention.

        Args:
            x (Tensor): ``(B, V, H, W, C)`` tokens of V views on an H x W grid.

        Returns:
            Tensor: ``(B, V, H, W, C)``; token (v, r, c) depends only on row r of all V views.
        """
        if x.dim() != 5 or x.shape[-1] != self.embed_dims:
            raise ValueError(f'CrossViewAttention: expected (B, V, H, W, {self.embed_dims}) tokens, '
                             f'got {tuple(x.shape)}')
        B, V, H, W, C = x.shape
        rows = x.permute(0, 2, 1, 3, 4).reshape(B * H, V * W, C)
        rows = super().forward(rows)
        return rows.reshape(B, H, V, W, C).permute(0, 2, 1, 3, 4)
