import numpy as np
import pytest

from mmdet3d.registry import DATASETS
import mim3d_plugin  # noqa: F401

CAMS = ['CAM_FRONT', 'CAM_BACK']


def _dataset(nus_root, nus_infos, num_prev=2):
    root = nus_root + '/'
    pipeline = [
        dict(type='MultiFrameMultiView', num_prev_frames=num_prev,
             frame_pipeline=[dict(type='LoadMultiViewImages', num_views=len(CAMS)),
                             dict(type='MultiViewImageAug', final_dim=(64, 160), test_mode=True)],
             target_pipeline=[dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5),
                              dict(type='PointsToMultiViewDepth')]),
        dict(type='PackMultiViewInputs', keys=['img', 'points', 'depth'],
             meta_keys=('token', 'lidar2img', 'lidar2ego', 'ego2global', 'frame_valid', 'frame_timestamps',
                        'num_frames', 'img_path')),
    ]
    return DATASETS.build(dict(
        type='NuScenesMultiFrameDataset', num_prev_frames=num_prev, data_root='', cameras=CAMS,
        ann_file=nus_infos + '/nuscenes_infos_train.pkl', pipeline=pipeline, test_mode=True,
        data_prefix=dict(pts=root + 'samples/LIDAR_TOP', **{c: root + 'samples/' + c for c in CAMS})))


@pytest.mark.slow
def test_clip_frames_order_poses_scene_start_flags_and_depth(nus_root, nus_infos):
    ds = _dataset(nus_root, nus_infos)
    first = [i for i in range(len(ds)) if ds.get_data_info(i)['prev'] == ''][0]
    nxt = ds.index_of_token(ds.get_data_info(first)['next'])
    third = ds.index_of_token(ds.get_data_info(nxt)['next'])
    out0, out1, out2 = ds[first], ds[nxt], ds[third]
    for out, valid in ((out0, [False, False, True]), (out1, [False, True, True]), (out2, [True, True, True])):
        meta = out['data_samples'].metainfo
        assert meta['frame_valid'].tolist() == valid
        assert out['inputs']['img'].shape == (6, 3, 64, 160)
        assert meta['lidar2img'].shape == (6, 4, 4) and meta['ego2global'].shape == (3, 4, 4)
        depth = out['inputs']['depth']
        assert depth.shape == (6, 64, 160) and (depth[:4] == 0).all() and (depth[4:] > 0).sum() > 100
    meta2 = out2['data_samples'].metainfo
    infos = [ds.get_data_info(i) for i in (first, nxt, third)]
    for f in range(3):  # oldest first, current last
        assert np.allclose(meta2['ego2global'][f], np.asarray(infos[f]['ego2global']))
        assert meta2['img_path'][2 * f] == infos[f]['images']['CAM_FRONT']['img_path']
    assert np.all(np.diff(meta2['frame_timestamps']) > 0.3)  # key frames ~0.5 s apart
    # at the scene start the earlier frames repeat the current one
    assert np.allclose(out0['data_samples'].metainfo['ego2global'][0], out0['data_samples'].metainfo['ego2global'][2])


@pytest.mark.slow
def test_missing_prev_frames_is_a_clear_error(nus_root, nus_infos):
    from mmdet3d.registry import TRANSFORMS
    t = TRANSFORMS.build(dict(type='MultiFrameMultiView', num_prev_frames=1, frame_pipeline=[]))
    with pytest.raises(KeyError, match='NuScenesMultiFrameDataset'):
        t({'token': 'x'})
