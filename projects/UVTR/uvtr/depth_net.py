"""UVTR's image depth branches (official ``detectors/uvtr.py`` / ``uvtr_dn.py`` ``depth_head`` and
``models/utils/uni3d_voxelpooldepth.py`` ``DepthNet``)."""
from mmdet3d.registry import MODELS
from mmdet.models.backbones.resnet import BasicBlock
from torch import Tensor, nn

from mim3d_plugin.models.view_transforms.depth_net import ASPP


@MODELS.register_module()
class UVTRDepthNet(nn.Module):
    """Per-pixel depth logits over ``D`` bins from image features.

    ``kind='simple'`` (official ``SimpleDepth``, vs0.1): one ``Conv2d(C, D, 1)`` (key ``depth_net.weight/bias``).
    ``kind='complex'`` (official ``ComplexDepth`` = ``DepthNet``, vs0.075): ``reduce_conv`` (3x3 conv + BN + ReLU)
    then ``depth_conv`` = 3 ResNet ``BasicBlock`` s, ASPP (dilations 1/6/12/18 + image pooling,
    ``aspp_mid_channels``), the output ``Conv2d(C, D, 1)``.

    Args:
        in_channels (int): C.
        depth_channels (int): D.
        kind (str): ``'simple'`` or ``'complex'``.
        mid_channels (int, optional): channels of the complex branch (official: C). Default: C.
        use_aspp (bool): Default: True.
        aspp_mid_channels (int): ASPP branch channels (official vs0.075: 96; -1: ``mid_channels``).
        use_dcn (bool): the official's optional deformable conv before the output; its configs set False and it is
            not built here (ValueError).

    Shapes: ``(N, C, h, w)`` -> ``(N, D, h, w)`` logits (the detector takes the softmax over D).
    """

    def __init__(self,
                 in_channels: int,
                 depth_channels: int,
                 kind: str = 'simple',
                 mid_channels: int = None,
                 use_aspp: bool = True,
                 aspp_mid_channels: int = -1,
                 use_dcn: bool = False) -> None:
        super().__init__()
        if kind not in ('simple', 'complex'):
            raise ValueError(f"UVTRDepthNet: kind must be 'simple' or 'complex', got {kind!r}")
        if use_dcn:
            raise ValueError('UVTRDepthNet: use_dcn=True (the official DepthNet default) is not built; the official '
                             'UVTR / UniPAD / MIM4D configs set use_dcn=False')
        self.kind = kind
        if kind == 'simple':
            self.conv = nn.Conv2d(in_channels, depth_channels, kernel_size=1)
            return
        mid = mid_channels or in_channels
        self.reduce_conv = nn.Sequential(
            nn.Conv2d(in_channels, mid, kernel_size=3, stride=1, padding=1), nn.BatchNorm2d(mid), nn.ReLU(inplace=True))
        layers = [BasicBlock(mid, mid), BasicBlock(mid, mid), BasicBlock(mid, mid)]
        if use_aspp:
            layers.append(ASPP(mid, mid if aspp_mid_channels < 0 else aspp_mid_channels))
        layers.append(nn.Conv2d(mid, depth_channels, kernel_size=1, stride=1, padding=0))
        self.depth_conv = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        if self.kind == 'simple':
            return self.conv(x)
        return self.depth_conv(self.reduce_conv(x))
