# BEVDet, small CPU version on the bundled nuScenes v1.0-mini tables: trains on scene-0523 (40 key frames)
# and evaluates on scene-0916 (the official mini_val split) with the nuScenes devkit. Same code as the
# paper-scale configs with smaller numbers: 6 views at 128x352, the GeoMIM Swin of the small GeoMIM
# pretraining config (configs/geomim/geomim_swin-s16-mv_1xb1-8e_nus-mini.py: width 64, depths 1-1-2-1,
# masking off, fused stride-16 output), LSS into a 1.6 m BEV grid over +-51.2 m (64x64, 59 depth bins),
# BEV encoder 32 -> 128 channels, CenterHead with the 6 CenterPoint task groups. Trained from scratch here;
# bevdet-swin-s16-geomim_1xb1-4e_nus-mini.py starts the backbone from a GeoMIM checkpoint.
#   python tools/create_data.py nuscenes --root-path ../shared/data/nuscenes --version v1.0-mini \
#       --out-dir data/nuscenes_infos
#   python tools/train.py projects/BEVDet/configs/bevdet-swin-s16_1xb1-4e_nus-mini.py \
#       --work-dir work_dirs/bevdet_small
#   python tools/test.py projects/BEVDet/configs/bevdet-swin-s16_1xb1-4e_nus-mini.py \
#       work_dirs/bevdet_small/epoch_4.pth --out-dir work_dirs/bevdet_small/results
_base_ = ['../../../configs/_base_/datasets/nus-mv-mini.py']
custom_imports = dict(imports=['mim3d_plugin', 'projects.BEVDet.bevdet'], allow_failed_imports=False)

point_cloud_range = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]
voxel_size = [0.2, 0.2, 8.0]
grid_config = dict(x=[-51.2, 51.2, 1.6], y=[-51.2, 51.2, 1.6], z=[-5.0, 3.0, 8.0], depth=[1.0, 60.0, 1.0])
input_size = (128, 352)
bev_channels = 32
out_size_factor = 8  # BEV cell 1.6 m = 8 x 0.2 m -> 64x64 maps
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
class_names = ['car', 'truck', 'construction_vehicle', 'bus', 'trailer', 'barrier', 'motorcycle', 'bicycle',
               'pedestrian', 'traffic_cone']
metainfo = dict(classes=class_names)

model = dict(
    type='BEVDet',
    data_preprocessor=dict(type='MultiViewDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
    img_backbone=dict(
        type='GeoMIMSwin', arch=dict(embed_dims=64, depths=[1, 1, 2, 1], num_heads=[2, 4, 8, 16]),
        # position embedding stored at the pretraining size (loads without resizing), interpolated to 128x352
        img_size=(96, 256), window_size=(8, 8, 8, 4), use_mask=False, out_indices=(), out_fused=True,
        drop_path_rate=0.1, init_cfg=None),
    img_neck=None,
    img_neck_out_index=0,  # the fused stride-16 map (4 * 64 channels)
    img_view_transformer=dict(type='LSSViewTransformer', grid_config=grid_config, input_size=input_size,
                              downsample=16, in_channels=4 * 64, out_channels=bev_channels),
    img_bev_encoder_backbone=dict(type='BEVResNet', in_channels=bev_channels,
                                  num_channels=[bev_channels * 2, bev_channels * 4, bev_channels * 8]),
    img_bev_encoder_neck=dict(type='LSSFPN', in_channels=bev_channels * 8 + bev_channels * 2, out_channels=128),
    pts_bbox_head=dict(
        type='ScaleNMSCenterHead',
        in_channels=128,
        tasks=tasks,
        common_heads=dict(reg=(2, 2), height=(1, 2), dim=(3, 2), rot=(2, 2), vel=(2, 2)),
        share_conv_channel=32,
        bbox_coder=dict(type='CenterPointBBoxCoder', pc_range=point_cloud_range[:2],
                        post_center_range=[-61.2, -61.2, -10.0, 61.2, 61.2, 10.0], max_num=500, score_threshold=0.1,
                        out_size_factor=out_size_factor, voxel_size=voxel_size[:2], code_size=9),
        separate_head=dict(type='SeparateHead', init_bias=-2.19, final_kernel=3),
        loss_cls=dict(type='mmdet.GaussianFocalLoss', reduction='mean'),
        loss_bbox=dict(type='mmdet.L1Loss', reduction='mean', loss_weight=0.25),
        norm_bbox=True),
    train_cfg=dict(pts=dict(point_cloud_range=point_cloud_range, grid_size=[512, 512, 1], voxel_size=voxel_size,
                            out_size_factor=out_size_factor, dense_reg=1, gaussian_overlap=0.1, max_objs=500,
                            min_radius=2, code_weights=[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.2, 0.2])),
    test_cfg=dict(pts=dict(pc_range=point_cloud_range[:2],
                           post_center_limit_range=[-61.2, -61.2, -10.0, 61.2, 61.2, 10.0],
                           max_per_img=500, max_pool_nms=False, min_radius=[4, 12, 10, 1, 0.85, 0.175],
                           score_threshold=0.1, out_size_factor=out_size_factor, voxel_size=voxel_size[:2],
                           pre_max_size=1000, post_max_size=83,
                           # BEVDet Scale-NMS (official configs/bevdet/bevdet-r50.py): per task NMS type, IoU
                           # threshold and box-size factor (per class); circle NMS for barriers (min_radius 1 m)
                           nms_type=['rotate', 'rotate', 'rotate', 'circle', 'rotate', 'rotate'],
                           nms_thr=[0.2, 0.2, 0.2, 0.2, 0.2, 0.5],
                           nms_rescale_factor=[1.0, [0.7, 0.7], [0.4, 0.55], 1.1, [1.0, 1.0], [4.5, 9.0]])))

train_dataloader = dict(dataset=dict(pipeline={{_base_.det_train_pipeline}}, metainfo=metainfo))
val_dataloader = dict(dataset=dict(metainfo=metainfo))
test_dataloader = val_dataloader
camera_only = dict(use_camera=True, use_lidar=False, use_radar=False, use_map=False, use_external=False)
val_evaluator = dict(modality=camera_only, jsonfile_prefix=None)
test_evaluator = val_evaluator

# layer-wise lr decay 0.8 on the backbone (GeoMIM fine-tuning recipe), AdamW, grad clip 5 (BEVDet)
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=5e-4, weight_decay=1e-2),
    constructor='LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.8, backbone='img_backbone'),
    clip_grad=dict(max_norm=5, norm_type=2))
max_epochs = 4
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='MultiStepLR', by_epoch=True, milestones=[3], gamma=0.1, begin=0, end=max_epochs),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=5),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='AtomicCheckpointHook', interval=1, max_keep_ckpts=2),
    sampler_seed=dict(type='DistSamplerSeedHook'))
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='gloo'))
log_processor = dict(type='LogProcessor', window_size=5, by_epoch=True)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='Det3DLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0)
custom_hooks = [dict(type='HeadClassOrderHook')]
