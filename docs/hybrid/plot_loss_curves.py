"""Loss curves of the hybrid pretraining and of its single-head runs at equal compute (same encoder, data and
iterations), one panel per loss: the hybrid's curve next to the single-head run that trains the same head.

    python docs/hybrid/plot_loss_curves.py [--root work_dirs/hybrid_mini] [--out docs/hybrid/loss_curves.png]

Reads ``ROOT/<row>/*/vis_data/scalars.json`` of the rows written by ``tools/analysis_tools/transfer_table.py
--rows hybrid-bev hybrid-render hybrid-depth hybrid-bev-render-depth``.
"""
import argparse
import glob
import json
import os.path as osp

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

HYBRID = 'hybrid-bev-render-depth'
PANELS = [  # loss key, single-head row that trains it
    ('bev.loss_bev', 'hybrid-bev'), ('bev.loss_depth', 'hybrid-bev'),
    ('render.loss_rgb_pseudo', 'hybrid-render'), ('render.loss_depth_pseudo', 'hybrid-render'),
    ('render.loss_rgb_cur', 'hybrid-render'), ('depth.loss_depth', 'hybrid-depth')]


def read(root, row):
    rows = []
    for path in sorted(glob.glob(osp.join(root, row, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            rows += [json.loads(line) for line in f if line.strip()]
    return [r for r in rows if 'loss' in r]


def smooth(values, k=5):
    out = []
    for i in range(len(values)):
        window = values[max(0, i - k + 1):i + 1]
        out.append(sum(window) / len(window))
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--root', default='work_dirs/hybrid_mini')
    p.add_argument('--out', default='docs/hybrid/loss_curves.png')
    args = p.parse_args()
    hybrid = read(args.root, HYBRID)
    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    for ax, (key, single_row) in zip(axes.flat, PANELS):
        for name, rows, style in ((HYBRID, hybrid, '-'), (single_row, read(args.root, single_row), '--')):
            pts = [(r['step'], r[key]) for r in rows if key in r]
            if pts:
                ax.plot([s for s, _ in pts], smooth([v for _, v in pts]), style, label=name)
        ax.set_title(key)
        ax.set_xlabel('iteration')
        ax.legend(fontsize=8)
    fig.suptitle('hybrid (one Swin, three heads) vs single-head runs, same encoder / data / iterations '
                 '(moving average of 5 logged values)')
    fig.tight_layout()
    fig.savefig(args.out, dpi=80)
    print(args.out)


if __name__ == '__main__':
    main()
