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

Usage::

    python projects/BEVDet/tools/gt_through_head.py projects/BEVDet/configs/bevdet-r50_8xb8-cbgs-20e_nus.py \
        --cfg-options val_dataloader.dataset.data_root=... [--out work_dirs/gt_through_head]
(on the bundled data: the small config, or ``tests/test_projects/test_bevdet/test_gt_through_head.py``).
"""
import argparse
import os.path as osp
import sys
from typing import Dict

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))))

import torch  # noqa: E402
from mmdet3d.registry import DATASETS, METRICS, MODELS  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402
from mmengine.utils import ProgressBar  # noqa: E402

import mim3d_plugin  # noqa: F401,E402
import projects.BEVDet.bevdet  # noqa: F401,E402


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


def run(cfg: Config, out_prefix: str, max_frames=None) -> Dict[str, float]:
    init_default_scope('mmdet3d')
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
    bar = ProgressBar(len(dataset))
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        ann = info['eval_ann_info'] if 'eval_ann_info' in info else info['ann_info']
        gt = InstanceData(
            bboxes_3d=ann['gt_bboxes_3d'], labels_3d=torch.as_tensor(ann['gt_labels_3d'], dtype=torch.long))
        gt = gt[gt.labels_3d >= 0]
        with torch.no_grad():
            preds = perfect_predictions(head, gt)
            result = head.predict_by_feat(preds, [dict(box_type_3d=type(ann['gt_bboxes_3d']))])[0]
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
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = p.parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    res = run(cfg, args.out, args.max_frames)
    key = 'pred_instances_3d_NuScenes'
    print(
        f'GT through the head of {osp.basename(args.config)}: NDS {res[key + "/NDS"]:.4f} mAP {res[key + "/mAP"]:.4f}')
    return res


if __name__ == '__main__':
    main()
