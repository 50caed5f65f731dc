"""tools/analysis_tools/plot_loss_curves.py: runs from scalars files and work dirs, plain and summed terms."""
import json
import os.path as osp
import sys

import numpy as np
import pytest

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'tools', 'analysis_tools'))
import plot_loss_curves as plc  # noqa: E402


def _write(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('\n'.join(json.dumps(r) for r in records) + '\n')


def test_terms_runs_and_table(tmp_path):
    recs = [
        dict(step=i, loss=10.0 - i, **{
            'task0.loss_heatmap': 1.0 * i,
            'task1.loss_heatmap': 2.0,
            'bev.loss_bev': 0.5
        }) for i in range(1, 11)
    ]
    recs.insert(3, dict(step=4, lr=0.1))  # a record without losses is skipped
    _write(tmp_path / 'run_a' / '20261207_000000' / 'vis_data' / 'scalars.json', recs[:6])
    _write(tmp_path / 'run_a' / '20261207_010000' / 'vis_data' / 'scalars.json', recs[6:])  # resumed run
    records = plc.read_scalars(str(tmp_path / 'run_a'))
    steps, values = plc.series(records, 'loss')
    assert steps.tolist() == list(range(1, 11)) and values.tolist() == [10.0 - i for i in range(1, 11)]
    _, summed = plc.series(records, 'heatmap=loss_heatmap')
    assert summed.tolist() == [i + 2.0 for i in range(1, 11)]
    assert np.allclose(plc.smooth(np.array([0., 2., 4., 6.]), 2), [0., 1., 3., 5.])
    rows = plc.table({'a': records}, ['loss', 'bev.loss_bev', 'missing'], window=2)
    assert rows[2] == '| a | loss | 8.5000 | 0.5000 | 1-10 |' and len(rows) == 4  # 'missing' has no row
    with pytest.raises(KeyError, match='no logged record'):
        plc.series(records, 'render.loss_rgb_cur')
    with pytest.raises(FileNotFoundError):
        plc.read_scalars(str(tmp_path / 'nothing'))
    out = tmp_path / 'curves.png'
    assert plc.main([f'a={tmp_path / "run_a"}', '--keys', 'loss', 'heatmap=loss_heatmap', '--out', str(out)]) == 0
    assert out.stat().st_size > 1000
