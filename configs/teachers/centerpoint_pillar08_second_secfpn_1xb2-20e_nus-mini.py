# GeoMIM's LiDAR teacher, small CPU version: a CenterPoint pillar detector (mmdet3d's
# centerpoint_pillar02_second_secfpn_nus model) at 0.8 m pillars over +-51.2 m (128x128 pillars), trained on
# the bundled train scene (scene-0523, 40 key frames) and evaluated with the devkit on mini_val (scene-0916).
# Same mmdet3d code as the model-zoo detector; smaller numbers: pillars 0.2 -> 0.8 m, SECOND 2 stages (64, 128)
# with strides (1, 2), so its stride-2 stage is the 64x64 (1.6 m) BEV grid of the small GeoMIM config, FPN and head
# on that grid (out_size_factor 2), 20 epochs. Input as mmdet3d's nuScenes detectors: key frame + 9 sweeps with
# the time-lag column (the bundled data has no sweep files: key frame only, with one warning).
#   python tools/train.py configs/teachers/centerpoint_pillar08_second_secfpn_1xb2-20e_nus-mini.py
#   python tools/test.py configs/teachers/centerpoint_pillar08_second_secfpn_1xb2-20e_nus-mini.py \
#       work_dirs/centerpoint_pillar08_second_secfpn_1xb2-20e_nus-mini/epoch_20.pth
# The small GeoMIM config (configs/geomim/geomim_swin-w64-d1121_1xb1-8e_nus-mini.py) distils its BEV features.
_base_ = ['mmdet3d::_base_/models/centerpoint_pillar02_second_secfpn_nus.py', '../_base_/default_runtime.py']
default_scope = 'mmdet3d'
custom_imports = dict(imports=['mim3d_plugin'], allow_failed_imports=False)

nus_root = '../shared/data/nuscenes/'
info_root = 'data/nuscenes_infos/'
point_cloud_range = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]
voxel_size = [0.8, 0.8, 8.0]
grid_size = [128, 128, 1]
out_size_factor = 2  # head on the 64x64 (1.6 m) grid
# mmdet3d's CenterHead trains dataset label i as the i-th class of the concatenated tasks: list the classes in the
# task order (mmdet3d's CenterPoint configs do the same); HeadClassOrderHook refuses a mismatch
class_names = [
    'car', 'truck', 'construction_vehicle', 'bus', 'trailer', 'barrier', 'motorcycle', 'bicycle', 'pedestrian',
    'traffic_cone'
]
metainfo = dict(classes=class_names, version='v1.0-mini')  # mmdet3d's NuScenesDataset defaults to v1.0-trainval
lidar_only = dict(use_lidar=True, use_camera=False)
data_prefix = dict(pts=nus_root + 'samples/LIDAR_TOP', sweeps=nus_root + 'sweeps/LIDAR_TOP', img='')

model = dict(
    data_preprocessor=dict(
        type='PortableDet3DDataPreprocessor',  # mmdet3d's, with a PyTorch voxelization where mmcv's kernel is absent
        voxel_layer=dict(
            max_num_points=32, voxel_size=voxel_size, max_voxels=(16384, 16384), point_cloud_range=point_cloud_range)),
    pts_voxel_encoder=dict(voxel_size=voxel_size, point_cloud_range=point_cloud_range),
    pts_middle_encoder=dict(output_shape=grid_size[1::-1]),
    pts_backbone=dict(out_channels=[64, 128], layer_nums=[3, 5], layer_strides=[1, 2]),
    pts_neck=dict(in_channels=[64, 128], out_channels=[128, 128], upsample_strides=[0.5, 1]),
    pts_bbox_head=dict(
        in_channels=256,
        bbox_coder=dict(pc_range=point_cloud_range[:2], out_size_factor=out_size_factor, voxel_size=voxel_size[:2])),
    train_cfg=dict(
        pts=dict(
            point_cloud_range=point_cloud_range,
            grid_size=grid_size,
            voxel_size=voxel_size,
            out_size_factor=out_size_factor)),
    test_cfg=dict(pts=dict(pc_range=point_cloud_range[:2], out_size_factor=out_size_factor, voxel_size=voxel_size[:2])))

lidar_sweeps = dict(
    type='LoadLiDARSweeps', sweeps_num=9, load_dim=5, use_dim=[0, 1, 2, 3, 4], pad_empty_sweeps=True, remove_close=True)
train_pipeline = [
    dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5),
    lidar_sweeps,
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True, with_attr_label=False),
    # mmdet3d CenterPoint nuScenes augmentation (no GT-sampling database for the two bundled scenes)
    dict(
        type='GlobalRotScaleTrans',
        rot_range=[-0.3925, 0.3925],
        scale_ratio_range=[0.95, 1.05],
        translation_std=[0, 0, 0]),
    dict(type='RandomFlip3D', sync_2d=False, flip_ratio_bev_horizontal=0.5, flip_ratio_bev_vertical=0.5),
    dict(type='PointsRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectNameFilter', classes=class_names),
    dict(type='PointShuffle'),
    dict(type='Pack3DDetInputs', keys=['points', 'gt_bboxes_3d', 'gt_labels_3d']),
]
test_pipeline = [
    dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5),
    lidar_sweeps,
    dict(type='PointsRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='Pack3DDetInputs', keys=['points']),
]
dataset = dict(
    type='NuScenesDataset',
    data_root='',
    metainfo=metainfo,
    modality=lidar_only,
    data_prefix=data_prefix,
    box_type_3d='LiDAR',
    backend_args=None)
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        **dataset,
        ann_file=info_root + 'nuscenes_infos_train.pkl',
        pipeline=train_pipeline,
        test_mode=False,
        filter_empty_gt=False))
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(**dataset, ann_file=info_root + 'nuscenes_infos_val.pkl', pipeline=test_pipeline, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='NuScenesMetric',
    data_root=nus_root,
    ann_file=info_root + 'nuscenes_infos_val.pkl',
    metric='bbox',
    modality=lidar_only,
    jsonfile_prefix=None,
    backend_args=None)
test_evaluator = val_evaluator

# mmdet3d's CenterPoint recipe (AdamW, grad clip 35) with a one-cycle-like warmup + cosine for the short run
max_epochs = 20
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.01),
    clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=40),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        eta_min=2e-5,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
custom_hooks = [dict(type='HeadClassOrderHook')]
randomness = dict(seed=0)
