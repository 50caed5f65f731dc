"""BEV segmentation IoU as BEVFusion reports it (official ``NuScenesDataset.evaluate_map``)."""
from typing import Dict, List, Sequence

import numpy as np
import torch
from mmdet3d.registry import METRICS
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

BEVFUSION_THRESHOLDS = (0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65)


@METRICS.register_module()
class BEVSegMetric(BaseMetric):
    """Per class, the IoU ``TP / (TP + FP + FN)`` (+1e-7) of the thresholded probabilities accumulated over the whole
    split at each of ``thresholds``; reported: the IoU at each threshold, its maximum (``<class>/iou@max``) and the
    mean of the maxima over the classes (``mean/iou@max``, BEVFusion's headline mIoU).

    Each data sample carries ``pred_masks_bev`` ``(K, Y, X)`` probabilities and ``gt_masks_bev`` ``(K, Y, X)`` bool.

    Args:
        classes (Sequence[str]): the K class names, in the head's order.
        thresholds (Sequence[float]): Default: BEVFusion's 0.35 ... 0.65 in steps of 0.05.
    """
    default_prefix = 'bev_seg'

    def __init__(self,
                 classes: Sequence[str],
                 thresholds: Sequence[float] = BEVFUSION_THRESHOLDS,
                 collect_device: str = 'cpu',
                 prefix=None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.classes = tuple(classes)
        self.thresholds = torch.tensor(thresholds, dtype=torch.float32)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            if 'pred_masks_bev' not in sample or 'gt_masks_bev' not in sample:
                raise KeyError(f'BEVSegMetric: sample {sample.get("token")} lacks pred_masks_bev / gt_masks_bev')
            pred = torch.as_tensor(sample['pred_masks_bev']).detach().float().cpu()
            gt = torch.as_tensor(sample['gt_masks_bev']).detach().bool().cpu()
            if pred.shape != gt.shape or pred.shape[0] != len(self.classes):
                raise ValueError(f'BEVSegMetric: pred {tuple(pred.shape)} and gt {tuple(gt.shape)} must both be '
                                 f'({len(self.classes)}, Y, X) for classes {self.classes}')
            p = pred.reshape(len(self.classes), -1, 1) >= self.thresholds
            g = gt.reshape(len(self.classes), -1, 1)
            self.results.append(torch.stack([(p & g).sum(1), (p & ~g).sum(1), (~p & g).sum(1)]).numpy())

    def compute_metrics(self, results: List[np.ndarray]) -> Dict[str, float]:
        tp, fp, fn = np.sum(results, axis=0).astype(np.float64)
        ious = tp / (tp + fp + fn + 1e-7)
        out = {}
        for k, name in enumerate(self.classes):
            out[f'{name}/iou@max'] = float(ious[k].max())
            for t, iou in zip(self.thresholds.tolist(), ious[k]):
                out[f'{name}/iou@{t:.2f}'] = float(iou)
        out['mean/iou@max'] = float(ious.max(1).mean())
        print_log(
            'BEV segmentation IoU@max: ' + ', '.join(f'{n} {out[f"{n}/iou@max"]:.3f}' for n in self.classes),
            logger='current')
        return out
