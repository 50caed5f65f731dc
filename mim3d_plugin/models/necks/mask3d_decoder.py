"""Mask3D's dense decoder: an MAE decoder on the completed (h, w) token grid of the fused RGB-D bottleneck."""
from typing import Tuple

from mmdet3d.registry import MODELS
from mmpretrain.models.necks.mae_neck import MAEPretrainDecoder
from torch import Tensor

from ..utils.token_masking import sincos_pos_embed_2d


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
        super().__init__(num_patches=self.patch_resolution[0] * self.patch_resolution[1], **kwargs)
        del self.mask_token  # the bottleneck already carries per-modality mask tokens

    def init_weights(self) -> None:
        super(MAEPretrainDecoder, self).init_weights()
        self.decoder_pos_embed.data.copy_(
            sincos_pos_embed_2d(self.patch_resolution, self.decoder_pos_embed.shape[-1], cls_token=True))

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
