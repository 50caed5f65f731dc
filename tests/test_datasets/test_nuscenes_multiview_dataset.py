"""NuScenesMultiViewDataset: info checks, metainfo, boxes, adjacent key frames (bundled nuScenes)."""
import os.path as osp

import mmengine
import numpy as np
import pytest

from mim3d_plugin.datasets import NuScenesMultiViewDataset, check_info_file

pytestmark = pytest.mark.slow


def _build(nus_infos, nus_data_prefix, split='train', **kwargs):
    return NuScenesMultiViewDataset(
        data_root='',
        ann_file=osp.join(nus_infos, f'nuscenes_infos_{split}.pkl'),
        data_prefix=nus_data_prefix,
        **kwargs)


@pytest.fixture(scope='module')
def train_set(nus_infos, nus_data_prefix):
    return _build(nus_infos, nus_data_prefix)


def test_lengths_version_and_paths(train_set, nus_infos, nus_data_prefix):
    assert len(train_set) == 40
    assert train_set.metainfo['version'] == 'v1.0-mini'  # from the info file (class default: v1.0-trainval)
    val = _build(nus_infos, nus_data_prefix, 'val', test_mode=True)
    assert len(val) == 41 and val.metainfo['version'] == 'v1.0-mini'
    info = train_set.get_data_info(0)
    for cam, img in info['images'].items():
        assert osp.isfile(img['img_path']) and f'/{cam}/' in img['img_path']
        assert np.asarray(img['cam2ego']).shape == (4, 4)
    assert osp.isfile(info['lidar_points']['lidar_path'])
    for key in ('scene_token', 'prev', 'next', 'timestamp', 'token', 'ego2global'):
        assert key in info


def test_boxes_are_bottom_centred_lidar_boxes(train_set, nus_infos):
    raw = mmengine.load(osp.join(nus_infos, 'nuscenes_infos_train.pkl'))['data_list'][3]
    kept = [i for i in raw['instances'] if i['bbox_label_3d'] >= 0 and i['num_lidar_pts'] > 0]
    ann = train_set.get_data_info(3)['ann_info']
    boxes = ann['gt_bboxes_3d']
    assert len(boxes) == len(kept) > 0 and boxes.tensor.shape[1] == 9
    ref = np.array([i['bbox_3d'] for i in kept])
    np.testing.assert_allclose(boxes.gravity_center.numpy(), ref[:, :3], atol=1e-4)
    np.testing.assert_allclose(boxes.bottom_center[:, 2].numpy(), ref[:, 2] - ref[:, 5] / 2, atol=1e-4)
    np.testing.assert_array_equal(ann['gt_labels_3d'], [i['bbox_label_3d'] for i in kept])


def test_adjacent_info(train_set):
    n = len(train_set)
    for idx, offset in ((10, -3), (10, 2), (0, -1), (2, -5), (n - 1, 1), (n - 2, 3), (5, 0)):
        adj = train_set.get_adjacent_info(idx, offset)
        expect = min(max(idx + offset, 0), n - 1)  # one scene, frames in time order
        assert adj['sample_idx'] == expect, (idx, offset)
        assert adj['adjacent_steps'] == expect - idx
        assert adj['adjacent_fallback'] == (expect - idx != offset)
        assert adj['scene_token'] == train_set.get_data_info(idx)['scene_token']
    prev = train_set.get_adjacent_info(10, -1)
    assert prev['token'] == train_set.get_data_info(10)['prev']
    assert train_set.get_data_info(10)['timestamp'] - prev['timestamp'] == pytest.approx(0.5, abs=0.2)
    with pytest.raises(IndexError):
        train_set.get_adjacent_info(n, -1)


def test_v1_info_file_is_refused(tmp_path, nus_data_prefix):
    v1 = tmp_path / 'nuscenes_infos_train_v1.pkl'
    mmengine.dump(dict(infos=[dict(token='x', lidar_path='a.bin')], metadata=dict(version='v1.0-mini')), str(v1))
    with pytest.raises(ValueError, match=r'v1 info file.*create_data\.py'):
        NuScenesMultiViewDataset(data_root='', ann_file=str(v1), data_prefix=nus_data_prefix)


def test_missing_field_and_version_are_named(nus_infos, tmp_path):
    data = mmengine.load(osp.join(nus_infos, 'nuscenes_infos_val.pkl'))
    check_info_file(data, 'val.pkl')
    del data['data_list'][7]['images']['CAM_BACK']['cam2ego']
    with pytest.raises(ValueError, match=r'frame 7 .*images\.CAM_BACK\.cam2ego'):
        check_info_file(data, 'val.pkl')
    data['metainfo']['info_version'] = '1.0'
    with pytest.raises(ValueError, match=r"info_version must be '1.1'"):
        check_info_file(data, 'val.pkl')
    # a plain mmdet3d v2 info (no scene/prev/next) serves the single-frame datasets; the temporal ones are told
    # how to add the links
    data = mmengine.load(osp.join(nus_infos, 'nuscenes_infos_val.pkl'))
    for frame in data['data_list']:
        del frame['scene_token']
    check_info_file(data, 'val.pkl')
    with pytest.raises(ValueError, match=r"frame 0 .*scene_token.*--update-infos"):
        check_info_file(data, 'val.pkl', temporal=True)


def test_camera_subset_and_order(nus_infos, nus_data_prefix):
    cams = ('CAM_BACK', 'CAM_FRONT')
    ds = _build(nus_infos, nus_data_prefix, cameras=cams)
    assert tuple(ds.get_data_info(0)['images']) == cams
    with pytest.raises(ValueError, match='images.CAM_NOPE'):
        _build(nus_infos, nus_data_prefix, cameras=('CAM_NOPE', ))


def test_load_interval_keeps_every_nth_frame(train_set, nus_infos, nus_data_prefix):
    """The official load_interval (UVTR vs0.1 fine-tunes on every second training frame)."""
    half = _build(nus_infos, nus_data_prefix, load_interval=2)
    assert len(half) == (len(train_set) + 1) // 2
    assert [half.get_data_info(i)['token'] for i in range(len(half))] == \
        [train_set.get_data_info(i)['token'] for i in range(0, len(train_set), 2)]
    with pytest.raises(ValueError, match='load_interval must be >= 1'):
        _build(nus_infos, nus_data_prefix, load_interval=0)
