"""nuScenes tables -> mmdet3d 1.x v2 info files (``metainfo`` + ``data_list``).

Reproduces, with the nuScenes devkit directly, what mmdet3d's
``tools/dataset_converters/nuscenes_converter.py`` followed by
``update_infos_to_v2.py`` writes, plus the fields the temporal methods need
(``scene_token``, ``prev``/``next`` key-frame tokens, per-camera ego pose).

Per frame (one key frame = one nuScenes ``sample``)::

    sample_idx      int, index of the frame inside its info file (NuScenesMetric uses it)
    token           sample token
    timestamp       s (LiDAR key-frame time)
    scene_token, scene_name
    prev, next      sample tokens of the neighbouring key frames, '' at scene ends
    ego2global      (4, 4) ego pose at the LiDAR timestamp
    lidar_points    {lidar_path (file name, relative to the LIDAR_TOP prefix),
                     num_pts_feats=5, lidar2ego (4, 4), sample_data_token, timestamp (s)}
    lidar_sweeps    [] here unless the sweep files exist on disk (mmdet3d sweep format)
    images          {CAM_*: {img_path (file name, relative to the per-camera prefix),
                     height, width (px), cam2img (3, 3), lidar2cam (4, 4), cam2ego (4, 4),
                     ego2global (4, 4) ego pose at the camera timestamp,
                     sample_data_token, timestamp (s)}}
    can_bus         18 floats, BEVFormer's CAN-bus vector as the official converter + dataset build it
                     (fundamentalvision/BEVFormer ``_get_can_bus_info`` / ``get_data_info``): ego translation (3, m,
                     global), the ego quaternion's w (as stored in ego_pose.json) 4 times (official), 9 CAN pose values
                     (accel, rotation_rate, vel; zeros without the CAN-bus expansion, as the official), ego yaw (rad,
                     [0, 2 pi)), ego yaw (deg, [0, 360)); see :func:`can_bus_vector`
    cam_sweeps      {CAM_*: [camera sweeps before the key frame, newest first, back to the
                     previous key frame (at most ``max_cam_sweeps``), as listed by the tables
                     whether or not their files are on disk: {img_path (relative to the
                     nuScenes root, e.g. 'sweeps/CAM_FRONT/...jpg'), height, width,
                     cam2img (3, 3), cam2ego (4, 4), ego2global (4, 4) at that exposure,
                     sample_data_token, timestamp (s)}]} (~12 Hz: ~0.08 s apart)
    instances       [{bbox_3d [x, y, z, l, w, h, yaw] LiDAR frame, (x, y, z) the box
                     GRAVITY centre exactly as mmdet3d's infos store it (mmdet3d's
                     NuScenesDataset turns it into the bottom centre when loading),
                     yaw (rad) about LiDAR z from the x axis, bbox_label / bbox_label_3d
                     (index into the 10 detection classes, -1 for other categories),
                     velocity [vx, vy] m/s LiDAR frame (nan where the devkit has none),
                     num_lidar_pts, num_radar_pts, bbox_3d_isvalid (lidar+radar pts > 0)}]
    cam_instances   {CAM_*: [the boxes seen by that camera, as mmdet3d's converter writes them for its mono3d
                     datasets (mmdet3d.datasets.convert_utils.get_nuscenes_2d_boxes): bbox (2D, px), bbox_label,
                     bbox_3d (camera frame: centre, l/h/w, yaw), velocity, center_2d (px), depth (m),
                     attr_label]}

``lidar2cam`` goes through the global frame (LiDAR ego pose at the LiDAR time,
camera ego pose at the camera time) as mmdet3d's ``obtain_sensor2top`` does,
so it compensates the ego motion between the two exposures.
"""
import logging
import os
import os.path as osp
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
from pyquaternion import Quaternion

NUSCENES_CLASSES = ('car', 'truck', 'trailer', 'bus', 'construction_vehicle', 'bicycle', 'motorcycle', 'pedestrian',
                    'traffic_cone', 'barrier')
NUSCENES_CAMERAS = ('CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK', 'CAM_BACK_LEFT', 'CAM_BACK_RIGHT')
INFO_VERSION = '1.1'
SPLIT_NAMES = {
    'v1.0-mini': ('mini_train', 'mini_val'),
    'v1.0-trainval': ('train', 'val'),
    'v1.0-test': ('test', None),
}

logger = logging.getLogger(__name__)


def quaternion_to_matrix(rotation: Sequence[float], translation: Sequence[float]) -> np.ndarray:
    """``(4, 4)`` float64 rigid transform from a nuScenes (w, x, y, z) quaternion and a translation (m)."""
    mat = np.eye(4)
    mat[:3, :3] = Quaternion(rotation).rotation_matrix
    mat[:3, 3] = np.asarray(translation, dtype=np.float64)
    return mat


def get_split_scenes(nusc,
                     version: str,
                     train_scenes: Optional[Iterable[str]] = None,
                     val_scenes: Optional[Iterable[str]] = None) -> Tuple[List[str], List[str]]:
    """Names of the train / val scenes present in the tables.

    Defaults to the devkit's official splits (``nuscenes.utils.splits``:
    ``mini_train``/``mini_val`` for v1.0-mini, ``train``/``val`` for
    v1.0-trainval, ``test`` for v1.0-test) intersected with the scenes of
    ``nusc.scene``. For v1.0-mini the evaluation split is exactly
    ``mini_val`` (so the devkit's ``mini_val`` evaluation runs unchanged) and
    every other scene of the tables is training data, including scenes that
    are in no mini split (e.g. the bundled scene-0523, which is logged).
    ``train_scenes``/``val_scenes`` override the defaults.

    Raises:
        ValueError: unknown ``version``, an override naming a scene that is not
            in the tables, a scene in both splits, or an empty result.
    """
    from nuscenes.utils.splits import create_splits_scenes
    present = [s['name'] for s in nusc.scene]
    if version not in SPLIT_NAMES:
        raise ValueError(f'version must be one of {sorted(SPLIT_NAMES)}, got {version!r}')
    splits = {k: set(v) for k, v in create_splits_scenes().items()}
    train_split, val_split = SPLIT_NAMES[version]
    default_val = [n for n in present if val_split is not None and n in splits[val_split]]
    if version == 'v1.0-mini':
        default_train = [n for n in present if n not in splits[val_split]]
        extra = [n for n in default_train if n not in splits[train_split]]
        if extra:
            logger.info(f'scenes {extra} are in no mini split; they are used for training (not {val_split})')
    else:
        default_train = [n for n in present if n in splits[train_split]]
    train_scenes = default_train if train_scenes is None else list(train_scenes)
    val_scenes = default_val if val_scenes is None else list(val_scenes)
    for name in train_scenes + val_scenes:
        if name not in present:
            raise ValueError(f'scene {name!r} is not in {nusc.dataroot}/{version}/scene.json '
                             f'(present: {present})')
    both = set(train_scenes) & set(val_scenes)
    if both:
        raise ValueError(f'scenes {sorted(both)} are in both the train and the val split')
    if not train_scenes and not val_scenes:
        raise ValueError(f'no scene of {version} splits {SPLIT_NAMES[version]} is present in '
                         f'{nusc.dataroot} (present: {present})')
    return train_scenes, val_scenes


def can_bus_vector(nusc, lidar_sd: dict, scene_name: str, sample_timestamp: int, nusc_can=None) -> List[float]:
    """BEVFormer's 18-d CAN-bus vector of a key frame (official ``tools/data_converter/nuscenes_converter.py``
    ``_get_can_bus_info`` then ``NuScenesDataset.get_data_info`` of fundamentalvision/BEVFormer).

    Args:
        nusc: the devkit ``NuScenes``.
        lidar_sd (dict): the key frame's LIDAR_TOP sample_data record (its ego pose is used).
        scene_name (str): scene name (CAN-bus messages are per scene).
        sample_timestamp (int): key-frame time, microseconds.
        nusc_can: a devkit ``NuScenesCanBus`` or None (no CAN-bus expansion: the 9 CAN values are 0, as the
            official converter returns for scenes without CAN data).

    Returns:
        list[float]: ``[tx, ty, tz, qw, qw, qw, qw, accel(3), rotation_rate(3), vel(3), yaw_rad, yaw_deg]``;
        translation of the ego pose (global frame, m), the quaternion's scalar part ``qw`` (as stored in
        ego_pose.json, sign included) four times (the official assignment of a pyquaternion ``Quaternion`` to a
        numpy slice broadcasts its ``float()``), yaw of the ego x axis in [0, 360) deg.
        As the official, the CAN position/orientation are overwritten by the ego pose, and the 9 other values
        come from the first pose message *after* the key frame (the official loop variable after ``break``;
        the last message when none is later).
    """
    from nuscenes.eval.common.utils import quaternion_yaw
    can = np.zeros(18)
    if nusc_can is not None:
        try:
            messages = nusc_can.get_messages(scene_name, 'pose')
        except Exception:  # official: scenes without CAN data keep zeros
            messages = []
        if messages:
            pose = messages[0]
            for pose in messages:
                if pose['utime'] > sample_timestamp:
                    break
            can[7:16] = [v for key in ('accel', 'rotation_rate', 'vel') for v in pose[key]]
    ego = nusc.get('ego_pose', lidar_sd['ego_pose_token'])
    rotation = Quaternion(ego['rotation'])
    can[:3] = ego['translation']
    # official ``can_bus[3:7] = rotation`` with a pyquaternion Quaternion: numpy takes it as a scalar (it has
    # __float__ = w and no __len__), so the four slots hold w, not (w, x, y, z); the released models saw that
    can[3:7] = float(rotation)
    angle = quaternion_yaw(rotation) / np.pi * 180
    if angle < 0:
        angle += 360
    can[16] = angle / 180 * np.pi
    can[17] = angle
    return can.tolist()


def _check_file(path: str, what: str) -> None:
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} file is missing: {path}')


def _sensor_record(nusc, sd_token: str) -> Tuple[dict, np.ndarray, np.ndarray]:
    """sample_data record, sensor2ego (4, 4) and ego2global (4, 4) at the record's timestamp."""
    sd = nusc.get('sample_data', sd_token)
    cs = nusc.get('calibrated_sensor', sd['calibrated_sensor_token'])
    pose = nusc.get('ego_pose', sd['ego_pose_token'])
    return sd, quaternion_to_matrix(cs['rotation'], cs['translation']), \
        quaternion_to_matrix(pose['rotation'], pose['translation'])


def _lidar_sweeps(nusc, lidar_sd: dict, lidar2global: np.ndarray, max_sweeps: int) -> Tuple[List[dict], List[str]]:
    """mmdet3d-format sweeps preceding a key frame whose files exist, and the tokens of those without a file."""
    sweeps, missing, sd = [], [], lidar_sd
    while len(sweeps) + len(missing) < max_sweeps and sd['prev'] != '':
        sd, sweep2ego, ego2global = _sensor_record(nusc, sd['prev'])
        if not osp.isfile(osp.join(nusc.dataroot, sd['filename'])):
            missing.append(sd['token'])
            continue
        sweep2global = ego2global @ sweep2ego
        lidar2sweep = np.linalg.inv(sweep2global) @ lidar2global
        sweeps.append(
            dict(
                timestamp=sd['timestamp'] / 1e6,
                ego2global=ego2global.tolist(),
                sample_data_token=sd['token'],
                lidar_points=dict(
                    lidar_path=sd['filename'],
                    lidar2ego=sweep2ego.tolist(),
                    lidar2sensor=lidar2sweep.astype(np.float32).tolist())))
    return sweeps, missing


def _cam_sweeps(nusc, cam_sd: dict, max_sweeps: int) -> List[dict]:
    """Camera sweeps preceding a key-frame image (newest first), stopping at the previous key frame."""
    sweeps, sd = [], cam_sd
    while len(sweeps) < max_sweeps and sd['prev'] != '':
        sd, cam2ego, ego2global = _sensor_record(nusc, sd['prev'])
        if sd['is_key_frame']:
            break
        cs = nusc.get('calibrated_sensor', sd['calibrated_sensor_token'])
        sweeps.append(
            dict(
                img_path=sd['filename'],
                height=int(sd['height']),
                width=int(sd['width']),
                cam2img=np.asarray(cs['camera_intrinsic'], dtype=np.float64).tolist(),
                cam2ego=cam2ego.tolist(),
                ego2global=ego2global.tolist(),
                sample_data_token=sd['token'],
                timestamp=sd['timestamp'] / 1e6))
    return sweeps


def _instances(nusc, sample: dict, lidar_token: str, lidar2ego: np.ndarray, ego2global: np.ndarray,
               classes: Sequence[str]) -> List[dict]:
    from nuscenes.eval.detection.utils import category_to_detection_name
    _, boxes, _ = nusc.get_sample_data(lidar_token)  # boxes in the LiDAR frame at the LiDAR time
    global2lidar_rot = (ego2global[:3, :3] @ lidar2ego[:3, :3]).T
    instances = []
    for ann_token, box in zip(sample['anns'], boxes):
        ann = nusc.get('sample_annotation', ann_token)
        if ann['token'] != box.token:
            raise RuntimeError(f'devkit box order differs from sample.anns for sample {sample["token"]}')
        name = category_to_detection_name(ann['category_name'])
        label = classes.index(name) if name in classes else -1
        velo_global = np.array([*nusc.box_velocity(ann_token)[:2], 0.0])
        velo = global2lidar_rot @ velo_global
        w, l, h = box.wlh
        instances.append(
            dict(
                bbox_3d=[*box.center.tolist(),
                         float(l),
                         float(w),
                         float(h),
                         float(box.orientation.yaw_pitch_roll[0])],
                bbox_label=label,
                bbox_label_3d=label,
                velocity=velo[:2].tolist(),
                num_lidar_pts=int(ann['num_lidar_pts']),
                num_radar_pts=int(ann['num_radar_pts']),
                bbox_3d_isvalid=bool(ann['num_lidar_pts'] + ann['num_radar_pts'] > 0)))
    return instances


def build_frame_info(nusc,
                     sample: dict,
                     sample_idx: int,
                     classes: Sequence[str] = NUSCENES_CLASSES,
                     cameras: Sequence[str] = NUSCENES_CAMERAS,
                     max_sweeps: int = 10,
                     with_annotations: bool = True,
                     max_cam_sweeps: int = 10,
                     nusc_can=None) -> Tuple[dict, List[str]]:
    """Info dict of one key frame (see the module docstring) and the sample_data tokens of its sweeps
    whose file is missing (those sweeps are not recorded).

    Raises:
        FileNotFoundError: a key-frame LiDAR or camera file is missing (the path is named).
        KeyError: a camera of ``cameras`` is not in the sample.
    """
    lidar_token = sample['data']['LIDAR_TOP']
    lidar_sd, lidar2ego, ego2global = _sensor_record(nusc, lidar_token)
    _check_file(osp.join(nusc.dataroot, lidar_sd['filename']), 'key-frame LIDAR_TOP')
    lidar2global = ego2global @ lidar2ego
    scene = nusc.get('scene', sample['scene_token'])
    info = dict(
        sample_idx=sample_idx,
        token=sample['token'],
        timestamp=sample['timestamp'] / 1e6,
        scene_token=sample['scene_token'],
        scene_name=scene['name'],
        prev=sample['prev'],
        next=sample['next'],
        ego2global=ego2global.tolist(),
        lidar_points=dict(
            lidar_path=osp.basename(lidar_sd['filename']),
            num_pts_feats=5,
            lidar2ego=lidar2ego.tolist(),
            sample_data_token=lidar_token,
            timestamp=lidar_sd['timestamp'] / 1e6),
        images=dict(),
        cam_sweeps=dict())
    for cam in cameras:
        if cam not in sample['data']:
            raise KeyError(f'camera {cam} is not in sample {sample["token"]} (has {sorted(sample["data"])})')
        cam_sd, cam2ego, cam_ego2global = _sensor_record(nusc, sample['data'][cam])
        _check_file(osp.join(nusc.dataroot, cam_sd['filename']), f'key-frame {cam}')
        cs = nusc.get('calibrated_sensor', cam_sd['calibrated_sensor_token'])
        lidar2cam = np.linalg.inv(cam_ego2global @ cam2ego) @ lidar2global
        info['images'][cam] = dict(
            img_path=osp.basename(cam_sd['filename']),
            height=int(cam_sd['height']),
            width=int(cam_sd['width']),
            cam2img=np.asarray(cs['camera_intrinsic'], dtype=np.float64).tolist(),
            lidar2cam=lidar2cam.tolist(),
            cam2ego=cam2ego.tolist(),
            ego2global=cam_ego2global.tolist(),
            sample_data_token=cam_sd['token'],
            timestamp=cam_sd['timestamp'] / 1e6)
        info['cam_sweeps'][cam] = _cam_sweeps(nusc, cam_sd, max_cam_sweeps)
    info['can_bus'] = can_bus_vector(nusc, lidar_sd, scene['name'], sample['timestamp'], nusc_can)
    info['lidar_sweeps'], missing = _lidar_sweeps(nusc, lidar_sd, lidar2global, max_sweeps)
    info['instances'] = _instances(nusc, sample, lidar_token, lidar2ego, ego2global,
                                   classes) if with_annotations else []
    if with_annotations:  # the per-camera boxes of mmdet3d's mono3d datasets (FCOS3D, PGD), as mmdet3d writes them
        from mmdet3d.datasets.convert_utils import get_nuscenes_2d_boxes
        info['cam_instances'] = {
            cam: get_nuscenes_2d_boxes(nusc, info['images'][cam]['sample_data_token'], ['', '1', '2', '3', '4'])
            for cam in cameras
        }
    return info, missing


def _can_bus_api(root_path: str, can_bus_root: Optional[str]):
    """The devkit's ``NuScenesCanBus`` on ``can_bus_root`` (or ``root_path``) when its ``can_bus/`` folder exists."""
    root = can_bus_root or root_path
    if not osp.isdir(osp.join(root, 'can_bus')):
        if can_bus_root is not None:
            raise FileNotFoundError(f'create_nuscenes_infos: no can_bus/ folder under can_bus_root={can_bus_root}')
        logger.warning(f'no CAN-bus expansion under {root_path}/can_bus: the 9 CAN values (acceleration, rotation '
                       'rate, velocity) of every can_bus vector are written as 0. The official BEVFormer converter '
                       'raises here; BEVFormer configs with use_can_bus (official weights) then see zeros where they '
                       'were trained on measured values. Download the nuScenes CAN bus expansion and pass '
                       '--can-bus-root.')
        return None
    from nuscenes.can_bus.can_bus_api import NuScenesCanBus
    return NuScenesCanBus(dataroot=root)


def warn_zero_can_bus(data_list: Sequence[dict], where: str, with_expansion: bool) -> int:
    """Warn (in the conversion summary) about key frames whose 9 CAN values of ``can_bus`` are all 0; returns their
    number. Official BEVFormer weights were trained on measured values there."""
    zero = [i for i in data_list if 'can_bus' in i and not np.any(np.asarray(i['can_bus'][7:16]))]
    if zero:
        why = ('scenes without CAN-bus messages in the expansion (the official keeps zeros there too)'
               if with_expansion else 'no CAN-bus expansion was read (--can-bus-root)')
        scenes = sorted({str(i.get('scene_name', '?')) for i in zero})
        logger.warning(f'{where}: {len(zero)} of {len(data_list)} key frames have can_bus acceleration / rotation '
                       f'rate / velocity all 0 ({why}; scenes {scenes[:10]}{" ..." if len(scenes) > 10 else ""})')
    return len(zero)


def _metainfo(version: str, classes: Sequence[str], split: str, scenes: Sequence[str]) -> dict:
    return dict(
        dataset='nuscenes',
        version=version,
        info_version=INFO_VERSION,
        split=split,
        scenes=list(scenes),
        categories={
            c: i
            for i, c in enumerate(classes)
        },
        cameras=list(NUSCENES_CAMERAS))


def create_nuscenes_infos(root_path: str,
                          version: str,
                          out_dir: str,
                          info_prefix: str = 'nuscenes',
                          train_scenes: Optional[Iterable[str]] = None,
                          val_scenes: Optional[Iterable[str]] = None,
                          max_sweeps: int = 10,
                          max_cam_sweeps: int = 10,
                          can_bus_root: Optional[str] = None) -> Dict[str, str]:
    """Write ``{info_prefix}_infos_{train,val}.pkl`` (mmdet3d v2 format) into ``out_dir``.

    Args:
        root_path (str): nuScenes root (holds ``samples/`` and ``{version}/``).
        version (str): ``'v1.0-mini'``, ``'v1.0-trainval'`` or ``'v1.0-test'``.
        out_dir (str): output folder (created).
        info_prefix (str): file name prefix. Default: 'nuscenes'.
        train_scenes, val_scenes (iterable[str], optional): scene names
            overriding the devkit's official split (see :func:`get_split_scenes`).
        max_sweeps (int): LiDAR sweeps looked up per key frame; records whose
            file is absent are counted, reported with a warning and skipped.
        max_cam_sweeps (int): camera sweeps recorded per key frame and camera
            (``cam_sweeps``; recorded from the tables even without their files,
            which the dataset checks when it uses them).
        can_bus_root (str, optional): folder holding the nuScenes CAN-bus expansion ``can_bus/``
            (default: ``root_path`` when ``root_path/can_bus`` exists); without it the 9 CAN values of
            ``can_bus`` are 0 (the official converter's fallback).

    Returns:
        dict[str, str]: split name -> written file path.
    """
    import mmengine
    from nuscenes import NuScenes
    nusc = NuScenes(version=version, dataroot=root_path, verbose=False)
    nusc_can = _can_bus_api(root_path, can_bus_root)
    train_scenes, val_scenes = get_split_scenes(nusc, version, train_scenes, val_scenes)
    scene_split = {nusc.field2token('scene', 'name', n)[0]: 'train' for n in train_scenes}
    scene_split.update({nusc.field2token('scene', 'name', n)[0]: 'val' for n in val_scenes})
    with_ann = version != 'v1.0-test'
    data_lists = dict(train=[], val=[])
    missing_sweeps = set()
    # walk every scene from its first sample so frames are in time order (progress bar over the key frames)
    scenes = [s for s in nusc.scene if s['token'] in scene_split]
    progress = mmengine.ProgressBar(sum(s['nbr_samples'] for s in scenes))
    for scene in scenes:
        split = scene_split[scene['token']]
        token = scene['first_sample_token']
        while token:
            sample = nusc.get('sample', token)
            info, missing = build_frame_info(
                nusc,
                sample,
                len(data_lists[split]),
                max_sweeps=max_sweeps,
                with_annotations=with_ann,
                max_cam_sweeps=max_cam_sweeps,
                nusc_can=nusc_can)
            missing_sweeps.update(missing)
            data_lists[split].append(info)
            token = sample['next']
            progress.update()
    print()
    if missing_sweeps:
        logger.warning(f'{len(missing_sweeps)} LiDAR sweep records listed in {version}/sample_data.json have no file '
                       f'under {root_path}; they are not recorded (lidar_sweeps stays empty for them)')
    os.makedirs(out_dir, exist_ok=True)
    written = {}
    for split, scenes in (('train', train_scenes), ('val', val_scenes)):
        if split == 'val' and version == 'v1.0-test':
            continue
        path = osp.join(out_dir, f'{info_prefix}_infos_{"test" if version == "v1.0-test" else split}.pkl')
        mmengine.dump(
            dict(metainfo=_metainfo(version, NUSCENES_CLASSES, split, scenes), data_list=data_lists[split]), path,
            'pkl')
        n_boxes = sum(len(i['instances']) for i in data_lists[split])
        logger.info(f'{path}: {len(data_lists[split])} key frames, {n_boxes} boxes, scenes {list(scenes)}')
        warn_zero_can_bus(data_lists[split], path, nusc_can is not None)
        written[split] = path
    return written


def update_infos(info_file: str,
                 root_path: str,
                 version: str,
                 out_file: Optional[str] = None,
                 max_cam_sweeps: int = 10) -> str:
    """Add the fields the temporal datasets use to an existing v2 info file (e.g. one written by mmdet3d's
    ``tools/create_data.py nuscenes``), from the nuScenes tables, without regenerating it.

    Adds per frame, where absent: ``scene_token``, ``scene_name``, ``prev`` / ``next`` (sample tokens, '' at
    scene ends); ``can_bus`` (BEVFormer's 18-d vector, :func:`can_bus_vector`); per camera ``ego2global`` (ego
    pose at the camera timestamp); ``cam_sweeps``. Everything
    already in the file is kept as it is. The output is written to a temporary file and renamed into place.

    Args:
        info_file (str): v2 info file (``metainfo`` + ``data_list``, frames with ``token``).
        root_path (str): nuScenes root with the ``version`` tables.
        version (str): e.g. ``'v1.0-mini'``.
        out_file (str, optional): output path. Default: overwrite ``info_file``.
        max_cam_sweeps (int): camera sweeps recorded per camera. Default: 10.

    Returns:
        str: the written path.

    Raises:
        ValueError: not a v2 info file, or a frame token that is not in the tables (file and frame named).
    """
    import mmengine
    from nuscenes import NuScenes
    data = mmengine.load(info_file)
    if not isinstance(data, dict) or 'data_list' not in data:
        raise ValueError(f'{info_file}: expected a v2 info file with metainfo and data_list '
                         f'(run mmdet3d update_infos_to_v2 first)')
    nusc = NuScenes(version=version, dataroot=root_path, verbose=False)
    nusc_can = _can_bus_api(root_path, None)
    added = dict(scene=0, cams=0, sweeps=0)
    for idx, info in enumerate(mmengine.track_iter_progress(data['data_list'])):
        try:
            sample = nusc.get('sample', info['token'])
        except KeyError:
            raise ValueError(f'{info_file}: frame {idx} token {info.get("token")!r} is not a sample of '
                             f'{root_path}/{version}') from None
        if any(k not in info for k in ('scene_token', 'prev', 'next')):
            scene = nusc.get('scene', sample['scene_token'])
            info.update(
                scene_token=sample['scene_token'], scene_name=scene['name'], prev=sample['prev'], next=sample['next'])
            added['scene'] += 1
        if 'can_bus' not in info:
            lidar_sd = nusc.get('sample_data', sample['data']['LIDAR_TOP'])
            scene_name = nusc.get('scene', sample['scene_token'])['name']
            info['can_bus'] = can_bus_vector(nusc, lidar_sd, scene_name, sample['timestamp'], nusc_can)
        info.setdefault('cam_sweeps', {})
        for cam, cam_info in info.get('images', {}).items():
            if cam not in sample['data']:
                continue
            cam_sd, _, cam_ego2global = _sensor_record(nusc, sample['data'][cam])
            if 'ego2global' not in cam_info:
                cam_info['ego2global'] = cam_ego2global.tolist()
                added['cams'] += 1
            if cam not in info['cam_sweeps']:
                info['cam_sweeps'][cam] = _cam_sweeps(nusc, cam_sd, max_cam_sweeps)
                added['sweeps'] += 1
    out_file = out_file or info_file
    tmp = out_file + '.tmp'
    mmengine.dump(data, tmp, 'pkl')
    os.replace(tmp, out_file)
    logger.info(f'{out_file}: temporal links added to {added["scene"]} frames, camera ego poses to '
                f'{added["cams"]} views, camera sweeps to {added["sweeps"]} views')
    warn_zero_can_bus(data['data_list'], out_file, nusc_can is not None)
    return out_file
