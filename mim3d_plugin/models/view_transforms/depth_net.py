"""Camera-aware depth net of BEVDepth / BEVStereo4D, with the temporal-stereo branch.

Reproduces ``DepthNet`` (with ``Mlp``, ``SELayer``, ``_ASPPModule``, ``ASPP``) of BEVDet dev2.x
(``mmdet3d/models/necks/view_transformer.py``; Sense-X/GeoMIM ``bevdet/``; Li et al., "BEVDepth", AAAI 2023, Sec. 3.3
"camera-aware depth prediction"): a 3x3 reduce conv, the 27 camera parameters (:func:`camera_mlp_input`) batch-
normalised and turned by two MLPs into squeeze-excitation gates of the depth and context branches, the context 1x1
conv, and the depth branch: [stereo: the cost volume (:mod:`.stereo`) brought to the feature stride by two stride-2
conv-BN layers and concatenated], three mmdet BasicBlocks, ASPP, an optional DCN, a 1x1 conv to ``D`` logits.
Module and parameter names are the official ones, so ``img_view_transformer.depth_net.*`` of an official checkpoint
loads unchanged.
"""
from typing import Optional

import torch
import torch.nn.functional as F
from mmcv.cnn import build_conv_layer
from mmdet.models.backbones.resnet import BasicBlock
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

NUM_CAMERA_PARAMS = 27


def camera_mlp_input(cam2img: Tensor, img_aug: Tensor, bev_aug: Tensor, cam2bev: Tensor) -> Tensor:
    """The 27 camera parameters of BEVDepth's ``get_mlp_input`` per view.

    Args:
        cam2img (Tensor): ``(B, N, >=3, >=3)`` intrinsics before image augmentation (px).
        img_aug (Tensor): ``(B, N, 4, 4)`` image augmentation acting on ``(u, v, d, 1)`` (its 2x2 block and
            translation are the official ``post_rot`` / ``post_tran``).
        bev_aug (Tensor): ``(B, 4, 4)`` BEV augmentation (official ``bda``).
        cam2bev (Tensor): ``(B, N, 4, 4)`` camera -> the key frame's (un-augmented) BEV frame (official
            ``sensor2keyego``), m.

    Returns:
        Tensor: ``(B, N, 27)``: fx, fy, cx, cy, post_rot[0, 0], post_rot[0, 1], post_tran[0], post_rot[1, 0],
        post_rot[1, 1], post_tran[1], bda[0, 0], bda[0, 1], bda[1, 0], bda[1, 1], bda[2, 2], then the 3x4 of
        ``cam2bev`` row-major.
    """
    b, n = cam2img.shape[:2]
    bda = bev_aug[:, None].expand(b, n, 4, 4)
    params = torch.stack([
        cam2img[..., 0, 0], cam2img[..., 1, 1], cam2img[..., 0, 2], cam2img[..., 1, 2], img_aug[..., 0, 0],
        img_aug[..., 0, 1], img_aug[..., 0, 3], img_aug[..., 1, 0], img_aug[..., 1, 1], img_aug[..., 1, 3],
        bda[..., 0, 0], bda[..., 0, 1], bda[..., 1, 0], bda[..., 1, 1], bda[..., 2, 2]
    ], -1)
    return torch.cat([params, cam2bev[..., :3, :].reshape(b, n, 12)], -1)


class Mlp(nn.Module):
    """Linear -> ReLU -> Linear (official ``Mlp``, dropout 0)."""

    def __init__(self, in_features: int, hidden_features: int, out_features: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(hidden_features, out_features)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class SELayer(nn.Module):
    """``x * sigmoid(conv_expand(relu(conv_reduce(x_se))))`` (official ``SELayer``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv_reduce = nn.Conv2d(channels, channels, 1, bias=True)
        self.act1 = nn.ReLU()
        self.conv_expand = nn.Conv2d(channels, channels, 1, bias=True)
        self.gate = nn.Sigmoid()

    def forward(self, x: Tensor, x_se: Tensor) -> Tensor:
        return x * self.gate(self.conv_expand(self.act1(self.conv_reduce(x_se))))


class _ASPPModule(nn.Module):

    def __init__(self, inplanes: int, planes: int, kernel_size: int, padding: int, dilation: int) -> None:
        super().__init__()
        self.atrous_conv = nn.Conv2d(
            inplanes, planes, kernel_size=kernel_size, stride=1, padding=padding, dilation=dilation, bias=False)
        self.bn = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        nn.init.kaiming_normal_(self.atrous_conv.weight)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.bn(self.atrous_conv(x)))


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling, dilations 1, 6, 12, 18 + image pooling, 1x1 fusion, dropout 0.5 (official)."""

    def __init__(self, inplanes: int, mid_channels: int = 256) -> None:
        super().__init__()
        self.aspp1 = _ASPPModule(inplanes, mid_channels, 1, padding=0, dilation=1)
        self.aspp2 = _ASPPModule(inplanes, mid_channels, 3, padding=6, dilation=6)
        self.aspp3 = _ASPPModule(inplanes, mid_channels, 3, padding=12, dilation=12)
        self.aspp4 = _ASPPModule(inplanes, mid_channels, 3, padding=18, dilation=18)
        self.global_avg_pool = nn.Sequential(
            nn.AdaptiveAvgPool2d((1, 1)),
            nn.Conv2d(inplanes, mid_channels, 1, stride=1, bias=False),
            nn.BatchNorm2d(mid_channels),
            nn.ReLU(),
        )
        self.conv1 = nn.Conv2d(int(mid_channels * 5), inplanes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(0.5)
        for m in (self.global_avg_pool[1], self.conv1):
            nn.init.kaiming_normal_(m.weight)

    def forward(self, x: Tensor) -> Tensor:
        x5 = F.interpolate(self.global_avg_pool(x), size=x.shape[2:], mode='bilinear', align_corners=True)
        x = torch.cat((self.aspp1(x), self.aspp2(x), self.aspp3(x), self.aspp4(x), x5), dim=1)
        return self.dropout(self.relu(self.bn1(self.conv1(x))))


class CameraAwareDepthNet(nn.Module):
    """BEVDepth / BEVStereo4D ``DepthNet``.

    Args:
        in_channels (int): image feature channels.
        mid_channels (int): width of the branches (official: ``in_channels``).
        context_channels (int): context channels ``C`` of the view transformer.
        depth_channels (int): depth bins ``D``.
        use_dcn (bool): a DCN (mmcv ``DCN``, 4 groups) after ASPP. Official configs: False. Default: True.
        use_aspp (bool): ASPP after the BasicBlocks. Default: True.
        with_cp (bool): gradient checkpointing of the depth branch. Default: False.
        stereo (bool): the temporal-stereo input (``D`` more channels into the first BasicBlock). Default: False.
        bias (float): cost added to invalid stereo matches (official 5 with stereo). Default: 0.
        aspp_mid_channels (int): ASPP width (-1: ``mid_channels``; BEVStereo4D configs: 96). Default: -1.

    Shapes: ``forward(x (B*N, in, h, w), mlp_input (B*N, 27), cost_volume (B*N, D, 4h, 4w) or None)`` ->
    ``(B*N, D + C, h, w)`` (depth logits first).
    """

    def __init__(self,
                 in_channels: int,
                 mid_channels: int,
                 context_channels: int,
                 depth_channels: int,
                 use_dcn: bool = True,
                 use_aspp: bool = True,
                 with_cp: bool = False,
                 stereo: bool = False,
                 bias: float = 0.0,
                 aspp_mid_channels: int = -1) -> None:
        super().__init__()
        self.reduce_conv = nn.Sequential(
            nn.Conv2d(in_channels, mid_channels, kernel_size=3, stride=1, padding=1),
            nn.BatchNorm2d(mid_channels),
            nn.ReLU(inplace=True),
        )
        self.context_conv = nn.Conv2d(mid_channels, context_channels, kernel_size=1, stride=1, padding=0)
        self.bn = nn.BatchNorm1d(NUM_CAMERA_PARAMS)
        self.depth_mlp = Mlp(NUM_CAMERA_PARAMS, mid_channels, mid_channels)
        self.depth_se = SELayer(mid_channels)
        self.context_mlp = Mlp(NUM_CAMERA_PARAMS, mid_channels, mid_channels)
        self.context_se = SELayer(mid_channels)
        self.stereo = stereo
        self.bias = float(bias)
        depth_in = mid_channels
        downsample = None
        if stereo:
            depth_in += depth_channels
            downsample = nn.Conv2d(depth_in, mid_channels, 1, 1, 0)
            layers = []
            for _ in range(2):
                layers += [
                    nn.Conv2d(depth_channels, depth_channels, kernel_size=3, stride=2, padding=1),
                    nn.BatchNorm2d(depth_channels)
                ]
            self.cost_volumn_net = nn.Sequential(*layers)
        depth_layers = [
            BasicBlock(depth_in, mid_channels, downsample=downsample),
            BasicBlock(mid_channels, mid_channels),
            BasicBlock(mid_channels, mid_channels)
        ]
        if use_aspp:
            depth_layers.append(ASPP(mid_channels, mid_channels if aspp_mid_channels < 0 else aspp_mid_channels))
        if use_dcn:
            depth_layers.append(
                build_conv_layer(
                    dict(
                        type='DCN',
                        in_channels=mid_channels,
                        out_channels=mid_channels,
                        kernel_size=3,
                        padding=1,
                        groups=4,
                        im2col_step=128)))
        depth_layers.append(nn.Conv2d(mid_channels, depth_channels, kernel_size=1, stride=1, padding=0))
        self.depth_conv = nn.Sequential(*depth_layers)
        self.with_cp = with_cp
        self.depth_channels = depth_channels

    def forward(self, x: Tensor, mlp_input: Tensor, cost_volume: Optional[Tensor] = None) -> Tensor:
        if mlp_input.shape != (x.shape[0], NUM_CAMERA_PARAMS):
            raise ValueError(f'CameraAwareDepthNet: mlp_input must be (B*N, {NUM_CAMERA_PARAMS}) = '
                             f'({x.shape[0]}, {NUM_CAMERA_PARAMS}), got {tuple(mlp_input.shape)}')
        mlp_input = self.bn(mlp_input.to(x.dtype))
        x = self.reduce_conv(x)
        context = self.context_conv(self.context_se(x, self.context_mlp(mlp_input)[..., None, None]))
        depth = self.depth_se(x, self.depth_mlp(mlp_input)[..., None, None])
        if self.stereo:
            if cost_volume is None:  # no previous frame: zeros (official: the first frame of the chain)
                cost_volume = x.new_zeros(x.shape[0], self.depth_channels, x.shape[2] * 4, x.shape[3] * 4)
            depth = torch.cat([depth, self.cost_volumn_net(cost_volume.to(x.dtype))], dim=1)
        if self.with_cp and depth.requires_grad:
            depth = checkpoint(self.depth_conv, depth, use_reentrant=False)
        else:
            depth = self.depth_conv(depth)
        return torch.cat([depth, context], dim=1)
