"""Plot the loss terms of a MIM4D run from mmengine's ``vis_data/scalars.json`` and print a table.

    python docs/mim4d/plot_losses.py work_dirs/mim4d_mini/<timestamp>/vis_data/scalars.json \
        [--out docs/mim4d/loss_curves.png] [--window 30]
"""
import argparse
import json

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

TERMS = ['loss_rgb_pseudo', 'loss_depth_pseudo', 'loss_eikonal_pseudo', 'loss_rgb_cur', 'loss_depth_cur',
         'loss_eikonal_cur', 'loss']


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('scalars')
    parser.add_argument('--out', default='docs/mim4d/loss_curves.png')
    parser.add_argument('--window', type=int, default=30, help='iterations averaged for the table')
    args = parser.parse_args()
    rows = [json.loads(line) for line in open(args.scalars) if '"loss"' in line]
    iters = np.array([r['iter'] for r in rows])
    groups = [keys for keys in (['loss_depth_pseudo', 'loss_depth_cur'], ['loss_rgb_pseudo', 'loss_rgb_cur'],
                                ['loss_eikonal_pseudo', 'loss_eikonal_cur']) if keys[0] in rows[0]]
    fig, axes = plt.subplots(1, len(groups), figsize=(5 * len(groups), 4))
    for ax, keys in zip(axes, groups):
        for key in keys:
            ax.plot(iters, [r[key] for r in rows], label=key)
        ax.set_xlabel('iteration')
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle('MIM4D small config on nuScenes scene-0523 (logged every 10 iterations, window-averaged)')
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    w = max(1, args.window // max(1, int(np.median(np.diff(iters))) if len(iters) > 1 else 1))
    print(f'| term | first {w} logs | last {w} logs |')
    print('|---|---|---|')
    for key in [k for k in TERMS if k in rows[0]]:
        vals = np.array([r[key] for r in rows])
        print(f'| {key} | {vals[:w].mean():.3f} | {vals[-w:].mean():.3f} |')
    print(f'saved {args.out} ({len(rows)} log points, iterations {iters[0]}-{iters[-1]})')


if __name__ == '__main__':
    main()
