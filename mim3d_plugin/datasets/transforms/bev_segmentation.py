"""BEV map-segmentation ground truth of a sample, in the frame of the detector's BEV (BEVFusion's task, camera-only).

Grid: ``xbound`` / ``ybound`` ``(min, max, step)`` metres (BEVFusion: +-50 m at 0.5 m, 200 x 200); masks ``(C, Y,
X)`` bool, rows = y (row 0 at ``y_min``), columns = x: the ``(Y, X)`` layout of every BEV map in this project.
The frame is the one the sample's points and boxes are in when the transform runs: the LiDAR frame, or the key ego
frame after ``LiDARToEgoFrame`` (``lidar2keyego``), followed by a BEV augmentation (``bev_aug_matrix``) when one ran.

Classes:

- ``drivable_area``: the nuScenes semantic-prior raster of the sample's log (``maps/<token>.png``, 0.1 m per pixel,
  read with the devkit's ``MapMask``), sampled at the cell centres moved into the global frame by the sample's pose.
  The log -> raster link comes from the tables ``scene.json``, ``log.json``, ``map.json`` of ``version``.
- ``vehicle`` / ``pedestrian`` (the object classes camera-BEV papers report): the BEV footprints of the sample's
  ground-truth boxes of those classes (``object_classes``).
- ``ped_crossing``, ``walkway``, ``stop_line``, ``carpark_area``, ``divider``: need the map expansion
  (``maps/expansion/<location>.json``); without it they raise ``FileNotFoundError`` naming the file. Their
  rasterisation from the expansion polygons is not implemented yet (``NotImplementedError`` when the file exists).
"""
import json
import os.path as osp
from functools import lru_cache
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmdet3d.registry import TRANSFORMS

EXPANSION_CLASSES = ('ped_crossing', 'walkway', 'stop_line', 'carpark_area', 'divider')
DEFAULT_OBJECT_CLASSES = dict(
    vehicle=('car', 'truck', 'bus', 'trailer', 'construction_vehicle'), pedestrian=('pedestrian', ))


@lru_cache(maxsize=4)
def _map_tables(data_root: str, version: str) -> Tuple[dict, dict, dict]:
    """``scene token -> log token``, ``log token -> location``, ``log token -> raster path`` from the tables."""
    folder = osp.join(data_root, version)
    tables = {}
    for name in ('scene', 'log', 'map'):
        path = osp.join(folder, f'{name}.json')
        if not osp.isfile(path):
            raise FileNotFoundError(f'LoadBEVSegmentation: {path} is missing (the nuScenes {version} tables link a '
                                    f'sample\'s log to its map raster)')
        with open(path) as f:
            tables[name] = json.load(f)
    scene_log = {s['token']: s['log_token'] for s in tables['scene']}
    log_location = {rec['token']: rec['location'] for rec in tables['log']}
    log_raster = {log: osp.join(data_root, m['filename']) for m in tables['map'] for log in m['log_tokens']}
    return scene_log, log_location, log_raster


@lru_cache(maxsize=8)
def _map_mask(path: str):
    from nuscenes.utils.map_mask import MapMask
    if not osp.isfile(path):
        raise FileNotFoundError(f'LoadBEVSegmentation: map raster {path} is missing')
    return MapMask(path, resolution=0.1)


def bev_cell_centres(xbound: Sequence[float], ybound: Sequence[float]) -> np.ndarray:
    """``(Y, X, 2)`` metric ``(x, y)`` of the cell centres of the grid (row = y, column = x)."""
    xs = np.arange(xbound[0] + xbound[2] / 2, xbound[1], xbound[2])
    ys = np.arange(ybound[0] + ybound[2] / 2, ybound[1], ybound[2])
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx, gy], -1)


def boxes_bev_mask(boxes: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """``(Y, X)`` bool: cell centres inside the BEV footprint of any box ``(K, >=7)`` ``(x, y, z, dx, dy, dz, yaw)``
    (mmdet3d LiDAR boxes: yaw counter-clockwise from x)."""
    mask = np.zeros(centres.shape[:2], dtype=bool)
    for x, y, _, dx, dy, _, yaw in np.asarray(boxes, dtype=np.float64)[:, :7]:
        rel = centres - (x, y)
        c, s = np.cos(yaw), np.sin(yaw)
        u = rel[..., 0] * c + rel[..., 1] * s
        v = -rel[..., 0] * s + rel[..., 1] * c
        mask |= (np.abs(u) <= dx / 2) & (np.abs(v) <= dy / 2)
    return mask


@TRANSFORMS.register_module()
class LoadBEVSegmentation(BaseTransform):
    """``results['gt_masks_bev']``: ``(C, Y, X)`` bool masks of ``classes`` (see the module docstring).

    Args:
        data_root (str): the nuScenes root (``maps/``, ``<version>/``).
        version (str): the tables' folder. Default: ``'v1.0-trainval'``.
        classes (Sequence[str]): Default: ``('drivable_area', 'vehicle', 'pedestrian')``.
        xbound, ybound (Sequence[float]): ``(min, max, step)`` metres. Default: BEVFusion's ``(-50, 50, 0.5)``.
        object_classes (dict): object class -> the dataset classes it gathers. Default: vehicle = car, truck,
            bus, trailer, construction_vehicle; pedestrian = pedestrian.
        class_names (Sequence[str], optional): the dataset's classes (``gt_labels_3d`` index them); needed by the
            object classes.

    Raises:
        ValueError: an unknown class.
        KeyError: a sample without ``scene_token`` / ``ego2global`` (or ``gt_bboxes_3d`` for object classes).
        FileNotFoundError: a missing table, raster or map-expansion file (named).
    """

    def __init__(self,
                 data_root: str,
                 version: str = 'v1.0-trainval',
                 classes: Sequence[str] = ('drivable_area', 'vehicle', 'pedestrian'),
                 xbound: Sequence[float] = (-50.0, 50.0, 0.5),
                 ybound: Sequence[float] = (-50.0, 50.0, 0.5),
                 object_classes: Optional[Dict[str, Sequence[str]]] = None,
                 class_names: Optional[Sequence[str]] = None) -> None:
        self.data_root = data_root
        self.version = version
        self.classes = tuple(classes)
        self.object_classes = dict(DEFAULT_OBJECT_CLASSES if object_classes is None else object_classes)
        known = ('drivable_area', ) + EXPANSION_CLASSES + tuple(self.object_classes)
        unknown = [c for c in self.classes if c not in known]
        if unknown:
            raise ValueError(f'LoadBEVSegmentation: unknown classes {unknown}; known: {list(known)}')
        if any(c in self.object_classes for c in self.classes) and not class_names:
            raise ValueError('LoadBEVSegmentation: object classes need class_names (the dataset classes that '
                             'gt_labels_3d index)')
        self.class_names = tuple(class_names or ())
        self.xbound, self.ybound = tuple(xbound), tuple(ybound)
        self.centres = bev_cell_centres(self.xbound, self.ybound)

    def _bev_to_global(self, results: dict) -> np.ndarray:
        """4x4: the (augmented) BEV frame of the sample -> global."""
        if 'ego2global' not in results:
            raise KeyError(f'LoadBEVSegmentation: frame {results.get("token")} has no ego2global')
        ego2global = np.asarray(results['ego2global'], dtype=np.float64)
        if ego2global.ndim == 3:  # after MultiFrameMultiView: one per frame, the current frame last
            ego2global = ego2global[-1]
        if 'lidar2keyego' in results:  # points and boxes are in the key ego frame
            frame2global = ego2global
        else:
            lidar2ego = results.get('lidar2ego', results.get('lidar_points', {}).get('lidar2ego'))
            if lidar2ego is None:
                raise KeyError(f'LoadBEVSegmentation: frame {results.get("token")} has no lidar2ego')
            lidar2ego = np.asarray(lidar2ego, dtype=np.float64)
            frame2global = ego2global @ (lidar2ego[-1] if lidar2ego.ndim == 3 else lidar2ego)
        aug = np.asarray(results.get('bev_aug_matrix', np.eye(4)), dtype=np.float64)
        return frame2global @ np.linalg.inv(aug)

    def _raster(self, results: dict) -> Tuple[object, str]:
        scene_log, log_location, log_raster = _map_tables(self.data_root, self.version)
        scene = results.get('scene_token')
        if scene not in scene_log:
            raise KeyError(f'LoadBEVSegmentation: frame {results.get("token")}: scene_token {scene!r} is not in '
                           f'{self.version}/scene.json')
        log = scene_log[scene]
        if log not in log_raster:
            raise FileNotFoundError(f'LoadBEVSegmentation: frame {results.get("token")}: no map raster in '
                                    f'{self.version}/map.json lists log {log} (location {log_location.get(log)})')
        return _map_mask(log_raster[log]), log_location.get(log, '?')

    def transform(self, results: dict) -> dict:
        masks = []
        bev2global = None
        for name in self.classes:
            if name == 'drivable_area':
                if bev2global is None:
                    bev2global = self._bev_to_global(results)
                raster, _ = self._raster(results)
                pts = self.centres.reshape(-1, 2)
                glob = pts @ bev2global[:2, :2].T + bev2global[:2, 3]  # z = 0 of the BEV frame
                masks.append(raster.is_on_mask(glob[:, 0], glob[:, 1]).reshape(self.centres.shape[:2]))
            elif name in EXPANSION_CLASSES:
                _, location = self._raster(results)
                path = osp.join(self.data_root, 'maps', 'expansion', f'{location}.json')
                if not osp.isfile(path):
                    raise FileNotFoundError(f'LoadBEVSegmentation: class {name!r} needs the nuScenes map expansion '
                                            f'{path} (frame {results.get("token")}, location {location}); only '
                                            f'drivable_area comes from the semantic-prior rasters')
                raise NotImplementedError(f'LoadBEVSegmentation: {name!r} from the map expansion is not implemented '
                                          f'yet (found {path})')
            else:
                boxes, labels = self._boxes(results)
                wanted = [i for i, c in enumerate(self.class_names) if c in self.object_classes[name]]
                keep = np.isin(labels, wanted)
                masks.append(boxes_bev_mask(boxes[keep], self.centres))
        results['gt_masks_bev'] = np.stack(masks)
        return results

    @staticmethod
    def _boxes(results: dict) -> Tuple[np.ndarray, np.ndarray]:
        """``(K, 7+)`` boxes in the sample's current frame and ``(K,)`` labels: the pipeline's ``gt_bboxes_3d``
        (training: already moved and augmented), else the test split's ``eval_ann_info`` (LiDAR frame; moved into
        the key ego frame when ``LiDARToEgoFrame`` ran)."""
        if 'gt_bboxes_3d' in results:
            boxes, labels = results['gt_bboxes_3d'], results['gt_labels_3d']
            boxes = boxes.tensor.numpy() if hasattr(boxes, 'tensor') else np.asarray(boxes)
            return np.asarray(boxes, dtype=np.float64), np.asarray(labels)
        ann = results.get('eval_ann_info')
        if ann is None or 'gt_bboxes_3d' not in ann:
            raise KeyError(f'LoadBEVSegmentation: frame {results.get("token")}: object classes need gt_bboxes_3d '
                           f'(LoadAnnotations3D before this transform) or eval_ann_info (test split)')
        boxes = ann['gt_bboxes_3d']
        boxes = np.asarray(boxes.tensor.numpy() if hasattr(boxes, 'tensor') else boxes, dtype=np.float64).copy()
        if 'lidar2keyego' in results and len(boxes):
            mat = np.asarray(results['lidar2keyego'], dtype=np.float64)
            boxes[:, :2] = boxes[:, :2] @ mat[:2, :2].T + mat[:2, 3]
            boxes[:, 6] += np.arctan2(mat[1, 0], mat[0, 0])
        return boxes, np.asarray(ann['gt_labels_3d'])
