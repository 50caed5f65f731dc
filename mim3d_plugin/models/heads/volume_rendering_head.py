"""NeuS-style volume rendering head reading a voxel volume (MIM4D / UniPAD rendering decoder).

MIM4D (Zou et al., 2024, Sec. 3.4; official ``projects/mmdet3d_plugin/models/
dense_heads/render_head_hop.py`` and ``render_utils/``, inherited from UniPAD) renders
RGB and depth of rays cast through LiDAR-projected pixels from a 3D feature volume:
an SDF field and an RGB field (tiny MLPs on trilinearly sampled voxel features), 72
uniform + 24 importance (NeuS up-sampling, one step) samples per ray between the
near plane (1 m) and the exit of the volume's box, NeuS opacities, and L1 losses on
RGB (x10) and on the depth along the ray where LiDAR hits (x10), with LiDAR targets
restricted to 3-50 m (BEV radius) inside the volume.

**Scene scale, in one place.** The official code renders in a scene scaled by
``1 / max|pc_range|`` (1/51.2): its NeuS variance init (20.1 per unit), up-sampler
sharpness (64 per unit) and depth L1 are in those units. Here the config is in
metres and ``scene_scale`` (default ``'auto'`` = ``1 / max|point_cloud_range|``,
the official normalisation; ``1.0`` renders in metres) converts, in this head only:
rays are built in metres, then :meth:`RayBundle.scaled` and the target depths are
multiplied by ``scene_scale``; the fields are built on the scaled grid; the
collider's box and near plane are scaled. Every NeuS constant (``init_variance``,
``base_inv_s``) is per scene unit, and the depth loss is in scene units, so
``loss_depth`` / ``loss_rgb`` balance as in the official code.

This head only composes the pieces of :mod:`mim3d_plugin.rendering`; it holds no
geometry of its own.
"""
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
from mmdet3d.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor

from mim3d_plugin.geometry import unproject_depth
from mim3d_plugin.rendering import (COLLIDERS, NeuSUpSampler, RayBundle, UniformSampler, VolumeRGBField, VolumeSDFField,
                                    alpha_to_weights, depth_l1_loss, eikonal_loss, neus_alpha, pixel_centers,
                                    rays_from_pixels, render_depth, render_opacity, render_rgb, rgb_l1_loss)

SAMPLERS = dict(UniformSampler=UniformSampler, NeuSUpSampler=NeuSUpSampler)


def _build(cfg: dict, registry: dict, what: str, **extra):
    cfg = dict(cfg)
    kind = cfg.pop('type')
    if kind not in registry:
        raise KeyError(f'VolumeRenderingHead: unknown {what} type {kind!r}, expected one of {sorted(registry)}')
    cfg.update(extra)
    return registry[kind](**cfg)


def resolve_scene_scale(scene_scale: Union[float, str], point_cloud_range: Sequence[float]) -> float:
    """``'auto'`` -> ``1 / max|point_cloud_range|`` (MIM4D / UniPAD ``norm_scene=True``); a number is kept.

    Raises:
        ValueError: a non-positive number or another string.
    """
    if scene_scale == 'auto':
        return 1.0 / max(abs(float(v)) for v in point_cloud_range)
    if isinstance(scene_scale, str) or float(scene_scale) <= 0:
        raise ValueError(f"VolumeRenderingHead: scene_scale must be 'auto' or a positive number, got {scene_scale!r}")
    return float(scene_scale)


@MODELS.register_module()
class VolumeRenderingHead(BaseModule):
    """Render RGB and depth from a voxel volume along rays started at LiDAR-hit pixels.

    Args:
        point_cloud_range (Sequence[float]): range (m) of the volume, in its
            frame (MIM4D: the LiDAR frame).
        voxel_size (Sequence[float]): voxel size (m).
        in_channels (int): volume channels ``C`` (MIM4D: 32).
        scene_scale (float | str): scene units per metre for rendering
            (see the module docstring). Default: ``'auto'`` (1 / max|range|).
        num_rays (int): rays per image: LiDAR-target pixels first (random
            among them), random pixels if an image has fewer (RGB loss only).
            MIM4D vs0.075: 512. Default: 512.
        collider (dict): ``type='AABBCollider'`` (``near_plane``, m; clips to
            the volume's box) or ``'NearFarCollider'`` (``near_plane``,
            ``far_plane``, m). Default: AABB with a 1 m near plane (official).
        target_radius (tuple[float, float], optional): LiDAR depth targets are
            kept only where the point's BEV distance from the volume origin
            (m, ``sqrt(x^2 + y^2)``) lies in this open interval (official
            ``close_radius`` / ``far_radius``: 3, 50). None: no radius filter.
        targets_inside_volume (bool): drop LiDAR targets outside the volume's
            box (official ``PointsRangeFilter``). Default: True.
        uniform_sampler (dict): ``type='UniformSampler'``, ``num_samples`` (MIM4D: 72).
        importance_sampler (dict, optional): ``type='NeuSUpSampler'``,
            ``num_samples`` (MIM4D: 24), ``num_steps`` (1), ``base_inv_s`` (64
            per scene unit). None: uniform only.
        sdf_field (dict): extra args of :class:`VolumeSDFField`.
        rgb_field (dict): extra args of :class:`VolumeRGBField`.
        loss_rgb_weight (float): MIM4D: 10. Default: 10.0.
        loss_depth_weight (float): on the L1 of the distance along the ray in
            scene units. MIM4D: 10. Default: 10.0.
        loss_eikonal_weight (float): eikonal regulariser; in neither MIM4D nor
            UniPAD's configs. Default: 0.0 (off).
        num_eikonal_points (int): points per sample for the eikonal term. Default: 1024.
        image_stride (int): pixel stride of :meth:`render_image`. Default: 4.
        ray_chunk (int): rays rendered at once by :meth:`render_image`. Default: 8192.

    Raises:
        ValueError: bad ``scene_scale`` or ``target_radius``; KeyError: unknown
        sampler or collider type.
    """

    def __init__(self,
                 point_cloud_range: Sequence[float],
                 voxel_size: Sequence[float],
                 in_channels: int = 32,
                 scene_scale: Union[float, str] = 'auto',
                 num_rays: int = 512,
                 collider: dict = dict(type='AABBCollider', near_plane=1.0),
                 target_radius: Optional[Tuple[float, float]] = (3.0, 50.0),
                 targets_inside_volume: bool = True,
                 uniform_sampler: dict = dict(type='UniformSampler', num_samples=72),
                 importance_sampler: Optional[dict] = dict(type='NeuSUpSampler', num_samples=24, num_steps=1),
                 sdf_field: dict = dict(),
                 rgb_field: dict = dict(),
                 loss_rgb_weight: float = 10.0,
                 loss_depth_weight: float = 10.0,
                 loss_eikonal_weight: float = 0.0,
                 num_eikonal_points: int = 1024,
                 image_stride: int = 4,
                 ray_chunk: int = 8192,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.point_cloud_range = [float(v) for v in point_cloud_range]
        self.scene_scale = resolve_scene_scale(scene_scale, point_cloud_range)
        s = self.scene_scale
        if target_radius is not None and not 0 <= target_radius[0] < target_radius[1]:
            raise ValueError(f'VolumeRenderingHead: target_radius must be (min, max) m with 0 <= min < max, '
                             f'got {target_radius}')
        self.target_radius = None if target_radius is None else (float(target_radius[0]), float(target_radius[1]))
        self.targets_inside_volume = targets_inside_volume
        self.num_rays = num_rays
        collider = dict(collider)
        for key in ('near_plane', 'far_plane'):
            if key in collider:
                collider[key] = float(collider[key]) * s
        extra = dict(scene_box=[v * s for v in self.point_cloud_range]) if collider['type'] == 'AABBCollider' \
            else dict()
        self.collider = _build(collider, COLLIDERS, 'collider', **extra)
        self.uniform_sampler = _build(uniform_sampler, SAMPLERS, 'sampler')
        self.importance_sampler = _build(importance_sampler, SAMPLERS, 'sampler') if importance_sampler else None
        scaled_range = [v * s for v in self.point_cloud_range]
        scaled_voxel = [float(v) * s for v in voxel_size]
        self.sdf_field = VolumeSDFField(in_channels, scaled_range, scaled_voxel, **sdf_field)
        self.rgb_field = VolumeRGBField(in_channels, self.sdf_field.geo_feat_channels, scaled_range, scaled_voxel,
                                        **rgb_field)
        self.loss_rgb_weight = loss_rgb_weight
        self.loss_depth_weight = loss_depth_weight
        self.loss_eikonal_weight = loss_eikonal_weight
        self.num_eikonal_points = num_eikonal_points
        self.image_stride = image_stride
        self.ray_chunk = ray_chunk

    def target_mask(self, src2img: Tensor, depth: Tensor) -> Tensor:
        """Pixels whose LiDAR depth is a usable target: ``depth > 0``, the point
        (pixel centre at that camera z) inside the volume and within ``target_radius``.

        Args:
            src2img (Tensor): ``(B, N_cam, 4, 4)`` volume frame -> augmented px.
            depth (Tensor): ``(B, N_cam, H, W)`` camera z, m, 0 = no point.

        Returns:
            Tensor: ``(B, N_cam, H, W)`` bool.
        """
        valid = depth > 0
        if not self.targets_inside_volume and self.target_radius is None:
            return valid
        b, n, h, w = depth.shape
        rows = torch.arange(h, device=depth.device).view(h, 1).expand(h, w)
        cols = torch.arange(w, device=depth.device).view(1, w).expand(h, w)
        uv = pixel_centers(rows, cols).view(1, 1, h * w, 2).to(src2img.dtype)
        pts = unproject_depth(uv.expand(b, n, -1, -1), depth.flatten(2).to(src2img.dtype), src2img).view(b, n, h, w, 3)
        if self.targets_inside_volume:
            lo = pts.new_tensor(self.point_cloud_range[:3])
            hi = pts.new_tensor(self.point_cloud_range[3:])
            valid &= ((pts >= lo) & (pts < hi)).all(-1)
        if self.target_radius is not None:
            radius = pts[..., :2].norm(dim=-1)
            valid &= (radius > self.target_radius[0]) & (radius < self.target_radius[1])
        return valid

    def _rays(self, uv: Tensor, cams: Tensor, src2img: Tensor) -> Tuple[RayBundle, Tensor]:
        """Rays through ``(B, R, 2)`` px of cameras ``(B, R)``, in scene units, clipped by the collider."""
        rays = rays_from_pixels(uv, cams, src2img, 0.0, 1.0).scaled(self.scene_scale)
        return self.collider(rays)

    def sample_rays(self,
                    src2img: Tensor,
                    depth: Tensor,
                    imgs: Tensor,
                    allowed: Optional[Tensor] = None,
                    num_rays: Optional[int] = None,
                    return_pixels: bool = False) -> tuple:
        """Pick ``num_rays`` pixels per image, LiDAR-target pixels first, and cast rays through their centres.

        Args:
            src2img (Tensor): ``(B, N_cam, 4, 4)`` volume frame -> augmented px.
            depth (Tensor): ``(B, N_cam, H, W)`` LiDAR camera z, m, 0 = none.
            imgs (Tensor): ``(B, N_cam, 3, H, W)`` target colours in [0, 1].
            allowed (Tensor, optional): ``(B, N_cam, H, W)`` bool, the pixels rays may target (e.g. those the
                encoder pass hid); picked first, and a ray outside them (fewer allowed pixels than rays) gets
                ``hit`` False, so no loss. None: every pixel.
            num_rays (int, optional): rays per image; default ``self.num_rays``.
            return_pixels (bool): also return the picked flat pixel indices ``(B, N_cam, k)``.

        Returns:
            tuple: rays (``R = N_cam * num_rays`` per sample, scene units,
            clipped), target RGB ``(B, R, 3)``, target depth ``(B, R)`` as the
            distance along the ray in scene units (0 = no target; official
            ``sampled_depth = |p - o| * scale_factor``), and ``(B, R)`` bool
            ``hit`` (the ray's clipped interval is not empty, and its pixel allowed)[, pixels].
        """
        b, n, h, w = depth.shape
        if imgs.shape != (b, n, 3, h, w) or src2img.shape != (b, n, 4, 4):
            raise ValueError(f'VolumeRenderingHead: expected imgs (B, N, 3, H, W) = {(b, n, 3, h, w)} and src2img '
                             f'{(b, n, 4, 4)} for depth {tuple(depth.shape)}, got {tuple(imgs.shape)} and '
                             f'{tuple(src2img.shape)}')
        if allowed is not None and allowed.shape != depth.shape:
            raise ValueError(f'VolumeRenderingHead: allowed must be (B, N, H, W) = {tuple(depth.shape)}, got '
                             f'{tuple(allowed.shape)}')
        valid = self.target_mask(src2img, depth).flatten(2)
        k = min(self.num_rays if num_rays is None else num_rays, h * w)
        score = torch.rand(b, n, h * w, device=depth.device) + valid.float() * 2
        if allowed is not None:
            score = score + allowed.flatten(2).float() * 4
        pix = score.topk(k, dim=-1).indices  # (B, N, k)
        rows, cols = pix // w, pix % w
        cams = torch.arange(n, device=depth.device).view(1, n, 1).expand(b, n, k)
        rays, hit = self._rays(pixel_centers(rows, cols).flatten(1, 2).to(src2img.dtype), cams.flatten(1), src2img)
        tgt_z = depth.flatten(2).gather(-1, pix).flatten(1) * valid.gather(-1, pix).flatten(1)
        tgt_depth = tgt_z.to(rays.depth_scale.dtype) * rays.depth_scale * self.scene_scale
        tgt_rgb = imgs.flatten(3).gather(-1, pix.unsqueeze(2).expand(b, n, 3, k)).permute(0, 1, 3, 2).flatten(1, 2)
        if allowed is not None:
            hit = hit & allowed.flatten(2).gather(-1, pix).flatten(1)
        return (rays, tgt_rgb, tgt_depth, hit, pix) if return_pixels else (rays, tgt_rgb, tgt_depth, hit)

    def render(self, volume: Tensor, rays: RayBundle) -> Dict[str, Tensor]:
        """Render rays through a volume.

        The volume is read once per sample edge (SDF, geometry feature and the
        sampled feature); an interval's RGB input is the mean of its two edges.

        Args:
            volume (Tensor): ``(B, C, Z, Y, X)`` in the rays' frame.
            rays (RayBundle): ``(B, R)`` rays in scene units (from :meth:`sample_rays`).

        Returns:
            dict: ``rgb`` ``(B, R, 3)``, ``depth`` ``(B, R)`` distance along the
            ray (scene units, normalised by the opacity), ``opacity`` ``(B, R)``,
            ``weights`` ``(B, R, S)``, ``t_mids`` ``(B, R, S)``.
        """
        # NeuS in float32 with autocast off: under fp16 the SDF field's gradients, the alpha ratio and the
        # transmittance product overflow / underflow (NaN gradients a GradScaler would skip every step)
        with torch.autocast(device_type=volume.device.type, enabled=False):
            return self._render(volume.float(), rays)

    def _render(self, volume: Tensor, rays: RayBundle) -> Dict[str, Tensor]:
        samples = self.uniform_sampler(rays, training=self.training)
        if self.importance_sampler is not None:
            samples = self.importance_sampler(
                rays, samples, lambda p: self.sdf_field.sdf(volume, p), training=self.training)
        field = self.sdf_field(volume, rays.points_at(samples.t_edges))  # at the S + 1 edges
        weights = alpha_to_weights(neus_alpha(field['sdf'], self.sdf_field.inv_s()))
        geo = 0.5 * (field['geo_feat'][..., :-1, :] + field['geo_feat'][..., 1:, :])
        feat = 0.5 * (field['feat'][..., :-1, :] + field['feat'][..., 1:, :])
        mids = samples.mids
        dirs = rays.directions.unsqueeze(-2).expand(geo.shape[:-1] + (3, ))
        rgb = self.rgb_field.decode(feat, dirs, geo)
        return dict(
            rgb=render_rgb(weights, rgb),
            depth=render_depth(weights, mids),
            opacity=render_opacity(weights),
            weights=weights,
            t_mids=mids)

    def loss(self,
             volume: Tensor,
             rays: RayBundle,
             tgt_rgb: Tensor,
             tgt_depth: Tensor,
             hit: Optional[Tensor] = None,
             sample_valid: Optional[Tensor] = None,
             suffix: str = '') -> Dict[str, Tensor]:
        """Rendering losses of one volume.

        Args:
            volume (Tensor): ``(B, C, Z, Y, X)``.
            rays, tgt_rgb, tgt_depth, hit: from :meth:`sample_rays`.
            sample_valid (Tensor, optional): ``(B,)`` bool; samples whose loss is ignored when False.
            suffix (str): appended to the loss names, e.g. ``'_pseudo'``.

        Returns:
            dict: ``loss_rgb{suffix}``, ``loss_depth{suffix}`` (scene units) and,
            if its weight is > 0, ``loss_eikonal{suffix}`` (weighted). Computed in float32, autocast off.
        """
        with torch.autocast(device_type=volume.device.type, enabled=False):
            return self._loss(volume.float(), rays, tgt_rgb.float(), tgt_depth.float(), hit, sample_valid, suffix)

    def _loss(self, volume, rays, tgt_rgb, tgt_depth, hit, sample_valid, suffix) -> Dict[str, Tensor]:
        out = self._render(volume, rays)
        mask = hit
        if sample_valid is not None:
            keep = sample_valid.view(-1, 1).expand_as(tgt_depth)
            mask = keep if mask is None else mask & keep
        losses = {
            f'loss_rgb{suffix}': self.loss_rgb_weight * rgb_l1_loss(out['rgb'], tgt_rgb, mask),
            f'loss_depth{suffix}': self.loss_depth_weight * depth_l1_loss(out['depth'], tgt_depth, mask),
        }
        if self.loss_eikonal_weight > 0:
            b = volume.shape[0]
            pts = rays.points_at(out['t_mids'].detach()).reshape(b, -1, 3)
            idx = torch.randint(0, pts.shape[1], (b, min(self.num_eikonal_points, pts.shape[1])), device=pts.device)
            pts = pts.gather(1, idx.unsqueeze(-1).expand(-1, -1, 3))
            losses[f'loss_eikonal{suffix}'] = self.loss_eikonal_weight * eikonal_loss(
                self.sdf_field.gradient(volume, pts))
        return losses

    @torch.no_grad()
    def render_image(self, volume: Tensor, src2img: Tensor, img_shape: Sequence[int]) -> Dict[str, Tensor]:
        """Render whole views on the lattice of pixels ``(stride // 2 + i * stride)`` (for inspection).

        Args:
            volume (Tensor): ``(B, C, Z, Y, X)``.
            src2img (Tensor): ``(B, N_cam, 4, 4)``.
            img_shape (tuple[int, int]): ``(H, W)`` px.

        Returns:
            dict: ``depth`` ``(B, N_cam, h, w)`` camera z in **metres** (as the
            LiDAR depth maps), ``rgb`` ``(B, N_cam, h, w, 3)``, ``opacity``
            ``(B, N_cam, h, w)`` with ``h = ceil((H - s // 2) / s)``.
        """
        s = self.image_stride
        b, n = src2img.shape[:2]
        rows = torch.arange(s // 2, int(img_shape[0]), s, device=volume.device)
        cols = torch.arange(s // 2, int(img_shape[1]), s, device=volume.device)
        h, w = len(rows), len(cols)
        rr = rows.view(1, h, 1).expand(n, h, w).reshape(-1)
        cc = cols.view(1, 1, w).expand(n, h, w).reshape(-1)
        cams = torch.arange(n, device=volume.device).view(n, 1, 1).expand(n, h, w).reshape(-1)
        outs = []
        for start in range(0, rr.numel(), self.ray_chunk):
            sl = slice(start, start + self.ray_chunk)
            uv = pixel_centers(rr[sl], cc[sl]).to(src2img.dtype).expand(b, -1, 2)
            rays, hit = self._rays(uv, cams[sl].expand(b, -1), src2img)
            out = self.render(volume, rays)
            depth_m = out['depth'] / rays.depth_scale / self.scene_scale
            outs.append((depth_m * hit, out['rgb'], out['opacity'] * hit))
        depth, rgb, opacity = (torch.cat(x, 1) for x in zip(*outs))
        return dict(depth=depth.view(b, n, h, w), rgb=rgb.view(b, n, h, w, 3), opacity=opacity.view(b, n, h, w))
