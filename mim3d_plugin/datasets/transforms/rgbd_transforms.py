"""Augmentation and packing of single RGB-D frames.

Every geometric transform moves colour and depth together, updates the 3x3 intrinsics
``cam2img`` (OpenCV pinhole, pixel centres at integer coordinates as in mmdet3d) and keeps
invalid depth invalid: depth is resampled with nearest neighbour only, so each output depth
pixel is a copy of exactly one input pixel (no valid/invalid blending, no invented depth) and
pixels falling outside the source (crop padding) are 0 = invalid.
"""
from typing import Sequence, Tuple

import mmcv
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmdet3d.registry import TRANSFORMS
from mmdet3d.structures import Det3DDataSample

from .load_multiview_images import pad_to_4x4


def _check_rgbd(results: dict, name: str) -> None:
    for key in ('img', 'depth'):
        if key not in results:
            raise KeyError(f'{name}: results has no {key!r}; put LoadRGBDFrame first')
    if results['img'].shape[:2] != results['depth'].shape:
        raise ValueError(f'{name}: img {results["img"].shape[:2]} and depth '
                         f'{results["depth"].shape} sizes differ')


@TRANSFORMS.register_module()
class RGBDResize(BaseTransform):
    """Resize colour (bilinear) and depth (nearest) to a fixed size; scale ``cam2img``.

    Args:
        scale (tuple[int, int]): output (W, H) in pixels.
    """

    def __init__(self, scale: Tuple[int, int]) -> None:
        if len(scale) != 2 or min(scale) <= 0:
            raise ValueError(f'RGBDResize.scale must be (W, H) > 0, got {scale}')
        self.scale = tuple(int(s) for s in scale)

    def transform(self, results: dict) -> dict:
        _check_rgbd(results, 'RGBDResize')
        h, w = results['depth'].shape
        new_w, new_h = self.scale
        results['img'] = mmcv.imresize(results['img'], (new_w, new_h), interpolation='bilinear')
        results['depth'] = mmcv.imresize(results['depth'], (new_w, new_h), interpolation='nearest')
        sx, sy = new_w / w, new_h / h
        if 'cam2img' in results:
            k = np.asarray(results['cam2img'], dtype=np.float64).copy()
            # u' = s * u, the convention of mmdet3d / BEVDet image augmentation matrices
            k[0, :] *= sx
            k[1, :] *= sy
            results['cam2img'] = k
        results['img_shape'] = (new_h, new_w)
        results['scale_factor'] = (sx, sy)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(scale={self.scale})'


@TRANSFORMS.register_module()
class RGBDRandomCrop(BaseTransform):
    """Randomly crop colour and depth to ``crop_size`` and shift the principal point.

    Args:
        crop_size (tuple[int, int]): (W, H) in pixels; must fit inside the frame.
    """

    def __init__(self, crop_size: Tuple[int, int]) -> None:
        self.crop_size = tuple(int(s) for s in crop_size)

    def transform(self, results: dict) -> dict:
        _check_rgbd(results, 'RGBDRandomCrop')
        h, w = results['depth'].shape
        cw, ch = self.crop_size
        if cw > w or ch > h:
            raise ValueError(f'RGBDRandomCrop: crop (W, H)={self.crop_size} larger than '
                             f'the frame ({w}, {h})')
        x0 = np.random.randint(0, w - cw + 1)
        y0 = np.random.randint(0, h - ch + 1)
        results['img'] = results['img'][y0:y0 + ch, x0:x0 + cw]
        results['depth'] = results['depth'][y0:y0 + ch, x0:x0 + cw]
        if 'cam2img' in results:
            k = np.asarray(results['cam2img'], dtype=np.float64).copy()
            k[0, 2] -= x0
            k[1, 2] -= y0
            results['cam2img'] = k
        results['img_shape'] = (ch, cw)
        results['crop_offset'] = (x0, y0)
        return results


@TRANSFORMS.register_module()
class RGBDRandomFlip(BaseTransform):
    """Horizontal flip of colour and depth with probability ``prob``; mirrors ``cx``.

    Args:
        prob (float): flip probability in [0, 1].
    """

    def __init__(self, prob: float = 0.5) -> None:
        if not 0. <= prob <= 1.:
            raise ValueError(f'RGBDRandomFlip.prob must be in [0, 1], got {prob}')
        self.prob = prob

    def transform(self, results: dict) -> dict:
        _check_rgbd(results, 'RGBDRandomFlip')
        flip = bool(np.random.rand() < self.prob)
        results['flip'] = flip
        if flip:
            w = results['depth'].shape[1]
            results['img'] = np.ascontiguousarray(results['img'][:, ::-1])
            results['depth'] = np.ascontiguousarray(results['depth'][:, ::-1])
            if 'cam2img' in results:
                k = np.asarray(results['cam2img'], dtype=np.float64).copy()
                # u' = (w - 1) - u  ->  x-axis of the camera mirrored
                k[0, 0] = -k[0, 0]
                k[0, 2] = (w - 1) - k[0, 2]
                results['cam2img'] = k
        return results


@TRANSFORMS.register_module()
class PackRGBDInputs(BaseTransform):
    """Pack an RGB-D frame into ``inputs`` and a :class:`Det3DDataSample`.

    Output ``inputs``: ``img`` (3, H, W) uint8 tensor (RGB), ``depth`` (H, W) float32 tensor in
    metres (0 = invalid). Metainfo keys (``meta_keys`` present in results) are copied as is;
    ``cam2img`` is stored as a (4, 4) float32 array (``pad_intrinsics`` convention).

    Args:
        meta_keys (Sequence[str]): keys copied into the data sample's metainfo.
    """

    def __init__(
        self,
        meta_keys: Sequence[str] = ('img_path', 'depth_path', 'sample_idx', 'cam2img', 'img_shape', 'ori_shape', 'flip',
                                    'scale_factor', 'layout')
    ) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        _check_rgbd(results, 'PackRGBDInputs')
        img = torch.from_numpy(np.ascontiguousarray(results['img'].transpose(2, 0, 1)))
        depth = torch.from_numpy(np.ascontiguousarray(results['depth'], dtype=np.float32))
        sample = Det3DDataSample()
        meta = {}
        for key in self.meta_keys:
            if key not in results:
                continue
            val = results[key]
            if key == 'cam2img':
                val = pad_to_4x4(val).astype(np.float32)
            meta[key] = val
        sample.set_metainfo(meta)
        return dict(inputs=dict(img=img, depth=depth), data_samples=sample)
