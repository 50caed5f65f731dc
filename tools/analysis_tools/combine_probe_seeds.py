"""Probe table of the hybrid and its single heads over two pretraining seeds: reads the transfer-table JSONs of
seed 0 (``docs/benchmarks/hybrid_mini.json``) and seed 1 (``docs/benchmarks/hybrid_mini_s1.json``), writes
``docs/hybrid/probe_table.md``.

Each cell: mean +- sample std of the 6 probe scores (2 pretraining seeds x 3 probe seeds; random init: its 3), then
the pretraining seeds' means in brackets. "beyond spread" (vs random init, and hybrid vs each single head): the
mean +- std intervals do not overlap.

    python tools/analysis_tools/combine_probe_seeds.py
"""
import json
import statistics

ROWS = [('random init', 'random-swin'), ('bev only (GeoMIM head)', 'hybrid-bev'),
        ('render only (MIM4D head)', 'hybrid-render'), ('depth only (Mask3D head)', 'hybrid-depth'),
        ('hybrid bev + render + depth', 'hybrid-bev-render-depth')]
METRICS = [('AbsRel', 'depth', 'abs_rel', -1), ('RMSE (m)', 'depth', 'rmse', -1), ('delta1', 'depth', 'delta1', 1),
           ('BEV IoU', 'bev', 'iou', 1)]


def load(path):
    with open(path) as f:
        return {r['name']: r for r in json.load(f)['results']}


def values(runs, name, probe, key):
    out = []
    if name == 'random-swin':  # no pretraining: the same weights and probe scores in both files
        return [runs[0][name]['probe'][probe]['summary'][key]['values']]
    for seed, rows in enumerate(runs):
        row = rows.get(name if seed == 0 or name == 'random-swin' else f'{name}-s{seed}')
        out.append(row['probe'][probe]['summary'][key]['values'] if row else None)
    return out


def main():
    runs = [load('docs/benchmarks/hybrid_mini.json'), load('docs/benchmarks/hybrid_mini_s1.json')]
    lines = [
        '| pretraining (2 epochs = 80 clips, same Swin-s16) | ' + ' | '.join(m[0] for m in METRICS) + ' |',
        '| --- |' + ' --- |' * len(METRICS)
    ]
    stats = {}
    for label, name in ROWS:
        cells = []
        for metric, probe, key, _ in METRICS:
            per_seed = [v for v in values(runs, name, probe, key) if v]
            pooled = [x for v in per_seed for x in v]
            m, s = statistics.mean(pooled), statistics.stdev(pooled)
            stats[name, metric] = (m, s)
            cells.append(f'{m:.4f} ± {s:.4f} [' + ', '.join(f'{statistics.mean(v):.4f}' for v in per_seed) + ']')
        lines.append(f'| {label} | ' + ' | '.join(cells) + ' |')

    def verdict(a, b, sign):
        (ma, sa), (mb, sb) = a, b
        if ma - sa <= mb + sb and mb - sb <= ma + sa:
            return 'within spread'
        return 'better' if (ma - mb) * sign > 0 else 'worse'

    lines += ['', '| comparison | ' + ' | '.join(m[0] for m in METRICS) + ' |', '| --- |' + ' --- |' * len(METRICS)]
    for label, name in ROWS[1:]:
        lines.append(f'| {label} vs random | '
                     + ' | '.join(verdict(stats[name, m], stats['random-swin', m], sign)
                                  for m, _, _, sign in METRICS) + ' |')
    for label, name in ROWS[1:4]:
        lines.append(f'| hybrid vs {label} | ' + ' | '.join(
            verdict(stats['hybrid-bev-render-depth', m], stats[name, m], sign) for m, _, _, sign in METRICS) + ' |')
    text = '\n'.join(lines) + '\n'
    with open('docs/hybrid/probe_table.md', 'w') as f:
        f.write(text)
    print(text)


if __name__ == '__main__':
    main()
