"""mmdet3d ``CenterHead`` with BEVDet's per-task post-processing (Scale-NMS and circle NMS).

BEVDet (Huang et al., 2021, Sec. 3.5 "Scale-NMS"; official HuangJunJie2017/BEVDet
``mmdet3d/models/dense_heads/centerpoint_head.py`` ``get_bboxes`` / ``get_task_detections`` and the
``test_cfg`` of ``configs/bevdet/bevdet-r50.py``): camera-only detections of small objects rarely overlap
in the BEV even when they are duplicates of one object (a pedestrian is 0.6 m wide, a BEV cell 0.8 m), so
plain rotated NMS keeps them. Scale-NMS enlarges each box by a per-class factor before a rotated BEV NMS
(with a per-task IoU threshold) and restores the size afterwards; the barrier task uses circle NMS on the
centres instead. Per task ``test_cfg`` entries may be lists:

* ``nms_type``: ``'rotate'`` or ``'circle'`` per task (a single string applies to all);
* ``nms_thr``: IoU threshold per task (rotate);
* ``nms_rescale_factor``: per task a float, or a list with one factor per class of the task (rotate);
* ``min_radius``: circle-NMS radius per task (m), as mmdet3d.

Training, targets and losses are mmdet3d's ``CenterHead`` unchanged, computed in float32 with autocast off (under
bf16 mmdet3d's ``clip_sigmoid`` rounds its 1 - 1e-4 clamp to 1.0 and the Gaussian focal loss doubles; under fp16 it
overflows); the NMS kernels are mmdet3d's ``nms_bev`` and ``circle_nms``. With single values the result equals
mmdet3d's post-processing.
"""
from typing import List, Sequence, Tuple, Union

import torch
from mmdet3d.models.dense_heads import CenterHead
from mmdet3d.models.layers import circle_nms
from mmdet3d.registry import MODELS
from mmdet3d.structures import xywhr2xyxyr
from mmengine.structures import InstanceData
from torch import Tensor

from mim3d_plugin.ops import nms_bev  # mmdet3d's, or its PyTorch equal where mmcv's kernel does not run


def _per_task(value, num_tasks: int, key: str) -> list:
    if isinstance(value, (list, tuple)):
        if len(value) != num_tasks:
            raise ValueError(f'ScaleNMSCenterHead: test_cfg.{key} has {len(value)} entries for {num_tasks} tasks: '
                             f'{value}')
        return list(value)
    return [value] * num_tasks


@MODELS.register_module()
class ScaleNMSCenterHead(CenterHead):
    """``CenterHead`` whose ``test_cfg`` takes per-task ``nms_type`` / ``nms_thr`` / ``nms_rescale_factor``.

    Args: see mmdet3d ``CenterHead``.

    Raises:
        ValueError: a per-task list of the wrong length, an unknown NMS type, or a per-class factor list
            whose length differs from the task's number of classes.
    """

    def loss_by_feat(self, preds_dicts: Tuple[List[dict]], batch_gt_instances_3d: List[InstanceData], *args,
                     **kwargs) -> dict:
        """mmdet3d's ``CenterHead.loss_by_feat`` on float32 copies of the predictions, autocast off (module
        docstring: mixed precision would change ``clip_sigmoid`` and the focal loss)."""
        first = preds_dicts[0][0]['heatmap']
        preds = tuple([{
            k: v.float() if torch.is_tensor(v) and v.is_floating_point() else v
            for k, v in level.items()
        } for level in task] for task in preds_dicts)
        with torch.autocast(device_type=first.device.type, enabled=False):
            return super().loss_by_feat(preds, batch_gt_instances_3d, *args, **kwargs)

    def _task_nms_cfg(self) -> Tuple[list, list, list]:
        cfg = self.test_cfg
        n = len(self.task_heads)
        types = _per_task(cfg['nms_type'], n, 'nms_type')
        for t in types:
            if t not in ('rotate', 'circle'):
                raise ValueError(f"ScaleNMSCenterHead: nms_type must be 'rotate' or 'circle', got {t!r}")
        thrs = _per_task(cfg.get('nms_thr', 0.2), n, 'nms_thr')
        factors = _per_task(cfg.get('nms_rescale_factor', 1.0), n, 'nms_rescale_factor')
        for task_id, f in enumerate(factors):
            if isinstance(f, (list, tuple)) and len(f) != self.num_classes[task_id]:
                raise ValueError(f'ScaleNMSCenterHead: nms_rescale_factor of task {task_id} '
                                 f'{self.class_names[task_id]} needs {self.num_classes[task_id]} factors, got {f}')
        return types, thrs, factors

    def nms_single(self, boxes: Tensor, scores: Tensor, labels: Tensor, task_id: int, box_type_3d, nms_type: str,
                   nms_thr: float, factor: Union[float, Sequence[float]]) -> dict:
        """Per-task NMS of one sample's decoded boxes.

        Args:
            boxes (Tensor): ``(N, 9)`` gravity-centred (x, y, z, l, w, h, yaw, vx, vy), LiDAR frame, m.
            scores (Tensor): ``(N,)``; labels (Tensor): ``(N,)`` class index inside the task.
            task_id (int): task index (for ``min_radius``).
            box_type_3d: box class of the sample (``LiDARInstance3DBoxes``).
            nms_type, nms_thr, factor: this task's settings.

        Returns:
            dict: kept ``bboxes`` (original sizes), ``scores``, ``labels``.
        """
        cfg = self.test_cfg
        if nms_type == 'circle':
            keep = torch.as_tensor(
                circle_nms(
                    torch.cat([boxes[:, :2], scores.view(-1, 1)], 1).detach().cpu().numpy(),
                    cfg['min_radius'][task_id],
                    post_max_size=cfg['post_max_size']),
                dtype=torch.long,
                device=boxes.device)
            return dict(bboxes=boxes[keep], scores=scores[keep], labels=labels[keep])
        keep = scores >= cfg['score_threshold'] if cfg['score_threshold'] > 0 else torch.ones_like(scores, dtype=bool)
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep].long()
        if scores.numel() == 0:
            return dict(bboxes=boxes, scores=scores, labels=labels)
        scaled = boxes.clone()
        if isinstance(factor, (list, tuple)):
            scale = boxes.new_tensor(factor)[labels].view(-1, 1)
        else:
            scale = boxes.new_full((len(boxes), 1), float(factor))
        scaled[:, 3:6] = boxes[:, 3:6] * scale
        bev = xywhr2xyxyr(box_type_3d(scaled, self.bbox_coder.code_size).bev)
        selected = nms_bev(
            bev, scores, thresh=nms_thr, pre_max_size=cfg['pre_max_size'], post_max_size=cfg['post_max_size'])
        boxes, scores, labels = boxes[selected], scores[selected], labels[selected]
        post_range = cfg.get('post_center_limit_range')
        if post_range is not None and len(post_range) > 0:
            rng = boxes.new_tensor(post_range)
            inside = (boxes[:, :3] >= rng[:3]).all(1) & (boxes[:, :3] <= rng[3:]).all(1)
            boxes, scores, labels = boxes[inside], scores[inside], labels[inside]
        return dict(bboxes=boxes, scores=scores, labels=labels)

    def predict_by_feat(self, preds_dicts: Tuple[List[dict]], batch_input_metas: List[dict], *args,
                        **kwargs) -> List[InstanceData]:
        """Decode every task (mmdet3d ``CenterPointBBoxCoder``), apply its NMS, merge the tasks.

        Returns:
            list[InstanceData]: per sample ``bboxes_3d`` (bottom-centred boxes of ``box_type_3d``),
            ``scores_3d``, ``labels_3d`` (index into the concatenated task classes).
        """
        types, thrs, factors = self._task_nms_cfg()
        per_task = []
        for task_id, preds_dict in enumerate(preds_dicts):
            p = preds_dict[0]
            dim = torch.exp(p['dim']) if self.norm_bbox else p['dim']
            decoded = self.bbox_coder.decode(
                p['heatmap'].sigmoid(),
                p['rot'][:, 0:1],
                p['rot'][:, 1:2],
                p['height'],
                dim,
                p.get('vel'),
                reg=p['reg'],
                task_id=task_id)
            per_task.append([
                self.nms_single(d['bboxes'], d['scores'], d['labels'], task_id, batch_input_metas[i]['box_type_3d'],
                                types[task_id], thrs[task_id], factors[task_id]) for i, d in enumerate(decoded)
            ])
        results = []
        offsets = [sum(self.num_classes[:t]) for t in range(len(self.num_classes))]
        for i in range(len(batch_input_metas)):
            bboxes = torch.cat([per_task[t][i]['bboxes'] for t in range(len(per_task))])
            bboxes[:, 2] = bboxes[:, 2] - bboxes[:, 5] * 0.5  # gravity -> bottom centre, as mmdet3d
            inst = InstanceData()
            inst.bboxes_3d = batch_input_metas[i]['box_type_3d'](bboxes, self.bbox_coder.code_size)
            inst.scores_3d = torch.cat([per_task[t][i]['scores'] for t in range(len(per_task))])
            inst.labels_3d = torch.cat([per_task[t][i]['labels'].int() + offsets[t] for t in range(len(per_task))])
            results.append(inst)
        return results
