"""Ground truth through the whole BEVDet output path: CenterHead targets -> perfect predictions -> decoder + Scale-NMS
-> NuScenesMetric (devkit NDS / mAP). The ceiling a perfect BEV encoder could reach with a config's head, grid and
post-processing, and a check that the targets, the coder, the class order and the evaluation agree.

For every frame of the config's val split, the head's own ``get_targets`` encodes the ground truth boxes (the
dataset's classes, BEV range and box filters of the test pipeline are used as they are); the predictions are the
targets themselves: heatmap logits of score 1 at each box's centre cell (the target heatmap's peak; 1e-4 elsewhere),
regression maps holding each box's target (sub-cell offset, height, log size, sin/cos yaw, velocity) at its centre
cell. Then the
head's ``predict_by_feat`` (coder, score threshold, Scale-NMS / circle NMS of ``test_cfg``) and mmdet3d's
``NuScenesMetric``.

Two sources of ground truth (``--gt``):

- ``ours``: the info files' boxes (LiDAR frame, ``num_lidar_pts > 0``), moved into the ego frame as
  ``LiDARToEgoFrame`` moves them when the config's test pipeline has it.
- ``official``: what an official BEVDet dev2.x model regresses, re-derived from its ``tools/create_data_bevdet.py``
  ``get_gt`` on the devkit tables: every annotation with LiDAR or radar points, from global into the ego frame at
  the ``CAM_FRONT`` exposure (devkit ``Box.translate`` / ``rotate`` by the inverse ego pose; sizes ``wlh[[1, 0,
  2]]``, yaw ``yaw_pitch_roll[0]``, velocity rotated, first two components). A config in the ego frame
  (``LiDARToEgoFrame``) decodes these as official weights would; ``--lidar-frame`` drops ``LiDARToEgoFrame`` from
  the config first (the configs before the ego-frame option) to show what official weights give without it.

Either way the predictions go through our ``BEVDet.predict`` post-processing (:func:`boxes_to_lidar_frame`) before
the metric.

Usage::

    python projects/BEVDet/tools/gt_through_head.py projects/BEVDet/configs/bevdet-r50-official_8xb8-cbgs-20e_nus.py \
        --gt official --nus-root ../shared/data/nuscenes --info-dir data/nuscenes_infos [--out work_dirs/gt]
(on the bundled data: ``tests/test_projects/test_bevdet/test_gt_through_head.py``).
"""
import argparse
import os.path as osp
import sys
from typing import Dict

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmdet3d.registry import DATASETS, METRICS, MODELS  # noqa: E402
from mmdet3d.structures import Det3DDataSample, LiDARInstance3DBoxes  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402
from mmengine.utils import ProgressBar  # noqa: E402

import mim3d_plugin  # noqa: F401,E402
import projects.BEVDet.bevdet  # noqa: F401,E402
from mim3d_plugin.datasets.retarget import retarget_data  # noqa: E402
from mim3d_plugin.datasets.transforms import lidar2keyego_of  # noqa: E402
from mim3d_plugin.geometry import transform_boxes  # noqa: E402
from projects.BEVDet.bevdet.bevdet import boxes_to_lidar_frame  # noqa: E402

GT_SOURCES = ('ours', 'official')
#: mmdet3d's NuScenesDataset class order (the info files' labels)
NUSCENES_ORDER = ('car', 'truck', 'trailer', 'bus', 'construction_vehicle', 'bicycle', 'motorcycle', 'pedestrian',
                  'traffic_cone', 'barrier')


def ego_cam_of(cfg: Config):
    """``ego_cam`` of the ``LiDARToEgoFrame`` of the config's val pipeline, None in the LiDAR frame."""
    for t in cfg.val_dataloader.dataset.pipeline:
        if t['type'] == 'LiDARToEgoFrame':
            return t.get('ego_cam', 'CAM_FRONT')
    return None


def drop_ego_frame(cfg: Config) -> Config:
    """The config without ``LiDARToEgoFrame`` in any pipeline (its LiDAR-frame form)."""

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == 'pipeline' and isinstance(value, list):
                    node[key] = [t for t in value if not (isinstance(t, dict) and t.get('type') == 'LiDARToEgoFrame')]
                else:
                    walk(value)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        walk(cfg.get(key))
    return cfg


def official_gt(nusc, token: str, classes, ego_cam: str = 'CAM_FRONT') -> InstanceData:
    """The boxes an official BEVDet dev2.x model regresses for a sample (official ``create_data_bevdet.py``
    ``get_gt``, re-derived on the devkit): ``bboxes_3d`` (gravity centre given, ``LiDARInstance3DBoxes``) in the ego
    frame at ``ego_cam``'s exposure and ``labels_3d`` in ``classes``' order (by name)."""
    from nuscenes.eval.detection.utils import category_to_detection_name
    from nuscenes.utils.data_classes import Box
    from pyquaternion import Quaternion
    sample = nusc.get('sample', token)
    pose = nusc.get('ego_pose', nusc.get('sample_data', sample['data'][ego_cam])['ego_pose_token'])
    trans, rot = -np.array(pose['translation']), Quaternion(pose['rotation']).inverse
    boxes, labels = [], []
    for ann_token in sample['anns']:
        ann = nusc.get('sample_annotation', ann_token)
        name = category_to_detection_name(ann['category_name'])
        if name not in classes or ann['num_lidar_pts'] + ann['num_radar_pts'] <= 0:
            continue
        velocity = nusc.box_velocity(ann_token)
        velocity = np.zeros(3) if np.any(np.isnan(velocity)) else velocity
        box = Box(ann['translation'], ann['size'], Quaternion(ann['rotation']), velocity=velocity)
        box.translate(trans)
        box.rotate(rot)
        boxes.append([*box.center, *np.array(box.wlh)[[1, 0, 2]], box.orientation.yaw_pitch_roll[0], *box.velocity[:2]])
        labels.append(list(classes).index(name))
    tensor = torch.tensor(np.array(boxes, dtype=np.float32).reshape(-1, 9))
    return InstanceData(
        bboxes_3d=LiDARInstance3DBoxes(tensor, box_dim=9, origin=(0.5, 0.5, 0.5)),
        labels_3d=torch.tensor(labels, dtype=torch.long))


def perfect_predictions(head, gt: InstanceData, device='cpu'):
    """``preds_dicts`` of ``head`` (one sample) equal to its own targets for ``gt`` (``bboxes_3d``, ``labels_3d``)."""
    heatmaps, anno_boxes, inds, masks = head.get_targets([gt])
    out = []
    for task, (hm, box, ind, mask) in enumerate(zip(heatmaps, anno_boxes, inds, masks)):
        hm = hm[:1].to(device)  # (1, C_task, H, W)
        h, w = hm.shape[-2:]
        maps = {
            name: torch.zeros(1, ch, h, w)
            for name, (ch, _) in head.task_heads[task].heads.items() if name != 'heatmap'
        }
        keep = mask[0].bool()
        ind, box = ind[0][keep], box[0][keep]
        ys, xs = ind // w, ind % w
        split = dict(reg=box[:, 0:2], height=box[:, 2:3], dim=box[:, 3:6], rot=box[:, 6:8], vel=box[:, 8:10])
        for name, value in split.items():
            if name in maps:
                maps[name][0, :, ys, xs] = value.T
        # a perfect detector: score 1 at each box's centre cell (the Gaussian target's peak), 0 elsewhere
        maps['heatmap'] = torch.logit((hm >= 1 - 1e-6).float().clamp(1e-4, 1 - 1e-4))
        out.append([maps])
    return out


def run(cfg: Config, out_prefix: str, max_frames=None, gt_source: str = 'ours') -> Dict[str, float]:
    """NDS / mAP of perfect predictions of ``gt_source`` ground truth through the head of ``cfg`` on its val split."""
    if gt_source not in GT_SOURCES:
        raise ValueError(f'gt_through_head: --gt must be one of {GT_SOURCES}, got {gt_source!r}')
    init_default_scope('mmdet3d')
    ego_cam = ego_cam_of(cfg)
    head_cfg = cfg.model.pts_bbox_head.copy()
    head_cfg.update(train_cfg=cfg.model.train_cfg.pts, test_cfg=cfg.model.test_cfg.pts)
    head = MODELS.build(head_cfg).eval()
    ds_cfg = cfg.val_dataloader.dataset.copy()
    ds_cfg.pipeline = []  # the ground truth only
    if max_frames:
        ds_cfg.indices = max_frames
    dataset = DATASETS.build(ds_cfg)
    metric = METRICS.build(dict(cfg.val_evaluator, jsonfile_prefix=out_prefix))
    metric.dataset_meta = dataset.metainfo
    classes = list(dataset.metainfo['classes'])
    nusc = None
    if gt_source == 'official':
        from nuscenes import NuScenes
        nusc = NuScenes(
            version=dataset.metainfo.get('version', 'v1.0-trainval'), dataroot=metric.data_root, verbose=False)
    bar = ProgressBar(len(dataset))
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        meta = {}
        if ego_cam is not None:
            meta['lidar2keyego'] = lidar2keyego_of(info, ego_cam)
        if gt_source == 'official':
            gt = official_gt(nusc, info['token'], classes)
        else:
            ann = info['eval_ann_info'] if 'eval_ann_info' in info else info['ann_info']
            gt = InstanceData(
                bboxes_3d=ann['gt_bboxes_3d'], labels_3d=torch.as_tensor(ann['gt_labels_3d'], dtype=torch.long))
            gt = gt[gt.labels_3d >= 0]
            if ego_cam is not None:  # as LiDARToEgoFrame moves the training boxes
                raw = torch.cat([gt.bboxes_3d.gravity_center, gt.bboxes_3d.tensor[:, 3:]], -1).double()
                moved = transform_boxes(raw, torch.as_tensor(meta['lidar2keyego'])).float()
                gt.bboxes_3d = LiDARInstance3DBoxes(moved, box_dim=moved.shape[-1], origin=(0.5, 0.5, 0.5))
        with torch.no_grad():
            preds = perfect_predictions(head, gt)
            result = head.predict_by_feat(preds, [dict(box_type_3d=LiDARInstance3DBoxes)])[0]
            result = boxes_to_lidar_frame([result], [Det3DDataSample(metainfo=meta)])[0]
        metric.process({}, [
            dict(
                pred_instances_3d=result.to_dict(),
                pred_instances={},
                sample_idx=info['sample_idx'],
                token=info['token'])
        ])
        bar.update()
    print()
    return metric.compute_metrics(metric.results)


def main(argv=None):
    p = argparse.ArgumentParser(description='ground truth through the CenterHead coder + NMS + devkit')
    p.add_argument('config')
    p.add_argument('--out', default='work_dirs/gt_through_head')
    p.add_argument('--max-frames', type=int, default=None)
    p.add_argument('--gt', choices=GT_SOURCES, default='ours', help='whose boxes a perfect model regresses')
    p.add_argument('--lidar-frame', action='store_true', help='drop LiDARToEgoFrame from the config first')
    p.add_argument('--nus-root', help='nuScenes root to read instead of the config\'s (e.g. ../shared/data/nuscenes)')
    p.add_argument('--info-dir', default='data/nuscenes_infos', help='info files with --nus-root')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = p.parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.nus_root:
        retarget_data(cfg, args.nus_root, args.info_dir)
    if args.lidar_frame:
        drop_ego_frame(cfg)
    res = run(cfg, args.out, args.max_frames, args.gt)
    key = 'pred_instances_3d_NuScenes'
    print(f'{args.gt} GT through the head of {osp.basename(args.config)}'
          f'{" (LiDAR frame)" if args.lidar_frame else ""}: NDS {res[key + "/NDS"]:.4f} mAP {res[key + "/mAP"]:.4f}')
    return res


if __name__ == '__main__':
    main()
