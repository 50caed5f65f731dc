"""Derived occupancy labels in the Occ3D-nuScenes layout, from what the bundled nuScenes data has.

**Not Occ3D**: Occ3D-nuScenes (Tian et al. 2023) aggregates LiDAR sweeps over whole scenes, meshes and refines them
and labels them with the lidarseg point labels; the bundled data has neither sweeps nor lidarseg. These labels are
made, per key frame, from:

- the LiDAR points of every key frame of the scene (the ego's own body removed), moved into the frame's ego frame:
  points outside every box by the ego poses (static scene), points inside a box carried by that box from frame to
  frame of the same instance (moving objects: box-local coordinates re-placed at the instance's pose in this frame);
- per voxel the majority class of its points: the box's class for object points (nuScenes category -> Occ3D class:
  car 4, truck 10, bus 3, trailer 9, construction_vehicle 5, pedestrian 7, motorcycle 6, bicycle 2, traffic_cone 8,
  barrier 1; other categories 0), for static points ``driveable_surface`` (11) when the voxel is at ground level
  (centre z <= ``ground_z``) on the semantic-prior drivable raster, else ``others`` (0, "other static");
- ``mask_lidar``: the voxels the current frame's LiDAR rays cross, up to and including their end voxel;
  ``mask_camera``: the voxels the rays of the six cameras (every ``pixel_step``-th pixel) cross up to and including
  the first occupied voxel (ray casting at ``ray_step`` metres), as Occ3D's visibility masks.

Grid: Occ3D's, 200 x 200 x 16 voxels of 0.4 m over x, y in [-40, 40] m, z in [-1, 5.4] m of the ego frame, ``(X, Y,
Z)`` arrays, 17 = free. Written as ``<out>/gts/<scene name>/<sample token>/labels.npz`` (the official layout, read by
:class:`LoadOcc3DLabels` with ``occ_root=<out>``).
"""
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np

from ..transforms.load_occ3d import OCC3D_FREE, OCC3D_GRID

DETECTION_TO_OCC3D = dict(
    barrier=1,
    bicycle=2,
    bus=3,
    car=4,
    construction_vehicle=5,
    motorcycle=6,
    pedestrian=7,
    traffic_cone=8,
    trailer=9,
    truck=10)


def _voxel_index(points: np.ndarray, pcr: Sequence[float], vs: float,
                 shape: Sequence[int]) -> Tuple[np.ndarray, np.ndarray]:
    idx = np.floor((points[:, :3] - np.asarray(pcr[:3])) / vs).astype(np.int64)
    inside = np.all((idx >= 0) & (idx < np.asarray(shape)), axis=1)
    return idx, inside


def _march(origins: np.ndarray,
           ends: np.ndarray,
           step: float,
           pcr,
           vs,
           shape,
           occupied: Optional[np.ndarray],
           chunk: int = 4096) -> np.ndarray:
    """Voxels crossed by the segments ``origins -> ends`` ``(R, 3)`` sampled every ``step`` metres; with
    ``occupied`` each ray stops at (and includes) its first occupied voxel. Returns a ``shape`` bool mask."""
    seen = np.zeros(shape, dtype=bool)
    for s in range(0, len(ends), chunk):
        o, e = origins[s:s + chunk], ends[s:s + chunk]
        length = np.linalg.norm(e - o, axis=1)
        n = int(np.ceil(length.max() / step)) + 1 if len(length) else 0
        if n == 0:
            continue
        t = np.minimum(np.arange(n)[None] * step, length[:, None])  # (R, n) metres along each ray
        direction = (e - o) / np.maximum(length, 1e-9)[:, None]
        pts = o[:, None] + t[..., None] * direction[:, None]  # (R, n, 3)
        idx, inside = _voxel_index(pts.reshape(-1, 3), pcr, vs, shape)
        idx, inside = idx.reshape(len(o), n, 3), inside.reshape(len(o), n)
        keep = inside.copy()
        if occupied is not None:
            hit = np.zeros_like(inside)
            hit[inside] = occupied[idx[inside][:, 0], idx[inside][:, 1], idx[inside][:, 2]]
            first = np.where(hit.any(1), hit.argmax(1), n)  # samples after the first occupied voxel are hidden
            keep &= np.arange(n)[None] <= first[:, None]
        v = idx[keep]
        seen[v[:, 0], v[:, 1], v[:, 2]] = True
    return seen


def occupancy_from_points(points: np.ndarray,
                          labels: np.ndarray,
                          lidar_origin: np.ndarray,
                          lidar_points: np.ndarray,
                          cameras: Sequence[Tuple[np.ndarray, np.ndarray, Tuple[int, int]]],
                          drivable: Optional[Callable[[np.ndarray, np.ndarray], np.ndarray]] = None,
                          grid: dict = OCC3D_GRID,
                          ground_z: float = 0.2,
                          pixel_step: int = 8,
                          ray_step: float = 0.2) -> Dict[str, np.ndarray]:
    """Occ3D-layout labels of one frame from labelled points in its ego frame.

    Args:
        points (np.ndarray): ``(N, 3)`` aggregated points, ego frame, metres.
        labels (np.ndarray): ``(N,)`` Occ3D class per point; ``-1`` = static (labelled here: drivable or others).
        lidar_origin (np.ndarray): ``(3,)`` the LiDAR's position in the ego frame.
        lidar_points (np.ndarray): ``(M, 3)`` this frame's own LiDAR points, ego frame (for ``mask_lidar``).
        cameras: per camera ``(cam2ego (4, 4), cam2img (3, 3), (W, H))``.
        drivable (callable, optional): ``f(x, y) -> bool`` over ego-frame cell centres (the map raster); None: no
            drivable class.
        grid (dict): ``point_cloud_range``, ``voxel_size``, ``shape_xyz``. Default: Occ3D's.
        ground_z (float): static voxels with centre z at or below this (metres, ego frame) on the drivable raster
            are ``driveable_surface``. Default: 0.2 (the voxel layer of the road at z = 0).
        pixel_step (int): camera rays every ``pixel_step`` pixels. Default: 8.
        ray_step (float): ray-casting step, metres. Default: 0.2 (half a voxel).

    Returns:
        dict: ``semantics`` ``(X, Y, Z)`` uint8 (17 = free), ``mask_lidar``, ``mask_camera`` ``(X, Y, Z)`` uint8.
    """
    pcr, vs, shape = grid['point_cloud_range'], grid['voxel_size'][0], tuple(grid['shape_xyz'])
    idx, inside = _voxel_index(points, pcr, vs, shape)
    idx, lab = idx[inside], labels[inside]
    flat = np.ravel_multi_index(idx.T, shape)
    # static points: drivable where the voxel is at ground level on the raster, else others
    static = lab < 0
    lab = lab.copy()
    lab[static] = 0
    if drivable is not None and static.any():
        centre = (idx[static] + 0.5) * vs + np.asarray(pcr[:3])
        road = (centre[:, 2] <= ground_z) & drivable(centre[:, 0], centre[:, 1])
        lab[np.nonzero(static)[0][road]] = 11
    semantics = np.full(np.prod(shape), OCC3D_FREE, dtype=np.uint8)
    if len(flat):
        cells, cell_of_point = np.unique(flat, return_inverse=True)  # occupied voxels only
        votes = np.bincount(cell_of_point * OCC3D_FREE + lab, minlength=len(cells) * OCC3D_FREE)
        semantics[cells] = votes.reshape(len(cells), OCC3D_FREE).argmax(1)
    semantics = semantics.reshape(shape)
    occupied = semantics != OCC3D_FREE
    mask_lidar = _march(np.broadcast_to(lidar_origin, lidar_points.shape), lidar_points, ray_step, pcr, vs, shape, None)
    mask_camera = np.zeros(shape, dtype=bool)
    for cam2ego, cam2img, (w, h) in cameras:
        us, vs_ = np.meshgrid(np.arange(pixel_step / 2, w, pixel_step), np.arange(pixel_step / 2, h, pixel_step))
        pix = np.stack([us.ravel(), vs_.ravel(), np.ones(us.size)], 0)
        dirs = (np.asarray(cam2ego)[:3, :3] @ (np.linalg.inv(np.asarray(cam2img)[:3, :3]) @ pix)).T
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        origin = np.asarray(cam2ego)[:3, 3]
        ends = origin + dirs * 80.0  # beyond the +-40 m grid in every direction
        mask_camera |= _march(np.broadcast_to(origin, ends.shape), ends, ray_step, pcr, vs, shape, occupied)
    return dict(semantics=semantics, mask_lidar=mask_lidar.astype(np.uint8), mask_camera=mask_camera.astype(np.uint8))


def _pose(translation, rotation) -> np.ndarray:
    from pyquaternion import Quaternion
    mat = np.eye(4)
    mat[:3, :3] = Quaternion(rotation).rotation_matrix
    mat[:3, 3] = translation
    return mat


def _apply(mat: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ mat[:3, :3].T + mat[:3, 3]


def derive_scene_occupancy(nusc,
                           scene_name: str,
                           out_dir: str,
                           ego_box: Sequence[float] = (-1.2, 4.2, -1.2, 1.2),
                           only_tokens: Optional[Sequence[str]] = None,
                           **kwargs) -> Dict[str, str]:
    """Derived labels of every key frame of ``scene_name`` (see the module docstring), written to
    ``<out_dir>/gts/<scene_name>/<token>/labels.npz``.

    Args:
        nusc (nuscenes.NuScenes): the devkit's tables (annotations, poses, calibrations, map records).
        scene_name (str): e.g. ``'scene-0916'``.
        out_dir (str): the occupancy root.
        ego_box (Sequence[float]): ``(x_min, x_max, y_min, y_max)`` of the ego's own body in its frame (metres);
            LiDAR returns inside it are dropped.
        only_tokens (Sequence[str], optional): write only these key frames (the points of every frame are still
            aggregated). Default: all.
        **kwargs: passed to :func:`occupancy_from_points`.

    Returns:
        dict: sample token -> file written.

    Raises:
        KeyError: an unknown scene name.
    """
    import os
    import os.path as osp

    from nuscenes.eval.detection.utils import category_to_detection_name
    from nuscenes.utils.geometry_utils import points_in_box
    from nuscenes.utils.map_mask import MapMask
    scenes = {s['name']: s for s in nusc.scene}
    if scene_name not in scenes:
        raise KeyError(f'derive_scene_occupancy: no scene {scene_name!r} in {nusc.version} (has {sorted(scenes)})')
    scene = scenes[scene_name]
    log = nusc.get('log', scene['log_token'])
    raster = MapMask(osp.join(nusc.dataroot, nusc.get('map', log['map_token'])['filename']), resolution=0.1)
    frames, token = [], scene['first_sample_token']
    while token:
        frames.append(nusc.get('sample', token))
        token = frames[-1]['next']
    static, objects, per_frame = [], {}, []
    for sample in frames:
        sd = nusc.get('sample_data', sample['data']['LIDAR_TOP'])
        cs = nusc.get('calibrated_sensor', sd['calibrated_sensor_token'])
        pose = nusc.get('ego_pose', sd['ego_pose_token'])
        lidar2ego, ego2global = _pose(cs['translation'], cs['rotation']), _pose(pose['translation'], pose['rotation'])
        pts = np.fromfile(osp.join(nusc.dataroot, sd['filename']), dtype=np.float32).reshape(-1, 5)[:, :3]
        ego_pts = _apply(lidar2ego, pts.astype(np.float64))
        x0, x1, y0, y1 = ego_box
        body = (ego_pts[:, 0] > x0) & (ego_pts[:, 0] < x1) & (ego_pts[:, 1] > y0) & (ego_pts[:, 1] < y1)
        ego_pts = ego_pts[~body]
        glob = _apply(ego2global, ego_pts)
        in_any = np.zeros(len(glob), dtype=bool)
        boxes = {}
        for ann_token in sample['anns']:
            ann = nusc.get('sample_annotation', ann_token)
            box = nusc.get_box(ann_token)  # global frame
            inside = points_in_box(box, glob.T)
            in_any |= inside
            name = category_to_detection_name(ann['category_name'])
            box2global = _pose(box.center, box.orientation.elements)
            boxes[ann['instance_token']] = (box2global, DETECTION_TO_OCC3D.get(name, 0))
            local = _apply(np.linalg.inv(box2global), glob[inside])
            objects.setdefault(ann['instance_token'], []).append(local)
        static.append(glob[~in_any])
        cams = []
        for channel, sd_token in sample['data'].items():
            if not channel.startswith('CAM'):
                continue
            csd = nusc.get('sample_data', sd_token)
            ccs = nusc.get('calibrated_sensor', csd['calibrated_sensor_token'])
            cams.append((_pose(ccs['translation'],
                               ccs['rotation']), np.asarray(ccs['camera_intrinsic']), (csd['width'], csd['height'])))
        per_frame.append((sample['token'], ego2global, lidar2ego, ego_pts, boxes, cams))
    static = np.concatenate(static)
    objects = {k: np.concatenate(v) for k, v in objects.items()}
    written = {}
    for token, ego2global, lidar2ego, ego_pts, boxes, cams in per_frame:
        if only_tokens is not None and token not in only_tokens:
            continue
        global2ego = np.linalg.inv(ego2global)
        pts, labels = [_apply(global2ego, static)], [np.full(len(static), -1)]
        for instance, (box2global, label) in boxes.items():
            local = objects.get(instance)
            if local is not None and len(local):
                pts.append(_apply(global2ego @ box2global, local))
                labels.append(np.full(len(local), label))

        def drivable(x, y, _e2g=ego2global):
            g = _apply(_e2g, np.stack([x, y, np.zeros_like(x)], 1))
            return raster.is_on_mask(g[:, 0], g[:, 1])

        out = occupancy_from_points(
            np.concatenate(pts), np.concatenate(labels), lidar2ego[:3, 3], ego_pts, cams, drivable, **kwargs)
        path = osp.join(out_dir, 'gts', scene_name, token, 'labels.npz')
        os.makedirs(osp.dirname(path), exist_ok=True)
        tmp = path[:-4] + '.tmp.npz'
        np.savez_compressed(tmp, **out)
        os.replace(tmp, path)  # never a half-written file
        written[token] = path
    return written
