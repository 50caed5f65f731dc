"""Occ3D occupancy mIoU (the CVPR 2023 occupancy challenge's ``Metric_mIoU``, as BEVDet-Occ / GeoMIM evaluate it)."""
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmdet3d.registry import METRICS
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from mim3d_plugin.datasets.transforms.load_occ3d import OCC3D_CLASSES


def occ_confusion(pred: np.ndarray,
                  gt: np.ndarray,
                  mask: Optional[np.ndarray] = None,
                  num_classes: int = 18) -> np.ndarray:
    """``(num_classes, num_classes)`` confusion matrix (rows = ground truth, columns = prediction) over the voxels of
    ``mask`` (all when None) whose ground truth is a label ``0 .. num_classes - 1``.

    Args:
        pred, gt (np.ndarray): ``(X, Y, Z)`` integer labels.
        mask (np.ndarray, optional): ``(X, Y, Z)`` bool, the voxels evaluated (Occ3D: ``mask_camera``).
    """
    if pred.shape != gt.shape or (mask is not None and mask.shape != gt.shape):
        raise ValueError(f'occ_confusion: pred {pred.shape}, gt {gt.shape} and mask '
                         f'{None if mask is None else mask.shape} must have one shape')
    if mask is not None:
        pred, gt = pred[mask], gt[mask]
    pred, gt = pred.reshape(-1).astype(np.int64), gt.reshape(-1).astype(np.int64)
    keep = (gt >= 0) & (gt < num_classes)
    if keep.any() and (pred[keep].min() < 0 or pred[keep].max() >= num_classes):
        raise ValueError(f'occ_confusion: predicted labels must be 0..{num_classes - 1}, got '
                         f'{pred[keep].min()}..{pred[keep].max()}')
    return np.bincount(num_classes * gt[keep] + pred[keep], minlength=num_classes**2).reshape(num_classes, num_classes)


def occ_miou(confusion: np.ndarray, class_names: Sequence[str] = OCC3D_CLASSES) -> Dict[str, float]:
    """Per-class IoU and their mean, in percent, over every class but the last (free), as the challenge reports:
    ``IoU_c = TP / (TP + FP + FN)``; a class absent from both ground truth and prediction is NaN and left out of
    the mean (``np.nanmean``)."""
    tp = np.diag(confusion).astype(np.float64)
    with np.errstate(divide='ignore', invalid='ignore'):
        iou = tp / (confusion.sum(0) + confusion.sum(1) - tp)
    n = confusion.shape[0] - 1
    out = {name: float(iou[c] * 100) for c, name in enumerate(class_names[:n])}
    out['mIoU'] = float(np.nanmean(iou[:n]) * 100) if not np.isnan(iou[:n]).all() else float('nan')
    return out


@METRICS.register_module()
class Occ3DMetric(BaseMetric):
    """Occ3D-nuScenes occupancy mIoU over the 17 semantic classes (free excluded), accumulated over the whole split
    in one confusion matrix (``Metric_mIoU.add_batch`` / ``count_miou`` of the challenge repository).

    Each data sample carries the prediction ``pred_occ`` (``(X, Y, Z)`` labels, tensor or array) and, in
    ``eval_ann_info`` (or at top level), ``voxel_semantics``, ``mask_camera`` and ``mask_lidar`` (what
    :class:`LoadOcc3DLabels` loads).

    Args:
        num_classes (int): classes including free. Default: 18.
        use_image_mask (bool): count only ``mask_camera`` voxels (the challenge and BEVDet-Occ). Default: True.
        use_lidar_mask (bool): count only ``mask_lidar`` voxels (when ``use_image_mask`` is False). Default: False.
        class_names (Sequence[str]): Default: :data:`OCC3D_CLASSES`.

    Returns (``compute_metrics``): ``mIoU`` and one IoU per class, percent.
    """
    default_prefix = 'occ3d'

    def __init__(self,
                 num_classes: int = 18,
                 use_image_mask: bool = True,
                 use_lidar_mask: bool = False,
                 class_names: Sequence[str] = OCC3D_CLASSES,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.num_classes = num_classes
        self.use_image_mask = use_image_mask
        self.use_lidar_mask = use_lidar_mask
        self.class_names = tuple(class_names)

    @staticmethod
    def _array(x) -> np.ndarray:
        return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            ann = dict(sample.get('eval_ann_info') or {})
            ann.update({k: sample[k] for k in ('voxel_semantics', 'mask_camera', 'mask_lidar') if k in sample})
            missing = [k for k in ('voxel_semantics', 'mask_camera', 'mask_lidar') if k not in ann]
            if 'pred_occ' not in sample or missing:
                raise KeyError(f'Occ3DMetric: sample {sample.get("token", sample.get("sample_idx"))} lacks '
                               f'{missing + ([] if "pred_occ" in sample else ["pred_occ"])}')
            gt = self._array(ann['voxel_semantics'])
            mask = None
            if self.use_image_mask:
                mask = self._array(ann['mask_camera']).astype(bool)
            elif self.use_lidar_mask:
                mask = self._array(ann['mask_lidar']).astype(bool)
            self.results.append(occ_confusion(self._array(sample['pred_occ']), gt, mask, self.num_classes))

    def compute_metrics(self, results: List[np.ndarray]) -> Dict[str, float]:
        out = occ_miou(np.sum(results, axis=0), self.class_names)
        print_log(f'Occ3D mIoU of {len(results)} samples: {out["mIoU"]:.2f}', logger='current')
        return out
