"""Plot the training loss curves of several runs side by side from their mmengine scalar logs.

Each run is ``LABEL=WORK_DIR``; the newest ``WORK_DIR/<timestamp>/vis_data/scalars.json`` (one JSON object
per logged step, written by mmengine's ``LocalVisBackend``) is read. The left panel shows the total loss per
iteration, the right panel the summed heatmap (focal) and box (L1) losses, both smoothed with a running mean.

Usage::

    python projects/BEVDet/tools/plot_loss_curves.py scratch=work_dirs/bevdet_small \
        geomim=work_dirs/bevdet_small_geomim --out docs/bevdet/loss_curves_scratch_vs_geomim.png
"""
import argparse
import glob
import json
import os.path as osp
from typing import Dict, List

import numpy as np


def read_scalars(work_dir: str) -> List[dict]:
    """Training records (those with ``loss``) of the newest run in ``work_dir``.

    Raises:
        FileNotFoundError: no ``*/vis_data/scalars.json`` under ``work_dir``.
    """
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not files:
        raise FileNotFoundError(f'plot_loss_curves: no */vis_data/scalars.json under {work_dir!r}')
    with open(files[-1]) as f:
        records = [json.loads(line) for line in f if line.strip()]
    return [r for r in records if 'loss' in r]


def series(records: List[dict]) -> Dict[str, np.ndarray]:
    """Arrays ``step``, ``loss``, ``heatmap`` (sum of ``task*.loss_heatmap``), ``bbox`` (sum of ``task*.loss_bbox``)."""
    out = dict(step=np.array([r['step'] for r in records], dtype=float),
               loss=np.array([r['loss'] for r in records], dtype=float))
    for name in ('heatmap', 'bbox'):
        out[name] = np.array([sum(v for k, v in r.items() if k.endswith(f'loss_{name}')) for r in records])
    return out


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(values) < window:
        return values
    return np.convolve(values, np.ones(window) / window, mode='valid')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('runs', nargs='+', help='LABEL=WORK_DIR')
    parser.add_argument('--out', required=True, help='output image (png)')
    parser.add_argument('--smooth', type=int, default=3, help='running-mean window (logged points)')
    parser.add_argument('--title', default='BEVDet small config: training loss')
    args = parser.parse_args()

    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for run in args.runs:
        if '=' not in run:
            raise ValueError(f'plot_loss_curves: runs are LABEL=WORK_DIR, got {run!r}')
        label, work_dir = run.split('=', 1)
        s = series(read_scalars(work_dir))
        k = args.smooth
        steps = s['step'][k - 1:] if len(s['step']) >= k > 1 else s['step']
        axes[0].plot(steps, smooth(s['loss'], k), label=label)
        axes[1].plot(steps, smooth(s['heatmap'], k), label=f'{label}: heatmap (focal)')
        axes[1].plot(steps, smooth(s['bbox'], k), '--', label=f'{label}: box (L1)')
    axes[0].set(xlabel='iteration', ylabel='total loss', yscale='log', title=args.title)
    axes[1].set(xlabel='iteration', ylabel='loss', yscale='log', title='heatmap and box losses (sum of tasks)')
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f'plot_loss_curves: wrote {args.out}')


if __name__ == '__main__':
    main()
