"""BEV encoder of BEVDet: a ResNet-style BEV backbone and the LSS FPN that fuses its outputs.

Reproduces ``CustomResNet`` (``mmdet3d/models/backbones/resnet.py``) and ``FPN_LSS``
(``mmdet3d/models/necks/lss_fpn.py``) of HuangJunJie2017/BEVDet (Huang et al.,
"BEVDet", https://arxiv.org/abs/2112.11790, Sec. 3.2 "BEV Encoder"), built from
mmdet's ``BasicBlock``/``Bottleneck``.
"""
from typing import Optional, Sequence, Tuple

import torch
from mmcv.cnn import ConvModule
from mmdet3d.registry import MODELS
from mmdet.models.backbones.resnet import BasicBlock, Bottleneck
from mmengine.model import BaseModule
from torch import Tensor, nn


@MODELS.register_module()
class BEVResNet(BaseModule):
    """ResNet-style BEV backbone (BEVDet ``CustomResNet``).

    Each stage starts with a residual block of stride ``strides[i]`` whose
    shortcut is a 3x3 strided conv (as BEVDet), followed by ``num_layers[i] - 1``
    stride-1 blocks.

    Args:
        in_channels (int): BEV channels in (e.g. 64 for BEVDet-R50, 64 * 2 for
            BEVDet4D with one previous frame).
        num_layers (Sequence[int]): blocks per stage. Default: (2, 2, 2).
        num_channels (Sequence[int], optional): output channels per stage.
            Default: ``in_channels * (2, 4, 8)``.
        strides (Sequence[int]): stride per stage. Default: (2, 2, 2).
        out_indices (Sequence[int], optional): stages returned. Default: all.
        block_type (str): ``'Basic'`` or ``'BottleNeck'``. Default: ``'Basic'``.
        norm_cfg (dict): norm layer. Default: BN.
        with_cp (bool): gradient checkpointing in the blocks. Default: False.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 in_channels: int,
                 num_layers: Sequence[int] = (2, 2, 2),
                 num_channels: Optional[Sequence[int]] = None,
                 strides: Sequence[int] = (2, 2, 2),
                 out_indices: Optional[Sequence[int]] = None,
                 block_type: str = 'Basic',
                 norm_cfg: dict = dict(type='BN'),
                 with_cp: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_channels is None:
            num_channels = [in_channels * 2**(i + 1) for i in range(len(num_layers))]
        if not len(num_layers) == len(num_channels) == len(strides):
            raise ValueError(f'BEVResNet: num_layers {list(num_layers)}, num_channels {list(num_channels)} and '
                             f'strides {list(strides)} must have the same length')
        if block_type not in ('Basic', 'BottleNeck'):
            raise ValueError(f"BEVResNet: block_type must be 'Basic' or 'BottleNeck', got {block_type!r}")
        self.out_indices = tuple(range(len(num_layers))) if out_indices is None else tuple(out_indices)
        self.num_channels = [int(c) for c in num_channels]
        self.layers = nn.ModuleList()
        cur = in_channels
        for n_blocks, out, stride in zip(num_layers, num_channels, strides):
            shortcut = nn.Conv2d(cur, out, 3, stride=stride, padding=1)
            if block_type == 'Basic':
                blocks = [BasicBlock(cur, out, stride=stride, downsample=shortcut, norm_cfg=norm_cfg, with_cp=with_cp)]
                blocks += [BasicBlock(out, out, norm_cfg=norm_cfg, with_cp=with_cp) for _ in range(n_blocks - 1)]
            else:
                if out % Bottleneck.expansion:
                    raise ValueError(f'BEVResNet: BottleNeck stages need channels divisible by 4, got {out}')
                blocks = [
                    Bottleneck(cur, out // 4, stride=stride, downsample=shortcut, norm_cfg=norm_cfg, with_cp=with_cp)
                ]
                blocks += [Bottleneck(out, out // 4, norm_cfg=norm_cfg, with_cp=with_cp) for _ in range(n_blocks - 1)]
            self.layers.append(nn.Sequential(*blocks))
            cur = out

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """``x`` (B, C_in, Y, X) BEV map -> tuple of (B, num_channels[i], Y / s_i, X / s_i) for ``out_indices``."""
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)


@MODELS.register_module()
class LSSFPN(BaseModule):
    """BEVDet's ``FPN_LSS``: upsample a deep BEV level, concatenate with a shallow one, two 3x3 convs.

    Args:
        in_channels (int): channels after concatenation (shallow + deep, e.g.
            ``64 * 2 + 64 * 8`` for BEVDet-R50).
        out_channels (int): output channels. Default: 256.
        scale_factor (int): upsampling of the deep level to the shallow one.
            Default: 4.
        input_feature_index (tuple[int, int]): (shallow, deep) indices into the
            backbone outputs. Default: (0, 2).
        extra_upsample (int, optional): final bilinear upsampling (2 brings the
            stride-2 map back to the input BEV size), followed by conv3x3 + BN +
            ReLU and a 1x1 conv. None to skip. Default: 2.
        norm_cfg (dict): norm layer. Default: BN.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int = 256,
                 scale_factor: int = 4,
                 input_feature_index: Tuple[int, int] = (0, 2),
                 extra_upsample: Optional[int] = 2,
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.input_feature_index = tuple(input_feature_index)
        self.up = nn.Upsample(scale_factor=scale_factor, mode='bilinear', align_corners=True)
        mid = out_channels * (2 if extra_upsample else 1)
        act = dict(type='ReLU', inplace=True)
        self.conv = nn.Sequential(
            ConvModule(in_channels, mid, 3, padding=1, bias=False, norm_cfg=norm_cfg, act_cfg=act),
            ConvModule(mid, mid, 3, padding=1, bias=False, norm_cfg=norm_cfg, act_cfg=act))
        self.up2 = None
        if extra_upsample:
            self.up2 = nn.Sequential(
                nn.Upsample(scale_factor=extra_upsample, mode='bilinear', align_corners=True),
                ConvModule(mid, out_channels, 3, padding=1, bias=False, norm_cfg=norm_cfg, act_cfg=act),
                nn.Conv2d(out_channels, out_channels, 1))

    def forward(self, feats: Sequence[Tensor]) -> Tensor:
        """``feats`` from :class:`BEVResNet` -> (B, out_channels, Y', X') (the input BEV size with defaults)."""
        shallow, deep = feats[self.input_feature_index[0]], feats[self.input_feature_index[1]]
        deep = self.up(deep)
        if deep.shape[-2:] != shallow.shape[-2:]:
            raise ValueError(f'LSSFPN: upsampled deep level {tuple(deep.shape[-2:])} does not match the shallow '
                             f'level {tuple(shallow.shape[-2:])}; check scale_factor / BEV size')
        x = self.conv(torch.cat([shallow, deep], dim=1))
        return self.up2(x) if self.up2 is not None else x
