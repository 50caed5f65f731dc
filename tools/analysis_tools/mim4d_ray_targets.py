"""Where MIM4D's depth targets and ray samples fall relative to the voxel volume, on real batches.

Compares the previous setup (volume in the ego frame, z in [-5, 3] m; every LiDAR pixel a target; rays
0.1-60 m unclipped) with the current one (LiDAR frame; targets inside the volume at 3-50 m BEV radius;
rays clipped to the volume with a 1 m near plane), on the current frame of ``--num-batches`` clips of a
MIM4D config. Prints a JSON object of percentages.

    python tools/analysis_tools/mim4d_ray_targets.py configs/mim4d/mim4d_convnext-mini-mask_1xb2-300i_nus-mini.py
"""
import argparse
import json

import torch
from mmdet3d.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

import mim3d_plugin  # noqa: F401
from mim3d_plugin.geometry import invert_rigid, unproject_depth
from mim3d_plugin.rendering import NearFarCollider, pixel_centers, rays_from_pixels


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('--num-batches', type=int, default=4)
    args = parser.parse_args()
    init_default_scope('mmdet3d')
    torch.manual_seed(0)
    cfg = Config.fromfile(args.config)
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    model = MODELS.build(cfg.model)
    render = model.heads['render']  # the TemporalRenderingHead of a MIM4D (or hybrid) MaskedPretrainer
    head = render.render_head
    lo, hi = torch.tensor(head.point_cloud_range[:3]), torch.tensor(head.point_cloud_range[3:])
    stats = dict(
        lidar_pixels=0,
        outside_volume_ego=0,
        above_volume_ego=0,
        beyond_60m=0,
        outside_volume_lidar=0,
        radius_lt_3m=0,
        radius_gt_50m=0,
        kept_targets=0,
        samples_old=0,
        samples_old_outside=0,
        samples_new=0,
        samples_new_outside=0)
    loader = Runner.build_dataloader(cfg.train_dataloader, seed=0)
    for i, batch in enumerate(loader):
        if i >= args.num_batches:
            break
        data = model.data_preprocessor(batch, True)
        d = render.unpack(data['inputs'], model.stack_geometry(data['inputs'], data['data_samples']))
        lidar2img, depth = d['src2img'][:, -1], d['depth'][:, -1]
        lidar2ego = torch.stack(
            [torch.as_tensor(s.metainfo['lidar2ego'][-1], dtype=torch.float32) for s in data['data_samples']])
        ego2img = lidar2img @ invert_rigid(lidar2ego).unsqueeze(1)
        b, n, h, w = depth.shape
        rows = torch.arange(h).view(h, 1).expand(h, w)
        cols = torch.arange(w).view(1, w).expand(h, w)
        uv = pixel_centers(rows, cols).view(1, 1, h * w, 2).expand(b, n, -1, -1)
        hit = depth.flatten(2) > 0
        for frame, mats in (('ego', ego2img), ('lidar', lidar2img)):
            pts = unproject_depth(uv, depth.flatten(2), mats)[hit]
            inside = ((pts >= lo) & (pts < hi)).all(-1)
            if frame == 'ego':
                stats['lidar_pixels'] += int(hit.sum())
                stats['outside_volume_ego'] += int((~inside).sum())
                stats['above_volume_ego'] += int((pts[:, 2] >= hi[2]).sum())
                rng = (depth.flatten(2)[hit] * 1.0)
                stats['beyond_60m'] += int((rng > 60).sum())
            else:
                stats['outside_volume_lidar'] += int((~inside).sum())
                radius = pts[:, :2].norm(dim=-1)
                stats['radius_lt_3m'] += int((radius <= 3).sum())
                stats['radius_gt_50m'] += int((radius >= 50).sum())
        stats['kept_targets'] += int(head.target_mask(lidar2img, depth).sum())
        # ray samples: old = 72 (config: uniform num_samples) uniform samples 0.1-60 m in the ego frame, unclipped
        rays, *_ = head.sample_rays(lidar2img, depth, render.rgb_targets(d['imgs'][:, -1]))
        samples = head.uniform_sampler(rays, training=False)
        pts = rays.points_at(samples.mids) / head.scene_scale
        stats['samples_new'] += pts[..., 0].numel()
        stats['samples_new_outside'] += int((~((pts >= lo) & (pts < hi)).all(-1)).sum())
        uv_r = torch.rand(b, n * head.num_rays, 2) * torch.tensor([w, h])
        cams = torch.arange(n).repeat_interleave(head.num_rays).expand(b, -1)
        old, _ = NearFarCollider(0.1, 60.0)(rays_from_pixels(uv_r, cams, ego2img, 0.0, 1.0))
        pts = old.points_at(head.uniform_sampler(old, training=False).mids)
        stats['samples_old'] += pts[..., 0].numel()
        stats['samples_old_outside'] += int((~((pts >= lo) & (pts < hi)).all(-1)).sum())
    px = stats['lidar_pixels']
    pct = {
        k: round(100.0 * v / px, 2)
        for k, v in stats.items()
        if k not in ('lidar_pixels', 'samples_old', 'samples_new', 'samples_old_outside', 'samples_new_outside')
    }
    pct['samples_old_outside'] = round(100.0 * stats['samples_old_outside'] / stats['samples_old'], 2)
    pct['samples_new_outside'] = round(100.0 * stats['samples_new_outside'] / stats['samples_new'], 2)
    print(json.dumps(dict(counts=stats, percent=pct), indent=1))


if __name__ == '__main__':
    main()
