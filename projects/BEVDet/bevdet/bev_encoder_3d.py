"""3D voxel encoder of BEVDet-Occ: a 3D ResNet over the ``(B, C, Z, Y, X)`` volume and the 3D LSS FPN.

Reproduces ``CustomResNet3D`` (``mmdet3d/models/backbones/resnet.py``) and ``LSSFPN3D``
(``mmdet3d/models/necks/lss_fpn.py``) of HuangJunJie2017/BEVDet dev2.1, the BEV encoder of the BEVDet-Occ /
BEVStereo4D-Occ configs (``configs/bevdet_occ/``; GeoMIM's ``bevdet-occ-swinb-4d-stereo-512x1408-24e-geomim.py``):
the view transformer keeps the Z axis (``LSSViewTransformer(collapse_z=False)``), the encoder runs 3D convolutions
and the FPN brings every level back to the input volume. Module and parameter names are the official ones, so an
official checkpoint's ``img_bev_encoder_backbone.*``, ``img_bev_encoder_neck.*`` and ``pre_process_net.*`` load
unchanged (``tools/model_converters/bevdet_official_to_mim3d.py``).
"""
from typing import Optional, Sequence, Tuple

import torch
from mmcv.cnn import ConvModule
from mmdet3d.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint


def _conv3d(cin: int, cout: int, kernel: int, stride: int, act: bool) -> ConvModule:
    return ConvModule(
        cin,
        cout,
        kernel_size=kernel,
        stride=stride,
        padding=kernel // 2,
        bias=False,
        conv_cfg=dict(type='Conv3d'),
        norm_cfg=dict(type='BN3d'),
        act_cfg=dict(type='ReLU', inplace=True) if act else None)


class BasicBlock3D(nn.Module):
    """Residual block of two 3x3x3 conv-BN (ReLU after the first and after the sum); the shortcut is
    ``downsample`` (a 3x3x3 conv-BN of the block's stride) when given, else the identity (official ``BasicBlock3D``)."""

    def __init__(self,
                 channels_in: int,
                 channels_out: int,
                 stride: int = 1,
                 downsample: Optional[nn.Module] = None) -> None:
        super().__init__()
        self.conv1 = _conv3d(channels_in, channels_out, 3, stride, act=True)
        self.conv2 = _conv3d(channels_out, channels_out, 3, 1, act=False)
        self.downsample = downsample
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        identity = self.downsample(x) if self.downsample is not None else x
        return self.relu(self.conv2(self.conv1(x)) + identity)


@MODELS.register_module()
class BEVResNet3D(BaseModule):
    """3D ResNet over a voxel volume (BEVDet-Occ ``CustomResNet3D``).

    Stage ``i`` is a :class:`BasicBlock3D` of stride ``stride[i]`` with a conv-BN shortcut, then
    ``num_layer[i] - 1`` stride-1 blocks. Argument names are the official ones.

    Args:
        numC_input (int): input channels (BEVDet4D-Occ: ``C * (1 + A)``).
        num_layer (Sequence[int]): blocks per stage. Official occupancy encoder: ``[1, 2, 4]``; ``pre_process``:
            ``[1]``. Default: ``(2, 2, 2)``.
        num_channels (Sequence[int], optional): channels per stage. Default: ``numC_input * 2 ** (i + 1)``.
        stride (Sequence[int]): stride per stage (all three axes). Default: ``(2, 2, 2)``.
        backbone_output_ids (Sequence[int], optional): stages returned. Default: all.
        with_cp (bool): gradient checkpointing per stage. Default: False.
        init_cfg (dict, optional): mmengine init config.

    Shapes: ``(B, numC_input, Z, Y, X)`` -> tuple of ``(B, num_channels[i], Z / s_i, Y / s_i, X / s_i)``.
    """

    def __init__(self,
                 numC_input: int,
                 num_layer: Sequence[int] = (2, 2, 2),
                 num_channels: Optional[Sequence[int]] = None,
                 stride: Sequence[int] = (2, 2, 2),
                 backbone_output_ids: Optional[Sequence[int]] = None,
                 with_cp: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_channels is None:
            num_channels = [numC_input * 2**(i + 1) for i in range(len(num_layer))]
        if not len(num_layer) == len(num_channels) == len(stride):
            raise ValueError(f'BEVResNet3D: num_layer {list(num_layer)}, num_channels {list(num_channels)} and '
                             f'stride {list(stride)} must have the same length')
        self.backbone_output_ids = tuple(range(
            len(num_layer))) if backbone_output_ids is None else tuple(backbone_output_ids)
        self.num_channels = [int(c) for c in num_channels]
        self.with_cp = with_cp
        layers, cur = [], int(numC_input)
        for n_blocks, out, s in zip(num_layer, self.num_channels, stride):
            blocks = [BasicBlock3D(cur, out, stride=s, downsample=_conv3d(cur, out, 3, s, act=False))]
            blocks += [BasicBlock3D(out, out) for _ in range(n_blocks - 1)]
            layers.append(nn.Sequential(*blocks))
            cur = out
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        if x.dim() != 5:
            raise ValueError(f'BEVResNet3D: input must be a (B, C, Z, Y, X) volume, got {tuple(x.shape)}')
        outs = []
        for i, layer in enumerate(self.layers):
            x = checkpoint(layer, x, use_reentrant=False) if self.with_cp and x.requires_grad else layer(x)
            if i in self.backbone_output_ids:
                outs.append(x)
        return tuple(outs)


@MODELS.register_module()
class LSSFPN3D(BaseModule):
    """BEVDet-Occ ``LSSFPN3D``: levels 2 and 3 upsampled x2 and x4 (trilinear, ``align_corners=True``) to level 1,
    concatenated, one 1x1x1 conv-BN-ReLU.

    Args:
        in_channels (int): channels after concatenation (official: ``C + 2C + 4C = 7C``).
        out_channels (int): output channels (official: ``C``, the view transformer's).
        with_cp (bool): gradient checkpointing of the conv. Default: False.
        init_cfg (dict, optional): mmengine init config.

    Shapes: ``[(B, C1, Z, Y, X), (B, C2, Z/2, Y/2, X/2), (B, C3, Z/4, Y/4, X/4)]`` -> ``(B, out_channels, Z, Y, X)``.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 with_cp: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.up1 = nn.Upsample(scale_factor=2, mode='trilinear', align_corners=True)
        self.up2 = nn.Upsample(scale_factor=4, mode='trilinear', align_corners=True)
        self.conv = _conv3d(in_channels, out_channels, 1, 1, act=True)
        self.with_cp = with_cp

    def forward(self, feats: Sequence[Tensor]) -> Tensor:
        if len(feats) != 3:
            raise ValueError(f'LSSFPN3D: needs the 3 levels of BEVResNet3D, got {len(feats)}')
        x_8, x_16, x_32 = feats
        x_16, x_32 = self.up1(x_16), self.up2(x_32)
        if not x_8.shape[2:] == x_16.shape[2:] == x_32.shape[2:]:
            raise ValueError(f'LSSFPN3D: upsampled levels {tuple(x_16.shape[2:])}, {tuple(x_32.shape[2:])} do not '
                             f'match the first level {tuple(x_8.shape[2:])}: Z, Y, X must be divisible by 4')
        x = torch.cat([x_8, x_16, x_32], dim=1)
        return checkpoint(self.conv, x, use_reentrant=False) if self.with_cp and x.requires_grad else self.conv(x)
