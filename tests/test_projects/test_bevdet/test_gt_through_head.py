"""projects/BEVDet/tools/gt_through_head.py: ground truth -> CenterHead targets -> perfect predictions -> coder +
Scale-NMS -> NuScenesMetric on mini_val (slow, real data). A wrong class order, target encoding, coder or NMS drops
the score far below the direct-GT ceiling (NDS 0.6186 / mAP 0.5889 on mini_val,
test_ground_truth_through_the_bevdet_class_order_scores_as_through_the_info_order)."""
import importlib.util
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.structures import InstanceData

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
_spec = importlib.util.spec_from_file_location('gt_through_head',
                                               osp.join(ROOT, 'projects/BEVDet/tools/gt_through_head.py'))
gth = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gth)
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures('nus_infos')]


def test_perfect_predictions_decode_to_the_boxes():
    """One box per class group through targets -> perfect maps -> decoder: centre within the cell quantisation
    (z, size, yaw, velocity exactly), class kept."""
    from mmdet3d.registry import MODELS
    from mmdet3d.structures import LiDARInstance3DBoxes
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet3d')
    cfg = Config.fromfile(osp.join(ROOT, 'projects/BEVDet/configs/bevdet-swin-w64-d1121_1xb1-4e_nus-mini.py'))
    head = MODELS.build(
        dict(cfg.model.pts_bbox_head, train_cfg=cfg.model.train_cfg.pts, test_cfg=cfg.model.test_cfg.pts)).eval()
    boxes = torch.tensor([[10.3, -4.7, -1.2, 4.5, 1.9, 1.6, 0.4, 2.0, -1.0],
                          [-20.1, 15.5, -0.8, 0.7, 0.6, 1.8, -2.0, 0.5, 0.2]])
    gt = InstanceData(bboxes_3d=LiDARInstance3DBoxes(boxes, box_dim=9), labels_3d=torch.tensor([0, 8]))
    with torch.no_grad():
        out = head.predict_by_feat(gth.perfect_predictions(head, gt), [dict(box_type_3d=LiDARInstance3DBoxes)])[0]
    assert sorted(out.labels_3d.tolist()) == [0, 8]
    got = out.bboxes_3d.tensor[out.labels_3d.argsort()]
    assert torch.allclose(got[:, :2], boxes[:, :2], atol=1e-4)  # sub-cell offset is regressed exactly
    assert torch.allclose(got[:, 2:], boxes[:, 2:], atol=1e-4)


def test_ground_truth_through_the_small_head_on_mini_val(monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    cfg = Config.fromfile(osp.join(ROOT, 'projects/BEVDet/configs/bevdet-swin-w64-d1121_1xb1-4e_nus-mini.py'))
    res = gth.run(cfg, str(tmp_path / 'gt'))
    key = 'pred_instances_3d_NuScenes'
    # measured: NDS 0.5716 / mAP 0.5200 in the ego frame (0.5908 / 0.5333 in the LiDAR frame: another cell
    # quantisation; 1.6 m cells: objects sharing a cell lose all but one; 6 task groups, 83 boxes kept per task).
    # Paper heads (0.8 m, LiDAR frame): bevdet-r50 0.6108 / 0.5733, bevdet-r50-official 0.6147 / 0.5811
    assert res[f'{key}/NDS'] == pytest.approx(0.5716, abs=0.005)
    assert res[f'{key}/mAP'] == pytest.approx(0.5200, abs=0.005)


# the configs that load official BEVDet dev2.1 / GeoMIM weights (tools/model_converters/bevdet_official_to_mim3d.py)
OFFICIAL_CONFIGS = [
    'projects/BEVDet/configs/bevdet-r50-official_8xb8-cbgs-20e_nus.py',
    'projects/BEVDet/configs/bevdet4d-r50-official_8xb8-cbgs-20e_nus.py',
    'projects/BEVDet/configs/bevdet4d-swin-b-geomim_8xb8-cbgs-20e_nus.py',
]


def test_a_perfect_official_model_reaches_the_ceiling(nus_root, nus_infos, monkeypatch, tmp_path):
    """What an official (ego-frame) model regresses for the mini_val ground truth, decoded by each config that loads
    official weights as tools/test.py decodes it, scores what ground truth through our own head scores with the same
    boxes (LiDAR or radar points), at or above the LiDAR-only ceiling 0.6147 / 0.5811. Measured: 0.6188 / 0.5900 for
    all three (ours with the same boxes 0.6191 / 0.5900). Without LiDARToEgoFrame (the configs before issue 22):
    0.0001 / 0.0003. (The three configs share the head; the LiDAR-frame and same-boxes runs are made once.)"""
    from mim3d_plugin.datasets.retarget import retarget_data
    monkeypatch.chdir(ROOT)
    key = 'pred_instances_3d_NuScenes'

    def cfg(path):
        return retarget_data(Config.fromfile(osp.join(ROOT, path)), nus_root, nus_infos)

    ours_cfg = cfg(OFFICIAL_CONFIGS[0])
    ours_cfg.val_dataloader.dataset.use_valid_flag = True  # the official's boxes: LiDAR or radar points
    ours = gth.run(ours_cfg, str(tmp_path / 'ours'), gt_source='ours')
    for i, path in enumerate(OFFICIAL_CONFIGS):
        official = gth.run(cfg(path), str(tmp_path / f'official{i}'), gt_source='official')
        assert official[f'{key}/NDS'] == pytest.approx(ours[f'{key}/NDS'], abs=0.002), path
        assert official[f'{key}/mAP'] == pytest.approx(ours[f'{key}/mAP'], abs=0.002), path
        assert official[f'{key}/NDS'] >= 0.6147 and official[f'{key}/mAP'] >= 0.5811, path
    lidar_frame = gth.run(gth.drop_ego_frame(cfg(OFFICIAL_CONFIGS[0])), str(tmp_path / 'lidar'), gt_source='official')
    assert lidar_frame[f'{key}/NDS'] < 0.05
