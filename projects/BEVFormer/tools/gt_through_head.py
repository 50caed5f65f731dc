"""Ground truth through the BEVFormer output path: a *perfect model* -> (converter) -> our head's decoding -> the
devkit NDS / mAP. The ceiling a perfect BEV encoder could reach with a config's head and post-processing, and the
check that official weights, once converted, decode as the official head decodes them.

A perfect model outputs, in one decoder layer's query features ``hs = I`` (query ``q`` = the one-hot feature ``q``),
from the output ``Linear`` of the last ``cls_branches`` / ``reg_branches`` entry, for each ground-truth box of the
frame a class logit of ``logit(1 - 1e-4)`` and the box's regression target (every other query and class:
``logit(1e-4)``, zeros). The reference point is 0.5 everywhere (inverse sigmoid 0), so the centre outputs are the
inverse sigmoid of the centre's place in ``point_cloud_range``. ``--model`` picks whose head encodes the targets:

- ``ours``: our box code (:func:`normalize_bbox3d`: ``x, y, z, log dx, log dy, log dz, sin yaw, cos yaw, vx, vy``)
  and the config's class order: ground truth through our own head (the ceiling).
- ``official``: the official head's (fundamentalvision/BEVFormer ``core/bbox/util.py`` ``normalize_bbox`` of the
  mmdet3d-0.x box ``(x, y, z, w, l, h, yaw0)``, ``(w, l) = (dy, dx)``, ``yaw0 = -yaw - pi/2``; centre outputs 0, 1, 4;
  BEVDet's class order, ``OFFICIAL_CLASSES``), then the output layers mapped by
  ``tools/model_converters/bevformer_official_to_mim3d.py`` (:func:`convert_prediction_branches`) into the config.
  What a converted official checkpoint of a perfect model gives.
- ``official-unmapped``: the official outputs copied unchanged (the converter before the class / box mapping).

Each frame then runs our head's :meth:`regression_to_boxes` and :meth:`predict_by_feat` (``tools/test.py``'s
decoding: NMS-free top-k, ``post_center_range``) and mmdet3d's ``NuScenesMetric``.

Usage::

    python projects/BEVFormer/tools/gt_through_head.py \
        projects/BEVFormer/configs/bevformer-base_r101-dcn_8xb1-24e_nus.py --model official \
        [--nus-root ../shared/data/nuscenes --info-dir data/nuscenes_infos]
"""
import argparse
import importlib.util
import math
import os.path as osp
import sys
from typing import Dict, Optional

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
sys.path.insert(0, ROOT)

import torch  # noqa: E402
from mmdet3d.registry import DATASETS, METRICS, MODELS  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402
from mmengine.utils import ProgressBar  # noqa: E402
from torch import Tensor  # noqa: E402

import mim3d_plugin  # noqa: F401,E402
import projects.BEVFormer.bevformer  # noqa: F401,E402
from mim3d_plugin.datasets.retarget import retarget_data  # noqa: E402
from mim3d_plugin.models.task_modules import normalize_bbox3d  # noqa: E402

_spec = importlib.util.spec_from_file_location('bevformer_official_to_mim3d',
                                               osp.join(ROOT, 'tools/model_converters/bevformer_official_to_mim3d.py'))
converter = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(converter)

MODELS_ = ('ours', 'official', 'official-unmapped')
EPS = 1e-4  # a perfect score: logit(1 - EPS) for the box's class, logit(EPS) elsewhere
CENTER_EPS = 1e-5  # mmdet inverse_sigmoid's clamp


def official_box_code(boxes: Tensor) -> Tensor:
    """mmdet3d 1.x LiDAR boxes -> the official BEVFormer regression target, re-derived from its equations.

    Args:
        boxes (Tensor): ``(K, 9)`` ``(x, y, z_gravity, dx, dy, dz, yaw, vx, vy)`` (m, rad, m/s).

    Returns:
        Tensor: ``(K, 10)`` official ``normalize_bbox`` of the mmdet3d-0.x box ``(x, y, z, w=dy, l=dx, h=dz,
        yaw0=-yaw-pi/2, vx, vy)``: ``(cx, cy, log w, log l, cz, log h, sin yaw0, cos yaw0, vx, vy)``.
    """
    x, y, z, dx, dy, dz, yaw, vx, vy = boxes.unbind(-1)
    yaw0 = -yaw - math.pi / 2
    return torch.stack([x, y, dy.log(), dx.log(), z, dz.log(), yaw0.sin(), yaw0.cos(), vx, vy], -1)


def center_logits(center: Tensor, pc_range) -> Tensor:
    """Inverse sigmoid of a centre's place in ``pc_range`` (``(K, 3)`` m -> ``(K, 3)``), clamped as mmdet's."""
    lo, hi = center.new_tensor(pc_range[:3]), center.new_tensor(pc_range[3:])
    t = ((center - lo) / (hi - lo)).clamp(CENTER_EPS, 1 - CENTER_EPS)
    return torch.log(t / (1 - t))


def perfect_outputs(head, gt: InstanceData, model: str, classes, official_classes=converter.OFFICIAL_CLASSES):
    """The output-layer weights of a perfect model for one frame, in the encoding of ``model``.

    Returns:
        dict: ``cls`` ``(num_classes, Q)`` and ``reg`` ``(10, Q)`` weights (bias 0) of the output ``Linear`` layers
        for query features ``hs = I_Q`` (``Q = num_query``; boxes beyond ``Q`` are dropped, as a real head could not
        output them), in ``model``'s class order and box code.
    """
    q = head.num_query
    boxes = torch.cat([gt.bboxes_3d.gravity_center, gt.bboxes_3d.tensor[:, 3:]], -1)[:q].float()
    labels = gt.labels_3d[:q]
    k = boxes.shape[0]
    cls = torch.full((q, head.num_classes), math.log(EPS / (1 - EPS)))
    reg = torch.zeros(q, 10)
    if model == 'ours':
        code = normalize_bbox3d(boxes)
        code[:, :3] = center_logits(boxes[:, :3], head.pc_range)
        cls_idx = labels
    else:
        code = official_box_code(boxes)
        logits = center_logits(boxes[:, :3], head.pc_range)
        code[:, [0, 1, 4]] = logits
        cls_idx = torch.tensor([official_classes.index(classes[int(i)]) for i in labels], dtype=torch.long)
    cls[torch.arange(k), cls_idx] = math.log((1 - EPS) / EPS)
    reg[:k] = code
    return dict(cls=cls.T.contiguous(), reg=reg.T.contiguous())


def head_outputs(head, weights: Dict[str, Tensor], model: str, classes):
    """Our head's ``(all_cls_scores, all_bbox_preds)`` ``(1, 1, Q, .)`` from the perfect output layers of one frame,
    mapped by the converter for ``model='official'``."""
    last = len(head.cls_branches) - 1
    ck = f'pts_bbox_head.cls_branches.{last}.{len(head.cls_branches[last]) - 1}'
    rk = f'pts_bbox_head.reg_branches.{last}.{len(head.reg_branches[last]) - 1}'
    state = {
        ck + '.weight': weights['cls'],
        ck + '.bias': weights['cls'].new_zeros(weights['cls'].shape[0]),
        rk + '.weight': weights['reg'],
        rk + '.bias': weights['reg'].new_zeros(weights['reg'].shape[0])
    }
    if model == 'official':
        state = converter.convert_prediction_branches(state, classes)
    hs = torch.eye(head.num_query)
    cls = hs @ state[ck + '.weight'].T + state[ck + '.bias']
    reg = hs @ state[rk + '.weight'].T + state[rk + '.bias']
    boxes = head.regression_to_boxes(reg, torch.full((head.num_query, 3), 0.5))
    return cls[None, None], boxes[None, None]


def run(cfg: Config,
        model: str = 'official',
        out_prefix: str = 'work_dirs/gt_through_head',
        max_frames: Optional[int] = None) -> Dict[str, float]:
    """NDS / mAP of a perfect ``model`` through the head of ``cfg`` on its val split (the metric's dict)."""
    if model not in MODELS_:
        raise ValueError(f'gt_through_head: --model must be one of {MODELS_}, got {model!r}')
    init_default_scope('mmdet3d')
    for module in cfg.get('custom_imports', {}).get('imports', []):  # e.g. projects.UVTR.uvtr
        importlib.import_module(module)
    head = MODELS.build(cfg.model.pts_bbox_head).eval()
    ds_cfg = cfg.val_dataloader.dataset.copy()
    ds_cfg.pipeline = []  # the ground truth only
    if max_frames:
        ds_cfg.indices = max_frames
    dataset = DATASETS.build(ds_cfg)
    classes = list(dataset.metainfo['classes'])
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
            cls, boxes = head_outputs(head, perfect_outputs(head, gt, model, classes), model, classes)
            result = head.predict_by_feat(cls, boxes)[0]
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
    p = argparse.ArgumentParser(description='a perfect (official or our) BEVFormer head through our decoding + devkit')
    p.add_argument('config')
    p.add_argument('--model', choices=MODELS_, default='official')
    p.add_argument('--out', default='work_dirs/gt_through_head')
    p.add_argument('--max-frames', type=int, default=None)
    p.add_argument('--nus-root', help='nuScenes root to read instead of the config\'s (e.g. ../shared/data/nuscenes)')
    p.add_argument('--info-dir', default='data/nuscenes_infos', help='info files with --nus-root')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = p.parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.nus_root:
        retarget_data(cfg, args.nus_root, args.info_dir)
    res = run(cfg, args.model, args.out, args.max_frames)
    key = 'pred_instances_3d_NuScenes'
    print(f'perfect {args.model} model through the head of {osp.basename(args.config)}: '
          f'NDS {res[key + "/NDS"]:.4f} mAP {res[key + "/mAP"]:.4f}')
    return res


if __name__ == '__main__':
    main()
