"""Figure + per-frame depth metrics of a trained Mask3D model on held-out RGB-D frames.

    python tools/misc/visualize_mask3d.py CONFIG CHECKPOINT --out docs/mask3d/redwood_frame4.png

Row 1: the pretext task (RGB and depth masked with the training ratios); row 2: monocular depth
(RGB unmasked, depth fully masked). Columns: input RGB with dropped patches greyed, the masks,
the depth input (dropped patches blank), predicted depth, true depth (same colour scale).
Also prints AbsRel / RMSE / delta<1.25 per held-out frame for both settings and for a constant
baseline (median valid depth of the training frames).
"""
import argparse

import matplotlib
import numpy as np
import torch
from mmdet3d.registry import DATASETS, MODELS
from mmengine.config import Config, DictAction
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint

import mim3d_plugin  # noqa: F401
from mim3d_plugin.evaluation.metrics.depth_metric import depth_metrics

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402


def run(model, batch, rgb_ratio, depth_ratio, seed=0):
    """Masked forward of a Mask3D MaskedPretrainer (RGBDTokenEncoder + DepthPriorHead ``depth``) at the given
    ratios; returns the fused bottleneck and (pred, gt, imgs) of all frames (B*N, H, W)."""
    data = model.data_preprocessor(batch, False)
    gen = torch.Generator().manual_seed(seed)
    head = model.heads['depth']
    with torch.no_grad():
        enc = model.encoder(
            data['inputs'], model.num_frames, generator=gen, mask_ratio=rgb_ratio, depth_mask_ratio=depth_ratio)
        out, imgs, depth, _ = head.bottleneck(enc, data['inputs'])
        pred = head.head.predict_depth(out, depth)
    return out, pred, depth, imgs


def upsample(mask, hw, p):
    return mask.reshape(hw).repeat_interleave(p, 0).repeat_interleave(p, 1).numpy() > 0


def score(pred, gt, mask=None):
    s = depth_metrics(pred, gt, mask)
    n = max(s['n'], 1)
    return dict(abs_rel=s['abs_rel_sum'] / n, rmse=(s['sq_err_sum'] / n)**.5, delta1=s['delta1_sum'] / n, n=s['n'])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('config')
    ap.add_argument('checkpoint')
    ap.add_argument('--out', default='docs/mask3d/redwood_frame4.png')
    ap.add_argument('--frame', type=int, default=0, help='index in the val dataset')
    ap.add_argument('--view', type=int, default=0, help='camera view of a multi-view sample')
    ap.add_argument('--per-frame', action='store_true', help='print metrics per val sample')
    ap.add_argument('--cfg-options', nargs='+', action=DictAction, help='config overrides (as tools/train.py)')
    args = ap.parse_args()
    init_default_scope('mmdet3d')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    model = MODELS.build(cfg.model)
    load_checkpoint(model, args.checkpoint, map_location='cpu')
    model.eval()
    val = DATASETS.build(cfg.val_dataloader.dataset)
    train = DATASETS.build(cfg.train_dataloader.dataset)
    rgb_r, dep_r = cfg.model.encoder.backbone.mask_ratio, cfg.model.encoder.backbone.depth_mask_ratio
    p = cfg.model.heads.depth.head.patch_size

    n_train = min(len(train), 10)
    train_depth = torch.cat([train[i]['inputs']['depth'].flatten() for i in range(n_train)])
    const = float(train_depth[train_depth > 0].median())
    print(f'constant baseline depth (median of {n_train} training samples): {const:.3f} m')
    print('frame | setting | AbsRel | RMSE (m) | delta<1.25 | pixels')
    pooled = {}
    for i in range(len(val)):
        item = val[i]
        path = item['data_samples'].metainfo['img_path']
        name = (path[0] if isinstance(path, (list, tuple)) else path).split('/')[-1]
        batch = pseudo_collate([item])
        out, pred, gt, _ = run(model, batch, rgb_r, dep_r)
        dropped = torch.stack([torch.from_numpy(upsample(m, out['hw'], p)) for m in out['depth_mask']])
        _, pred_m, _, _ = run(model, batch, 0., 1.)
        rows = [('pretext, masked depth patches', pred, dropped), ('monocular (depth 100% masked)', pred_m, None),
                ('constant baseline', torch.full_like(gt, const), None)]
        for setting, pr, mk in rows:
            s = depth_metrics(pr, gt, mk)
            acc = pooled.setdefault(setting, dict(n=0, abs_rel_sum=0., sq_err_sum=0., delta1_sum=0.))
            for k in acc:
                acc[k] += s[k]
            if args.per_frame:
                r = score(pr, gt, mk)
                print(f"{name} | {setting} | {r['abs_rel']:.3f} | {r['rmse']:.3f} | "
                      f"{r['delta1']:.3f} | {r['n']}")
    for setting, acc in pooled.items():
        n = max(acc['n'], 1)
        print(f"ALL | {setting} | {acc['abs_rel_sum'] / n:.3f} | "
              f"{(acc['sq_err_sum'] / n) ** .5:.3f} | {acc['delta1_sum'] / n:.3f} | {acc['n']}")

    item = val[args.frame]
    batch = pseudo_collate([item])
    img = item['inputs']['img']
    img = img[args.view] if img.dim() == 4 else img
    rgb = img.permute(1, 2, 0).numpy()
    if model.data_preprocessor._channel_conversion:  # packed BGR (nuScenes loaders)
        rgb = rgb[..., ::-1]
    v = args.view
    fig, axes = plt.subplots(2, 5, figsize=(21, 7))
    for row, (rr, dr, title) in enumerate([(rgb_r, dep_r, f'pretext: RGB {rgb_r:.0%} / depth '
                                            f'{dep_r:.0%} masked'), (0., 1., 'monocular: RGB 0% / depth 100% masked')]):
        out, pred, gt, _ = run(model, batch, rr, dr)
        hw = out['hw']
        pred, gt = pred[v], gt[v]
        rgb_mask = upsample(out['rgb_mask'][v], hw, p)
        dep_mask = upsample(out['depth_mask'][v], hw, p)
        shown = rgb.copy()
        shown[rgb_mask] = (0.3 * shown[rgb_mask] + 0.7 * 128).astype(np.uint8)
        gt_np, pred_np = gt.numpy(), pred.numpy()
        vmax = float(np.percentile(gt_np[gt_np > 0], 99))
        dep_in = np.where(dep_mask, np.nan, np.where(gt_np > 0, gt_np, np.nan))
        mask_img = np.zeros(rgb_mask.shape + (3, ))
        mask_img[..., 0] = rgb_mask
        mask_img[..., 2] = dep_mask
        panels = [(shown, 'input RGB (grey = dropped)', None),
                  (mask_img, 'mask: red RGB, blue depth,\nmagenta both dropped', None),
                  (dep_in, 'depth input\n(visible patches, valid px)', 'viridis'),
                  (pred_np, 'predicted depth', 'viridis'),
                  (np.where(gt_np > 0, gt_np, np.nan), 'true depth (white = invalid)', 'viridis')]
        for ax, (im, t, cmap) in zip(axes[row], panels):
            h = ax.imshow(im, cmap=cmap, vmin=0 if cmap else None, vmax=vmax if cmap else None)
            ax.set_title(t, fontsize=9)
            ax.axis('off')
        axes[row, 0].text(
            -0.05, 0.5, title, transform=axes[row, 0].transAxes, rotation=90, va='center', ha='right', fontsize=9)
    fig.colorbar(h, ax=axes.ravel().tolist(), shrink=0.6, label='depth (m)')
    fig.savefig(args.out, dpi=80, bbox_inches='tight')
    print('saved', args.out)


if __name__ == '__main__':
    main()
