"""Dense depth metrics (Eigen et al., NIPS 2014): AbsRel, RMSE, delta < 1.25.

Used to evaluate the depth predicted by Mask3D from ``tools/test.py``: ``MaskedPretrainer.predict`` gives every data
sample a field per pretext head; the depth head's (:class:`DepthPriorHead`) holds ``pred_depth``, ``gt_depth`` and
``eval_mask``.
"""
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmdet3d.registry import METRICS
from mmengine.evaluator import BaseMetric
from torch import Tensor


def depth_metrics(pred: Tensor, gt: Tensor, mask: Optional[Tensor] = None) -> Dict[str, float]:
    """Sums for AbsRel / RMSE / delta<1.25 over valid pixels of one map.

    Args:
        pred (Tensor): (..., H, W) predicted depth, metres.
        gt (Tensor): (..., H, W) true depth, metres, 0 = invalid.
        mask (Tensor, optional): (..., H, W) bool, pixels to score (anded with gt > 0).

    Returns:
        dict: ``n`` valid pixels, ``abs_rel_sum`` (sum |p - g| / g), ``sq_err_sum`` (m^2) and
        ``delta1_sum`` (count of max(p/g, g/p) < 1.25).
    """
    if pred.shape != gt.shape:
        raise ValueError(f'depth_metrics: pred {tuple(pred.shape)} vs gt {tuple(gt.shape)}')
    valid = gt > 0
    if mask is not None:
        valid = valid & mask.bool()
    p = pred[valid].double().clamp(min=1e-6)
    g = gt[valid].double()
    ratio = torch.maximum(p / g, g / p)
    return dict(
        n=int(valid.sum()),
        abs_rel_sum=float(((p - g).abs() / g).sum()),
        sq_err_sum=float(((p - g)**2).sum()),
        delta1_sum=float((ratio < 1.25).sum()))


@METRICS.register_module()
class DepthMetric(BaseMetric):
    """AbsRel, RMSE (m) and delta<1.25 of predicted depth, pooled over all scored pixels.

    Reads ``pred_depth``, ``gt_depth`` and (optional) ``eval_mask`` (tensors ([N,] H, W)) of each data sample's
    ``prediction`` field (the pretext head's name, e.g. ``'depth'``), or of the sample itself when ``prediction`` is
    None; pixels with gt 0 (invalid) or outside ``eval_mask`` are ignored and ``min_depth < gt <= max_depth`` is
    enforced. Every ``baseline_<name>`` map of the same field (:class:`DepthPriorHead` ``test_cfg.baselines``:
    the visible depth copied, dropped patches filled without the image) is scored on the same pixels and reported
    as ``<name>_abs_rel`` / ``<name>_rmse`` / ``<name>_delta1`` beside the model's ``abs_rel`` / ``rmse`` /
    ``delta1``.

    Args:
        prediction (str, optional): the data-sample field holding the depth predictions. Default None.
        pred_key (str): the map scored against ``gt_depth``. Default ``'pred_depth'``; e.g.
            ``'baseline_row_median'`` reports a trivial baseline as the main metric.
        min_depth (float): metres. Defaults to 1e-3.
        max_depth (float): metres. Defaults to 80.
        collect_device (str): 'cpu' or 'gpu'. prefix (str, optional): metric name prefix.

    Raises:
        KeyError: a data sample without the ``prediction`` field or without ``pred_key`` / ``gt_depth``.
    """

    default_prefix = 'depth'

    def __init__(self,
                 prediction: Optional[str] = None,
                 pred_key: str = 'pred_depth',
                 min_depth: float = 1e-3,
                 max_depth: float = 80.,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.prediction = prediction
        self.pred_key = pred_key
        self.min_depth = min_depth
        self.max_depth = max_depth

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            if self.prediction is not None:
                if self.prediction not in sample:
                    raise KeyError(f'DepthMetric: data sample has no field {self.prediction!r} (the depth head\'s '
                                   f'predictions); it has {sorted(sample)}')
                sample = sample[self.prediction]
            for key in (self.pred_key, 'gt_depth'):
                if key not in sample:
                    raise KeyError(f'DepthMetric: data sample lacks {key!r}; the model must fill it in predict(); '
                                   f'it has {sorted(sample)}')
            gt = torch.as_tensor(sample['gt_depth']).cpu()
            mask = (gt > self.min_depth) & (gt <= self.max_depth)
            if 'eval_mask' in sample:
                mask &= torch.as_tensor(sample['eval_mask']).cpu().bool()
            keys = [self.pred_key] + sorted(k for k in sample if k.startswith('baseline_') and k != self.pred_key)
            self.results.append({k: depth_metrics(torch.as_tensor(sample[k]).cpu(), gt, mask) for k in keys})

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        metrics = {}
        for key in results[0]:
            sums = [r[key] for r in results if key in r]
            if len(sums) != len(results):
                raise KeyError(f'DepthMetric: {key!r} is in {len(sums)} of {len(results)} samples')
            n = sum(r['n'] for r in sums)
            if n == 0:
                raise ValueError('DepthMetric: no valid ground-truth pixel in the evaluated set')
            name = '' if key == self.pred_key else key[len('baseline_'):] + '_'
            metrics.update({
                f'{name}abs_rel': sum(r['abs_rel_sum'] for r in sums) / n,
                f'{name}rmse': float(np.sqrt(sum(r['sq_err_sum'] for r in sums) / n)),
                f'{name}delta1': sum(r['delta1_sum'] for r in sums) / n,
            })
            if not name:
                metrics['num_pixels'] = float(n)
        return metrics
