"""Photometric distortion of every camera view (official BEVFormer ``PhotoMetricDistortionMultiViewImage``)."""
from typing import Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmdet3d.registry import TRANSFORMS
from mmdet.datasets.transforms import PhotoMetricDistortion


@TRANSFORMS.register_module()
class MultiViewPhotoMetricDistortion(BaseTransform):
    """mmdet's ``PhotoMetricDistortion`` on each view of ``img`` independently, with its own random draws.

    The official BEVFormer ``PhotoMetricDistortionMultiViewImage`` (fundamentalvision/BEVFormer
    ``projects/mmdet3d_plugin/datasets/pipelines/transform_3d.py``) is that transform looped over the views:
    random brightness (+-``brightness_delta``), contrast before or after (``contrast_range``), saturation and hue
    in HSV (``saturation_range``, +-``hue_delta`` deg), random channel permutation, each with probability 0.5.
    Geometry is untouched, so ``cam2img`` / ``lidar2img`` stay valid. Put it before the geometric image
    augmentation, as the official pipeline (on the loaded images).

    Inputs: ``img`` (list of N ``(H, W, 3)`` BGR arrays, 0-255). Outputs: ``img`` (list of N float32 arrays).

    Args:
        brightness_delta (int): Default: 32.
        contrast_range (Sequence[float]): Default: (0.5, 1.5).
        saturation_range (Sequence[float]): Default: (0.5, 1.5).
        hue_delta (int): Default: 18.

    Raises:
        KeyError: no ``img`` in the results.
    """

    def __init__(self,
                 brightness_delta: int = 32,
                 contrast_range: Sequence[float] = (0.5, 1.5),
                 saturation_range: Sequence[float] = (0.5, 1.5),
                 hue_delta: int = 18) -> None:
        self.single = PhotoMetricDistortion(
            brightness_delta=brightness_delta,
            contrast_range=tuple(contrast_range),
            saturation_range=tuple(saturation_range),
            hue_delta=hue_delta)

    def transform(self, results: dict) -> dict:
        if 'img' not in results:
            raise KeyError(f'{type(self).__name__}: no "img" in the results of frame {results.get("token")}')
        results['img'] = [self.single.transform(dict(img=np.asarray(img, np.float32)))['img'] for img in results['img']]
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}({self.single!r})'
