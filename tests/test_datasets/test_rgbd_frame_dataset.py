"""RGBDFrameDataset on synthetic ScanNet / Redwood exports and the bundled real frames."""
import json
import os.path as osp

import mmcv
import numpy as np
import pytest
from mmengine.registry import init_default_scope

import mim3d_plugin  # noqa: F401
from mim3d_plugin.datasets.rgbd_frame_dataset import RGBDFrameDataset

RGBD = osp.join(osp.dirname(__file__), '../../../shared/data/rgbd')
needs_data = pytest.mark.skipif(not osp.isdir(RGBD), reason='../shared/data/rgbd is absent')
PIPE = [dict(type='LoadRGBDFrame'), dict(type='RGBDResize', scale=(32, 24)), dict(type='PackRGBDInputs')]


def _write_frame(root, sub_c, sub_d, name, color_hw=(48, 64), depth_hw=(24, 32), mm=1500):
    mmcv.imwrite(np.full(color_hw + (3, ), 100, np.uint8), osp.join(root, sub_c, name + '.jpg'))
    depth = np.full(depth_hw, mm, np.uint16)
    depth[0, 0] = 0
    mmcv.imwrite(depth, osp.join(root, sub_d, name + '.png'))


def test_scannet_layout(tmp_path):
    init_default_scope('mmdet3d')
    scene = tmp_path / 'scene0000_00'
    for i in range(4):
        _write_frame(str(scene), 'color', 'depth', str(i))
        pose = np.eye(4)
        if i == 2:
            pose[:] = -np.inf  # lost tracking in ScanNet -> frame skipped
        (scene / 'pose').mkdir(exist_ok=True)
        np.savetxt(scene / 'pose' / f'{i}.txt', pose)
    (scene / 'intrinsic').mkdir()
    k = np.eye(4)
    k[0, 0], k[1, 1], k[0, 2], k[1, 2] = 28.9, 28.9, 15.9, 11.9
    np.savetxt(scene / 'intrinsic' / 'intrinsic_depth.txt', k)
    ds = RGBDFrameDataset(layout='scannet', data_root=str(tmp_path), pipeline=PIPE)
    assert len(ds) == 3  # frame 2 has an invalid pose
    info = ds.get_data_info(0)
    assert info['depth_scale'] == 1000. and info['cam2img'][0, 0] == pytest.approx(28.9)
    out = ds[0]
    d = out['inputs']['depth']
    assert out['inputs']['img'].shape == (3, 24, 32)  # colour aligned to the depth grid
    assert d[0, 0] == 0 and float(d[5, 5]) == pytest.approx(1.5)
    ds2 = RGBDFrameDataset(layout='scannet', data_root=str(scene), frame_interval=2, pipeline=PIPE)
    # frames 0 and 2 are sampled; 2 has no valid pose
    assert [osp.basename(ds2.get_data_info(i)['img_path']) for i in range(len(ds2))] == ['0.jpg']


def test_redwood_layout_synthetic(tmp_path):
    init_default_scope('mmdet3d')
    for i in range(3):
        _write_frame(str(tmp_path), 'color', 'depth', f'{i:05d}', color_hw=(24, 32))
    with open(tmp_path / 'camera_primesense.json', 'w') as f:
        json.dump(dict(width=32, height=24, intrinsic_matrix=[20., 0, 0, 0, 21., 0, 15.5, 11.5, 1]), f)
    ds = RGBDFrameDataset(layout='redwood', data_root=str(tmp_path), indices=[0, 2], pipeline=PIPE)
    assert len(ds) == 2
    k = ds.get_data_info(0)['cam2img']
    np.testing.assert_allclose(k, [[20, 0, 15.5], [0, 21, 11.5], [0, 0, 1]])  # column-major


def test_errors(tmp_path):
    with pytest.raises(ValueError, match='layout'):
        RGBDFrameDataset(layout='kitti', data_root=str(tmp_path), pipeline=[])
    with pytest.raises(FileNotFoundError, match='color'):
        RGBDFrameDataset(layout='redwood', data_root=str(tmp_path), pipeline=[])
    with pytest.raises(ValueError, match='cam2img'):
        RGBDFrameDataset(
            layout='single',
            data_root=str(tmp_path),
            pipeline=[],
            frame_list=[dict(img_path='a.png', depth_path='b.png')])


@pytest.mark.slow
@needs_data
def test_real_redwood_and_other_formats():
    init_default_scope('mmdet3d')
    ds = RGBDFrameDataset(layout='redwood', data_root=osp.join(RGBD, 'redwood'), pipeline=PIPE)
    assert len(ds) == 5
    info = ds.get_data_info(0)
    np.testing.assert_allclose(info['cam2img'], [[525, 0, 319.5], [0, 525, 239.5], [0, 0, 1]])
    assert info['cam2world'].shape == (4, 4)
    np.testing.assert_allclose(info['cam2world'][:3, :3] @ info['cam2world'][:3, :3].T, np.eye(3), atol=1e-6)
    d = ds[4]['inputs']['depth']
    assert 0.5 < float((d > 0).float().mean()) < 1 and float(d.max()) < 3.0  # mm -> m
    single = RGBDFrameDataset(
        layout='single',
        data_root=osp.join(RGBD, 'other_formats'),
        pipeline=PIPE,
        frame_list=[
            dict(
                img_path='TUM_color.png',
                depth_path='TUM_depth.png',
                depth_scale=5000.,
                cam2img=[525., 525., 319.5, 239.5])
        ])
    assert single.get_data_info(0)['depth_scale'] == 5000.
    assert float(single[0]['inputs']['depth'].max()) < 10.
