"""Depth-aware lifting of multi-view image features into a 3D voxel volume (MIM4D / UniPAD).

MIM4D (Zou et al., 2024, Sec. 3.3) lifts the multi-view FPN features of each frame
into a voxel volume (+-51.2 m x +-51.2 m x [-5, 3] m at 0.8 x 0.8 x 1.6 m, 64 depth
bins) and reduces it to 32 channels with 3D convolutions; the volume is what the
temporal builder warps and the rendering head reads. Here the lift is the LSS splat
of :class:`LSSViewTransformer` (softmax depth distribution x context, pooled by
:func:`mim3d_plugin.geometry.depth_weighted_pooling`) kept as a volume
(``collapse_z=False``), followed by ``Conv3d`` blocks that densify it and set the
output channels. (Official MIM4D/UniPAD instead sample image features at voxel
centres weighted by the depth probability of that voxel; both are depth-aware
lifts onto the same grid.)
"""
from typing import Dict, Optional, Sequence, Tuple

from mmcv.cnn import ConvModule
from mmdet3d.registry import MODELS
from torch import Tensor, nn

from .lss_view_transformer import LSSViewTransformer


@MODELS.register_module()
class VoxelLifting(LSSViewTransformer):
    """Multi-view features -> ``(B, C_out, Z, Y, X)`` voxel volume.

    Args:
        grid_config (dict): ``x``, ``y``, ``z`` as ``[min, max, step]`` m in the
            frame of ``src2img``'s source (MIM4D: the ego frame), ``depth`` as
            ``[start, stop, step]`` m. MIM4D: x, y ``[-51.2, 51.2, 0.8]``, z
            ``[-5, 3, 1.6]``, depth ``[1.0, 52.2, 0.8]`` (64 bins).
        input_size (Sequence[int]): ``(H, W)`` px of the network input.
        downsample (int): feature stride. Default: 16.
        in_channels (int): image feature channels. Default: 256.
        lift_channels (int): context channels splatted into the grid. Default: 64.
        out_channels (int): volume channels after the 3D convs (MIM4D: 32). Default: 32.
        num_convs (int): ``Conv3d(3x3x3) + BN + ReLU`` blocks after the splat
            (the last without ReLU). Default: 2.
    """

    def __init__(self,
                 grid_config: Dict[str, Sequence[float]],
                 input_size: Sequence[int],
                 downsample: int = 16,
                 in_channels: int = 256,
                 lift_channels: int = 64,
                 out_channels: int = 32,
                 num_convs: int = 2,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            grid_config,
            input_size,
            downsample=downsample,
            in_channels=in_channels,
            out_channels=lift_channels,
            with_depth_net=True,
            collapse_z=False,
            init_cfg=init_cfg)
        if num_convs < 1:
            raise ValueError(f'VoxelLifting: num_convs must be >= 1, got {num_convs}')
        convs, ch = [], lift_channels
        for i in range(num_convs):
            last = i == num_convs - 1
            convs.append(
                ConvModule(
                    ch,
                    out_channels,
                    3,
                    padding=1,
                    bias=last,
                    conv_cfg=dict(type='Conv3d'),
                    norm_cfg=None if last else dict(type='BN3d'),
                    act_cfg=None if last else dict(type='ReLU', inplace=True)))
            ch = out_channels
        self.volume_convs = nn.Sequential(*convs)
        self.volume_channels = out_channels

    def forward(self, feats: Tensor, src2img: Tensor, depth_logits: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """Lift.

        Args:
            feats (Tensor): ``(B, N_cam, in_channels, h, w)`` image features,
                ``(h, w) = input_size / downsample``.
            src2img (Tensor): ``(B, N_cam, 4, 4)`` volume frame (ego) -> augmented px.

        Returns:
            tuple[Tensor, Tensor]: volume ``(B, out_channels, Z, Y, X)`` on the
            grid (ego frame) and depth probabilities ``(B, N_cam, D, h, w)``.
        """
        volume, depth_prob = super().forward(feats, src2img, depth_logits)
        return self.volume_convs(volume), depth_prob
