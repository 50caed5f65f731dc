"""Detections kept per class by BEVDet's post-processing: one rotated NMS (IoU 0.2, the previous configs)
vs the official per-task Scale-NMS / circle NMS (ScaleNMSCenterHead), on the same raw predictions.

    python projects/BEVDet/tools/measure_scale_nms.py \
        projects/BEVDet/configs/bevdet-swin-w64-d1121_1xb1-4e_nus-mini.py \
        work_dirs/bevdet-swin-w64-d1121_1xb1-4e_nus-mini/epoch_4.pth [--num-frames 41]

Prints per class: raw decoded boxes above the score threshold, kept by the single rotated NMS, kept by
Scale-NMS, over the first ``--num-frames`` mini_val frames.
"""
import argparse
import copy
import os.path as osp
import sys
from collections import Counter

import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))))  # repo root
from mmdet3d.registry import DATASETS, MODELS  # noqa: E402

import mim3d_plugin  # noqa: F401,E402
import projects.BEVDet.bevdet  # noqa: F401,E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--num-frames', type=int, default=41)
    args = parser.parse_args()
    init_default_scope('mmdet3d')
    cfg = Config.fromfile(args.config)
    model = MODELS.build(cfg.model)
    load_checkpoint(model, args.checkpoint, map_location='cpu')
    model.eval()
    head = model.pts_bbox_head
    names = [n for task in head.class_names for n in task]
    scale_cfg = copy.deepcopy(head.test_cfg)
    plain_cfg = dict(copy.deepcopy(head.test_cfg), nms_type='rotate', nms_thr=0.2, nms_rescale_factor=1.0)
    ds = DATASETS.build(cfg.test_dataloader.dataset)
    raw, plain, scaled = Counter(), Counter(), Counter()
    for i in range(min(args.num_frames, len(ds))):
        data = model.data_preprocessor(pseudo_collate([ds[i]]), False)
        with torch.no_grad():
            feats, _ = model.extract_feat(data['inputs'], data['data_samples'])
            preds = head(feats)
        metas = [s.metainfo for s in data['data_samples']]
        offset = 0
        for t, p in enumerate(preds):
            d = head.bbox_coder.decode(
                p[0]['heatmap'].sigmoid(),
                p[0]['rot'][:, 0:1],
                p[0]['rot'][:, 1:2],
                p[0]['height'],
                torch.exp(p[0]['dim']),
                p[0]['vel'],
                reg=p[0]['reg'],
                task_id=t)[0]
            keep = d['scores'] >= scale_cfg['score_threshold']
            raw.update(names[offset + int(k)] for k in d['labels'][keep])
            offset += head.num_classes[t]
        for cfg_, counter in ((plain_cfg, plain), (scale_cfg, scaled)):
            head.test_cfg = cfg_
            out = head.predict_by_feat(preds, metas)[0]
            counter.update(names[int(k)] for k in out.labels_3d)
        head.test_cfg = scale_cfg
    print('| class | raw boxes (score >= threshold) | kept by rotated NMS 0.2 | kept by Scale-NMS |')
    print('| --- | --- | --- | --- |')
    for n in names:
        print(f'| {n} | {raw[n]} | {plain[n]} | {scaled[n]} |')


if __name__ == '__main__':
    main()
