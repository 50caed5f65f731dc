"""Draw a BEV segmentation model's predicted masks beside the ground truth for a few test frames.

One row per frame, per class: ground truth, predicted probability, IoU at the class's best threshold for that frame.
BEV layout as everywhere in the project: x to the right, y up (row 0 = y_min drawn at the bottom), the ego at the
centre.

Usage::

    python tools/misc/draw_bev_seg.py CONFIG CHECKPOINT --out docs/bevdet/bev_seg_mini.png [--indices 0 20]
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--out', required=True)
    p.add_argument('--indices', type=int, nargs='+', default=[0, 20])
    args = p.parse_args(argv)

    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import torch
    from mmdet3d.registry import DATASETS
    from mmengine.dataset import pseudo_collate
    from mmengine.runner import load_checkpoint

    from mim3d_plugin.testing import build_model, load_config
    cfg = load_config(args.config)
    model = build_model(cfg)
    load_checkpoint(model, args.checkpoint, map_location='cpu')
    model.eval()
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    classes = model.seg_head.classes
    bounds = model.seg_head.output_bounds
    extent = (bounds[0][0], bounds[0][1], bounds[1][0], bounds[1][1])
    fig, axes = plt.subplots(
        len(args.indices), 2 * len(classes), figsize=(4 * len(classes) * 2, 4 * len(args.indices)), squeeze=False)
    for row, index in enumerate(args.indices):
        with torch.no_grad():
            sample = model.test_step(pseudo_collate([dataset[index]]))[0]
        pred, gt = sample.pred_masks_bev.cpu().numpy(), sample.gt_masks_bev.cpu().numpy()
        for k, name in enumerate(classes):
            ious = [((pred[k] >= t) & gt[k]).sum() / max(((pred[k] >= t) | gt[k]).sum(), 1)
                    for t in (0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65)]
            for col, (img, title) in enumerate([(gt[k], f'frame {index} {name}: ground truth'),
                                                (pred[k], f'predicted (IoU@max {max(ious):.2f})')]):
                ax = axes[row, 2 * k + col]
                ax.imshow(img, origin='lower', extent=extent, vmin=0, vmax=1, cmap='viridis')
                ax.plot(0, 0, 'r^')
                ax.set_title(title, fontsize=9)
                ax.set_xlabel('x (m)')
    fig.tight_layout()
    fig.savefig(args.out, dpi=70)
    print(f'draw_bev_seg: {args.out}')


if __name__ == '__main__':
    main()
