"""MIM4D pretraining algorithm: dual (spatial + temporal) masked multi-view video modeling with
volume rendering (Zou et al., 2024, https://arxiv.org/abs/2403.08760; official hustvl/MIM4D)."""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.model import BaseModel
from torch import Tensor

from mmdet3d.registry import MODELS
from mim3d_plugin.geometry import invert_rigid, relative_transform
from ..utils import stack_meta


TEMPORAL_TARGETS = ('current', 'random')


@MODELS.register_module()
class MIM4D(BaseModel):
    """MIM4D pretraining of a camera backbone.

    One step on a clip of ``F = T + 1`` frames (oldest first, the current key
    frame last):

    1. spatial masking: every view of every frame is masked by ``img_backbone``
       (:class:`MaskConvNeXt`, 32x32-px patches, ratio 0.3), encoded and passed
       through ``img_neck`` (FPN); level ``neck_level`` is lifted;
    2. ``view_transform`` (:class:`VoxelLifting`) lifts each frame with its own
       projection into a voxel volume in that frame's ``volume_frame``
       coordinates (official: LiDAR);
    3. temporal masking, per target frame ``k`` of ``temporal_targets``: frame
       ``k`` is dropped and ``temporal_builder`` (:class:`SceneFlowPseudo3DBuilder`)
       warps the other ``F - 1`` volumes (time order) into frame ``k`` and
       predicts its pseudo-3D volume;
    4. ``render_head`` (:class:`VolumeRenderingHead`) casts rays through
       LiDAR-target pixels of frame ``k``'s cameras and renders RGB and depth from
       the pseudo-3D volume (``*_pseudo``) and from frame ``k``'s own masked-image
       volume (``*_cur``). Each loss is the mean over the targets.

    Temporal targets (official ``UVTRSSL.get_batchrays`` / ``get_adj_loss_hop``,
    ``uvtr_ssl_hop.py``): ``'current'`` predicts the current frame from the past;
    ``'random'`` predicts a randomly chosen earlier frame (drawn per sample) from
    all the other frames, the future ones included (their "bi-temporal"
    predictor). The official configs train both, averaged; that is the default.
    ``'random'`` needs depth maps of the earlier frames
    (``MultiFrameMultiView(depth_all_frames=True)``, metainfo ``depth_frames``).
    A target whose frame only repeats another one at a scene start
    (``frame_valid`` False), or with no valid other frame, contributes no
    ``*_pseudo`` loss; a repeated target frame contributes no ``*_cur`` loss.

    Any number of cameras and any batch size work (the official code fixes 6 and 1).

    Args:
        img_backbone (dict): :class:`MaskConvNeXt` config.
        img_neck (dict): e.g. ``mmdet.FPN``.
        view_transform (dict): :class:`VoxelLifting` config (its grid is in ``volume_frame``).
        temporal_builder (dict): :class:`SceneFlowPseudo3DBuilder` config with
            ``num_frames = F - 1``.
        render_head (dict): :class:`VolumeRenderingHead` config.
        num_frames (int): ``F`` frames per sample. Default: 3.
        neck_level (int): index of the neck output that is lifted (its stride
            must be ``view_transform.downsample``). Default: 0.
        use_mask (bool): spatial masking on (pretraining). Default: True.
        volume_frame (str): ``'lidar'`` (official: grid, warps and rays in each
            frame's LiDAR frame; on nuScenes the ground is at z ~ -1.84 m) or
            ``'ego'``. Default: ``'lidar'``.
        temporal_targets (Sequence[str]): any of ``'current'``, ``'random'``.
            Default: both (official).
        data_preprocessor (dict): :class:`MultiViewDataPreprocessor` with
            ``mean``/``std`` (used to recover the RGB targets in [0, 1]).

    Inputs (after the data preprocessor): ``imgs`` ``(B, F * N, 3, H, W)``
    (frame-major, see :class:`MultiFrameMultiView`), ``depth`` ``(B, F * N, H, W)``
    camera z in m (0 = no point); metainfo ``lidar2img`` ``(F * N, 4, 4)``,
    ``lidar2ego``/``ego2global`` ``(F, 4, 4)``, ``frame_valid`` ``(F,)`` and,
    optionally, ``depth_frames`` ``(F,)`` bool (frames whose depth maps are filled;
    default: the current one only).

    Raises:
        ValueError: inconsistent ``num_frames``, unknown ``volume_frame`` or
        target, a clip that is not ``F`` frames, or ``'random'`` without
        earlier-frame depth maps.
    """

    def __init__(self, img_backbone: dict, img_neck: dict, view_transform: dict, temporal_builder: dict,
                 render_head: dict, num_frames: int = 3, neck_level: int = 0, use_mask: bool = True,
                 volume_frame: str = 'lidar', temporal_targets: Sequence[str] = TEMPORAL_TARGETS,
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
        if volume_frame not in ('lidar', 'ego'):
            raise ValueError(f"MIM4D: volume_frame must be 'lidar' or 'ego', got {volume_frame!r}")
        targets = tuple(temporal_targets)
        if not targets or any(t not in TEMPORAL_TARGETS for t in targets) or len(set(targets)) != len(targets):
            raise ValueError(f'MIM4D: temporal_targets must be distinct names from {TEMPORAL_TARGETS}, got '
                             f'{temporal_targets!r}')
        self.num_frames = num_frames
        self.neck_level = neck_level
        self.use_mask = use_mask
        self.volume_frame = volume_frame
        self.temporal_targets = targets

    def extract_volumes(self, imgs: Tensor, src2img: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
        """Masked encoding and lifting of every frame.

        Args:
            imgs (Tensor): ``(B, F, N, 3, H, W)`` normalised images.
            src2img (Tensor): ``(B, F, N, 4, 4)`` each frame's volume frame -> augmented px.

        Returns:
            tuple: volumes ``(B, F, C, Z, Y, X)`` (each in its own frame's
            ``volume_frame`` coordinates) and the patch mask ``(B * F * N, H / 32, W / 32)`` (or None).
        """
        b, f, n = imgs.shape[:3]
        flat = imgs.flatten(0, 2)
        mask = None
        if self.use_mask:
            mask = self.img_backbone.random_mask(flat.shape[0], flat.shape[-2:], device=flat.device)
        feats = self.img_neck(self.img_backbone(flat, mask))[self.neck_level]
        feats = feats.view((b * f, n) + feats.shape[1:])
        volumes, _ = self.view_transform(feats, src2img.flatten(0, 1))
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
        lidar2ego = stack_meta(data_samples, 'lidar2ego', dev, dtype=torch.float64)
        ego2global = stack_meta(data_samples, 'ego2global', dev, dtype=torch.float64)
        if lidar2ego.shape != (b, f, 4, 4) or ego2global.shape != (b, f, 4, 4):
            raise ValueError(f'MIM4D: metainfo lidar2ego / ego2global must be (F={f}, 4, 4) per sample, got '
                             f'{tuple(lidar2ego.shape[1:])} / {tuple(ego2global.shape[1:])}')
        frame_valid = stack_meta(data_samples, 'frame_valid', dev, dtype=torch.bool)
        metas = [s if isinstance(s, dict) else s.metainfo for s in data_samples]
        if all('depth_frames' in m for m in metas):
            depth_frames = stack_meta(data_samples, 'depth_frames', dev, dtype=torch.bool)
        else:
            depth_frames = torch.zeros(b, f, dtype=torch.bool, device=dev)
            depth_frames[:, -1] = True
        depth = inputs['depth'].view(b, f, n, *imgs.shape[-2:])
        if self.volume_frame == 'lidar':
            src2img = lidar2img
            frame2global = ego2global @ lidar2ego
        else:
            src2img = lidar2img @ invert_rigid(lidar2ego.to(lidar2img.dtype)).unsqueeze(2)
            frame2global = ego2global
        return dict(imgs=imgs.view((b, f, n) + imgs.shape[2:]), src2img=src2img, frame2global=frame2global,
                    frame_valid=frame_valid, depth_frames=depth_frames, depth=depth)

    def _targets(self, d: Dict[str, Tensor]) -> List[Tensor]:
        """One ``(B,)`` long tensor of target frame indices per entry of ``temporal_targets``."""
        b, f = d['frame_valid'].shape
        dev = d['frame_valid'].device
        out = []
        for name in self.temporal_targets:
            if name == 'current':
                out.append(torch.full((b, ), f - 1, dtype=torch.long, device=dev))
                continue
            if not d['depth_frames'][:, :-1].all():
                raise ValueError("MIM4D: temporal_targets has 'random' (an earlier frame as target) but the clip "
                                 'has no depth maps for its earlier frames (metainfo depth_frames is '
                                 f'{d["depth_frames"].tolist()}); set MultiFrameMultiView(depth_all_frames=True) '
                                 "and 'depth_frames' in the packer's meta_keys")
            out.append(torch.randint(0, f - 1, (b, ), device=dev))
        return out

    def _target_losses(self, volumes: Tensor, d: Dict[str, Tensor], target: Tensor) -> Dict[str, Tensor]:
        """Pseudo-3D and own-volume rendering losses of target frames ``(B,)``."""
        b, f = d['frame_valid'].shape
        bidx = torch.arange(b, device=target.device)
        order = torch.arange(f, device=target.device).expand(b, f)
        others = order[order != target.view(b, 1)].view(b, f - 1)  # the other frames, time order
        rows = bidx.view(b, 1)
        frame2target = relative_transform(d['frame2global'][rows, others],
                                          d['frame2global'][bidx, target].unsqueeze(1)).to(volumes.dtype)
        others_valid = d['frame_valid'][rows, others]
        target_valid = d['frame_valid'][bidx, target]
        pseudo = self.temporal_builder(volumes[rows, others], frame2target, others_valid)
        rays, tgt_rgb, tgt_depth, hit = self.render_head.sample_rays(
            d['src2img'][bidx, target], d['depth'][bidx, target], self._rgb_targets(d['imgs'][bidx, target]))
        losses = self.render_head.loss(pseudo, rays, tgt_rgb, tgt_depth, hit, others_valid.any(1) & target_valid,
                                       '_pseudo')
        losses.update(self.render_head.loss(volumes[bidx, target], rays, tgt_rgb, tgt_depth, hit, target_valid,
                                            '_cur'))
        return losses

    def loss(self, inputs: dict, data_samples: Sequence) -> Dict[str, Tensor]:
        """Rendering losses, averaged over the temporal targets (see the class docstring)."""
        d = self._unpack(inputs, data_samples)
        volumes, _ = self.extract_volumes(d['imgs'], d['src2img'])
        targets = self._targets(d)
        losses: Dict[str, Tensor] = {}
        for target in targets:
            for key, value in self._target_losses(volumes, d, target).items():
                losses[key] = losses[key] + value if key in losses else value
        return {key: value / len(targets) for key, value in losses.items()}

    @torch.no_grad()
    def predict(self, inputs: dict, data_samples: Sequence) -> List[dict]:
        """Render the current frame's views from both volumes on a pixel lattice (``render_head.image_stride``).

        Returns:
            list[dict]: per sample ``depth_pseudo``/``depth_cur`` ``(N, h, w)``
            camera z in m, ``rgb_pseudo``/``rgb_cur`` ``(N, h, w, 3)``,
            ``rgb_target`` ``(N, h, w, 3)`` and ``depth_target`` ``(N, h, w)`` m at the render stride.
        """
        d = self._unpack(inputs, data_samples)
        volumes, _ = self.extract_volumes(d['imgs'], d['src2img'])
        frame2target = relative_transform(d['frame2global'][:, :-1], d['frame2global'][:, -1:]).to(volumes.dtype)
        pseudo = self.temporal_builder(volumes[:, :-1], frame2target, d['frame_valid'][:, :-1])
        out = dict(pseudo=self.render_head.render_image(pseudo, d['src2img'][:, -1], d['imgs'].shape[-2:]),
                   cur=self.render_head.render_image(volumes[:, -1], d['src2img'][:, -1], d['imgs'].shape[-2:]))
        stride = self.render_head.image_stride
        rgb = self._rgb_targets(d['imgs'][:, -1])[..., stride // 2::stride, stride // 2::stride]
        depth = d['depth'][:, -1][..., stride // 2::stride, stride // 2::stride]
        results = []
        for i in range(rgb.shape[0]):
            results.append(dict(depth_pseudo=out['pseudo']['depth'][i], rgb_pseudo=out['pseudo']['rgb'][i],
                                depth_cur=out['cur']['depth'][i], rgb_cur=out['cur']['rgb'][i],
                                rgb_target=rgb[i].permute(0, 2, 3, 1), depth_target=depth[i]))
        return results

    @torch.no_grad()
    def visual_panels(self, inputs: dict, data_samples: Sequence, max_views: int = 3) -> Dict[str, np.ndarray]:
        """Pictures of the first sample's current (last) frame, the one rebuilt from the other frames
        (for :class:`PretrainVisualizationHook`), ``(H, W, 3)`` uint8, first ``max_views`` views per row:

        - ``mim4d_rgb_target_pseudo_cur``: target RGB, RGB rendered from the pseudo-3D volume (earlier frames
          only), RGB rendered from the frame's own masked volume;
        - ``mim4d_depth_target_pseudo_cur``: LiDAR depth, rendered depths (same rows), one colour scale (m).
        """
        from mim3d_plugin.visualization import colorize_depth, hstack, vstack
        r = self.predict(inputs, data_samples)[0]
        n = min(max_views, r['rgb_target'].shape[0])

        def rgb(x):
            return (x.detach().float().clamp(0, 1).cpu().numpy() * 255).astype(np.uint8)

        top = max(float(r['depth_target'][:n].max()), 1.0)
        rows_rgb = [hstack([rgb(r[k][v]) for v in range(n)]) for k in ('rgb_target', 'rgb_pseudo', 'rgb_cur')]
        rows_d = [hstack([colorize_depth(r[k][v], top) for v in range(n)])
                  for k in ('depth_target', 'depth_pseudo', 'depth_cur')]
        return {'mim4d_rgb_target_pseudo_cur': vstack(rows_rgb), 'mim4d_depth_target_pseudo_cur': vstack(rows_d)}

    def forward(self, inputs: dict, data_samples: Optional[Sequence] = None, mode: str = 'loss'):
        """mmengine entry: ``mode='loss'`` (training) or ``'predict'`` (renderings for inspection)."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        raise ValueError(f'MIM4D: unsupported mode {mode!r} (use "loss" or "predict")')
