"""Info files written by mmdet3d's own nuScenes converter: single-frame datasets load them as they are, the
temporal ones ask for `tools/create_data.py nuscenes --update-infos`, which adds the links from the tables."""
import importlib.util
import os
import os.path as osp
import sys

import mmengine
import pytest
from mmdet3d.registry import DATASETS
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mim3d_plugin  # noqa: F401

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
MMDET3D_CONVERTERS = osp.join(
    osp.dirname(importlib.util.find_spec('mmdet3d').origin), '.mim', 'tools', 'dataset_converters')
pytestmark = pytest.mark.slow


def _load(name):
    spec = importlib.util.spec_from_file_location(f'mmdet3d_{name}', osp.join(MMDET3D_CONVERTERS, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def mmdet3d_val_infos(nus_root, tmp_path, monkeypatch):
    """mini_val infos written by mmdet3d: ``_fill_trainval_infos`` (v1) then ``update_infos_to_v2``."""
    if not osp.isdir(MMDET3D_CONVERTERS):
        pytest.skip(f'mmdet3d dataset converters not installed: {MMDET3D_CONVERTERS}')
    from nuscenes import NuScenes
    nusc = NuScenes(version='v1.0-mini', dataroot=nus_root, verbose=False)
    train = {s['token'] for s in nusc.scene if s['name'] != 'scene-0916'}  # mmdet3d: not train -> val
    val = {s['token'] for s in nusc.scene if s['name'] == 'scene-0916'}
    _, val_infos = _load('nuscenes_converter')._fill_trainval_infos(nusc, train, val, max_sweeps=0)
    v1 = tmp_path / 'v1' / 'nuscenes_infos_val.pkl'
    os.makedirs(v1.parent)
    mmengine.dump(dict(infos=val_infos, metadata=dict(version='v1.0-mini')), str(v1))
    os.makedirs(tmp_path / 'data')
    os.symlink(nus_root, tmp_path / 'data' / 'nuscenes')  # update_infos_to_v2 reads ./data/nuscenes
    monkeypatch.chdir(tmp_path)
    sys.path.insert(0, MMDET3D_CONVERTERS)
    try:
        _load('update_infos_to_v2').update_nuscenes_infos(str(v1), str(tmp_path))
    finally:
        sys.path.remove(MMDET3D_CONVERTERS)
    path = str(tmp_path / 'nuscenes_infos_val.pkl')
    data = mmengine.load(path)
    assert data['metainfo']['info_version'] == '1.1' and 'prev' not in data['data_list'][0]
    return path


def _dataset(cfg_path, ann_file, nus_root, prefix):
    cfg = Config.fromfile(osp.join(ROOT, cfg_path))
    ds = cfg.train_dataloader.dataset
    ds.update(ann_file=ann_file, data_prefix=dict(prefix, sweeps=osp.join(nus_root, 'sweeps', 'LIDAR_TOP')))
    return ds


def test_mmdet3d_info_file_single_frame_loads_temporal_asks_for_update(mmdet3d_val_infos, nus_root, nus_infos,
                                                                       nus_data_prefix):
    init_default_scope('mmdet3d')
    geomim = DATASETS.build(
        _dataset('configs/geomim/geomim_swin-w64-d1121_1xb1-8e_nus-mini.py', mmdet3d_val_infos, nus_root,
                 nus_data_prefix))
    assert len(geomim) == 41
    out = geomim[5]
    assert out['inputs']['img'].shape[0] == 6 and (out['inputs']['depth'] > 0).sum() > 100
    mim4d_cfg = _dataset('configs/mim4d/mim4d_convnext-mini-mask_1xb2-300i_nus-mini.py', mmdet3d_val_infos, nus_root,
                         nus_data_prefix)
    with pytest.raises(ValueError, match=r"lacks \['scene_token', 'prev', 'next'\].*--update-infos"):
        DATASETS.build(mim4d_cfg)
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    try:
        import create_data
        create_data.main(
            ['nuscenes', '--root-path', nus_root, '--version', 'v1.0-mini', '--update-infos', mmdet3d_val_infos])
    finally:
        sys.path.remove(osp.join(ROOT, 'tools'))
    mim4d = DATASETS.build(mim4d_cfg)
    ours = mmengine.load(osp.join(nus_infos, 'nuscenes_infos_val.pkl'))['data_list']
    updated = mmengine.load(mmdet3d_val_infos)['data_list']
    for a, b in zip(updated, ours):
        assert (a['token'], a['prev'], a['next'], a['scene_token']) == (b['token'], b['prev'], b['next'],
                                                                        b['scene_token'])
        assert len(a['cam_sweeps']['CAM_FRONT']) == len(b['cam_sweeps']['CAM_FRONT'])
    clip = mim4d[10]
    assert clip['data_samples'].metainfo['frame_valid'].tolist() == [True, True, True]
