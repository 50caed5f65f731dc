"""Occ3D-nuScenes occupancy ground truth (Tian et al., NeurIPS 2023 Datasets; the CVPR 2023 occupancy challenge).

Layout of the official release: ``<occ_root>/gts/<scene name>/<sample token>/labels.npz`` with three ``(200, 200,
16)`` ``uint8`` arrays, X x Y x Z voxels of 0.4 m over x, y in [-40, 40] m and z in [-1, 5.4] m of the ego frame:
``semantics`` (0-16 the 17 classes of :data:`OCC3D_CLASSES`, 17 = free), ``mask_lidar`` and ``mask_camera`` (1 where
the voxel is observed by the LiDAR / a camera). BEVDet-Occ's ``LoadOccGTFromFile`` reads the same file through an
info field (``occ_path``, the folder); here the folder is that field or, when it is absent, ``occ_root`` joined with
the info's ``scene_name`` and ``token``.

Frames: the labels are in the ego frame, so a model pipeline must build its BEV in the ego frame
(``LiDARToEgoFrame``); a BEV augmentation before the loader (``BEVAug``, ``bev_aug_matrix``) is applied to the label
grid when it is a flip of x and/or y (the official BEVDet-Occ ``bda``: ``rot_lim=(0, 0)``, ``scale_lim=(1, 1)``,
flips; ``LoadAnnotationsBEVDepth`` flips ``voxel_semantics`` and both masks the same way); any other augmentation
cannot be applied to a voxel grid exactly and is refused.
"""
import os.path as osp
from typing import Optional, Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmdet3d.registry import TRANSFORMS

OCC3D_CLASSES = ('others', 'barrier', 'bicycle', 'bus', 'car', 'construction_vehicle', 'motorcycle', 'pedestrian',
                 'traffic_cone', 'trailer', 'truck', 'driveable_surface', 'other_flat', 'sidewalk', 'terrain',
                 'manmade', 'vegetation', 'free')
OCC3D_FREE = 17
OCC3D_GRID = dict(
    point_cloud_range=(-40.0, -40.0, -1.0, 40.0, 40.0, 5.4), voxel_size=(0.4, 0.4, 0.4), shape_xyz=(200, 200, 16))


def load_occ3d_labels(path: str,
                      shape_xyz: Sequence[int] = OCC3D_GRID['shape_xyz'],
                      num_classes: int = 18,
                      what: str = '') -> dict:
    """Read and check one ``labels.npz``.

    Args:
        path (str): the ``labels.npz`` file (or its folder).
        shape_xyz (Sequence[int]): expected ``(X, Y, Z)``. Default: Occ3D-nuScenes ``(200, 200, 16)``.
        num_classes (int): labels are ``0 .. num_classes - 1`` (free included). Default: 18.
        what (str): the frame, for error messages.

    Returns:
        dict: ``semantics`` ``(X, Y, Z)`` uint8, ``mask_lidar`` and ``mask_camera`` ``(X, Y, Z)`` bool.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a missing array, another shape or dtype, a label outside ``0 .. num_classes - 1``, a mask not 0/1;
            the message names the file, the frame, the field and the expected value.
    """
    if osp.isdir(path):
        path = osp.join(path, 'labels.npz')
    if not osp.isfile(path):
        raise FileNotFoundError(f'Occ3D labels: {path} does not exist{what} (expected the official layout '
                                f'<occ_root>/gts/<scene>/<sample token>/labels.npz)')
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    out = {}
    for field in ('semantics', 'mask_lidar', 'mask_camera'):
        if field not in arrays:
            raise ValueError(f'Occ3D labels: {path}{what} has no {field!r} array (has {sorted(arrays)})')
        a = arrays[field]
        if tuple(a.shape) != tuple(shape_xyz):
            raise ValueError(f'Occ3D labels: {path}{what}: {field} has shape {tuple(a.shape)}, expected '
                             f'{tuple(shape_xyz)} (X, Y, Z voxels)')
        if a.dtype != np.uint8 and not (field != 'semantics' and a.dtype == np.bool_):
            raise ValueError(f'Occ3D labels: {path}{what}: {field} has dtype {a.dtype}, expected uint8')
        if field == 'semantics':
            if a.size and int(a.max()) >= num_classes:
                raise ValueError(f'Occ3D labels: {path}{what}: semantics has label {int(a.max())}, expected '
                                 f'0..{num_classes - 1} ({num_classes - 1} = free)')
            out[field] = a
        else:
            if a.size and int(a.max()) > 1:
                raise ValueError(f'Occ3D labels: {path}{what}: {field} has value {int(a.max())}, expected 0 or 1')
            out[field] = a.astype(bool)
    return out


@TRANSFORMS.register_module()
class LoadOcc3DLabels(BaseTransform):
    """Load a sample's Occ3D ground truth into ``voxel_semantics``, ``mask_lidar``, ``mask_camera`` (the field names
    of BEVDet-Occ), each ``(X, Y, Z)``.

    Args:
        occ_root (str, optional): the folder holding ``gts/`` (used when the info has no ``occ_path``).
        shape_xyz (Sequence[int]): expected grid. Default: ``(200, 200, 16)``.
        num_classes (int): classes including free. Default: 18.

    Raises:
        KeyError: neither ``occ_path`` nor ``occ_root`` + ``scene_name`` + ``token`` locate the file.
        FileNotFoundError, ValueError: from :func:`load_occ3d_labels`.
    """

    def __init__(self,
                 occ_root: Optional[str] = None,
                 shape_xyz: Sequence[int] = OCC3D_GRID['shape_xyz'],
                 num_classes: int = 18) -> None:
        self.occ_root = occ_root
        self.shape_xyz = tuple(shape_xyz)
        self.num_classes = num_classes

    def transform(self, results: dict) -> dict:
        token = results.get('token', results.get('sample_idx'))
        if results.get('occ_path'):
            folder = results['occ_path']
        elif self.occ_root is not None and results.get('scene_name') and token is not None:
            folder = osp.join(self.occ_root, 'gts', results['scene_name'], str(token))
        else:
            raise KeyError(f'LoadOcc3DLabels: frame {token}: the info has no occ_path, and occ_root / scene_name / '
                           f'token do not locate <occ_root>/gts/<scene>/<token>/labels.npz (occ_root={self.occ_root})')
        if 'images' in results and 'lidar2keyego' not in results:
            raise KeyError(f'LoadOcc3DLabels: frame {token}: Occ3D labels are in the ego frame but the pipeline builds '
                           'the BEV in the LiDAR frame; add LiDARToEgoFrame before it (no lidar2keyego in results)')
        labels = load_occ3d_labels(folder, self.shape_xyz, self.num_classes, f' (frame {token})')
        flips = self.grid_flips(results.get('bev_aug_matrix'), token)
        for key, field in (('voxel_semantics', 'semantics'), ('mask_lidar', 'mask_lidar'), ('mask_camera',
                                                                                            'mask_camera')):
            arr = labels[field]
            results[key] = np.ascontiguousarray(np.flip(arr, flips)) if flips else arr
        return results

    @staticmethod
    def grid_flips(bev_aug_matrix, token) -> tuple:
        """Axes (0 = X, 1 = Y) a BEV augmentation flips; ``()`` for none.

        Raises:
            ValueError: the augmentation is not a flip of x and/or y (rotation, scaling or translation).
        """
        if bev_aug_matrix is None:
            return ()
        mat = np.asarray(bev_aug_matrix, dtype=np.float64)
        diag = np.diag(mat[:3, :3])
        if np.abs(mat - np.diag(np.diag(mat))).max() > 1e-6 or not np.allclose(np.abs(diag), 1.0, atol=1e-6) \
                or diag[2] < 0:
            raise ValueError(f'LoadOcc3DLabels: frame {token}: bev_aug_matrix {mat[:3].round(4).tolist()} is not a '
                             'flip of x and/or y; occupancy labels take only flips (BEVAug rot_lim=(0, 0), '
                             'scale_lim=(1, 1), as the official BEVDet-Occ bda_aug_conf)')
        return tuple(ax for ax in (0, 1) if diag[ax] < 0)
