"""LoadMultiViewImages: camera matrices set up; missing/corrupt files and wrong view counts raise named errors."""
import os.path as osp

import cv2
import numpy as np
import pytest

from mim3d_plugin.datasets.transforms import LoadMultiViewImages

CAMS = ('CAM_A', 'CAM_B', 'CAM_C')


@pytest.fixture
def frame(tmp_path):
    images = {}
    rng = np.random.RandomState(0)
    for n, cam in enumerate(CAMS):
        path = str(tmp_path / f'{cam}.jpg')
        cv2.imwrite(path, rng.randint(0, 255, (45, 80, 3), dtype=np.uint8))
        lidar2cam = np.eye(4)
        lidar2cam[:3, 3] = [n, 0.5, -1.0]
        cam2ego = np.eye(4)
        cam2ego[0, 3] = n + 2.0
        images[cam] = dict(
            img_path=path,
            cam2img=[[50.0, 0, 40.0], [0, 50.0, 22.0], [0, 0, 1]],
            lidar2cam=lidar2cam.tolist(),
            cam2ego=cam2ego.tolist())
    lidar2ego = np.eye(4)
    lidar2ego[2, 3] = 1.8
    return dict(images=images, token='tok', lidar_points=dict(lidar_path='x.bin', lidar2ego=lidar2ego.tolist()))


def test_loads_and_sets_matrices(frame):
    out = LoadMultiViewImages(num_views=3)(frame)
    assert len(out['img']) == 3 and out['img'][0].shape == (45, 80, 3) and out['img'][0].dtype == np.uint8
    assert out['cam_names'] == list(CAMS) and out['img_shape'] == (45, 80)
    for n, cam in enumerate(CAMS):
        k = out['cam2img'][n]
        assert k.shape == (4, 4) and k[0, 0] == 50.0 and k[3, 3] == 1.0
        np.testing.assert_allclose(out['lidar2img'][n], k @ np.asarray(frame['images'][cam]['lidar2cam']))
        np.testing.assert_array_equal(out['cam2ego'][n], np.asarray(frame['images'][cam]['cam2ego']))
        np.testing.assert_array_equal(out['img_aug_matrix'][n], np.eye(4))
    assert out['lidar2ego'][2, 3] == 1.8


def test_wrong_number_of_views(frame):
    with pytest.raises(ValueError, match=r'num_views=6.*3.*CAM_A'):
        LoadMultiViewImages(num_views=6)(frame)


def test_missing_file_names_camera_and_file(frame):
    missing = osp.join(osp.dirname(frame['images']['CAM_B']['img_path']), 'gone.jpg')
    frame['images']['CAM_B']['img_path'] = missing
    with pytest.raises(FileNotFoundError, match=r'CAM_B.*gone\.jpg'):
        LoadMultiViewImages(num_views=3)(frame)


def test_corrupt_file_names_camera_and_file(frame):
    with open(frame['images']['CAM_C']['img_path'], 'wb') as f:
        f.write(b'this is not a jpeg' * 10)
    with pytest.raises(ValueError, match=r'CAM_C.*cannot be decoded.*CAM_C\.jpg'):
        LoadMultiViewImages(num_views=3)(frame)


@pytest.mark.slow
def test_real_frame(nus_infos, nus_data_prefix):
    from mmengine.registry import init_default_scope

    from mim3d_plugin.datasets import NuScenesMultiViewDataset
    init_default_scope('mmdet3d')
    ds = NuScenesMultiViewDataset(
        data_root='',
        ann_file=osp.join(nus_infos, 'nuscenes_infos_train.pkl'),
        data_prefix=nus_data_prefix,
        pipeline=[dict(type='LoadMultiViewImages')],
        test_mode=True)
    out = ds[0]
    assert len(out['img']) == 6 and all(im.shape == (900, 1600, 3) for im in out['img'])
    assert out['cam_names'][0] == 'CAM_FRONT'
