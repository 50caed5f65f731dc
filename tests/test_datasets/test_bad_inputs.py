"""Bad input gets a clear error naming the file, frame, camera and field (never a bare library error or a
silently wrong result). Real files are copied to a temporary folder and damaged there."""
import copy
import os.path as osp
import shutil

import cv2
import mmengine
import numpy as np
import pytest
from mmdet3d.registry import TRANSFORMS
from mmengine.registry import init_default_scope

import mim3d_plugin  # noqa: F401
from mim3d_plugin.datasets import NuScenesMultiViewDataset, check_info_file

init_default_scope('mmdet3d')
pytestmark = pytest.mark.slow


@pytest.fixture
def val_infos(nus_infos):
    return mmengine.load(osp.join(nus_infos, 'nuscenes_infos_val.pkl'))


def _images_results(nus_root, info, tmp_path):
    """Pipeline input of one frame with its images copied to tmp_path (so they can be damaged)."""
    images = {}
    for cam, cam_info in info['images'].items():
        src = osp.join(nus_root, 'samples', cam, cam_info['img_path'])
        dst = tmp_path / f'{cam}.jpg'
        shutil.copy(src, dst)
        images[cam] = dict(copy.deepcopy(cam_info), img_path=str(dst))
    return dict(token=info['token'], images=images, lidar_points=info['lidar_points'])


def _load(results):
    return TRANSFORMS.build(dict(type='LoadMultiViewImages', num_views=6))(results)


def test_zero_byte_grey_rgba_and_wrong_size_images_are_named(nus_root, val_infos, tmp_path):
    info = val_infos['data_list'][3]
    ok = _load(_images_results(nus_root, info, tmp_path))
    assert len(ok['img']) == 6
    res = _images_results(nus_root, info, tmp_path)
    open(res['images']['CAM_BACK']['img_path'], 'wb').close()
    with pytest.raises(ValueError, match=rf"camera CAM_BACK of frame {info['token']} is an empty \(0-byte\)"):
        _load(res)
    res = _images_results(nus_root, info, tmp_path)
    path = res['images']['CAM_FRONT_LEFT']['img_path']
    cv2.imwrite(path, cv2.imread(path, cv2.IMREAD_GRAYSCALE))
    with pytest.raises(ValueError, match=r'camera CAM_FRONT_LEFT .* has 1 channel\(s\), expected 3'):
        _load(res)
    res = _images_results(nus_root, info, tmp_path)
    path = res['images']['CAM_FRONT']['img_path'].replace('.jpg', '.png')
    img = cv2.imread(res['images']['CAM_FRONT']['img_path'])
    cv2.imwrite(path, np.concatenate([img, np.full(img.shape[:2] + (1, ), 255, np.uint8)], 2))
    res['images']['CAM_FRONT']['img_path'] = path
    with pytest.raises(ValueError, match=r'camera CAM_FRONT .* has 4 channel\(s\)'):
        _load(res)
    res = _images_results(nus_root, info, tmp_path)
    path = res['images']['CAM_BACK_RIGHT']['img_path']
    cv2.imwrite(path, cv2.resize(cv2.imread(path), (800, 450)))
    with pytest.raises(
            ValueError,
            match=r'CAM_BACK_RIGHT .* is 800x450 px, but images.CAM_BACK_RIGHT.width/height '
            r'in the info file say 1600x900'):
        _load(res)


def test_truncated_or_empty_lidar_files_are_named(nus_root, nus_infos, nus_data_prefix, tmp_path):
    data = mmengine.load(osp.join(nus_infos, 'nuscenes_infos_val.pkl'))
    src = osp.join(nus_root, 'samples', 'LIDAR_TOP', data['data_list'][0]['lidar_points']['lidar_path'])
    lidar_dir = tmp_path / 'lidar'
    lidar_dir.mkdir()
    raw = open(src, 'rb').read()
    (lidar_dir / 'truncated.bin').write_bytes(raw[:len(raw) - 6])
    (lidar_dir / 'empty.bin').write_bytes(b'')
    data['data_list'] = data['data_list'][:2]
    data['data_list'][0]['lidar_points']['lidar_path'] = 'truncated.bin'
    data['data_list'][1]['lidar_points']['lidar_path'] = 'empty.bin'
    ann = tmp_path / 'infos.pkl'
    mmengine.dump(data, str(ann))
    prefix = dict(nus_data_prefix, pts=str(lidar_dir))
    load = dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5)
    ds = NuScenesMultiViewDataset(data_root='', ann_file=str(ann), data_prefix=prefix, pipeline=[load], test_mode=True)
    token = data['data_list'][0]['token']
    with pytest.raises(
            ValueError,
            match=rf'frame {token} has {len(raw) - 6} bytes, expected a non-zero multiple of '
            r'20 .*truncated\.bin'):
        ds[0]
    with pytest.raises(ValueError, match=r'has 0 bytes.*empty\.bin'):
        ds[1]


@pytest.mark.parametrize('field,value,problem', [
    ('cam2img', np.full((3, 3), np.nan), 'non-finite'),
    ('cam2img', np.zeros((3, 3)), 'singular'),
    ('lidar2cam', np.diag([1.0, 1.0, 1.0, 0.0]), 'not a rigid transform'),
    ('ego2global', np.full((4, 4), np.inf), 'non-finite'),
    ('lidar2ego', np.eye(4) * 2, 'not a rigid transform'),
])
def test_non_finite_or_singular_calibration_is_named(val_infos, field, value, problem):
    data = copy.deepcopy(val_infos)
    frame = data['data_list'][5]
    if field == 'ego2global':
        frame['ego2global'] = value.tolist()
        where = 'field ego2global'
    elif field == 'lidar2ego':
        frame['lidar_points']['lidar2ego'] = value.tolist()
        where = 'field lidar_points.lidar2ego'
    else:
        frame['images']['CAM_BACK_LEFT'][field] = value.tolist()
        where = f'field images.CAM_BACK_LEFT.{field}'
    with pytest.raises(ValueError, match=rf"frame 5 \(token {frame['token']}\) {where}: {problem}"):
        check_info_file(data, 'val.pkl')


def test_info_file_without_frames_is_refused(val_infos):
    data = copy.deepcopy(val_infos)
    data['data_list'] = []
    with pytest.raises(ValueError, match='val.pkl: data_list holds no frame'):
        check_info_file(data, 'val.pkl')
