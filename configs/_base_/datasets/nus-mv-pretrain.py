# nuScenes multi-view camera + LiDAR data for pretraining at paper scale (GeoMIM / Mask3D: 6 views, 256x704, the key
# frame; MIM4D and the hybrids pack clips with MultiFrameMultiView in their own configs). Training only: no
# validation split, no detection metric.
# mmdet3d layout: data/nuscenes/{samples,sweeps,maps,v1.0-trainval} with the info files beside them:
# python tools/create_data.py nuscenes --root-path data/nuscenes --version v1.0-trainval --out-dir data/nuscenes
default_scope = 'mmdet3d'
custom_imports = dict(imports=['mim3d_plugin'], allow_failed_imports=False)

dataset_type = 'NuScenesMultiViewDataset'
data_root = 'data/nuscenes/'
class_names = [
    'car', 'truck', 'trailer', 'bus', 'construction_vehicle', 'bicycle', 'motorcycle', 'pedestrian', 'traffic_cone',
    'barrier'
]
cameras = ['CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK', 'CAM_BACK_LEFT', 'CAM_BACK_RIGHT']
num_views = len(cameras)
metainfo = dict(classes=class_names)
input_modality = dict(use_lidar=True, use_camera=True)
backend_args = None
data_prefix = dict(pts='samples/LIDAR_TOP', sweeps='sweeps/LIDAR_TOP', **{cam: 'samples/' + cam for cam in cameras})

final_dim = (256, 704)  # (H, W) px after image augmentation
# BEVDet image-view augmentation (resize_lim is added to final_dim[1] / W)
ida_aug_conf = dict(
    final_dim=final_dim, resize_lim=(-0.06, 0.11), bot_pct_lim=(0.0, 0.0), rot_lim=(-5.4, 5.4), rand_flip=True)
depth_range = (None, None)  # (min, max) m of the LiDAR depth maps; None = no limit
# images normalised with ImageNet RGB statistics (LoadMultiViewImages packs BGR)
data_preprocessor = dict(
    type='MultiViewDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True)

# images + points + LiDAR depth maps of the key frame
train_pipeline = [
    dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5, backend_args=backend_args),
    dict(type='LoadMultiViewImages', num_views=num_views, backend_args=backend_args),
    dict(type='MultiViewImageAug', **ida_aug_conf),
    dict(type='PointsToMultiViewDepth', min_depth=depth_range[0], max_depth=depth_range[1]),
    dict(type='PackMultiViewInputs', keys=['img', 'points', 'depth']),
]
# with a LiDAR teacher (GeoMIM): the key frame + 9 sweeps with column 4 = time lag (0 for the key frame), the input
# format mmdet3d's nuScenes LiDAR detectors are trained on, loaded before the depth maps so that the depth targets
# come from the same points as the teacher's input (official GeoMIM depth_lss_gt.py; PointsToMultiViewDepth
# max_time_lag=0 keeps the key frame only)
lidar_sweeps = dict(
    type='LoadLiDARSweeps',
    sweeps_num=9,
    load_dim=5,
    use_dim=[0, 1, 2, 3, 4],
    pad_empty_sweeps=True,
    remove_close=True,
    backend_args=backend_args)
teacher_train_pipeline = train_pipeline[:1] + [lidar_sweeps] + train_pipeline[1:]
# evaluation of a pretext task (Mask3D depth) or of a frozen backbone: the same frames without augmentation
test_pipeline = [
    dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5, backend_args=backend_args),
    dict(type='LoadMultiViewImages', num_views=num_views, backend_args=backend_args),
    dict(type='MultiViewImageAug', **ida_aug_conf, test_mode=True),
    dict(type='PointsToMultiViewDepth', min_depth=depth_range[0], max_depth=depth_range[1]),
    dict(type='PackMultiViewInputs', keys=['img', 'points', 'depth']),
]
# what the clip packer (MultiFrameMultiView) hands the model besides the images: per-view and per-frame geometry
clip_meta_keys = ('img_path', 'ori_shape', 'img_shape', 'pad_shape', 'sample_idx', 'lidar_path', 'token', 'scene_token',
                  'prev', 'next', 'timestamp', 'cam_names', 'cam2img', 'lidar2cam', 'lidar2img', 'cam2ego',
                  'img_aug_matrix', 'lidar2ego', 'ego2global', 'frame_valid', 'frame_timestamps', 'num_frames',
                  'depth_frames', 'frame_sources')

train_dataloader = dict(
    batch_size=2,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='nuscenes_infos_train.pkl',
        pipeline=train_pipeline,
        cameras=cameras,
        metainfo=metainfo,
        modality=input_modality,
        data_prefix=data_prefix,
        test_mode=False,
        filter_empty_gt=False,
        box_type_3d='LiDAR',
        backend_args=backend_args))
