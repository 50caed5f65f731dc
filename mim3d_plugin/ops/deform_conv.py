"""Modulated deformable convolution (DCNv2) that runs without mmcv's kernel: ``torchvision.ops.deform_conv2d``."""
import torch
from mmcv.ops import ModulatedDeformConv2dPack
from mmdet3d.registry import MODELS
from mmengine.registry import MODELS as ROOT_MODELS
from torch import Tensor
from torchvision.ops import deform_conv2d

from .availability import compiled_op_available


@MODELS.register_module()
class PortableDCNv2(ModulatedDeformConv2dPack):
    """mmcv's ``ModulatedDeformConv2dPack`` (``'DCNv2'``; Zhu et al. 2019; same arguments, parameters and state-dict
    keys: an official R101-DCN checkpoint loads unchanged) computed by ``torchvision.ops.deform_conv2d`` where mmcv's
    kernel does not run on the input's device. Offsets ``(B, 2 * deform_groups * kh * kw, H', W')`` ((dy, dx) pairs
    per kernel tap, as both libraries lay them out) and the mask ``sigmoid`` of the last third of ``conv_offset``'s
    output, as mmcv (``tests/test_ops/test_deform_conv.py`` pins the two on CPU).

    Input ``(B, C_in, H, W)``; output ``(B, C_out, H', W')`` (float32 on the PyTorch path, also under autocast).
    """

    def forward(self, x: Tensor) -> Tensor:
        if compiled_op_available('modulated_deform_conv', x.device):
            # mmcv's kernels have no bfloat16 (CPU nor CUDA): float32 under autocast
            with torch.autocast(device_type=x.device.type, enabled=False):
                return super().forward(x.float())
        out = self.conv_offset(x)
        o1, o2, mask = out.chunk(3, dim=1)
        offset = torch.cat((o1, o2), dim=1)
        # torchvision's kernels have no bfloat16 (CPU) and sample offsets better in float32: run it in float32
        with torch.autocast(device_type=x.device.type, enabled=False):
            return deform_conv2d(
                x.float(),
                offset.float(),
                self.weight.float(),
                None if self.bias is None else self.bias.float(),
                stride=self.stride,
                padding=self.padding,
                dilation=self.dilation,
                mask=mask.float().sigmoid())


# mmdet's heads name mmcv's class by its registered name in code (``AnchorFreeHead(dcn_on_last_conv=True)`` builds
# ``dict(type='DCNv2')``: FCOS3D, FCOS), so a config cannot pick the portable class for them. The root registry's
# 'DCNv2' is pointed at the subclass: the same parameters, the same kernel wherever mmcv's runs, the PyTorch path
# elsewhere (``tests/test_ops/test_deform_conv.py``).
ROOT_MODELS.register_module('DCNv2', module=PortableDCNv2, force=True)
