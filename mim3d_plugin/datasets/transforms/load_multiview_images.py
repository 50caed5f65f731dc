"""Checked multi-view image loading on mmdet3d's ``LoadMultiViewImageFromFiles``."""
import copy
import os.path as osp
from typing import Optional

import mmcv
import numpy as np
import torch
from mmdet3d.datasets.transforms import LoadMultiViewImageFromFiles
from mmdet3d.registry import TRANSFORMS
from mmengine.fileio import exists, get
from PIL import Image

from mim3d_plugin.geometry import pad_intrinsics


def pad_to_4x4(mat) -> np.ndarray:
    """``(3, 3)``, ``(3, 4)`` or ``(4, 4)`` matrix (list or array) -> ``(4, 4)`` float64 array (a copy).

    The one padding of the project: :func:`mim3d_plugin.geometry.pad_intrinsics` on a float64 copy.

    Raises:
        ValueError: another shape.
    """
    return pad_intrinsics(torch.tensor(np.asarray(mat, dtype=np.float64))).numpy()


@TRANSFORMS.register_module()
class LoadMultiViewImages(LoadMultiViewImageFromFiles):
    """Load the images of all views of a frame, with checks, and set up the camera matrices.

    Runs mmdet3d's ``LoadMultiViewImageFromFiles`` (images in the order of
    ``results['images']``, BGR uint8 by default) after checking the number of
    views and that every file exists; a file that cannot be decoded is named.
    Then sets, as lists over the N views (numpy float64):

    - ``cam2img`` (4, 4) intrinsics padded, ``ori_cam2img`` a copy;
    - ``lidar2cam`` (4, 4), ``cam2ego`` (4, 4);
    - ``lidar2img`` (4, 4) = ``cam2img @ lidar2cam``, ``ori_lidar2img`` a copy;
    - ``img_aug_matrix`` (4, 4) identity (image augmentations compose onto it);

    and ``cam_names`` (list[str]), ``lidar2ego`` (4, 4) from ``lidar_points``.

    Args:
        num_views (int): expected number of views. Default: 6.
        Other args: see ``LoadMultiViewImageFromFiles``.

    Raises:
        ValueError: ``results['images']`` does not hold ``num_views`` views, or
            an image cannot be decoded (camera and file named).
        FileNotFoundError: an image file is missing (camera and file named).
    """

    def __init__(self,
                 to_float32: bool = False,
                 color_type: str = 'unchanged',
                 backend_args: Optional[dict] = None,
                 num_views: int = 6,
                 num_ref_frames: int = -1,
                 test_mode: bool = False,
                 set_default_scale: bool = True) -> None:
        super().__init__(
            to_float32=to_float32,
            color_type=color_type,
            backend_args=backend_args,
            num_views=num_views,
            num_ref_frames=num_ref_frames,
            test_mode=test_mode,
            set_default_scale=set_default_scale)

    def _check_files(self, results: dict) -> None:
        images = results.get('images')
        if not images:
            raise KeyError(f'{type(self).__name__}: results has no "images" (frame {results.get("token")})')
        if len(images) != self.num_views:
            raise ValueError(f'{type(self).__name__}: expected num_views={self.num_views} views, got '
                             f'{len(images)}: {list(images)} (frame {results.get("token")})')
        for cam, cam_info in images.items():
            path = cam_info.get('img_path')
            if path is None or not exists(path, backend_args=self.backend_args):
                raise FileNotFoundError(f'{type(self).__name__}: image of camera {cam} is missing: {path}')
            if osp.isfile(path) and osp.getsize(path) == 0:
                raise ValueError(f'{type(self).__name__}: image of camera {cam} of frame {results.get("token")} '
                                 f'is an empty (0-byte) file: {path}')
            if osp.isfile(path) and 'height' in cam_info and 'width' in cam_info:
                # the header only (mmdet3d's loader would zero-pad a smaller image to the others' size)
                try:
                    with Image.open(path) as im:
                        width, height = im.size
                except OSError:
                    continue  # not decodable: reported by _find_undecodable
                self._check_image(results, cam, cam_info, np.empty((height, width, 3), np.uint8))

    def _check_image(self, results: dict, cam: str, cam_info: dict, img: np.ndarray) -> None:
        """Raise for a decoded image that is not 3-channel or not the calibrated size (camera, frame, file)."""
        channels = 1 if img.ndim == 2 else img.shape[2]
        if channels != 3:
            raise ValueError(f'{type(self).__name__}: image of camera {cam} of frame {results.get("token")} has '
                             f'{channels} channel(s), expected 3 (colour): {cam_info["img_path"]}')
        if 'height' in cam_info and 'width' in cam_info and \
                tuple(img.shape[:2]) != (int(cam_info['height']), int(cam_info['width'])):
            raise ValueError(f'{type(self).__name__}: image of camera {cam} of frame {results.get("token")} is '
                             f'{img.shape[1]}x{img.shape[0]} px, but images.{cam}.width/height in the info file '
                             f'say {cam_info["width"]}x{cam_info["height"]} (the calibration is for that size): '
                             f'{cam_info["img_path"]}')

    def _find_undecodable(self, results: dict) -> None:
        """After a failed load: decode each image again and raise the first problem found, named."""
        for cam, cam_info in results['images'].items():
            path = cam_info['img_path']
            img = mmcv.imfrombytes(get(path, backend_args=self.backend_args), flag=self.color_type)
            if img is None or img.size == 0:
                raise ValueError(f'{type(self).__name__}: image of camera {cam} cannot be decoded '
                                 f'(corrupt or not an image): {path}')
            self._check_image(results, cam, cam_info, img)

    def transform(self, results: dict) -> dict:
        self._check_files(results)
        try:
            results = super().transform(results)
        except (AttributeError, AssertionError, ValueError, TypeError):
            self._find_undecodable(results)
            raise
        if any(img is None for img in results['img']):
            self._find_undecodable(results)
        images = results['images']
        for (cam, cam_info), img in zip(images.items(), results['img']):
            self._check_image(results, cam, cam_info, img)
        results['cam_names'] = list(images)
        results['cam2img'] = [pad_to_4x4(c) for c in results['cam2img']]
        results['ori_cam2img'] = copy.deepcopy(results['cam2img'])
        results['lidar2cam'] = [pad_to_4x4(m) for m in results['lidar2cam']]
        results['cam2ego'] = [pad_to_4x4(images[cam]['cam2ego']) for cam in images]
        results['lidar2img'] = [k @ e for k, e in zip(results['cam2img'], results['lidar2cam'])]
        results['ori_lidar2img'] = copy.deepcopy(results['lidar2img'])
        results['img_aug_matrix'] = [np.eye(4) for _ in images]
        if 'lidar_points' in results and 'lidar2ego' in results['lidar_points']:
            results['lidar2ego'] = pad_to_4x4(results['lidar_points']['lidar2ego'])
        return results
