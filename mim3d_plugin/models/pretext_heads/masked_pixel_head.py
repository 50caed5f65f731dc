"""Masked-pixel reconstruction pretext head (SimMIM / SparK style baseline)."""
from typing import Dict, List

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmdet3d.registry import MODELS
from torch import Tensor, nn

from ..utils import normalize_patches, patchify, units_to_cells
from .base import BasePretextHead, EncoderOutput


@MODELS.register_module()
class MaskedPixelHead(BasePretextHead):
    """Predict the pixels of the hidden units from the shared map (SimMIM, Xie et al., CVPR 2022; SparK, Tian
    et al., ICLR 2023: mask token at unseen cells, light conv decoder).

    For each hidden unit group of the encoder (``complementary``: each group with the other hidden, as MixMIM;
    ``sparse``: the units the encoder did not see) the hidden cells of the ``(C, h, w)`` map are replaced by a
    learned mask token, ``num_convs`` conv3x3-BN-ReLU layers and a 1x1 conv predict ``stride**2 * 3`` values per
    cell (pixel shuffle back to ``(3, H, W)``); loss: MSE to the normalised image (per ``stride`` patch mean /
    std when ``norm_pix``, MAE) over the pixels of hidden units, averaged over the passes.

    Inputs: ``imgs`` ``(B, V, 3, H, W)`` normalised, ``H, W`` = ``stride`` x the encoder map.

    Args:
        in_channels (int): encoder map width. stride (int): px per map cell (the encoder stride; checked on
            every batch). channels (int): decoder width. Default 128.
        num_convs (int): Default 2. norm_pix (bool): Default True. loss_weight (float): Default 1.
        frames (str): ``'all'`` frames of a clip (default) or ``'current'``.
    """

    accepted_masks = ('complementary', 'sparse')

    def __init__(self,
                 in_channels: int,
                 stride: int,
                 channels: int = 128,
                 num_convs: int = 2,
                 norm_pix: bool = True,
                 loss_weight: float = 1.0,
                 frames: str = 'all',
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if frames not in ('all', 'current'):
            raise ValueError(f"MaskedPixelHead: frames must be 'all' or 'current', got {frames!r}")
        self.mask_token = nn.Parameter(torch.zeros(1, in_channels, 1, 1))
        layers, c = [], in_channels
        for _ in range(num_convs):
            layers.append(ConvModule(c, channels, 3, padding=1, norm_cfg=dict(type='BN'), act_cfg=dict(type='ReLU')))
            c = channels
        self.convs = nn.Sequential(*layers)
        self.stride = stride
        self.pred = nn.Conv2d(c, stride * stride * 3, 1)
        self.norm_pix, self.loss_weight, self.frames = norm_pix, loss_weight, frames
        self.pixel_loss = MODELS.build(dict(type='mmpretrain.PixelReconstructionLoss', criterion='L2'))

    def init_weights(self) -> None:
        super().init_weights()
        nn.init.normal_(self.mask_token, std=.02)

    def decode(self, enc: EncoderOutput) -> List[Dict[str, Tensor]]:
        """Per pass: ``pixels`` ``(M, 3, H, W)`` (normalised-image units) and ``hidden`` ``(M, h, w)`` bool, the
        map cells whose pixels are targets (``M = B x`` views of the frames used)."""
        if self.stride != enc.stride:
            raise ValueError(f'MaskedPixelHead: stride={self.stride} px but the encoder map has stride {enc.stride} px')
        feats = (enc.feats if self.frames == 'all' else enc.current(enc.feats)).flatten(0, 1)
        outputs = []
        for hidden in enc.hidden_groups(frames=self.frames):
            cells = units_to_cells(hidden.flatten(0, 1), feats.shape[-2:])
            if not cells.any():
                raise ValueError('MaskedPixelHead: the encoder hid no unit (mask ratio 0): nothing to reconstruct')
            x = torch.where(cells[:, None], self.mask_token.to(feats.dtype), feats)
            pixels = F.pixel_shuffle(self.pred(self.convs(x)), self.stride)
            outputs.append(dict(pixels=pixels, hidden=cells))
        return outputs

    def predict(self, enc: EncoderOutput, inputs: dict, geometry: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """``pixels`` ``(B, P, V', 3, H, W)`` and ``hidden`` ``(B, P, V', h, w)`` of the ``P`` passes (``V'``: the
        views of the frames used)."""
        outputs = self.decode(enc)
        b = enc.feats.shape[0]
        return {
            key: torch.stack([o[key].view((b, -1) + o[key].shape[1:]) for o in outputs], 1)
            for key in ('pixels', 'hidden')
        }

    def loss(self, enc: EncoderOutput, inputs: dict, geometry: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """``loss_pixel``: mmpretrain ``PixelReconstructionLoss`` (L2) on the pixels of the hidden cells, averaged
        over the passes. Raises ``ValueError`` if the images are not ``stride`` x the map size."""
        imgs = inputs['imgs'] if self.frames == 'all' else enc.current(inputs['imgs'])
        size = tuple(self.stride * x for x in enc.feats.shape[-2:])
        if tuple(imgs.shape[-2:]) != size:
            raise ValueError(f'MaskedPixelHead: a {tuple(enc.feats.shape[-2:])} map at stride {self.stride} px needs '
                             f'images of {size} px, got {tuple(imgs.shape[-2:])}')
        target = patchify(imgs.flatten(0, 1), self.stride)
        target = normalize_patches(target) if self.norm_pix else target
        outputs = self.decode(enc)
        total = sum(
            self.pixel_loss(patchify(o['pixels'], self.stride), target, o['hidden'].flatten(1).to(target))
            for o in outputs)
        return dict(loss_pixel=self.loss_weight * total / len(outputs))
