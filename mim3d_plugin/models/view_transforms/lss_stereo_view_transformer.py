"""LSS view transformer with BEVDepth's camera-aware depth net and BEVStereo4D's temporal stereo.

Reproduces ``LSSViewTransformerBEVDepth`` / ``LSSViewTransformerBEVStereo`` of BEVDet dev2.x
(``mmdet3d/models/necks/view_transformer.py``): the depth net is :class:`CameraAwareDepthNet` (official ``DepthNet``,
key ``depth_net``), fed the 27 camera parameters and, with ``depthnet_cfg.stereo``, the stereo cost volume of the
stride-4 features of this frame and of the previous one (:mod:`.stereo`; official ``cv_frustum`` at stride 4); the
lift / splat is :class:`LSSViewTransformer`'s.
"""
from typing import Dict, Optional, Tuple

import torch
from mmdet3d.registry import MODELS
from torch import Tensor

from mim3d_plugin.geometry import create_frustum, depth_bin_centers
from .depth_net import CameraAwareDepthNet
from .lss_view_transformer import LSSViewTransformer
from .stereo import stereo_cost_volume, stereo_sampling_grid


@MODELS.register_module()
class LSSViewTransformerBEVStereo(LSSViewTransformer):
    """LSS with the camera-aware (and optionally stereo) depth net.

    Args:
        depthnet_cfg (dict): :class:`CameraAwareDepthNet` options (official BEVStereo4D: ``use_dcn=False,
            aspp_mid_channels=96, stereo=True, bias=5.``).
        stereo_downsample (int): stride of the stereo features (official 4). Default: 4.
        stereo_invalid (str): invalid stereo matches, ``'geometry'`` (outside the previous image / behind its
            camera) or ``'official'`` (a zero sample in one channel; use with official weights). Default:
            ``'geometry'``.
        **kwargs: :class:`LSSViewTransformer` (``with_depth_net`` is forced False: the depth net is this one).

    ``forward(feats, lidar2img, mlp_input, stereo=None)``: ``feats`` ``(B, N, in_channels, h, w)``, ``lidar2img``
    ``(B, N, 4, 4)``, ``mlp_input`` ``(B, N, 27)`` (:func:`camera_mlp_input`), ``stereo`` a dict with ``cur_feat``,
    ``adj_feat`` ``(B, N, C_s, H / 4, W / 4)``, ``adj2img`` ``(B, N, 4, 4)`` (the previous frame's projection from the
    same 3D frame as ``lidar2img``) or None (no previous frame: a zero cost volume, as the official first frame).
    Returns the BEV (or voxel) features and the ``(B, N, D, h, w)`` depth probabilities.
    """

    def __init__(self,
                 depthnet_cfg: Optional[dict] = None,
                 stereo_downsample: int = 4,
                 stereo_invalid: str = 'geometry',
                 frustum_pixels: str = 'center',
                 **kwargs) -> None:
        kwargs['with_depth_net'] = False
        super().__init__(frustum_pixels=frustum_pixels, **kwargs)
        cfg = dict(depthnet_cfg or {})
        self.depth_net = CameraAwareDepthNet(self.in_channels, self.in_channels, self.out_channels, self.num_bins,
                                             **cfg)
        self.stereo = bool(cfg.get('stereo', False))
        if stereo_invalid not in ('geometry', 'official'):
            raise ValueError(f"LSSViewTransformerBEVStereo: stereo_invalid must be 'geometry' or 'official', got "
                             f'{stereo_invalid!r}')
        self.stereo_invalid = stereo_invalid
        self.stereo_downsample = int(stereo_downsample)
        self.frustum_pixels = frustum_pixels
        size = (self.input_size[0] // self.stereo_downsample, self.input_size[1] // self.stereo_downsample)
        self.register_buffer(
            'cv_frustum',
            create_frustum(self.input_size, size, depth_bin_centers(self.depth_bound, sid=self.sid), frustum_pixels),
            persistent=False)

    def cost_volume(self, lidar2img: Tensor, stereo: Dict[str, Tensor]) -> Tensor:
        """``(B * N, D, H / 4, W / 4)`` matching probabilities (no gradient, as the official ``torch.no_grad``)."""
        cur, adj = stereo['cur_feat'], stereo['adj_feat']
        b, n = cur.shape[:2]
        if cur.shape != adj.shape or tuple(cur.shape[-2:]) != tuple(self.cv_frustum.shape[1:3]):
            raise ValueError(f'LSSViewTransformerBEVStereo: stereo features must both be (B, N, C, '
                             f'{self.cv_frustum.shape[1]}, {self.cv_frustum.shape[2]}) (stride '
                             f'{self.stereo_downsample}), got {tuple(cur.shape)} and {tuple(adj.shape)}')
        with torch.no_grad(), torch.autocast(device_type=cur.device.type, enabled=False):
            eye = torch.eye(4, dtype=torch.float32, device=cur.device).expand(b, 4, 4)
            grid, behind = stereo_sampling_grid(self.cv_frustum.float(), lidar2img.float(), stereo['adj2img'].float(),
                                                eye, self.input_size, self.frustum_pixels)
            return stereo_cost_volume(
                cur.flatten(0, 1).float(),
                adj.flatten(0, 1).float(),
                grid,
                self.num_bins,
                self.frustum_pixels,
                invalid_bias=self.depth_net.bias,
                invalid=self.stereo_invalid,
                behind=behind)

    def forward(self,
                feats: Tensor,
                lidar2img: Tensor,
                mlp_input: Optional[Tensor] = None,
                stereo: Optional[Dict[str, Tensor]] = None) -> Tuple[Tensor, Tensor]:
        if mlp_input is None:
            raise ValueError('LSSViewTransformerBEVStereo: needs mlp_input (B, N, 27), the camera parameters of '
                             'camera_mlp_input()')
        self._check_inputs(feats, lidar2img, self.in_channels, 'feats')
        b, n = feats.shape[:2]
        cost = self.cost_volume(lidar2img, stereo) if (self.stereo and stereo is not None) else None
        out = self.depth_net(feats.flatten(0, 1), mlp_input.flatten(0, 1), cost)
        depth_logits = out[:, :self.num_bins].unflatten(0, (b, n))
        context = out[:, self.num_bins:self.num_bins + self.out_channels].unflatten(0, (b, n))
        return super().forward(context, lidar2img, depth_logits=depth_logits)
