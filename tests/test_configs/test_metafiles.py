"""Every pretraining method folder has a metafile.yml (OpenMMLab model index) listing exactly its configs."""
import glob
import os.path as osp

import pytest
import yaml

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.mark.parametrize('method', ['geomim', 'mim4d', 'mask3d', 'hybrid'])
def test_metafile_lists_every_config_of_the_method(method):
    with open(osp.join(ROOT, 'configs', method, 'metafile.yml')) as f:
        meta = yaml.safe_load(f)
    collections = {c['Name'] for c in meta['Collections']}
    listed = set()
    for model in meta['Models']:
        assert model['In Collection'] in collections
        assert osp.isfile(osp.join(ROOT, model['Config'])), model['Config']
        assert model['Name'] == osp.splitext(osp.basename(model['Config']))[0]
        listed.add(model['Config'])
    present = {osp.relpath(p, ROOT) for p in glob.glob(osp.join(ROOT, 'configs', method, '*.py'))}
    assert listed == present
    for c in meta['Collections']:
        assert osp.isfile(osp.join(ROOT, c['README'])) and osp.exists(osp.join(ROOT, c['Code']['URL']))
