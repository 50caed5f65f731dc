"""Loss curves of one or more mmengine runs, one panel per loss term, and a first-vs-last table.

A run is ``[LABEL=]PATH``: a ``vis_data/scalars.json`` (one JSON object per logged step, written by mmengine's
``LocalVisBackend``) or a work dir (its newest ``*/vis_data/scalars.json``; a run resumed into new timestamps is read
across all of them). A term is a logged key (``loss``, ``bev.loss_bev``...) or a sum of keys: ``NAME=PATTERN`` adds
every key ending with ``PATTERN`` (BEVDet's per-task ``task*.loss_heatmap``: ``heatmap=loss_heatmap``). With
``--pairs`` a panel shows one term of each run (e.g. a hybrid's ``bev.loss_bev`` next to the BEV-only run's).

Usage::

    # GeoMIM: the loss terms of two runs
    python tools/analysis_tools/plot_loss_curves.py before=A/vis_data/scalars.json now=work_dirs/geomim \
        --keys loss bev.loss_bev bev.loss_depth --out docs/geomim/loss_curve.png
    # BEVDet: summed per-task terms, smoothed
    python tools/analysis_tools/plot_loss_curves.py scratch=work_dirs/bevdet_small geomim=work_dirs/bevdet_geomim \
        --keys loss heatmap=loss_heatmap bbox=loss_bbox --smooth 10 --out docs/bevdet/loss_curves.png
    # hybrid vs its single-head runs: a term of the hybrid against the same term of the run that trains it alone
    python tools/analysis_tools/plot_loss_curves.py hybrid=work_dirs/hybrid_mini/hybrid-bev-render-depth \
        bev=work_dirs/hybrid_mini/hybrid-bev --keys bev.loss_bev --out docs/hybrid/loss_curves.png
"""
import argparse
import glob
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np


def read_scalars(path: str) -> List[dict]:
    """Logged training records of a ``scalars.json`` or of every run under a work dir (oldest first).

    Raises:
        FileNotFoundError: no such file, or no ``*/vis_data/scalars.json`` under the work dir.
    """
    if osp.isdir(path):
        files = sorted(glob.glob(osp.join(path, '*', 'vis_data', 'scalars.json')))
        if not files:
            raise FileNotFoundError(f'plot_loss_curves: no */vis_data/scalars.json under {path!r}')
    elif osp.isfile(path):
        files = [path]
    else:
        raise FileNotFoundError(f'plot_loss_curves: no scalars.json or work dir {path!r}')
    records = []
    for name in files:
        with open(name) as f:
            records += [json.loads(line) for line in f if line.strip()]
    return [r for r in records if 'loss' in r or any(k.endswith('loss') or 'loss_' in k for k in r)]


def parse_term(term: str) -> Tuple[str, Optional[str]]:
    """``NAME=PATTERN`` (sum of keys ending with PATTERN) or a plain key."""
    return tuple(term.split('=', 1)) if '=' in term else (term, None)


def series(records: List[dict], term: str) -> Tuple[np.ndarray, np.ndarray]:
    """``(steps, values)`` of one term over the records that have it.

    Raises:
        KeyError: no record has the term (the keys of the first record are named).
    """
    name, pattern = parse_term(term)
    steps, values = [], []
    for r in records:
        step = r.get('step', r.get('iter'))
        if pattern is None:
            if name in r:
                steps.append(step)
                values.append(r[name])
        else:
            keys = [k for k in r if k.endswith(pattern)]
            if keys:
                steps.append(step)
                values.append(sum(r[k] for k in keys))
    if not values:
        raise KeyError(
            f'plot_loss_curves: no logged record has {term!r}; keys: {sorted(records[0]) if records else []}')
    return np.asarray(steps, dtype=float), np.asarray(values, dtype=float)


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Running mean over the last ``window`` logged values (1: none)."""
    if window <= 1:
        return values
    c = np.cumsum(np.insert(values, 0, 0.0))
    out = np.empty_like(values)
    for i in range(len(values)):
        lo = max(0, i + 1 - window)
        out[i] = (c[i + 1] - c[lo]) / (i + 1 - lo)
    return out


def table(runs: Dict[str, List[dict]], terms: Sequence[str], window: int) -> List[str]:
    """Markdown rows: mean of the first and last ``window`` logged values of every term of every run."""
    lines = [f'| run | term | first {window} logs | last {window} logs | steps |', '|---|---|---|---|---|']
    for label, records in runs.items():
        for term in terms:
            try:
                steps, values = series(records, term)
            except KeyError:
                continue
            lines.append(f'| {label} | {parse_term(term)[0]} | {values[:window].mean():.4f} | '
                         f'{values[-window:].mean():.4f} | {int(steps[0])}-{int(steps[-1])} |')
    return lines


def parse_runs(items: Sequence[str]) -> Dict[str, str]:
    out = {}
    for item in items:
        label, path = item.split('=', 1) if '=' in item and not osp.exists(item) else (item, item)
        out[label] = path
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description='Loss curves of mmengine runs')
    parser.add_argument('runs', nargs='+', help='[LABEL=]scalars.json or work dir')
    parser.add_argument('--keys', nargs='+', default=['loss'], help='terms: logged keys or NAME=SUFFIX sums')
    parser.add_argument('--smooth', type=int, default=1, help='running mean over this many logged values')
    parser.add_argument('--window', type=int, default=5, help='logged values averaged for the table')
    parser.add_argument('--title', default='')
    parser.add_argument('--out', required=True, help='PNG')
    args = parser.parse_args(argv)

    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    runs = {label: read_scalars(path) for label, path in parse_runs(args.runs).items()}
    fig, axes = plt.subplots(1, len(args.keys), figsize=(5 * len(args.keys), 3.8), squeeze=False)
    for ax, term in zip(axes[0], args.keys):
        for label, records in runs.items():
            try:
                steps, values = series(records, term)
            except KeyError:
                continue  # this run does not log the term (e.g. a single-head run)
            ax.plot(steps, smooth(values, args.smooth), label=label, alpha=0.85)
        ax.set_title(parse_term(term)[0])
        ax.set_xlabel('iteration')
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(args.title)
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print('\n'.join(table(runs, args.keys, args.window)))
    print(f'plot_loss_curves: wrote {args.out}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
