"""NeuS-style volume rendering head reading a voxel volume (MIM4D / UniPAD rendering decoder).

MIM4D (Zou et al., 2024, Sec. 3.4; official ``projects/mmdet3d_plugin/models/
render_heads/``, inherited from UniPAD) renders RGB and depth of rays cast through
LiDAR-projected pixels from a 3D feature volume: an SDF field and an RGB field (tiny
MLPs on trilinearly sampled voxel features), 72 uniform + 24 importance (NeuS
up-sampling) samples per ray, NeuS opacities, and L1 losses on RGB (x10) and on
depth where LiDAR hits (x10). This head only composes the pieces of
:mod:`mim3d_plugin.rendering`; it holds no geometry of its own.
"""
from typing import Dict, Optional, Sequence, Tuple

import torch
from mmengine.model import BaseModule
from torch import Tensor

from mmdet3d.registry import MODELS
from mim3d_plugin.rendering import (NeuSUpSampler, RayBundle, UniformSampler, VolumeRGBField, VolumeSDFField,
                                    alpha_to_weights, depth_l1_loss, eikonal_loss, neus_alpha, pixel_centers,
                                    rays_from_pixels, render_depth, render_opacity, render_rgb, rgb_l1_loss)

SAMPLERS = dict(UniformSampler=UniformSampler, NeuSUpSampler=NeuSUpSampler)


def _build_sampler(cfg: dict):
    cfg = dict(cfg)
    kind = cfg.pop('type')
    if kind not in SAMPLERS:
        raise KeyError(f'VolumeRenderingHead: unknown sampler type {kind!r}, expected one of {sorted(SAMPLERS)}')
    return SAMPLERS[kind](**cfg)


@MODELS.register_module()
class VolumeRenderingHead(BaseModule):
    """Render RGB and depth from a voxel volume along rays started at LiDAR-hit pixels.

    Args:
        point_cloud_range (Sequence[float]): grid range (m) of the volume, its frame (ego).
        voxel_size (Sequence[float]): voxel size (m).
        in_channels (int): volume channels ``C`` (MIM4D: 32).
        num_rays (int): rays per image (LiDAR-hit pixels first, random pixels
            if there are fewer). MIM4D: 512. Default: 512.
        ray_range (tuple[float, float]): ``(near, far)`` m along each ray. Default: (0.1, 60.0).
        uniform_sampler (dict): ``type='UniformSampler'``, ``num_samples`` (MIM4D: 72).
        importance_sampler (dict, optional): ``type='NeuSUpSampler'``,
            ``num_samples`` (MIM4D: 24), ``num_steps``. None: uniform only.
        sdf_field (dict): extra args of :class:`VolumeSDFField`.
        rgb_field (dict): extra args of :class:`VolumeRGBField`.
        loss_rgb_weight (float): MIM4D: 10. Default: 10.0.
        loss_depth_weight (float): MIM4D: 10. Default: 10.0.
        loss_eikonal_weight (float): eikonal regulariser (UniPAD: 0.1). Default: 0.1.
        num_eikonal_points (int): points per sample for the eikonal term. Default: 1024.
        image_stride (int): pixel stride of :meth:`render_image`. Default: 4.
        ray_chunk (int): rays rendered at once by :meth:`render_image`. Default: 8192.
    """

    def __init__(self, point_cloud_range: Sequence[float], voxel_size: Sequence[float], in_channels: int = 32,
                 num_rays: int = 512, ray_range: Tuple[float, float] = (0.1, 60.0),
                 uniform_sampler: dict = dict(type='UniformSampler', num_samples=72),
                 importance_sampler: Optional[dict] = dict(type='NeuSUpSampler', num_samples=24, num_steps=4),
                 sdf_field: dict = dict(), rgb_field: dict = dict(), loss_rgb_weight: float = 10.0,
                 loss_depth_weight: float = 10.0, loss_eikonal_weight: float = 0.1, num_eikonal_points: int = 1024,
                 image_stride: int = 4, ray_chunk: int = 8192, init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_rays = num_rays
        self.near, self.far = float(ray_range[0]), float(ray_range[1])
        self.uniform_sampler = _build_sampler(uniform_sampler)
        self.importance_sampler = _build_sampler(importance_sampler) if importance_sampler else None
        self.sdf_field = VolumeSDFField(in_channels, point_cloud_range, voxel_size, **sdf_field)
        self.rgb_field = VolumeRGBField(in_channels, self.sdf_field.geo_feat_channels, point_cloud_range, voxel_size,
                                        **rgb_field)
        self.loss_rgb_weight = loss_rgb_weight
        self.loss_depth_weight = loss_depth_weight
        self.loss_eikonal_weight = loss_eikonal_weight
        self.num_eikonal_points = num_eikonal_points
        self.image_stride = image_stride
        self.ray_chunk = ray_chunk

    def sample_rays(self, src2img: Tensor, depth: Tensor, imgs: Tensor) -> Tuple[RayBundle, Tensor, Tensor]:
        """Pick ``num_rays`` pixels per image, LiDAR-hit pixels first, and cast rays through their centres.

        Args:
            src2img (Tensor): ``(B, N_cam, 4, 4)`` volume frame -> augmented px.
            depth (Tensor): ``(B, N_cam, H, W)`` LiDAR depth, m, 0 = none.
            imgs (Tensor): ``(B, N_cam, 3, H, W)`` target colours in [0, 1].

        Returns:
            tuple: rays (``R = N_cam * num_rays`` per sample), target RGB
            ``(B, R, 3)`` and target depth ``(B, R)`` m (0 = none).
        """
        b, n, h, w = depth.shape
        if imgs.shape != (b, n, 3, h, w) or src2img.shape != (b, n, 4, 4):
            raise ValueError(f'VolumeRenderingHead: expected imgs (B, N, 3, H, W) = {(b, n, 3, h, w)} and src2img '
                             f'{(b, n, 4, 4)} for depth {tuple(depth.shape)}, got {tuple(imgs.shape)} and '
                             f'{tuple(src2img.shape)}')
        k = min(self.num_rays, h * w)
        score = torch.rand(b, n, h * w, device=depth.device) + (depth.flatten(2) > 0).float() * 2
        pix = score.topk(k, dim=-1).indices  # (B, N, k)
        rows, cols = pix // w, pix % w
        cams = torch.arange(n, device=depth.device).view(1, n, 1).expand(b, n, k)
        rays = rays_from_pixels(pixel_centers(rows, cols).flatten(1, 2).to(src2img.dtype), cams.flatten(1),
                                src2img, self.near, self.far)
        tgt_depth = depth.flatten(2).gather(-1, pix).flatten(1)
        tgt_rgb = imgs.flatten(3).gather(-1, pix.unsqueeze(2).expand(b, n, 3, k)).permute(0, 1, 3, 2).flatten(1, 2)
        return rays, tgt_rgb, tgt_depth

    def render(self, volume: Tensor, rays: RayBundle) -> Dict[str, Tensor]:
        """Render rays through a volume.

        Args:
            volume (Tensor): ``(B, C, Z, Y, X)`` in the rays' frame.
            rays (RayBundle): ``(B, R)`` rays.

        Returns:
            dict: ``rgb`` ``(B, R, 3)``, ``depth`` ``(B, R)`` m (camera z),
            ``opacity`` ``(B, R)``, ``weights`` ``(B, R, S)``, ``t_mids`` ``(B, R, S)``.
        """
        samples = self.uniform_sampler(rays, training=self.training)
        if self.importance_sampler is not None:
            samples = self.importance_sampler(rays, samples, lambda p: self.sdf_field.sdf(volume, p),
                                              training=self.training)
        field = self.sdf_field(volume, rays.points_at(samples.t_edges))  # at the S + 1 edges
        weights = alpha_to_weights(neus_alpha(field['sdf'], self.sdf_field.inv_s()))
        geo = 0.5 * (field['geo_feat'][..., :-1, :] + field['geo_feat'][..., 1:, :])
        mids = samples.mids
        dirs = rays.directions.unsqueeze(-2).expand(geo.shape[:-1] + (3, ))
        rgb = self.rgb_field(volume, rays.points_at(mids), dirs, geo)
        return dict(rgb=render_rgb(weights, rgb), depth=render_depth(weights, mids, rays.depth_scale),
                    opacity=render_opacity(weights), weights=weights, t_mids=mids)

    def loss(self, volume: Tensor, rays: RayBundle, tgt_rgb: Tensor, tgt_depth: Tensor,
             sample_valid: Optional[Tensor] = None, suffix: str = '') -> Dict[str, Tensor]:
        """Rendering losses of one volume.

        Args:
            volume (Tensor): ``(B, C, Z, Y, X)``.
            rays, tgt_rgb, tgt_depth: from :meth:`sample_rays`.
            sample_valid (Tensor, optional): ``(B,)`` bool; samples whose loss is ignored when False.
            suffix (str): appended to the loss names, e.g. ``'_pseudo'``.

        Returns:
            dict: ``loss_rgb{suffix}``, ``loss_depth{suffix}``, ``loss_eikonal{suffix}`` (weighted).
        """
        out = self.render(volume, rays)
        mask = None
        if sample_valid is not None:
            mask = sample_valid.view(-1, 1).expand_as(tgt_depth)
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
            dict: ``depth`` ``(B, N_cam, h, w)`` m, ``rgb`` ``(B, N_cam, h, w, 3)``,
            ``opacity`` ``(B, N_cam, h, w)`` with ``h = ceil((H - s // 2) / s)``.
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
            rays = rays_from_pixels(uv, cams[sl].expand(b, -1), src2img, self.near, self.far)
            out = self.render(volume, rays)
            outs.append((out['depth'], out['rgb'], out['opacity']))
        depth, rgb, opacity = (torch.cat(x, 1) for x in zip(*outs))
        return dict(depth=depth.view(b, n, h, w), rgb=rgb.view(b, n, h, w, 3), opacity=opacity.view(b, n, h, w))
