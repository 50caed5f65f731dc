"""tools/create_data.py CLI on the bundled nuScenes: default split and scene overrides."""
import os.path as osp
import runpy

import mmengine
import pytest

pytestmark = pytest.mark.slow
SCRIPT = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'tools', 'create_data.py')


def _main():
    return runpy.run_path(SCRIPT, run_name='create_data')['main']


def test_default_split(nus_root, tmp_path):
    written = _main()(['nuscenes', '--root-path', nus_root, '--version', 'v1.0-mini', '--out-dir', str(tmp_path)])
    assert set(written) == {'train', 'val'}
    counts = {s: len(mmengine.load(p)['data_list']) for s, p in written.items()}
    assert counts == {'train': 40, 'val': 41}
    assert osp.basename(written['val']) == 'nuscenes_infos_val.pkl'


def test_scene_overrides(nus_root, tmp_path):
    written = _main()([
        'nuscenes', '--root-path', nus_root, '--version', 'v1.0-mini', '--out-dir',
        str(tmp_path), '--train-scenes', 'scene-0916', '--val-scenes', 'scene-0523', '--extra-tag', 'swap'
    ])
    train, val = (mmengine.load(written[s]) for s in ('train', 'val'))
    assert len(train['data_list']) == 41 and len(val['data_list']) == 40
    assert train['metainfo']['scenes'] == ['scene-0916'] and osp.basename(written['train']) == 'swap_infos_train.pkl'
    with pytest.raises(ValueError, match="scene 'scene-9999' is not in"):
        _main()([
            'nuscenes', '--root-path', nus_root, '--version', 'v1.0-mini', '--out-dir',
            str(tmp_path), '--val-scenes', 'scene-9999'
        ])
    with pytest.raises(ValueError, match='in both'):
        _main()([
            'nuscenes', '--root-path', nus_root, '--version', 'v1.0-mini', '--out-dir',
            str(tmp_path), '--train-scenes', 'scene-0523', '--val-scenes', 'scene-0523'
        ])
