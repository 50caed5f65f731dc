"""MIM4D pretraining algorithm: dual (spatial + temporal) masked multi-view video modeling with
volume rendering (Zou et al., 2024, https://arxiv.org/abs/2403.08760; official hustvl/MIM4D)."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.model import BaseModel
from torch import Tensor

from mmdet3d.registry import MODELS
from mim3d_plugin.geometry import invert_rigid, relative_transform
from ..utils import stack_meta


@MODELS.register_module()
class MIM4D(BaseModel):
    """MIM4D pretraining of a camera backbone.

    One step on a clip of ``F = T + 1`` key frames (the current one last):

    1. spatial masking: every view of every frame is masked by ``img_backbone``
       (:class:`MaskConvNeXt`, 32x32-px patches, ratio 0.3), encoded and passed
       through ``img_neck`` (FPN); level ``neck_level`` is lifted;
    2. ``view_transform`` (:class:`VoxelLifting`) lifts each frame into a voxel
       volume in that frame's ego coordinates;
    3. temporal masking: the current (target) frame is dropped and
       ``temporal_builder`` (:class:`SceneFlowPseudo3DBuilder`) warps the ``T``
       earlier volumes into its ego frame and predicts its pseudo-3D volume;
    4. ``render_head`` (:class:`VolumeRenderingHead`) casts rays through
       LiDAR-hit pixels of the target frame's cameras and renders RGB and depth
       from the pseudo-3D volume (``*_pseudo`` losses, ignored for samples whose
       earlier frames all repeat the current one at a scene start) and from
       the target frame's own masked-image volume (``*_cur`` losses).

    Any number of cameras and any batch size work (the official code fixes 6 and 1).

    Args:
        img_backbone (dict): :class:`MaskConvNeXt` config.
        img_neck (dict): e.g. ``mmdet.FPN``.
        view_transform (dict): :class:`VoxelLifting` config (volume frame: ego).
        temporal_builder (dict): :class:`SceneFlowPseudo3DBuilder` config with
            ``num_frames = F - 1``.
        render_head (dict): :class:`VolumeRenderingHead` config.
        num_frames (int): ``F`` frames per sample. Default: 3.
        neck_level (int): index of the neck output that is lifted (its stride
            must be ``view_transform.downsample``). Default: 0.
        use_mask (bool): spatial masking on (pretraining). Default: True.
        data_preprocessor (dict): :class:`MultiViewDataPreprocessor` with
            ``mean``/``std`` (used to recover the RGB targets in [0, 1]).

    Inputs (after the data preprocessor): ``imgs`` ``(B, F * N, 3, H, W)``
    (frame-major, see :class:`MultiFrameMultiView`), ``depth`` ``(B, F * N, H, W)``
    m (only the current frame's views are used); metainfo ``lidar2img``
    ``(F * N, 4, 4)``, ``lidar2ego``/``ego2global`` ``(F, 4, 4)``, ``frame_valid`` ``(F,)``.
    """

    def __init__(self, img_backbone: dict, img_neck: dict, view_transform: dict, temporal_builder: dict,
                 render_head: dict, num_frames: int = 3, neck_level: int = 0, use_mask: bool = True,
                 data_preprocessor: dict = dict(type='MultiViewDataPreprocessor'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.img_backbone = MODELS.build(img_backbone)
        self.img_neck = MODELS.build(img_neck)
        self.view_transform = MODELS.build(view_transform)
        self.temporal_builder = MODELS.build(temporal_builder)
        self.render_head = MODELS.build(render_head)
        if num_frames < 2 or self.temporal_builder.num_frames != num_frames - 1:
            raise ValueError(f'MIM4D: num_frames={num_frames} needs temporal_builder.num_frames = num_frames - 1, '
                             f'got {self.temporal_builder.num_frames}')
        self.num_frames = num_frames
        self.neck_level = neck_level
        self.use_mask = use_mask

    def extract_volumes(self, imgs: Tensor, ego2img: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
        """Masked encoding and lifting of every frame.

        Args:
            imgs (Tensor): ``(B, F, N, 3, H, W)`` normalised images.
            ego2img (Tensor): ``(B, F, N, 4, 4)`` each frame's ego -> augmented px.

        Returns:
            tuple: volumes ``(B, F, C, Z, Y, X)`` (each in its frame's ego
            coordinates) and the patch mask ``(B * F * N, H / 32, W / 32)`` (or None).
        """
        b, f, n = imgs.shape[:3]
        flat = imgs.flatten(0, 2)
        mask = None
        if self.use_mask:
            mask = self.img_backbone.random_mask(flat.shape[0], flat.shape[-2:], device=flat.device)
        feats = self.img_neck(self.img_backbone(flat, mask))[self.neck_level]
        feats = feats.view((b * f, n) + feats.shape[1:])
        volumes, _ = self.view_transform(feats, ego2img.flatten(0, 1))
        return volumes.view((b, f) + volumes.shape[1:]), mask

    def _rgb_targets(self, imgs: Tensor) -> Tensor:
        """Undo the preprocessor normalisation: ``(..., 3, H, W)`` -> RGB in [0, 1]."""
        pre = self.data_preprocessor
        if getattr(pre, '_enable_normalize', False):
            imgs = imgs * pre.std.view(3, 1, 1) + pre.mean.view(3, 1, 1)
        return (imgs / 255.0).clamp(0, 1)

    def _unpack(self, inputs: dict, data_samples: Sequence) -> Dict[str, Tensor]:
        imgs = inputs['imgs']
        b, fn = imgs.shape[:2]
        f = self.num_frames
        if fn % f:
            raise ValueError(f'MIM4D: {fn} views per sample is not a multiple of num_frames={f}; pack the clip with '
                             f'MultiFrameMultiView(num_prev_frames={f - 1})')
        n = fn // f
        dev = imgs.device
        lidar2img = stack_meta(data_samples, 'lidar2img', dev).view(b, f, n, 4, 4)
        lidar2ego = stack_meta(data_samples, 'lidar2ego', dev)
        ego2global = stack_meta(data_samples, 'ego2global', dev)
        if lidar2ego.shape != (b, f, 4, 4) or ego2global.shape != (b, f, 4, 4):
            raise ValueError(f'MIM4D: metainfo lidar2ego / ego2global must be (F={f}, 4, 4) per sample, got '
                             f'{tuple(lidar2ego.shape[1:])} / {tuple(ego2global.shape[1:])}')
        frame_valid = stack_meta(data_samples, 'frame_valid', dev, dtype=torch.bool)
        depth = inputs['depth'].view(b, f, n, *imgs.shape[-2:])
        ego2img = lidar2img @ invert_rigid(lidar2ego).unsqueeze(2)
        return dict(imgs=imgs.view((b, f, n) + imgs.shape[2:]), ego2img=ego2img, ego2global=ego2global,
                    frame_valid=frame_valid, depth=depth)

    def loss(self, inputs: dict, data_samples: Sequence) -> Dict[str, Tensor]:
        """Rendering losses of the pseudo-3D and the current volume (see the class docstring)."""
        d = self._unpack(inputs, data_samples)
        volumes, _ = self.extract_volumes(d['imgs'], d['ego2img'])
        frame2target = relative_transform(d['ego2global'][:, :-1], d['ego2global'][:, -1:])
        pseudo = self.temporal_builder(volumes[:, :-1], frame2target, d['frame_valid'][:, :-1])
        rays, tgt_rgb, tgt_depth = self.render_head.sample_rays(
            d['ego2img'][:, -1], d['depth'][:, -1], self._rgb_targets(d['imgs'][:, -1]))
        losses = self.render_head.loss(pseudo, rays, tgt_rgb, tgt_depth, d['frame_valid'][:, :-1].any(1), '_pseudo')
        losses.update(self.render_head.loss(volumes[:, -1], rays, tgt_rgb, tgt_depth, None, '_cur'))
        return losses

    @torch.no_grad()
    def predict(self, inputs: dict, data_samples: Sequence) -> List[dict]:
        """Render the current frame's views from both volumes on a pixel lattice (``render_head.image_stride``).

        Returns:
            list[dict]: per sample ``depth_pseudo``/``depth_cur`` ``(N, h, w)`` m,
            ``rgb_pseudo``/``rgb_cur`` ``(N, h, w, 3)``, ``rgb_target``
            ``(N, h, w, 3)`` and ``depth_target`` ``(N, h, w)`` at the render stride.
        """
        d = self._unpack(inputs, data_samples)
        volumes, _ = self.extract_volumes(d['imgs'], d['ego2img'])
        frame2target = relative_transform(d['ego2global'][:, :-1], d['ego2global'][:, -1:])
        pseudo = self.temporal_builder(volumes[:, :-1], frame2target, d['frame_valid'][:, :-1])
        out = dict(pseudo=self.render_head.render_image(pseudo, d['ego2img'][:, -1], d['imgs'].shape[-2:]),
                   cur=self.render_head.render_image(volumes[:, -1], d['ego2img'][:, -1], d['imgs'].shape[-2:]))
        stride = self.render_head.image_stride
        rgb = self._rgb_targets(d['imgs'][:, -1])[..., stride // 2::stride, stride // 2::stride]
        depth = d['depth'][:, -1][..., stride // 2::stride, stride // 2::stride]
        results = []
        for i in range(rgb.shape[0]):
            results.append(dict(depth_pseudo=out['pseudo']['depth'][i], rgb_pseudo=out['pseudo']['rgb'][i],
                                depth_cur=out['cur']['depth'][i], rgb_cur=out['cur']['rgb'][i],
                                rgb_target=rgb[i].permute(0, 2, 3, 1), depth_target=depth[i]))
        return results

    def forward(self, inputs: dict, data_samples: Optional[Sequence] = None, mode: str = 'loss'):
        """mmengine entry: ``mode='loss'`` (training) or ``'predict'`` (renderings for inspection)."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        raise ValueError(f'MIM4D: unsupported mode {mode!r} (use "loss" or "predict")')
