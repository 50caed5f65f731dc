"""Derived occupancy labels (issue 27, item 1): known answers of the voxel labelling and the visibility ray casting on
a synthetic scene, and one real bundled frame through LoadOcc3DLabels + Occ3DMetric."""
import numpy as np
import pytest

from mim3d_plugin.datasets.converters.occ_labels import occupancy_from_points

# a camera at the ego origin, 1 m up, looking along +x (camera z forward, x right, y down -> ego x, -y, -z)
CAM2EGO = np.array([[0, 0, 1, 0], [-1, 0, 0, 0], [0, -1, 0, 1.0], [0, 0, 0, 1]], dtype=np.float64)
K = np.array([[100.0, 0, 50], [0, 100.0, 50], [0, 0, 1]])


def _voxel(x, y, z):
    return int((x + 40) / 0.4), int((y + 40) / 0.4), int((z + 1) / 0.4)


def _scene():
    ys, zs = np.meshgrid(np.arange(-3, 3, 0.1), np.arange(-0.5, 2.5, 0.1))
    wall = np.stack([np.full(ys.size, 10.1), ys.ravel(), zs.ravel()], 1)  # a wall 10 m ahead
    gx, gy = np.meshgrid(np.arange(2, 8, 0.2), np.arange(-3, 3, 0.2))
    ground = np.stack([gx.ravel(), gy.ravel(), np.zeros(gx.size)], 1)  # road surface before it
    car = np.array([[6.1, 2.1, 0.9]] * 5)  # a few points of a car (class 4) in one voxel
    pts = np.concatenate([wall, ground, car])
    labels = np.concatenate([np.full(len(wall) + len(ground), -1), np.full(len(car), 4)])
    return pts, labels, wall


def test_voxel_classes_and_visibility_known_answers():
    pts, labels, wall = _scene()
    out = occupancy_from_points(
        pts,
        labels,
        np.array([0.0, 0.0, 1.8]),
        wall, [(CAM2EGO, K, (100, 100))],
        drivable=lambda x, y: y < 0,
        pixel_step=2)  # rays every 0.02 rad at f = 100 px
    sem, cam, lidar = out['semantics'], out['mask_camera'].astype(bool), out['mask_lidar'].astype(bool)
    assert sem.shape == (200, 200, 16) and sem.dtype == np.uint8
    assert sem[_voxel(10.1, 0.0, 1.0)] == 0  # the wall: other static
    assert sem[_voxel(5.0, -1.0, 0.0)] == 11 and sem[_voxel(5.0, 1.0, 0.0)] == 0  # road only where drivable
    assert sem[_voxel(6.1, 2.1, 0.9)] == 4  # the car's voxel
    assert sem[_voxel(5.0, 0.0, 1.0)] == 17  # air between camera and wall
    assert cam[_voxel(5.0, 0.0, 1.0)] and cam[_voxel(10.1, 0.0, 1.0)]  # seen: the air and the wall itself
    assert not cam[_voxel(15.0, 0.0, 1.0)]  # behind the wall
    assert not cam[_voxel(5.0, 30.0, 1.0)]  # outside the field of view (half-angle 26.6 deg)
    assert not cam[_voxel(-5.0, 0.0, 1.0)]  # behind the camera
    assert lidar[_voxel(5.0, 0.0, 1.5)] and lidar[_voxel(10.1, 0.0, 1.0)] and not lidar[_voxel(15.0, 0.0, 1.0)]


@pytest.mark.slow
def test_a_bundled_frame_through_the_loader_and_the_metric(nus_root, tmp_path):
    from nuscenes import NuScenes

    from mim3d_plugin.datasets.converters.occ_labels import derive_scene_occupancy
    from mim3d_plugin.datasets.transforms import LoadOcc3DLabels
    from mim3d_plugin.evaluation.metrics import Occ3DMetric
    nusc = NuScenes('v1.0-mini', nus_root, verbose=False)
    scene = next(s for s in nusc.scene if s['name'] == 'scene-0916')
    token = nusc.get('sample', scene['first_sample_token'])['next']  # the second key frame
    written = derive_scene_occupancy(nusc, 'scene-0916', str(tmp_path), only_tokens=[token])
    assert list(written) == [token]
    res = LoadOcc3DLabels(occ_root=str(tmp_path)).transform(dict(token=token, scene_name='scene-0916'))
    sem, cam = res['voxel_semantics'], res['mask_camera']
    assert 0.02 < (sem != 17).mean() < 0.3 and 0.05 < cam.mean() < 0.6
    classes = set(np.unique(sem[cam]).tolist())
    assert {0, 4, 11, 17} <= classes  # others, cars, the road, free
    metric = Occ3DMetric()
    metric.process(
        {},
        [dict(pred_occ=sem, eval_ann_info=dict(voxel_semantics=sem, mask_camera=cam, mask_lidar=res['mask_lidar']))])
    assert metric.compute_metrics(metric.results)['mIoU'] == 100.0
