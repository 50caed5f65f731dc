"""Temporal volume-rendering pretext head (MIM4D, Zou et al., 2024, https://arxiv.org/abs/2403.08760)."""
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmdet3d.registry import MODELS
from torch import Tensor

from mim3d_plugin.geometry import invert_rigid, relative_transform
from .base import BasePretextHead, EncoderOutput

TEMPORAL_TARGETS = ('current', 'random')
TARGET_RAYS = ('all', 'hidden')


@MODELS.register_module()
class TemporalRenderingHead(BasePretextHead):
    """MIM4D's lifting, scene-flow temporal builder and NeuS renderer on the shared encoder's per-frame maps.

    1. ``view_transform`` (:class:`VoxelLifting`) lifts each frame's ``N`` views (the encoder's masked maps)
       with its own projection into a voxel volume in that frame's ``volume_frame`` coordinates;
    2. per temporal target ``k`` (``'current'``: the last frame; ``'random'``: an earlier frame drawn per sample,
       predicted from all the others; official ``UVTRSSL.get_batchrays`` / ``get_adj_loss_hop``), frame ``k``
       is dropped and ``temporal_builder`` (:class:`SceneFlowPseudo3DBuilder`) warps the other ``F - 1``
       volumes (time order) into frame ``k`` and predicts its pseudo-3D volume;
    3. ``render_head`` (:class:`VolumeRenderingHead`) renders RGB and depth along LiDAR-target rays of frame
       ``k`` from the pseudo-3D volume (``*_pseudo``) and from frame ``k``'s own volume (``*_cur``).
       Each loss is the mean over the targets. A target whose frame only repeats another at a scene start
       (``frame_valid`` False), or with no valid other frame, contributes no ``*_pseudo`` loss; a repeated
       target frame no ``*_cur`` loss.

    What the encoder hid (``target_rays``): ``'all'`` (official MIM4D on its SparK encoder) renders rays anywhere in
    the target frame; the ``*_cur`` rays whose pixel the encoder saw (about ``1 - mask_ratio`` of them) reconstruct
    what the encoder was given. ``'hidden'`` reads the encoder per pass (:meth:`EncoderOutput.passes`: the two
    complementary groups of GeoMIM's Swin, each with the other zeroed) and renders, per pass, rays only at the
    pixels that pass hid, ``num_rays / passes`` per image, so no target pixel is seen by the features it is rendered
    from. The fraction of ``*_cur`` rays whose pixel the encoder saw is logged as ``visible_target_cur``
    (``*_pseudo`` renders a frame the builder never reads: 0). A complementary encoder needs ``'hidden'`` (every
    unit is encoded from itself: ``'all'`` would render 100 % seen pixels), an unmasked one cannot hide anything:
    both raise at build time.

    The voxel grid is given once (``point_cloud_range``, ``voxel_size``) and handed to the three modules that use
    it (the lifting's ``grid_config`` x / y / z, the builder's and the renderer's range and voxel size); a module
    config that spells its own grid must spell the same one.

    Args:
        point_cloud_range (Sequence[float]): ``[x_min, y_min, z_min, x_max, y_max, z_max]`` m of the volume, in
            ``volume_frame`` coordinates (MIM4D: +-51.2 m x +-51.2 m x [-5, 3] m, LiDAR frame).
        voxel_size (Sequence[float]): ``[x, y, z]`` m (MIM4D: 0.8, 0.8, 1.6).
        view_transform (dict): :class:`VoxelLifting` (``in_channels`` = the encoder map width,
            ``downsample`` = its stride, ``grid_config`` = ``dict(depth=[start, stop, step])`` m, its depth bins).
        temporal_builder (dict): :class:`SceneFlowPseudo3DBuilder` with ``num_frames = F - 1``.
        render_head (dict): :class:`VolumeRenderingHead`.
        num_frames (int): ``F``, must equal the pretrainer's. Default 3.
        volume_frame (str): ``'lidar'`` (official) or ``'ego'``.
        temporal_targets (Sequence[str]): any of ``'current'``, ``'random'`` (default both, official).
        target_rays (str): ``'all'`` (default, official) or ``'hidden'`` (above).

    Inputs: ``imgs`` ``(B, F * N, 3, H, W)`` (for the RGB targets), ``depth`` ``(B, F * N, H, W)`` m; geometry
    ``lidar2img`` ``(B, F * N, 4, 4)``, ``lidar2ego``/``ego2global`` ``(B, F, 4, 4)``, ``frame_valid`` ``(B, F)``,
    optionally ``depth_frames`` ``(B, F)``. The RGB targets undo ``rgb_mean``/``rgb_std`` (set by the pretrainer
    from its data preprocessor).

    Raises:
        ValueError: inconsistent ``num_frames``, unknown ``volume_frame`` or target, a module grid that differs
        from ``point_cloud_range`` / ``voxel_size``, metainfo of other shapes, ``'random'`` without earlier-frame
        depth maps.
    """

    accepted_masks = ('complementary', 'sparse', 'none')
    min_frames = 2
    meta_keys = ('lidar2img', 'lidar2ego', 'ego2global', 'frame_valid')
    optional_meta_keys = ('depth_frames', )

    def __init__(self,
                 point_cloud_range: Sequence[float],
                 voxel_size: Sequence[float],
                 view_transform: dict,
                 temporal_builder: dict,
                 render_head: dict,
                 num_frames: int = 3,
                 volume_frame: str = 'lidar',
                 temporal_targets: Sequence[str] = TEMPORAL_TARGETS,
                 target_rays: str = 'all',
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        view_transform, temporal_builder, render_head = volume_grid_configs(point_cloud_range, voxel_size,
                                                                            view_transform, temporal_builder,
                                                                            render_head)
        self.point_cloud_range = [float(v) for v in point_cloud_range]
        self.voxel_size = [float(v) for v in voxel_size]
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
        if target_rays not in TARGET_RAYS:
            raise ValueError(f'MIM4D: target_rays must be one of {TARGET_RAYS}, got {target_rays!r}')
        self.num_frames = num_frames
        self.volume_frame = volume_frame
        self.temporal_targets = targets
        self.target_rays = target_rays
        self.rgb_mean = self.rgb_std = None  # set by the pretrainer (data preprocessor normalisation)

    def check_encoder(self, encoder, num_frames: int, name: str) -> None:
        super().check_encoder(encoder, num_frames, name)
        if num_frames != self.num_frames:
            raise ValueError(f'MaskedPretrainer: head {name!r} has num_frames={self.num_frames}, the pretrainer '
                             f'{num_frames}')
        who = f'MaskedPretrainer: head {name!r} (TemporalRenderingHead)'
        if encoder.mask_kind == 'none':
            raise ValueError(f'{who}: an unmasked encoder sees every pixel the head renders of its own frame '
                             '(*_cur targets 100 % visible); use a masked encoder')
        if encoder.mask_kind == 'complementary' and self.target_rays != 'hidden':
            raise ValueError(f"{who}: a complementary encoder encodes every unit from itself, so target_rays="
                             f"{self.target_rays!r} renders pixels the encoder saw (100 %); set target_rays='hidden'")

    def attach(self, data_preprocessor) -> None:
        if getattr(data_preprocessor, '_enable_normalize', False):
            self.rgb_mean, self.rgb_std = data_preprocessor.mean, data_preprocessor.std

    def rgb_targets(self, imgs: Tensor) -> Tensor:
        """Undo the preprocessor normalisation: ``(..., 3, H, W)`` -> RGB in [0, 1]."""
        if self.rgb_mean is not None:
            imgs = imgs * self.rgb_std.view(3, 1, 1).to(imgs) + self.rgb_mean.view(3, 1, 1).to(imgs)
        return (imgs / 255.0).clamp(0, 1)

    def unpack(self, inputs: dict, geometry: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """Clip tensors: ``imgs`` ``(B, F, N, 3, H, W)``, ``src2img`` ``(B, F, N, 4, 4)`` volume frame -> px,
        ``frame2global`` ``(B, F, 4, 4)`` float64, ``frame_valid``/``depth_frames`` ``(B, F)``, ``depth``
        ``(B, F, N, H, W)``."""
        imgs = inputs['imgs']
        b, fn = imgs.shape[:2]
        f = self.num_frames
        if fn % f:
            raise ValueError(f'MIM4D: {fn} views per sample is not a multiple of num_frames={f}; pack the clip with '
                             f'MultiFrameMultiView(num_prev_frames={f - 1})')
        n = fn // f
        dev = imgs.device
        if geometry['lidar2img'].shape != (b, fn, 4, 4):
            raise ValueError(f'MIM4D: metainfo lidar2img must be (F * N = {fn}, 4, 4) per sample, got '
                             f'{tuple(geometry["lidar2img"].shape[1:])}')
        lidar2img = geometry['lidar2img'].view(b, f, n, 4, 4)
        lidar2ego, ego2global = geometry['lidar2ego'], geometry['ego2global']
        if lidar2ego.shape != (b, f, 4, 4) or ego2global.shape != (b, f, 4, 4):
            raise ValueError(f'MIM4D: metainfo lidar2ego / ego2global must be (F={f}, 4, 4) per sample, got '
                             f'{tuple(lidar2ego.shape[1:])} / {tuple(ego2global.shape[1:])}')
        frame_valid = geometry['frame_valid']
        if 'depth_frames' in geometry:
            depth_frames = geometry['depth_frames']
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
        return dict(
            imgs=imgs.view((b, f, n) + imgs.shape[2:]),
            src2img=src2img,
            frame2global=frame2global,
            frame_valid=frame_valid,
            depth_frames=depth_frames,
            depth=depth)

    def lift(self, feats: Tensor, src2img: Tensor) -> Tensor:
        """Encoder maps ``(B, F * N, C, h, w)`` -> volumes ``(B, F, C', Z, Y, X)`` (each in its own frame)."""
        b, f = src2img.shape[:2]
        feats = feats.reshape((b * f, feats.shape[1] // f) + feats.shape[2:])
        volumes, _ = self.view_transform(feats, src2img.flatten(0, 1))
        return volumes.view((b, f) + volumes.shape[1:])

    def targets(self, d: Dict[str, Tensor]) -> List[Tensor]:
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

    def target_losses(self,
                      volumes: Tensor,
                      d: Dict[str, Tensor],
                      target: Tensor,
                      hidden_px: Optional[Tensor] = None,
                      num_rays: Optional[int] = None) -> Dict[str, Tensor]:
        """Pseudo-3D and own-volume rendering losses of target frames ``(B,)``.

        ``hidden_px`` ``(B, F, N, H, W)`` bool: the pixels the encoder (pass) hid. With ``target_rays='hidden'``
        rays go only there; either way the fraction of ``*_cur`` rays at seen pixels is returned as
        ``visible_target_cur``."""
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
        tgt_hidden = None if hidden_px is None else hidden_px[bidx, target]
        rays, tgt_rgb, tgt_depth, hit, pix = self.render_head.sample_rays(
            d['src2img'][bidx, target],
            d['depth'][bidx, target],
            self.rgb_targets(d['imgs'][bidx, target]),
            allowed=tgt_hidden if self.target_rays == 'hidden' else None,
            num_rays=num_rays,
            return_pixels=True)
        losses = self.render_head.loss(pseudo, rays, tgt_rgb, tgt_depth, hit,
                                       others_valid.any(1) & target_valid, '_pseudo')
        losses.update(self.render_head.loss(volumes[bidx, target], rays, tgt_rgb, tgt_depth, hit, target_valid, '_cur'))
        if tgt_hidden is not None:
            seen = ~tgt_hidden.flatten(2).gather(-1, pix).flatten(1)
            used = hit & target_valid.view(-1, 1)
            losses['visible_target_cur'] = (seen & used).sum().float() / used.sum().clamp(min=1)
        return losses

    def loss(self, enc: EncoderOutput, inputs: dict, geometry: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """Rendering losses averaged over the temporal targets."""
        d = self.unpack(inputs, geometry)
        if self.target_rays == 'hidden':
            passes = enc.passes()
        else:
            passes = [(enc.feats, enc.mask if enc.mask_kind == 'sparse' else None)]
        num_rays = max(1, self.render_head.num_rays // len(passes))
        targets = self.targets(d)
        losses: Dict[str, Tensor] = {}
        for feats, hidden in passes:
            volumes = self.lift(feats, d['src2img'])
            hidden_px = None if hidden is None else self.hidden_pixels(hidden, d['imgs'].shape)
            for target in targets:
                for key, value in self.target_losses(volumes, d, target, hidden_px, num_rays).items():
                    losses[key] = losses[key] + value if key in losses else value
        n = len(targets) * len(passes)
        return {key: value / n for key, value in losses.items()}

    @staticmethod
    def hidden_pixels(hidden: Tensor, clip_shape: Sequence[int]) -> Tensor:
        """Hidden units ``(B, F * N, h_u, w_u)`` -> pixels ``(B, F, N, H, W)`` bool (nearest: each unit's pixels;
        a unit grid that does not tile the image, e.g. SparK's on 450 x 800, is stretched over it)."""
        b, f, n, _, h, w = clip_shape
        px = F.interpolate(hidden.flatten(0, 1).unsqueeze(1).float(), size=(h, w), mode='nearest')[:, 0] > 0.5
        return px.view(b, f, n, h, w)

    @torch.no_grad()
    def predict(self, enc: EncoderOutput, inputs: dict, geometry: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """Render the current frame's views from both volumes on a pixel lattice (``render_head.image_stride``).

        Returns:
            dict: ``depth_pseudo``/``depth_cur`` ``(B, N, h, w)`` camera z in m, ``rgb_pseudo``/``rgb_cur``
            ``(B, N, h, w, 3)``, ``rgb_target`` ``(B, N, h, w, 3)`` and ``depth_target`` ``(B, N, h, w)`` m at the
            render stride.
        """
        d = self.unpack(inputs, geometry)
        # target_rays='hidden': the first pass (complementary: group 0 seen, group 1 hidden)
        feats = enc.passes()[0][0] if self.target_rays == 'hidden' else enc.feats
        volumes = self.lift(feats, d['src2img'])
        frame2target = relative_transform(d['frame2global'][:, :-1], d['frame2global'][:, -1:]).to(volumes.dtype)
        pseudo = self.temporal_builder(volumes[:, :-1], frame2target, d['frame_valid'][:, :-1])
        out = dict(
            pseudo=self.render_head.render_image(pseudo, d['src2img'][:, -1], d['imgs'].shape[-2:]),
            cur=self.render_head.render_image(volumes[:, -1], d['src2img'][:, -1], d['imgs'].shape[-2:]))
        stride = self.render_head.image_stride
        rgb = self.rgb_targets(d['imgs'][:, -1])[..., stride // 2::stride, stride // 2::stride]
        depth = d['depth'][:, -1][..., stride // 2::stride, stride // 2::stride]
        return dict(
            depth_pseudo=out['pseudo']['depth'],
            rgb_pseudo=out['pseudo']['rgb'],
            depth_cur=out['cur']['depth'],
            rgb_cur=out['cur']['rgb'],
            rgb_target=rgb.permute(0, 1, 3, 4, 2),
            depth_target=depth)

    @torch.no_grad()
    def visual_panels(self,
                      enc: EncoderOutput,
                      inputs: dict,
                      geometry: Dict[str, Tensor],
                      data_preprocessor=None,
                      max_views: int = 3) -> Dict[str, np.ndarray]:
        """Pictures of the first sample's current (last) frame, the one rebuilt from the other frames
        ``(H, W, 3)`` uint8, first ``max_views`` views per row:

        - ``rgb_target_pseudo_cur``: target RGB, RGB rendered from the pseudo-3D volume (earlier frames
          only), RGB rendered from the frame's own masked volume;
        - ``depth_target_pseudo_cur``: LiDAR depth, rendered depths (same rows), one colour scale (m).
        """
        from mim3d_plugin.visualization import colorize_depth, hstack, vstack
        r = {k: v[0] for k, v in self.predict(enc, inputs, geometry).items()}
        n = min(max_views, r['rgb_target'].shape[0])

        def rgb(x):
            return (x.detach().float().clamp(0, 1).cpu().numpy() * 255).astype(np.uint8)

        top = max(float(r['depth_target'][:n].max()), 1.0)
        rows_rgb = [hstack([rgb(r[k][v]) for v in range(n)]) for k in ('rgb_target', 'rgb_pseudo', 'rgb_cur')]
        rows_d = [
            hstack([colorize_depth(r[k][v], top) for v in range(n)])
            for k in ('depth_target', 'depth_pseudo', 'depth_cur')
        ]
        return {'rgb_target_pseudo_cur': vstack(rows_rgb), 'depth_target_pseudo_cur': vstack(rows_d)}


def volume_grid_configs(point_cloud_range: Sequence[float], voxel_size: Sequence[float], view_transform: dict,
                        temporal_builder: dict, render_head: dict):
    """The three module configs of :class:`TemporalRenderingHead` with the one voxel grid filled in.

    ``view_transform.grid_config`` gets ``x``, ``y``, ``z`` = ``[min, max, step]`` m; ``temporal_builder`` and
    ``render_head`` get ``point_cloud_range`` and ``voxel_size``.

    Raises:
        ValueError: a module config that already holds a different grid (names the module and both values),
            or a range / voxel size of the wrong length.
    """
    pcr, vox = [float(v) for v in point_cloud_range], [float(v) for v in voxel_size]
    if len(pcr) != 6 or len(vox) != 3:
        raise ValueError(f'TemporalRenderingHead: point_cloud_range must have 6 values and voxel_size 3, got {pcr} '
                         f'and {vox}')
    axes = {axis: [pcr[i], pcr[i + 3], vox[i]] for i, axis in enumerate('xyz')}

    def same(a, b) -> bool:
        return len(a) == len(b) and all(abs(float(x) - float(y)) < 1e-9 for x, y in zip(a, b))

    view_transform = dict(view_transform)
    grid = dict(view_transform.get('grid_config') or {})
    if 'depth' not in grid:
        raise ValueError('TemporalRenderingHead: view_transform.grid_config needs depth=[start, stop, step] m (the '
                         'lifting\'s depth bins)')
    for axis, value in axes.items():
        if axis in grid and not same(grid[axis], value):
            raise ValueError(f'TemporalRenderingHead: view_transform.grid_config.{axis}={list(grid[axis])} differs '
                             f'from the head\'s grid {value} (point_cloud_range / voxel_size); give the grid once')
        grid[axis] = value
    view_transform['grid_config'] = grid
    out = [view_transform]
    for name, cfg in (('temporal_builder', temporal_builder), ('render_head', render_head)):
        cfg = dict(cfg)
        for key, value in (('point_cloud_range', pcr), ('voxel_size', vox)):
            if key in cfg and not same(cfg[key], value):
                raise ValueError(f'TemporalRenderingHead: {name}.{key}={list(cfg[key])} differs from the head\'s '
                                 f'{key}={value}; give the grid once')
            cfg[key] = value
        out.append(cfg)
    return out
