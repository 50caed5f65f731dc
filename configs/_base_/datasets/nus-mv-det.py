# nuScenes multi-view camera + LiDAR data for detection at paper scale (BEVDet / BEVFormer fine-tuning: 6 views,
# 256x704, boxes, BEV augmentation, the devkit metric on val). Pretraining data: nus-mv-pretrain.py.
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
point_cloud_range = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]
backend_args = None
data_prefix = dict(pts='samples/LIDAR_TOP', sweeps='sweeps/LIDAR_TOP', **{cam: 'samples/' + cam for cam in cameras})

final_dim = (256, 704)  # (H, W) px after image augmentation
# BEVDet image-view augmentation (resize_lim is added to final_dim[1] / W)
ida_aug_conf = dict(
    final_dim=final_dim, resize_lim=(-0.06, 0.11), bot_pct_lim=(0.0, 0.0), rot_lim=(-5.4, 5.4), rand_flip=True)
# BEVDet global BEV augmentation (detection fine-tuning)
bda_aug_conf = dict(rot_lim=(-22.5, 22.5), scale_lim=(0.95, 1.05), flip_dx_ratio=0.5, flip_dy_ratio=0.5)
depth_range = (None, None)  # (min, max) m of the LiDAR depth maps; None = no limit

# detection fine-tuning: image and BEV augmentation, box filters, LiDAR depth maps (BEVDet's depth supervision)
train_pipeline = [
    dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5, backend_args=backend_args),
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True, with_attr_label=False),
    dict(type='LoadMultiViewImages', num_views=num_views, backend_args=backend_args),
    dict(type='MultiViewImageAug', **ida_aug_conf),
    dict(type='BEVAug', **bda_aug_conf),
    dict(type='ObjectRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectNameFilter', classes=class_names),
    dict(type='PointsToMultiViewDepth', min_depth=depth_range[0], max_depth=depth_range[1]),
    dict(type='PackMultiViewInputs', keys=['img', 'points', 'depth', 'gt_bboxes_3d', 'gt_labels_3d']),
]
test_pipeline = [
    dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5, backend_args=backend_args),
    dict(type='LoadMultiViewImages', num_views=num_views, backend_args=backend_args),
    dict(type='MultiViewImageAug', **ida_aug_conf, test_mode=True),
    dict(type='PointsToMultiViewDepth', min_depth=depth_range[0], max_depth=depth_range[1]),
    dict(type='PackMultiViewInputs', keys=['img', 'points', 'depth']),
]

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
        # training boxes with LiDAR or radar points (bbox_3d_isvalid), as the official BEVDet / BEVFormer configs
        use_valid_flag=True,
        filter_empty_gt=False,
        box_type_3d='LiDAR',
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='nuscenes_infos_val.pkl',
        pipeline=test_pipeline,
        cameras=cameras,
        metainfo=metainfo,
        modality=input_modality,
        data_prefix=data_prefix,
        test_mode=True,
        box_type_3d='LiDAR',
        backend_args=backend_args))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='NuScenesMetric',
    data_root=data_root,
    ann_file=data_root + 'nuscenes_infos_val.pkl',
    metric='bbox',
    backend_args=backend_args)
test_evaluator = val_evaluator
