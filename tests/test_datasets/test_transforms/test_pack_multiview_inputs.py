"""PackMultiViewInputs: tensors, stacked (N, 4, 4) matrices and the temporal metainfo."""
import numpy as np
import torch
from mmdet3d.structures import LiDARInstance3DBoxes, LiDARPoints

from mim3d_plugin.datasets.transforms import BEVAug, MultiViewImageAug, PackMultiViewInputs, PointsToMultiViewDepth


def test_pack(synthetic_results):
    res = dict(synthetic_results)
    res.update(
        points=LiDARPoints(torch.rand(100, 5) * 20 - 10, points_dim=5),
        gt_bboxes_3d=LiDARInstance3DBoxes(torch.rand(4, 9), box_dim=9),
        gt_labels_3d=np.array([0, 3, 1, 9]),
        cam2ego=[np.eye(4)] * 3,
        lidar2ego=np.eye(4).tolist(),
        ego2global=np.eye(4).tolist(),
        token='t',
        scene_token='s',
        prev='p',
        next='',
        timestamp=12.5,
        sample_idx=4)
    np.random.seed(0)
    res = MultiViewImageAug(final_dim=(32, 64))(res)
    res = BEVAug()(res)
    res = PointsToMultiViewDepth()(res)
    packed = PackMultiViewInputs()(res)
    inputs, sample = packed['inputs'], packed['data_samples']
    assert inputs['img'].shape == (3, 3, 32, 64) and inputs['img'].dtype == torch.uint8
    assert inputs['depth'].shape == (3, 32, 64) and inputs['depth'].dtype == torch.float32
    assert inputs['points'].shape == (100, 5)
    meta = sample.metainfo
    for key in ('cam2img', 'lidar2cam', 'lidar2img', 'cam2ego', 'img_aug_matrix', 'ori_cam2img'):
        assert isinstance(meta[key], np.ndarray) and meta[key].shape == (3, 4, 4), key
        assert meta[key].dtype == np.float64
    for key in ('lidar2ego', 'ego2global', 'bev_aug_matrix'):
        assert meta[key].shape == (4, 4), key
    np.testing.assert_allclose(meta['lidar2img'], np.stack(res['lidar2img']))
    assert (meta['token'], meta['scene_token'], meta['prev'], meta['next'], meta['timestamp'],
            meta['sample_idx']) == ('t', 's', 'p', '', 12.5, 4)
    assert tuple(meta['img_shape']) == (32, 64)
    assert len(sample.gt_instances_3d.bboxes_3d) == 4
    assert sample.gt_instances_3d.labels_3d.tolist() == [0, 3, 1, 9]
