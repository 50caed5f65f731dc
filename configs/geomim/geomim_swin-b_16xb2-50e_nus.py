# GeoMIM pretraining, paper recipe: Swin-B, 256x704, 6 views, 180x180 BEV target, 50 epochs on nuScenes train,
# 16 GPUs x 2 samples (configs/_base_/schedules/geomim-pretrain_adamw-cosine_50e.py). As the official pretraining
# (Sense-X/GeoMIM pretrain/geomim_config/pretrain_base_50ep.yaml): CBGS resampling of the train set, drop path 0.0, a
# random BEV flip of points and cameras (RandomFlip3D), teacher voxels (120k, 160k); the teacher sees the key frame
# + 9 LiDAR sweeps with the time-lag column, and the depth targets come from the same points. Not reproduced: the
# official ObjectPaste pastes GT objects into the LiDAR target only (not into the images; a known defect of that
# pipeline), and its ImageGridMask has probability 0.
# bash tools/dist_train.sh configs/geomim/geomim_swin-b_16xb2-50e_nus.py 8   (x2 nodes)
# The pretrained backbone: encoder.backbone.* of the checkpoint (tools/model_converters/extract_backbone.py).
_base_ = [
    '../_base_/datasets/nus-mv-pretrain.py', '../_base_/models/geomim_swin-b.py',
    '../_base_/schedules/geomim-pretrain_adamw-cosine_50e.py', '../_base_/default_runtime.py'
]

model = dict(
    type='MaskedPretrainer',
    data_preprocessor=_base_.data_preprocessor,
    encoder=_base_.geomim_encoder,
    heads=dict(bev=_base_.geomim_bev_head))

# the teacher sees the key frame + 9 LiDAR sweeps with the time-lag column (as it was trained), range-filtered to
# its point cloud range; the depth targets come from the same points (official depth_lss_gt.py; PointsToMultiViewDepth
# max_time_lag=0 would keep the key frame only); then a random BEV flip of all points, folded into the cameras
# (official RandomFlip3D)
train_pipeline = [
    dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5),
    {{_base_.lidar_sweeps}},
    dict(type='PointsRangeFilter', point_cloud_range={{_base_.teacher_pc_range}}),
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True, with_attr_label=False),
    dict(type='LoadMultiViewImages', num_views=6),
    # resize 0.44 + (-0.06, 0.11) = 0.38-0.55 of 1600 px (official ImageAug3D), rotation 5.4 deg, flip
    dict(
        type='MultiViewImageAug',
        final_dim=(256, 704),
        resize_lim=(-0.06, 0.11),
        bot_pct_lim=(0.0, 0.0),
        rot_lim=(-5.4, 5.4),
        rand_flip=True),
    dict(type='PointsToMultiViewDepth'),
    dict(type='BEVAug', rot_lim=(0.0, 0.0), scale_lim=(1.0, 1.0), flip_dx_ratio=0.5, flip_dy_ratio=0.5),
    dict(type='PackMultiViewInputs', keys=['img', 'points', 'depth', 'gt_bboxes_3d', 'gt_labels_3d']),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=4,
    dataset=dict(
        _delete_=True,
        type='CBGSDataset',
        dataset=dict(
            type='NuScenesMultiViewDataset',
            data_root='data/nuscenes/',
            ann_file='nuscenes_infos_train.pkl',
            pipeline=train_pipeline,
            cameras={{_base_.cameras}},
            metainfo={{_base_.metainfo}},
            modality={{_base_.input_modality}},
            data_prefix={{_base_.data_prefix}},
            test_mode=False,
            filter_empty_gt=False,
            box_type_3d='LiDAR',
            backend_args=None)))

# a rolling iteration checkpoint besides the epoch ones, so a killed multi-day run loses minutes, not an epoch
iter_checkpoint = dict(
    type='AtomicCheckpointHook', by_epoch=False, interval=1000, filename_tmpl='iter_latest.pth', max_keep_ckpts=-1)
# pictures (masked views, student vs teacher BEV, depth) under vis_data/vis_image; TensorBoard: add
# dict(type='TensorboardVisBackend') to vis_backends
custom_hooks = [iter_checkpoint, dict(type='PretrainVisualizationHook', interval=1000)]
