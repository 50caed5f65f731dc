"""BEV map-segmentation ground truth of a sample, in the frame of the detector's BEV (BEVFusion's task, camera-only).

Grid: ``xbound`` / ``ybound`` ``(min, max, step)`` metres (BEVFusion: +-50 m at 0.5 m, 200 x 200); masks ``(C, Y,
X)`` bool, rows = y (row 0 at ``y_min``), columns = x: the ``(Y, X)`` layout of every BEV map in this project.
The frame is the one the sample's points and boxes are in when the transform runs: the LiDAR frame, or the key ego
frame after ``LiDARToEgoFrame`` (``lidar2keyego``), followed by a BEV augmentation (``bev_aug_matrix``) when one ran.

Classes:

- ``drivable_area``: with the map expansion (``maps/expansion/<location>.json``) BEVFusion's definition, its
  ``road_segment`` + ``lane`` layers; without it the nuScenes semantic-prior raster of the sample's log
  (``maps/<token>.png``, 0.1 m per pixel, read with the devkit's ``MapMask``), sampled at the cell centres moved into
  the global frame by the sample's pose (``drivable_source`` picks one explicitly). The log -> raster / location link
  comes from the tables ``scene.json``, ``log.json``, ``map.json`` of ``version``.
- ``vehicle`` / ``pedestrian`` (the object classes camera-BEV papers report): the BEV footprints of the sample's
  ground-truth boxes of those classes (``object_classes``).
- ``ped_crossing``, ``walkway``, ``stop_line``, ``carpark_area``, ``divider`` (= ``road_divider`` + ``lane_divider``):
  the map expansion's layers (BEVFusion's ``LoadBEVSegmentation`` mapping), rasterised by the devkit's
  ``NuScenesMap.get_map_mask`` on a global-axis-aligned canvas around the grid (polygons at an eighth of the BEV cell,
  lines drawn 2 px wide at the cell size = BEVFusion's 2 cells), then read at the cell centres: any BEV frame
  (rotated, flipped, scaled by ``BEVAug``) is handled the same way. Without the expansion they raise
  ``FileNotFoundError`` naming the file.
"""
import json
import os.path as osp
from functools import lru_cache
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmdet3d.registry import TRANSFORMS

EXPANSION_CLASSES = ('ped_crossing', 'walkway', 'stop_line', 'carpark_area', 'divider')
# class -> map-expansion layers (BEVFusion mmdet3d/datasets/pipelines/loading.py LoadBEVSegmentation)
EXPANSION_LAYERS = dict(
    drivable_area=('road_segment', 'lane'),
    ped_crossing=('ped_crossing', ),
    walkway=('walkway', ),
    stop_line=('stop_line', ),
    carpark_area=('carpark_area', ),
    divider=('road_divider', 'lane_divider'))
LINE_LAYERS = ('road_divider', 'lane_divider')
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


@lru_cache(maxsize=4)
def _expansion_map(data_root: str, location: str):
    from nuscenes.map_expansion.map_api import NuScenesMap
    return NuScenesMap(dataroot=data_root, map_name=location)


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
        drivable_source (str): ``'auto'`` (the expansion's road_segment + lane when the file exists, else the
            raster), ``'raster'`` or ``'expansion'``. Default: ``'auto'``.

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
                 class_names: Optional[Sequence[str]] = None,
                 drivable_source: str = 'auto') -> None:
        if drivable_source not in ('auto', 'raster', 'expansion'):
            raise ValueError(f"LoadBEVSegmentation: drivable_source must be 'auto', 'raster' or 'expansion', got "
                             f'{drivable_source!r}')
        self.drivable_source = drivable_source
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

    def _expansion_path(self, results: dict, name: str) -> str:
        _, location = self._raster(results)
        path = osp.join(self.data_root, 'maps', 'expansion', f'{location}.json')
        if not osp.isfile(path):
            raise FileNotFoundError(f'LoadBEVSegmentation: class {name!r} needs the nuScenes map expansion {path} '
                                    f'(frame {results.get("token")}, location {location}); only drivable_area comes '
                                    'from the semantic-prior rasters')
        return path

    def _expansion_masks(self, results: dict, names: Sequence[str], bev2global: np.ndarray) -> Dict[str, np.ndarray]:
        """``{class: (Y, X) bool}`` from the map expansion (see the module docstring)."""
        path = self._expansion_path(results, names[0])
        nmap = _expansion_map(self.data_root, osp.splitext(osp.basename(path))[0])
        self._check_inside(results, path, bev2global,
                           (0.0, 0.0, float(nmap.canvas_edge[0]), float(nmap.canvas_edge[1])))
        cell = float(min(self.xbound[2], self.ybound[2]))
        glob = self.centres.reshape(-1, 2) @ bev2global[:2, :2].T + bev2global[:2, 3]
        layers = sorted({layer for n in names for layer in EXPANSION_LAYERS[n]})
        hits = {}
        # polygons on a canvas 8x finer than the cells (a cell is in when its centre is, to ~1/4 cell: the devkit
        # rounds vertices to pixels and fills boundary pixels); lines at the cell size, so that get_map_mask's 2 px
        # lines are BEVFusion's 2 cells wide
        for group, res in (([x for x in layers
                             if x not in LINE_LAYERS], cell / 8), ([x for x in layers if x in LINE_LAYERS], cell)):
            if not group:
                continue
            lo = glob.min(0) - cell
            size = np.ceil((glob.max(0) + cell - lo) / res).astype(int)  # (w, h) px, global-axis aligned
            centre = lo + size * res / 2
            # patch (x_center, y_center, height, width) at angle 0: rows = global y from lo[1], columns = global x
            canvas = nmap.get_map_mask((centre[0], centre[1], size[1] * res, size[0] * res), 0.0, group,
                                       (int(size[1]), int(size[0])))
            col = np.clip(np.floor((glob[:, 0] - lo[0]) / res).astype(int), 0, size[0] - 1)
            row = np.clip(np.floor((glob[:, 1] - lo[1]) / res).astype(int), 0, size[1] - 1)
            for k, layer in enumerate(group):
                hits[layer] = canvas[k][row, col].astype(bool)
        out = {}
        for n in names:
            hit = np.zeros(len(glob), dtype=bool)
            for layer in EXPANSION_LAYERS[n]:
                hit |= hits[layer]
            out[n] = hit.reshape(self.centres.shape[:2])
        return out

    @staticmethod
    def _check_inside(results: dict, path: str, bev2global: np.ndarray, extent: Tuple[float, float, float,
                                                                                      float]) -> None:
        """The ego (the BEV frame's origin) must lie on the map: a map of another location does not cover it.

        Raises:
            ValueError: the ego's global (x, y) is outside the map's extent (file, frame and values named).
        """
        x, y = float(bev2global[0, 3]), float(bev2global[1, 3])
        if not (extent[0] <= x <= extent[2] and extent[1] <= y <= extent[3]):
            raise ValueError(f'LoadBEVSegmentation: frame {results.get("token")}: the ego at global ({x:.1f}, '
                             f'{y:.1f}) m is outside {path} (extent x 0..{extent[2]:.1f}, y 0..{extent[3]:.1f} m): '
                             'a map of another location?')

    def _drivable_from_expansion(self, results: dict) -> bool:
        if self.drivable_source != 'auto':
            return self.drivable_source == 'expansion'
        _, location = self._raster(results)
        return osp.isfile(osp.join(self.data_root, 'maps', 'expansion', f'{location}.json'))

    def transform(self, results: dict) -> dict:
        masks = []
        bev2global = self._bev_to_global(results) if any(c == 'drivable_area' or c in EXPANSION_CLASSES
                                                         for c in self.classes) else None
        from_expansion = [
            c for c in self.classes
            if c in EXPANSION_CLASSES or (c == 'drivable_area' and self._drivable_from_expansion(results))
        ]
        expansion = self._expansion_masks(results, from_expansion, bev2global) if from_expansion else {}
        for name in self.classes:
            if name in expansion:
                masks.append(expansion[name])
            elif name == 'drivable_area':
                raster, _ = self._raster(results)
                height, width = raster.mask().shape[:2]  # px at raster.resolution m
                self._check_inside(results, raster.img_file, bev2global,
                                   (0.0, 0.0, width * raster.resolution, height * raster.resolution))
                pts = self.centres.reshape(-1, 2)
                glob = pts @ bev2global[:2, :2].T + bev2global[:2, 3]  # z = 0 of the BEV frame
                masks.append(raster.is_on_mask(glob[:, 0], glob[:, 1]).reshape(self.centres.shape[:2]))
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
