"""nuScenes -> v2 info conversion on the bundled data: counts, links, matrices and boxes vs mmdet3d's converter,
and the devkit evaluation of the val infos through mmdet3d's NuScenesMetric."""
import importlib.util
import logging
import os.path as osp

import mmengine
import numpy as np
import pytest

from mim3d_plugin.datasets.converters import NUSCENES_CAMERAS, NUSCENES_CLASSES, create_nuscenes_infos

pytestmark = pytest.mark.slow
MMDET3D_CONVERTERS = osp.join(
    osp.dirname(importlib.util.find_spec('mmdet3d').origin), '.mim', 'tools', 'dataset_converters')


@pytest.fixture(scope='module')
def infos(nus_infos):
    return {s: mmengine.load(osp.join(nus_infos, f'nuscenes_infos_{s}.pkl')) for s in ('train', 'val')}


@pytest.fixture(scope='module')
def nusc(nus_root):
    from nuscenes import NuScenes
    return NuScenes(version='v1.0-mini', dataroot=nus_root, verbose=False)


def test_counts_and_metainfo(infos):
    train, val = infos['train'], infos['val']
    assert len(train['data_list']) == 40 and len(val['data_list']) == 41
    assert train['metainfo']['scenes'] == ['scene-0523'] and val['metainfo']['scenes'] == ['scene-0916']
    for d in (train, val):
        assert d['metainfo']['dataset'] == 'nuscenes' and d['metainfo']['version'] == 'v1.0-mini'
        assert d['metainfo']['info_version'] == '1.1'
        assert d['metainfo']['categories'] == {c: i for i, c in enumerate(NUSCENES_CLASSES)}
    n_boxes = [sum(len(f['instances']) for f in d['data_list']) for d in (train, val)]
    assert n_boxes == [2625, 2424] and sum(n_boxes) == 5049  # every sample_annotation of the tables
    labelled = sum(i['bbox_label_3d'] >= 0 for d in (train, val) for f in d['data_list'] for i in f['instances'])
    assert labelled == 4871  # the rest are categories outside the 10 detection classes (label -1)


def test_links_sweeps_and_fields(infos, nus_root):
    for split in ('train', 'val'):
        frames = infos[split]['data_list']
        assert [f['sample_idx'] for f in frames] == list(range(len(frames)))
        assert frames[0]['prev'] == '' and frames[-1]['next'] == ''
        for a, b in zip(frames[:-1], frames[1:]):
            assert a['next'] == b['token'] and b['prev'] == a['token']
            assert a['scene_token'] == b['scene_token']
            assert 0.3 < b['timestamp'] - a['timestamp'] < 0.7  # key frames at 2 Hz, seconds
        by_token = {f['token']: f for f in frames}
        n_with_sweep = 0
        for f in frames:
            # no sweep file exists in the bundled data: the only sweep a frame can record is the previous
            # key frame's LiDAR file (in samples/), when it lies within max_sweeps=10 LiDAR records
            assert len(f['lidar_sweeps']) <= 1
            if f['lidar_sweeps']:
                n_with_sweep += 1
                sweep, prev = f['lidar_sweeps'][0], by_token[f['prev']]
                assert sweep['lidar_points']['lidar_path'] == 'samples/LIDAR_TOP/' + prev['lidar_points']['lidar_path']
                assert sweep['timestamp'] == prev['timestamp']
                cur2global = np.asarray(f['ego2global']) @ np.asarray(f['lidar_points']['lidar2ego'])
                prev2global = np.asarray(prev['ego2global']) @ np.asarray(prev['lidar_points']['lidar2ego'])
                np.testing.assert_allclose(
                    sweep['lidar_points']['lidar2sensor'], np.linalg.inv(prev2global) @ cur2global, atol=1e-4)
        assert n_with_sweep > len(frames) // 2
        for f in frames:
            assert list(f['images']) == list(NUSCENES_CAMERAS)
            assert osp.isfile(osp.join(nus_root, 'samples', 'LIDAR_TOP', f['lidar_points']['lidar_path']))
            for cam, img in f['images'].items():
                assert osp.isfile(osp.join(nus_root, 'samples', cam, img['img_path']))
                assert abs(img['timestamp'] - f['timestamp']) < 0.1
                for key in ('lidar2cam', 'cam2ego', 'ego2global'):
                    mat = np.asarray(img[key])
                    assert mat.shape == (4, 4) and np.allclose(mat[:3, :3] @ mat[:3, :3].T, np.eye(3), atol=1e-9)
                assert np.asarray(img['cam2img']).shape == (3, 3)


def test_missing_sweeps_are_reported(nus_root, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        written = create_nuscenes_infos(nus_root, 'v1.0-mini', str(tmp_path), max_sweeps=2)
    warnings = [r.getMessage() for r in caplog.records if 'sweep records' in r.getMessage()]
    assert len(warnings) == 1
    n_missing = int(warnings[0].split()[0])
    # every key frame but the first of each scene has >= 2 sweeps before it; the first has none
    assert 2 * (40 - 1 + 41 - 1) <= n_missing <= 2 * 81
    # 2 LiDAR records back never reach the previous key frame (10 records per 0.5 s): nothing is recorded
    assert all(f['lidar_sweeps'] == [] for p in written.values() for f in mmengine.load(p)['data_list'])


def test_missing_key_frame_file_is_named(nus_root, tmp_path, monkeypatch):
    import mim3d_plugin.datasets.converters.nuscenes_converter as conv
    real_isfile = osp.isfile
    monkeypatch.setattr(conv.osp, 'isfile', lambda p: False if '__CAM_BACK_LEFT__' in p else real_isfile(p))
    with pytest.raises(FileNotFoundError, match=r'CAM_BACK_LEFT.*__CAM_BACK_LEFT__.*\.jpg'):
        create_nuscenes_infos(nus_root, 'v1.0-mini', str(tmp_path))


def _load_mmdet3d_converter():
    spec = importlib.util.spec_from_file_location('mmdet3d_nuscenes_converter',
                                                  osp.join(MMDET3D_CONVERTERS, 'nuscenes_converter.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _quat_to_mat(rotation, translation):
    from pyquaternion import Quaternion
    mat = np.eye(4)
    mat[:3, :3] = Quaternion(rotation).rotation_matrix
    mat[:3, 3] = translation
    return mat


def test_matches_mmdet3d_converter(infos, nusc):
    """One real val frame (the 5th): mmdet3d's v1 info, turned into v2 fields the way update_infos_to_v2 does."""
    ref_module = _load_mmdet3d_converter()
    ours = infos['val']['data_list'][4]
    sample = nusc.get('sample', ours['token'])
    scene = nusc.get('scene', sample['scene_token'])
    ref_train, ref_val = ref_module._fill_trainval_infos(nusc, set(), {scene['token']}, max_sweeps=0)
    ref = next(r for r in ref_val if r['token'] == ours['token'])
    assert ours['timestamp'] == ref['timestamp'] / 1e6
    ref_ego2global = _quat_to_mat(ref['ego2global_rotation'], ref['ego2global_translation'])
    ref_lidar2ego = _quat_to_mat(ref['lidar2ego_rotation'], ref['lidar2ego_translation'])
    np.testing.assert_allclose(ours['ego2global'], ref_ego2global, atol=1e-9)
    np.testing.assert_allclose(ours['lidar_points']['lidar2ego'], ref_lidar2ego, atol=1e-9)
    assert ours['lidar_points']['lidar_path'] == osp.basename(ref['lidar_path'])
    for cam in NUSCENES_CAMERAS:
        ref_cam, our_cam = ref['cams'][cam], ours['images'][cam]
        rot, trans = ref_cam['sensor2lidar_rotation'], ref_cam['sensor2lidar_translation']
        ref_lidar2cam = np.eye(4)
        ref_lidar2cam[:3, :3] = rot.T
        ref_lidar2cam[:3, 3] = -rot.T @ trans
        np.testing.assert_allclose(our_cam['lidar2cam'], ref_lidar2cam, atol=1e-6)
        np.testing.assert_allclose(our_cam['cam2img'], ref_cam['cam_intrinsic'], atol=1e-9)
        np.testing.assert_allclose(
            our_cam['cam2ego'],
            _quat_to_mat(ref_cam['sensor2ego_rotation'], ref_cam['sensor2ego_translation']),
            atol=1e-9)
        assert our_cam['img_path'] == osp.basename(ref_cam['data_path'])
        assert our_cam['sample_data_token'] == ref_cam['sample_data_token']
    inst = ours['instances']
    assert len(inst) == len(ref['gt_boxes']) > 0
    np.testing.assert_allclose([i['bbox_3d'] for i in inst], ref['gt_boxes'], atol=1e-6)
    vel_ours, vel_ref = np.array([i['velocity'] for i in inst]), ref['gt_velocity']
    np.testing.assert_array_equal(np.isnan(vel_ours), np.isnan(vel_ref))
    np.testing.assert_allclose(vel_ours[~np.isnan(vel_ours)], vel_ref[~np.isnan(vel_ref)], atol=1e-6)
    np.testing.assert_array_equal([i['num_lidar_pts'] for i in inst], ref['num_lidar_pts'])
    np.testing.assert_array_equal([i['num_radar_pts'] for i in inst], ref['num_radar_pts'])
    np.testing.assert_array_equal([i['bbox_3d_isvalid'] for i in inst], ref['valid_flag'])
    ref_labels = [NUSCENES_CLASSES.index(n) if n in NUSCENES_CLASSES else -1 for n in ref['gt_names']]
    assert [i['bbox_label_3d'] for i in inst] == ref_labels


def test_val_infos_evaluate_with_nuscenes_metric(nus_root, nus_infos, infos, tmp_path):
    """GT boxes of the val infos fed as predictions through mmdet3d's NuScenesMetric -> the devkit's mini_val eval."""
    import torch
    from mmdet3d.evaluation.metrics import NuScenesMetric
    from mmdet3d.structures import LiDARInstance3DBoxes
    metric = NuScenesMetric(
        data_root=nus_root,
        ann_file=osp.join(nus_infos, 'nuscenes_infos_val.pkl'),
        metric='bbox',
        jsonfile_prefix=str(tmp_path / 'results'))
    metric.dataset_meta = dict(classes=NUSCENES_CLASSES, version=infos['val']['metainfo']['version'])
    from nuscenes.eval.common.config import config_factory
    class_range = config_factory('detection_cvpr_2019').class_range
    in_range = set()  # classes the devkit keeps GT of: valid boxes within the class range of the ego vehicle
    for frame in infos['val']['data_list']:
        keep = [i for i in frame['instances'] if i['bbox_label_3d'] >= 0 and i['bbox_3d_isvalid']]
        lidar2ego = np.asarray(frame['lidar_points']['lidar2ego'])
        for i in keep:
            name = NUSCENES_CLASSES[i['bbox_label_3d']]
            if np.linalg.norm((lidar2ego[:3, :3] @ i['bbox_3d'][:3] + lidar2ego[:3, 3])[:2]) <= class_range[name]:
                in_range.add(name)
        boxes = np.array([i['bbox_3d'] + list(np.nan_to_num(i['velocity'])) for i in keep]).reshape(-1, 9)
        boxes = LiDARInstance3DBoxes(torch.as_tensor(boxes, dtype=torch.float32), box_dim=9, origin=(0.5, 0.5, 0.5))
        pred = dict(
            bboxes_3d=boxes,
            scores_3d=torch.ones(len(keep)),
            labels_3d=torch.as_tensor([i['bbox_label_3d'] for i in keep], dtype=torch.long))
        metric.process({}, [dict(pred_instances_3d=pred, pred_instances={}, sample_idx=frame['sample_idx'])])
    result = metric.compute_metrics(metric.results)
    prefix = 'pred_instances_3d_NuScenes'
    assert len(in_range) >= 5
    for name in NUSCENES_CLASSES:
        ap = result[f'{prefix}/{name}_AP_dist_0.5']
        if name in in_range:  # perfect predictions: AP 1, no translation/scale/orientation/velocity error
            assert ap > 0.99, (name, ap)
            for err in ('trans_err', 'scale_err', 'orient_err', 'vel_err'):
                assert result[f'{prefix}/{name}_{err}'] < 0.01, (name, err, result[f'{prefix}/{name}_{err}'])
        else:  # no GT of that class in mini_val: the devkit scores it 0
            assert ap == 0.0, (name, ap)
    assert result[f'{prefix}/mAP'] == pytest.approx(len(in_range) / len(NUSCENES_CLASSES), abs=1e-3)
    assert result[f'{prefix}/NDS'] > 0.6


def test_can_bus_is_the_official_bevformer_vector(infos, nusc):
    """can_bus re-derived from the official BEVFormer converter + get_data_info (its statements, run here): ego
    translation, ``can_bus[3:7] = Quaternion(...)`` (numpy broadcasts the quaternion's w: the stored sign matters),
    9 CAN zeros without the CAN expansion, yaw in rad and in [0, 360) deg."""
    from nuscenes.eval.common.utils import quaternion_yaw
    from pyquaternion import Quaternion
    signs = set()
    for info in infos['train']['data_list'] + infos['val']['data_list']:
        sample = nusc.get('sample', info['token'])
        ego = nusc.get('ego_pose', nusc.get('sample_data', sample['data']['LIDAR_TOP'])['ego_pose_token'])
        can_bus = np.zeros(18)  # official _get_can_bus_info without CAN data
        can_bus[:3] = ego['translation']
        rotation = Quaternion(ego['rotation'])
        can_bus[3:7] = rotation  # as the official: numpy takes the Quaternion as the scalar w
        angle = quaternion_yaw(Quaternion(ego['rotation'])) / np.pi * 180
        angle = angle + 360 if angle < 0 else angle
        can_bus[-2] = angle / 180 * np.pi
        can_bus[-1] = angle
        np.testing.assert_allclose(info['can_bus'], can_bus, rtol=0, atol=1e-9)
        signs.add(bool(ego['rotation'][0] < 0))
        assert info['can_bus'][3:7] == [ego['rotation'][0]] * 4
    assert signs == {True, False}  # the quaternion's stored sign varies and is kept


def test_can_bus_values_come_from_the_first_pose_message_after_the_key_frame(nusc):
    """With a CAN-bus expansion: accel / rotation_rate / vel of the official loop variable after ``break`` (the first
    message later than the key frame; the last message when none is)."""
    from mim3d_plugin.datasets.converters.nuscenes_converter import can_bus_vector

    class FakeCanBus:

        def __init__(self, messages):
            self.messages = messages

        def get_messages(self, scene_name, message_name):
            assert message_name == 'pose'
            return self.messages

    def msg(utime, v):
        return dict(
            utime=utime,
            pos=[0.] * 3,
            orientation=[1., 0., 0., 0.],
            accel=[v, v + 1, v + 2],
            rotation_rate=[v + 3, v + 4, v + 5],
            vel=[v + 6, v + 7, v + 8])

    sample = nusc.sample[0]
    lidar_sd = nusc.get('sample_data', sample['data']['LIDAR_TOP'])
    t = sample['timestamp']
    can = can_bus_vector(nusc, lidar_sd, 'scene-x', t, FakeCanBus([msg(t - 20, 10.), msg(t - 5, 20.), msg(t + 7, 30.)]))
    assert can[7:16] == [30. + k for k in range(9)]
    can = can_bus_vector(nusc, lidar_sd, 'scene-x', t, FakeCanBus([msg(t - 20, 10.), msg(t - 5, 20.)]))
    assert can[7:16] == [20. + k for k in range(9)]

    class NoScene(FakeCanBus):

        def get_messages(self, scene_name, message_name):
            raise ValueError('server scene')

    assert can_bus_vector(nusc, lidar_sd, 'scene-x', t, NoScene([]))[7:16] == [0.] * 9


def test_zero_can_bus_values_are_warned_in_the_summary(nus_root, tmp_path, caplog):
    """Without the CAN bus expansion the conversion works but says so twice: when it finds no can_bus/ folder and in
    the per-file summary (frames with zero CAN values counted, scenes named); frames with values are not counted."""
    from mim3d_plugin.datasets.converters.nuscenes_converter import warn_zero_can_bus
    with caplog.at_level(logging.WARNING):
        create_nuscenes_infos(nus_root, 'v1.0-mini', str(tmp_path), val_scenes=['scene-0916'], train_scenes=[])
    text = caplog.text
    assert 'no CAN-bus expansion' in text and 'official BEVFormer converter raises' in text
    assert "41 of 41 key frames have can_bus acceleration / rotation rate / velocity all 0" in text
    assert "scene-0916" in text
    frames = [dict(can_bus=[0.] * 7 + [1.] + [0.] * 10, scene_name='a'), dict(can_bus=[0.] * 18, scene_name='b')]
    assert warn_zero_can_bus(frames, 'x.pkl', with_expansion=True) == 1
