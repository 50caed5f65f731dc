"""ConvNeXt with SparK-style sparse masking for MIM4D pretraining, a plain ConvNeXt for finetuning.

MIM4D (Zou et al., 2024, Sec. 3.2; official ``projects/mmdet3d_plugin/models/
backbones/mask_convnext.py``) masks 32x32-pixel patches of every view and keeps
the masked positions at zero through every convolution and normalisation, as
SparK (Tian et al., ICLR 2023) does: a "sparse" conv is the dense conv followed
by zeroing the masked outputs, a sparse LayerNorm normalises visible positions
only (LayerNorm is per position, so it equals the dense one followed by zeroing).
mmpretrain's :class:`~mmpretrain.models.backbones.SparseConvNeXt` does the same
but reads the mask from the class attribute ``SparseHelper._cur_active``; here
the mask is an argument of :meth:`MaskConvNeXt.forward` (no shared state).

The class subclasses mmpretrain's :class:`~mmpretrain.models.backbones.ConvNeXt`,
so parameter names are those of mmpretrain ConvNeXt checkpoints and of the
downstream backbone: ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')``
loads either an ImageNet ConvNeXt or a MIM4D-pretrained one.
"""
from typing import Optional, Sequence, Tuple

import torch
from mmdet3d.registry import MODELS
from mmpretrain.models.backbones import ConvNeXt
from torch import Tensor


def _expand_mask(mask: Tensor, height: int) -> Tensor:
    """``(B, h_m, w_m)`` bool patch mask -> ``(B, 1, H, W)`` float mask at feature height ``H``."""
    ratio = height // mask.shape[-2]
    if ratio < 1 or height % mask.shape[-2]:
        raise ValueError(f'MaskConvNeXt: feature height {height} is not a multiple of the mask height '
                         f'{mask.shape[-2]}')
    return mask.unsqueeze(1).to(torch.float32).repeat_interleave(ratio, 2).repeat_interleave(ratio, 3)


@MODELS.register_module()
class MaskConvNeXt(ConvNeXt):
    """ConvNeXt accepting an explicit SparK patch mask.

    Args:
        mask_ratio (float): fraction of patches masked by :meth:`random_mask`.
            MIM4D: 0.3. Default: 0.3.
        mask_patch_size (int): side of a mask patch in input px, a multiple of the stage-4 stride (32) so that
            every stage's cells lie in one patch. Default: 32.
        out_indices (Sequence[int]): stages whose normed maps are returned, strides 4 / 8 / 16 / 32 px. Default
            ``(0, 1, 2, 3)``, the maps an mmdet / mmdet3d FPN expects (mmpretrain's classifier default is the last
            stage only).
        gap_before_final_norm (bool): pool each output to a ``(B, C)`` vector (mmpretrain's classifier output).
            Default False: dense ``(B, C, H / s, W / s)`` maps, what detectors and the masked forward need.
        **kwargs: the other :class:`mmpretrain.models.backbones.ConvNeXt` arguments (``arch``, ``drop_path_rate``,
            ``frozen_stages``, ``init_cfg``...).

    Raises:
        ValueError: a mask ratio outside [0, 1), a mask patch that is not a multiple of 32 px, out_indices that
            are not increasing stages.
    """

    def __init__(self,
                 mask_ratio: float = 0.3,
                 mask_patch_size: int = 32,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 gap_before_final_norm: bool = False,
                 **kwargs) -> None:
        indices = [out_indices] if isinstance(out_indices, int) else list(out_indices)
        positive = [i % 4 for i in indices]
        if not positive or positive != sorted(set(positive)) or any(not -4 <= i < 4 for i in indices):
            raise ValueError(f'MaskConvNeXt: out_indices must be increasing stage indices in 0..3, got {out_indices}')
        if mask_patch_size <= 0 or mask_patch_size % 32:
            raise ValueError(f'MaskConvNeXt: mask_patch_size must be a multiple of the 32 px stage-4 stride, got '
                             f'{mask_patch_size}')
        super().__init__(out_indices=out_indices, gap_before_final_norm=gap_before_final_norm, **kwargs)
        if not 0.0 <= mask_ratio < 1.0:
            raise ValueError(f'MaskConvNeXt: mask_ratio must be in [0, 1), got {mask_ratio}')
        self.mask_ratio = mask_ratio
        self.mask_patch_size = mask_patch_size
        self._register_load_state_dict_pre_hook(self._drop_unused_norms)

    def _drop_unused_norms(self, state_dict, prefix, *args, **kwargs):
        """Output norms of a checkpoint's stages that this backbone does not output (``norm{i}``, ``i`` not in
        ``out_indices``; e.g. a pretraining that output stages 2 and 3, fine-tuned on stage 3 only) are ignored
        (one log line), so the checkpoint loads with no unexpected key."""
        own = {f'norm{i}' for i in self.out_indices}
        unused = [
            k for k in state_dict
            if k.startswith(prefix) and k[len(prefix):].startswith('norm') and k[len(prefix):].split('.')[0] not in own
        ]
        for k in unused:
            del state_dict[k]
        if unused:
            from mmengine.logging import print_log
            print_log(
                'MaskConvNeXt: the checkpoint\'s output norms '
                f'{sorted({k[len(prefix):].split(".")[0] for k in unused})}'
                f' belong to stages this backbone does not output (out_indices={self.out_indices}); not used',
                logger='current')

    def random_mask(self,
                    batch_size: int,
                    img_shape: Tuple[int, int],
                    device=None,
                    generator: Optional[torch.Generator] = None,
                    mask_ratio: Optional[float] = None) -> Tensor:
        """Random patch mask with ``round(L * (1 - mask_ratio))`` visible patches per image (at least one).

        Args:
            batch_size (int): images (e.g. ``B * T * N_cam``), each masked independently.
            img_shape (tuple[int, int]): ``(H, W)`` px, multiples of ``mask_patch_size``.
            generator (torch.Generator, optional): for reproducible masks.
            mask_ratio (float, optional): overrides ``self.mask_ratio`` (evaluation), in [0, 1).

        Returns:
            Tensor: ``(batch_size, H / p, W / p)`` bool, True = visible.
        """
        h, w = img_shape
        p = self.mask_patch_size
        if h % p or w % p:
            raise ValueError(f'MaskConvNeXt: image size {(h, w)} must be a multiple of mask_patch_size {p}')
        num = (h // p) * (w // p)
        ratio = self.mask_ratio if mask_ratio is None else float(mask_ratio)
        if not 0.0 <= ratio < 1.0:
            raise ValueError(f'MaskConvNeXt: mask_ratio must be in [0, 1), got {ratio}')
        keep = max(1, round(num * (1 - ratio)))
        noise = torch.rand(batch_size, num, device=device, generator=generator)
        rank = noise.argsort(dim=1).argsort(dim=1)
        return (rank < keep).view(batch_size, h // p, w // p)

    def forward(self, x: Tensor, mask: Optional[Tensor] = None) -> Tuple[Tensor, ...]:
        """Extract features.

        Args:
            x (Tensor): ``(B, 3, H, W)`` normalised images.
            mask (Tensor, optional): ``(B, H / p, W / p)`` bool, True = visible
                patch. None: a normal dense ConvNeXt (finetuning).

        Returns:
            tuple[Tensor]: ``(B, C_i, H / s_i, W / s_i)`` for each ``out_indices``
            stage; masked positions are exactly zero.
        """
        if mask is None:
            return super().forward(x)
        b, _, h, w = x.shape
        p = self.mask_patch_size
        if tuple(mask.shape) != (b, h // p, w // p) or h % p or w % p:
            raise ValueError(f'MaskConvNeXt: mask must be (B, H/{p}, W/{p}) = {(b, h // p, w // p)} for images '
                             f'{tuple(x.shape)} (H, W multiples of {p}), got {tuple(mask.shape)}')
        if self.gap_before_final_norm:
            raise ValueError('MaskConvNeXt: masked forward needs dense maps, set gap_before_final_norm=False')
        x = x * _expand_mask(mask, h).to(x.dtype)
        outs = []
        for i, stage in enumerate(self.stages):
            x = self._masked_downsample(self.downsample_layers[i], x, mask)
            for block in stage:
                x = self._masked_block(block, x, mask)
            if i in self.out_indices:
                out = getattr(self, f'norm{i}')(x)
                outs.append(out * _expand_mask(mask, out.shape[2]).to(out.dtype))
        return tuple(outs)

    @staticmethod
    def _masked_downsample(layer, x: Tensor, mask: Tensor) -> Tensor:
        """Stem (conv, LN) or downsample (LN, conv), zeroing masked positions after each op."""
        for op in layer:
            x = op(x)
            x = x * _expand_mask(mask, x.shape[2]).to(x.dtype)
        return x

    @staticmethod
    def _masked_block(block, x: Tensor, mask: Tensor) -> Tensor:
        """SparK's ``SparseConvNeXtBlock`` with an explicit mask (same op order)."""
        active = _expand_mask(mask, x.shape[2]).to(x.dtype)
        shortcut = x
        x = block.depthwise_conv(x) * active
        if block.linear_pw_conv:
            x = x.permute(0, 2, 3, 1)
            x = block.norm(x, data_format='channel_last') * active.permute(0, 2, 3, 1)
            x = block.act(block.pointwise_conv1(x))
            if block.grn is not None:
                x = block.grn(x, data_format='channel_last')
            x = block.pointwise_conv2(x).permute(0, 3, 1, 2)
        else:
            x = block.norm(x, data_format='channel_first') * active
            x = block.act(block.pointwise_conv1(x))
            if block.grn is not None:
                x = block.grn(x, data_format='channel_first')
            x = block.pointwise_conv2(x)
        if block.gamma is not None:
            x = x.mul(block.gamma.view(1, -1, 1, 1))
        return shortcut + block.drop_path(x * active)
