# BEVDet-R50 (Huang et al., 2021, https://arxiv.org/abs/2112.11790) on nuScenes at paper scale:
# 6 views 256x704, ResNet-50 (ImageNet, torchvision) + FPN (stride 16, 512 ch) -> LSS view transformer
# (59 depth bins 1-60 m, 64 ch, 0.8 m BEV over +-51.2 m = 128x128) -> BEV encoder (BEVResNet + LSSFPN, 256 ch)
# -> mmdet3d CenterHead (6 task groups, CenterPoint coder, Gaussian focal + L1).
# Recipe as the official bevdet-r50 config (AdamW 2e-4, wd 1e-2, grad clip 5, 8 GPUs x 8 samples), with CBGS
# and EMA as the GeoMIM fine-tuning recipe (20 epochs). Data: mmdet3d layout under data/nuscenes/.
_base_ = ['../../../configs/_base_/datasets/nus-mv-det.py']
custom_imports = dict(imports=['mim3d_plugin', 'projects.BEVDet.bevdet'], allow_failed_imports=False)

point_cloud_range = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]
voxel_size = [0.1, 0.1, 0.2]
grid_config = dict(x=[-51.2, 51.2, 0.8], y=[-51.2, 51.2, 0.8], z=[-5.0, 3.0, 8.0], depth=[1.0, 60.0, 1.0])
input_size = (256, 704)
bev_channels = 64
out_size_factor = 8  # BEV cell 0.8 m = 8 x voxel 0.1 m -> 128x128 maps
tasks = [
    dict(num_class=1, class_names=['car']),
    dict(num_class=2, class_names=['truck', 'construction_vehicle']),
    dict(num_class=2, class_names=['bus', 'trailer']),
    dict(num_class=1, class_names=['barrier']),
    dict(num_class=2, class_names=['motorcycle', 'bicycle']),
    dict(num_class=2, class_names=['pedestrian', 'traffic_cone']),
]
# mmdet3d's CenterHead trains dataset label i as the i-th class of the concatenated tasks: the datasets list
# their classes in this (BEVDet's) order, and mmdet3d remaps the info files' labels to it. HeadClassOrderHook
# (custom_hooks) refuses to run when the two orders differ.
class_names = [
    'car', 'truck', 'construction_vehicle', 'bus', 'trailer', 'barrier', 'motorcycle', 'bicycle', 'pedestrian',
    'traffic_cone'
]
metainfo = dict(classes=class_names)

model = dict(
    type='BEVDet',
    data_preprocessor=dict(
        type='MultiViewDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
    img_backbone=dict(
        type='mmdet.ResNet',
        depth=50,
        num_stages=4,
        out_indices=(2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        with_cp=True,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    img_neck=dict(type='CustomFPN', in_channels=[1024, 2048], out_channels=512, out_ids=(0, )),
    # voxel index as the official voxel pooling (.long(): points down to z = -13 m pooled into the -5..3 m cell)
    img_view_transformer=dict(
        type='LSSViewTransformer',
        grid_config=grid_config,
        input_size=input_size,
        downsample=16,
        in_channels=512,
        out_channels=bev_channels,
        coord_rounding='trunc'),
    img_bev_encoder_backbone=dict(
        type='BEVResNet', in_channels=bev_channels, num_channels=[bev_channels * 2, bev_channels * 4,
                                                                  bev_channels * 8]),
    img_bev_encoder_neck=dict(type='LSSFPN', in_channels=bev_channels * 8 + bev_channels * 2, out_channels=256),
    pts_bbox_head=dict(
        type='ScaleNMSCenterHead',
        in_channels=256,
        tasks=tasks,
        common_heads=dict(reg=(2, 2), height=(1, 2), dim=(3, 2), rot=(2, 2), vel=(2, 2)),
        share_conv_channel=64,
        bbox_coder=dict(
            type='CenterPointBBoxCoder',
            pc_range=point_cloud_range[:2],
            post_center_range=[-61.2, -61.2, -10.0, 61.2, 61.2, 10.0],
            max_num=500,
            score_threshold=0.1,
            out_size_factor=out_size_factor,
            voxel_size=voxel_size[:2],
            code_size=9),
        separate_head=dict(type='SeparateHead', init_bias=-2.19, final_kernel=3),
        loss_cls=dict(type='mmdet.GaussianFocalLoss', reduction='mean'),
        loss_bbox=dict(type='mmdet.L1Loss', reduction='mean', loss_weight=0.25),
        norm_bbox=True),
    train_cfg=dict(
        pts=dict(
            point_cloud_range=point_cloud_range,
            grid_size=[1024, 1024, 40],
            voxel_size=voxel_size,
            out_size_factor=out_size_factor,
            dense_reg=1,
            gaussian_overlap=0.1,
            max_objs=500,
            min_radius=2,
            code_weights=[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.2, 0.2])),
    test_cfg=dict(
        pts=dict(
            pc_range=point_cloud_range[:2],
            post_center_limit_range=[-61.2, -61.2, -10.0, 61.2, 61.2, 10.0],
            max_per_img=500,
            max_pool_nms=False,
            min_radius=[4, 12, 10, 1, 0.85, 0.175],
            score_threshold=0.1,
            out_size_factor=out_size_factor,
            voxel_size=voxel_size[:2],
            pre_max_size=1000,
            post_max_size=83,
            # BEVDet Scale-NMS (official configs/bevdet/bevdet-r50.py): per task NMS type, IoU
            # threshold and box-size factor (per class); circle NMS for barriers (min_radius 1 m)
            nms_type=['rotate', 'rotate', 'rotate', 'circle', 'rotate', 'rotate'],
            nms_thr=[0.2, 0.2, 0.2, 0.2, 0.2, 0.5],
            nms_rescale_factor=[1.0, [0.7, 0.7], [0.4, 0.55], 1.1, [1.0, 1.0], [4.5, 9.0]])))

# BEVDet dev2.x (and GeoMIM's BEVDet fine-tunes) build the BEV, the box targets, the BEV augmentation and the
# results in the ego frame at the CAM_FRONT exposure (official tools/create_data_bevdet.py; its weights expect it):
# LiDARToEgoFrame after the image augmentation, before BEVAug. The detection pipelines of the dataset base otherwise.
ego_frame = dict(type='LiDARToEgoFrame', ego_cam='CAM_FRONT')
train_pipeline = [
    dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5),
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True, with_attr_label=False),
    dict(type='LoadMultiViewImages', num_views=6),
    dict(type='MultiViewImageAug', **_base_.ida_aug_conf),
    ego_frame,
    dict(type='BEVAug', **_base_.bda_aug_conf),
    dict(type='ObjectRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectNameFilter', classes=class_names),
    dict(type='PointsToMultiViewDepth'),
    dict(type='PackMultiViewInputs', keys=['img', 'points', 'depth', 'gt_bboxes_3d', 'gt_labels_3d']),
]
test_pipeline = [
    dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5),
    dict(type='LoadMultiViewImages', num_views=6),
    dict(type='MultiViewImageAug', **_base_.ida_aug_conf, test_mode=True),
    ego_frame,
    dict(type='PointsToMultiViewDepth'),
    dict(type='PackMultiViewInputs', keys=['img', 'points', 'depth']),
]
# CBGS class balancing
train_dataloader = dict(
    batch_size=8,
    dataset=dict(
        _delete_=True,
        type='CBGSDataset',
        dataset=dict(
            type='NuScenesMultiViewDataset',
            data_root='data/nuscenes/',
            ann_file='nuscenes_infos_train.pkl',
            pipeline=train_pipeline,
            cameras={{_base_.cameras}},
            metainfo=metainfo,
            modality={{_base_.input_modality}},
            data_prefix={{_base_.data_prefix}},
            test_mode=False,
            use_valid_flag=True,  # official: boxes with LiDAR or radar points
            filter_empty_gt=False,
            box_type_3d='LiDAR',
            backend_args=None)))
val_dataloader = dict(dataset=dict(metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader
# camera-only submission: all five modality keys of the nuScenes results format
camera_only = dict(use_camera=True, use_lidar=False, use_radar=False, use_map=False, use_external=False)
val_evaluator = dict(modality=camera_only)
test_evaluator = val_evaluator

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, weight_decay=1e-2),
    clip_grad=dict(max_norm=5, norm_type=2))
max_epochs = 20
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=200),
    dict(type='MultiStepLR', by_epoch=True, milestones=[16, 19], gamma=0.1, begin=0, end=max_epochs),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# EMA of the weights as the GeoMIM / BEVDet dev2.1 fine-tuning recipe (MEGVIIEMAHook: d = 0.999 * (1 - exp(-u / 2000)),
# u counted from 10560), swapped in for validation and test
custom_hooks = [
    dict(
        type='EMAHook',
        ema_type='MEGVIIEMA',
        decay=0.999,
        gamma=2000,
        init_updates=10560,
        update_buffers=True,
        priority=49),
    dict(type='HeadClassOrderHook')
]
auto_scale_lr = dict(enable=False, base_batch_size=64)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='AtomicCheckpointHook', interval=1, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'))
env_cfg = dict(
    cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0), dist_cfg=dict(backend='nccl'))
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='Det3DLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_level = 'INFO'
load_from = None
resume = False
