"""Draw an occupancy label file (Occ3D layout) from above: per (x, y) column the class of its highest occupied voxel
inside the camera mask, the camera mask's coverage, and a side slice through the ego (y = 0); or, with a model, a
test frame's ground truth beside the prediction (top views inside the camera mask and side slices).

Usage::

    python tools/misc/draw_occupancy.py PATH/labels.npz --out occ.png
    python tools/misc/draw_occupancy.py --config CONFIG --checkpoint CKPT --index 20 --out pred.png
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

# Occ3D colours (the challenge repository's palette, 0-17)
PALETTE = [(0, 0, 0), (255, 120, 50), (255, 192, 203), (255, 255, 0), (0, 150, 245), (0, 255, 255), (200, 180, 0),
           (255, 0, 0), (255, 240, 150), (135, 60, 0), (160, 32, 240), (255, 0, 255), (139, 137, 137), (75, 0, 75),
           (150, 240, 80), (230, 230, 250), (0, 175, 0), (255, 255, 255)]


def top_view(semantics, mask):
    import numpy as np
    sem = np.where(mask.astype(bool), semantics, 17)
    occupied = sem != 17
    z_top = np.where(occupied.any(2), occupied.shape[2] - 1 - np.argmax(occupied[:, :, ::-1], axis=2), -1)
    cls = np.where(z_top >= 0, np.take_along_axis(sem, np.maximum(z_top, 0)[..., None], 2)[..., 0], 17)
    return np.asarray(PALETTE, dtype=np.uint8)[cls]


def draw_prediction(config: str, checkpoint: str, index: int, out: str) -> None:
    """Ground truth vs prediction of test frame ``index`` of ``config`` (a model with an ``occ_head``)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np
    import torch
    from mmdet3d.registry import DATASETS
    from mmengine.dataset import pseudo_collate
    from mmengine.runner import load_checkpoint

    from mim3d_plugin.evaluation.metrics.occ3d_metric import occ_confusion, occ_miou
    from mim3d_plugin.testing import build_model, load_config
    cfg = load_config(config)
    model = build_model(cfg)
    load_checkpoint(model, checkpoint, map_location='cpu')
    model.eval()
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    with torch.no_grad():
        sample = model.test_step(pseudo_collate([dataset[index]]))[0]
    pred, gt = sample.pred_occ.cpu().numpy(), sample.voxel_semantics.cpu().numpy()
    cam = sample.mask_camera.cpu().numpy().astype(bool)
    miou = occ_miou(occ_confusion(pred, gt, cam))['mIoU']
    fig, axes = plt.subplots(2, 2, figsize=(12, 9))
    extent = (-40, 40, -40, 40)
    for col, (sem, title) in enumerate([(gt, f'frame {index}: ground truth'), (pred, f'predicted (mIoU {miou:.1f})')]):
        axes[0, col].imshow(top_view(sem, cam).transpose(1, 0, 2), origin='lower', extent=extent)
        axes[0, col].set_title(title + ', top view inside mask_camera')
        axes[0, col].plot(0, 0, 'r^')
        side = np.asarray(PALETTE, dtype=np.uint8)[np.where(cam, sem, 17)[:, 100, :]].transpose(1, 0, 2)
        axes[1, col].imshow(side, origin='lower', extent=(-40, 40, -1, 5.4), aspect=4)
        axes[1, col].set_title('side slice y = 0 inside mask_camera (x right, z up)')
    from mim3d_plugin.datasets.transforms import OCC3D_CLASSES
    present = [c for c in np.unique(np.concatenate([gt[cam], pred[cam]])) if c != 17]
    handles = [plt.Rectangle((0, 0), 1, 1, color=np.asarray(PALETTE[c]) / 255) for c in present]
    fig.legend(handles, [OCC3D_CLASSES[c] for c in present], loc='lower center', ncol=len(present))
    fig.savefig(out, dpi=60, bbox_inches='tight')
    print(f'draw_occupancy: {out} (frame {index}, mIoU {miou:.2f})')


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('labels', nargs='?', help='a labels.npz (or its folder)')
    p.add_argument('--out', required=True)
    p.add_argument('--config', help='draw a model\'s prediction: its config ...')
    p.add_argument('--checkpoint', help='... its checkpoint ...')
    p.add_argument('--index', type=int, default=0, help='... and the test frame')
    args = p.parse_args(argv)
    if args.config:
        if not args.checkpoint:
            p.error('--config needs --checkpoint')
        return draw_prediction(args.config, args.checkpoint, args.index, args.out)
    if not args.labels:
        p.error('give a labels.npz or --config/--checkpoint')
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np

    from mim3d_plugin.datasets.transforms import OCC3D_CLASSES, load_occ3d_labels
    lab = load_occ3d_labels(args.labels)
    sem, cam = lab['semantics'], lab['mask_camera']
    fig, axes = plt.subplots(1, 3, figsize=(18, 6))
    extent = (-40, 40, -40, 40)
    # arrays are (X, Y, Z): transpose to rows = y for drawing with x to the right, y up
    axes[0].imshow(top_view(sem, cam).transpose(1, 0, 2), origin='lower', extent=extent)
    axes[0].set_title('top view inside mask_camera (highest occupied voxel)')
    axes[1].imshow(cam.mean(2).T, origin='lower', extent=extent, cmap='gray', vmin=0, vmax=1)
    axes[1].set_title(f'mask_camera coverage per column ({100 * cam.mean():.1f} % of voxels)')
    side = np.asarray(PALETTE, dtype=np.uint8)[sem[:, 100, :]].transpose(1, 0, 2)
    axes[2].imshow(side, origin='lower', extent=(-40, 40, -1, 5.4), aspect=4)
    axes[2].set_title('side slice y = 0 (x right, z up)')
    for ax in axes[:2]:
        ax.plot(0, 0, 'r^')
        ax.set_xlabel('x (m, ego forward)')
        ax.set_ylabel('y (m, ego left)')
    present = [c for c in np.unique(sem[cam.astype(bool)]) if c != 17]
    handles = [plt.Rectangle((0, 0), 1, 1, color=np.asarray(PALETTE[c]) / 255) for c in present]
    fig.legend(handles, [OCC3D_CLASSES[c] for c in present], loc='lower center', ncol=len(present))
    fig.savefig(args.out, dpi=60, bbox_inches='tight')
    print(f'draw_occupancy: {args.out}')


if __name__ == '__main__':
    main()
