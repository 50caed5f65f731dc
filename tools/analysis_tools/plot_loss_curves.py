"""Plot loss terms of one or more mmengine runs from their ``vis_data/scalars.json`` and print
first-vs-last averages.

    python tools/analysis_tools/plot_loss_curves.py RUN.json [RUN2.json ...] --keys loss_bev loss_depth \
        [--labels a b] [--window 20] [--out docs/geomim/loss_curve.png]
"""
import argparse
import json

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def load(path, keys):
    rows = [json.loads(line) for line in open(path)]
    rows = [r for r in rows if all(k in r for k in keys) and 'iter' in r]
    if not rows:
        raise ValueError(f'{path}: no logged iteration has all of {keys}')
    return np.array([r['iter'] for r in rows]), {k: np.array([r[k] for r in rows]) for k in keys}


def main():
    parser = argparse.ArgumentParser(description='Plot loss curves of mmengine runs')
    parser.add_argument('scalars', nargs='+', help='vis_data/scalars.json of each run')
    parser.add_argument('--keys', nargs='+', default=['loss'])
    parser.add_argument('--labels', nargs='+')
    parser.add_argument('--window', type=int, default=5, help='logged points averaged for the table')
    parser.add_argument('--title', default='')
    parser.add_argument('--out', required=True)
    args = parser.parse_args()
    labels = args.labels or args.scalars
    fig, axes = plt.subplots(1, len(args.keys), figsize=(5 * len(args.keys), 3.8), squeeze=False)
    print(f'| run | term | first {args.window} logs | last {args.window} logs | iterations |')
    print('|---|---|---|---|---|')
    for path, label in zip(args.scalars, labels):
        iters, values = load(path, args.keys)
        for ax, key in zip(axes[0], args.keys):
            ax.plot(iters, values[key], label=label, alpha=0.8)
            ax.set_xlabel('iteration')
            ax.set_title(key)
            ax.grid(alpha=0.3)
            print(f'| {label} | {key} | {values[key][:args.window].mean():.4f} | '
                  f'{values[key][-args.window:].mean():.4f} | {iters[0]}-{iters[-1]} |')
    axes[0][0].legend()
    fig.suptitle(args.title)
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
