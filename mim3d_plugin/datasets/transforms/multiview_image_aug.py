"""Per-view image augmentation (resize, crop, flip, rotate) folded into the camera matrices (BEVDet's ImageAug)."""
from typing import List, Sequence, Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmdet3d.registry import TRANSFORMS


def _affine(rot2x2: np.ndarray, trans: np.ndarray) -> np.ndarray:
    out = np.eye(3)
    out[:2, :2] = rot2x2
    out[:2, 2] = trans
    return out


@TRANSFORMS.register_module()
class MultiViewImageAug(BaseTransform):
    """Resize, crop, flip and rotate every view independently (BEVDet's image-view augmentation).

    Reproduces ``sample_augmentation``/``img_transform`` of BEVDet
    (``mmdet3d/datasets/pipelines/loading.py: PrepareImageInputs`` in
    HuangJunJie2017/BEVDet): scale ``fW / W + U(resize_lim)``, crop of size
    ``final_dim`` whose bottom is ``U(bot_pct_lim)`` of the resized height
    above the image bottom and whose left edge is uniform, horizontal flip with
    probability 0.5 if ``rand_flip``, rotation by ``U(rot_lim)`` degrees about
    the centre of the crop (counter-clockwise on screen). In test mode it is
    deterministic: scale ``fW / W + resize_test``, crop bottom at
    ``mean(bot_pct_lim)``, horizontally centred, no flip, no rotation. Unlike
    the official code the matrices use the actual per-axis scales of the integer
    resized size, so projected points land on the same image content.

    The pixel map ``u' = A (u, v) + t`` (px, mmdet3d pixel convention) is
    recorded per view as ``img_aug_matrix`` (4, 4) acting on ``(u, v, d, 1)``
    (augmented px <- original px, composed onto any earlier one) and folded
    into ``cam2img`` and ``lidar2img`` (``cam2img' = M cam2img`` with ``M``
    the same map acting on homogeneous ``(u z, v z, z, 1)``).

    Args:
        final_dim (tuple[int, int]): output ``(H, W)`` in px, e.g. (256, 704).
        resize_lim (tuple[float, float]): range added to the base scale
            ``fW / W`` in training. Default: (-0.06, 0.11) (BEVDet).
        bot_pct_lim (tuple[float, float]): fraction of the resized height cut
            from the bottom. Default: (0.0, 0.0).
        rot_lim (tuple[float, float]): rotation range in degrees. Default: (-5.4, 5.4).
        rand_flip (bool): random horizontal flip in training. Default: True.
        resize_test (float): added to the base scale in test mode. Default: 0.0.
        test_mode (bool): deterministic test-time transform. Default: False.

    Inputs: ``img`` (list of N (H0, W0, 3) arrays), ``cam2img``, ``lidar2cam``
    (lists of (4, 4)), optional ``img_aug_matrix``.
    Outputs: ``img`` (list of N (H, W, 3)), ``cam2img``, ``lidar2img``,
    ``img_aug_matrix`` (lists of (4, 4) float64), ``img_shape``/``pad_shape``
    ``(H, W)``, ``img_aug_params`` (list of dicts: resize (sx, sy), crop
    (x0, y0, x1, y1) px, flip, rotate deg).
    """

    def __init__(self,
                 final_dim: Sequence[int],
                 resize_lim: Sequence[float] = (-0.06, 0.11),
                 bot_pct_lim: Sequence[float] = (0.0, 0.0),
                 rot_lim: Sequence[float] = (-5.4, 5.4),
                 rand_flip: bool = True,
                 resize_test: float = 0.0,
                 test_mode: bool = False) -> None:
        if len(final_dim) != 2 or min(final_dim) <= 0:
            raise ValueError(f'final_dim must be (H, W) > 0, got {final_dim}')
        self.final_dim = (int(final_dim[0]), int(final_dim[1]))
        self.resize_lim = tuple(resize_lim)
        self.bot_pct_lim = tuple(bot_pct_lim)
        self.rot_lim = tuple(rot_lim)
        self.rand_flip = rand_flip
        self.resize_test = resize_test
        self.test_mode = test_mode

    def sample_params(self, height: int, width: int) -> Tuple[Tuple[int, int], Tuple[int, int, int, int], bool, float]:
        """Draw ``(resized (W', H'), crop (x0, y0, x1, y1), flip, rotate deg)`` for one view of (H, W) px."""
        f_h, f_w = self.final_dim
        resize = f_w / width + (self.resize_test if self.test_mode else np.random.uniform(*self.resize_lim))
        new_w, new_h = int(width * resize), int(height * resize)
        if self.test_mode:
            crop_h = int((1 - np.mean(self.bot_pct_lim)) * new_h) - f_h
            crop_w = int(max(0, new_w - f_w) / 2)
            flip, rotate = False, 0.0
        else:
            crop_h = int((1 - np.random.uniform(*self.bot_pct_lim)) * new_h) - f_h
            crop_w = int(np.random.uniform(0, max(0, new_w - f_w)))
            flip = bool(self.rand_flip and np.random.choice([0, 1]))
            rotate = float(np.random.uniform(*self.rot_lim))
        return (new_w, new_h), (crop_w, crop_h, crop_w + f_w, crop_h + f_h), flip, rotate

    def pixel_map(self, height: int, width: int, resized: Tuple[int, int], crop: Sequence[int], flip: bool,
                  rotate: float) -> np.ndarray:
        """(3, 3) affine map of px ``(u, v, 1)``: original image -> augmented image."""
        f_h, f_w = self.final_dim
        mat = _affine(np.diag([resized[0] / width, resized[1] / height]), np.zeros(2))
        mat = _affine(np.eye(2), -np.asarray(crop[:2], dtype=np.float64)) @ mat
        if flip:
            mat = _affine(np.diag([-1.0, 1.0]), np.array([f_w, 0.0])) @ mat
        theta = np.deg2rad(rotate)
        rot = np.array([[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]])
        centre = np.array([f_w, f_h]) / 2
        return _affine(rot, centre - rot @ centre) @ mat

    def _warp(self, img: np.ndarray, resized: Tuple[int, int], pix: np.ndarray, resize_only: np.ndarray) -> np.ndarray:
        f_h, f_w = self.final_dim
        img = cv2.resize(img, resized, interpolation=cv2.INTER_AREA)
        rest = pix @ np.linalg.inv(resize_only)  # crop + flip + rotate on the resized image
        # our pixel (u, v) covers [u, u + 1); OpenCV puts pixel centres at integers
        shift = _affine(np.eye(2), np.array([-0.5, -0.5]))
        rest_cv = shift @ rest @ np.linalg.inv(shift)
        return cv2.warpAffine(
            img, rest_cv[:2], (f_w, f_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)

    def transform(self, results: dict) -> dict:
        imgs: List[np.ndarray] = results['img']
        n_views = len(imgs)
        for key in ('cam2img', 'lidar2cam'):
            if key not in results or len(results[key]) != n_views:
                raise KeyError(f'{type(self).__name__}: results[{key!r}] must list {n_views} matrices '
                               f'(run LoadMultiViewImages first)')
        aug_prev = results.get('img_aug_matrix', [np.eye(4)] * n_views)
        out_imgs, cam2img, lidar2img, aug_mats, params = [], [], [], [], []
        for i, img in enumerate(imgs):
            height, width = img.shape[:2]
            resized, crop, flip, rotate = self.sample_params(height, width)
            pix = self.pixel_map(height, width, resized, crop, flip, rotate)
            out_imgs.append(
                self._warp(img, resized, pix, _affine(np.diag([resized[0] / width, resized[1] / height]), np.zeros(2))))
            post = np.eye(4)  # acts on (u, v, d, 1)
            post[:2, :2], post[:2, 3] = pix[:2, :2], pix[:2, 2]
            pre = np.eye(4)  # acts on (u z, v z, z, 1)
            pre[:2, :2], pre[:2, 2] = pix[:2, :2], pix[:2, 2]
            k = pre @ np.asarray(results['cam2img'][i], dtype=np.float64)
            cam2img.append(k)
            lidar2img.append(k @ np.asarray(results['lidar2cam'][i], dtype=np.float64))
            aug_mats.append(post @ np.asarray(aug_prev[i], dtype=np.float64))
            params.append(dict(resize=(resized[0] / width, resized[1] / height), crop=crop, flip=flip, rotate=rotate))
        results.update(
            img=out_imgs,
            cam2img=cam2img,
            lidar2img=lidar2img,
            img_aug_matrix=aug_mats,
            img_aug_params=params,
            img_shape=self.final_dim,
            pad_shape=self.final_dim)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(final_dim={self.final_dim}, resize_lim={self.resize_lim}, '
                f'bot_pct_lim={self.bot_pct_lim}, rot_lim={self.rot_lim}, rand_flip={self.rand_flip}, '
                f'resize_test={self.resize_test}, test_mode={self.test_mode})')
