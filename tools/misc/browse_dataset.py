"""Look at what a multi-view config feeds its model: the camera images after augmentation with the LiDAR points
and the GT boxes projected by the sample's own ``lidar2img`` (image and BEV augmentation folded in), and a BEV view
of the same points and boxes. A wrong calibration, a flip applied to the images but not to the matrices, or a box
frame error shows up at a glance (points off their surfaces, boxes off their objects).

One PNG per frame: ``OUT_DIR/<split>_<index>_<token>.png``.

Usage::

    python tools/misc/browse_dataset.py projects/BEVDet/configs/bevdet-swin-w64-d1121_1xb1-4e_nus-mini.py \
        [--split train|val] [--indices 0 10 20] [--out-dir work_dirs/browse] [--max-points 20000]
"""
import argparse
import importlib
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import matplotlib  # noqa: E402

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmdet3d.registry import DATASETS  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.utils import ProgressBar  # noqa: E402

import mim3d_plugin  # noqa: F401,E402

# the 12 edges of a box from mmdet3d's corner order (LiDARInstance3DBoxes.corners)
EDGES = [(0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4), (0, 4), (1, 5), (2, 6), (3, 7)]


def project(points: np.ndarray, lidar2img: np.ndarray):
    """``(P, 3)`` points (m, grid frame) -> ``(P, 2)`` pixels and ``(P,)`` depth (m, camera z)."""
    hom = np.concatenate([points, np.ones((len(points), 1))], 1) @ lidar2img.T
    depth = hom[:, 2]
    return hom[:, :2] / np.clip(depth[:, None], 1e-6, None), depth


def draw_frame(sample: dict, max_points: int, title: str):
    imgs = sample['inputs']['img'].numpy()  # (N, 3, H, W) BGR uint8 (mmcv loading)
    meta = sample['data_samples'].metainfo
    lidar2img = np.asarray(meta['lidar2img'], dtype=np.float64)
    names = meta.get('cam_names', [f'view {i}' for i in range(len(imgs))])
    pts = sample['inputs'].get('points')
    if pts is None:
        pts = np.zeros((0, 3))
    else:
        pts = (pts if isinstance(pts, torch.Tensor) else pts.tensor).numpy()[:, :3]
    if len(pts) > max_points:
        pts = pts[np.random.default_rng(0).choice(len(pts), max_points, replace=False)]
    gt = getattr(sample['data_samples'], 'gt_instances_3d', None)
    corners = gt.bboxes_3d.corners.numpy() if gt is not None and 'bboxes_3d' in gt else np.zeros((0, 8, 3))
    n = len(imgs)
    cols = 3
    rows = (n + cols - 1) // cols
    fig = plt.figure(figsize=(5 * cols, 2.2 * rows + 5))
    h, w = imgs.shape[-2:]
    for v in range(n):
        ax = fig.add_subplot(rows + 2, cols, v + 1)
        ax.imshow(imgs[v].transpose(1, 2, 0)[..., ::-1])
        uv, d = project(pts, lidar2img[v])
        keep = (d > 0.5) & (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
        ax.scatter(uv[keep, 0], uv[keep, 1], c=d[keep], s=0.5, cmap='turbo', vmin=0, vmax=60)
        for box in corners:
            buv, bd = project(box, lidar2img[v])
            if (bd > 0.5).all() and ((buv[:, 0] > 0) & (buv[:, 0] < w) & (buv[:, 1] > 0) & (buv[:, 1] < h)).any():
                for a, b in EDGES:
                    ax.plot(buv[[a, b], 0], buv[[a, b], 1], color='lime', linewidth=0.8)
        ax.set_xlim(0, w)
        ax.set_ylim(h, 0)
        ax.set_title(names[v], fontsize=8)
        ax.axis('off')
    ax = fig.add_axes([0.3, 0.02, 0.4, 0.45])  # BEV panel under the views
    ax.scatter(pts[:, 0], pts[:, 1], s=0.2, c=pts[:, 2], cmap='viridis', vmin=-3, vmax=3)
    for box in corners:
        bottom = box[[0, 3, 7, 4, 0], :2]  # mmdet3d corners: 0, 3, 7, 4 are the bottom face
        ax.plot(bottom[:, 0], bottom[:, 1], color='red', linewidth=0.8)
    ax.set_aspect('equal')
    ax.set_xlim(-55, 55)
    ax.set_ylim(-55, 55)
    ax.set_xlabel('x (m, LiDAR / BEV frame)')
    ax.set_ylabel('y (m)')
    ax.set_title('BEV: points (colour = z) and GT boxes', fontsize=8)
    fig.suptitle(title, fontsize=9)
    return fig


def main(argv=None):
    p = argparse.ArgumentParser(description='multi-view frames with projected LiDAR and GT boxes, after the pipeline')
    p.add_argument('config')
    p.add_argument('--split', choices=['train', 'val'], default='train')
    p.add_argument('--indices', type=int, nargs='+', default=[0])
    p.add_argument('--out-dir', default='work_dirs/browse_dataset')
    p.add_argument('--max-points', type=int, default=20000)
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = p.parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    for mod in cfg.get('custom_imports', {}).get('imports', []):
        importlib.import_module(mod)
    init_default_scope(cfg.get('default_scope', 'mmdet3d'))
    loader = cfg.train_dataloader if args.split == 'train' else cfg.val_dataloader
    dataset = DATASETS.build(loader.dataset)
    os.makedirs(args.out_dir, exist_ok=True)
    written = []
    bar = ProgressBar(len(args.indices))
    for idx in args.indices:
        if not 0 <= idx < len(dataset):
            raise SystemExit(f'browse_dataset: index {idx} outside the {args.split} split of {len(dataset)} frames')
        sample = dataset[idx]
        token = sample['data_samples'].metainfo.get('token', idx)
        fig = draw_frame(sample, args.max_points, f'{osp.basename(args.config)} {args.split}[{idx}] {token}')
        path = osp.join(args.out_dir, f'{args.split}_{idx}_{token}.png')
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
        bar.update()
    print('\n' + '\n'.join(written))
    return written


if __name__ == '__main__':
    main()
