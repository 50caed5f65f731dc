# BEVFormer-base (Li et al., ECCV 2022, https://arxiv.org/abs/2203.17270) on nuScenes at paper scale:
# 6 views 900x1600, ResNet-101-DCN (FCOS3D init) + FPN (4 levels, 256 ch) -> 6 encoder layers over a
# 200x200 BEV (0.512 m cells, +-51.2 m), 4 pillar heights, temporal self-attention to the ego-aligned BEV of
# the previous key frames (queue of 4 frames: 3 earlier ones built without gradient) -> 6-layer deformable
# DETR decoder, 900 object queries, Hungarian assignment, focal + L1 losses (official bevformer_base.py).
# Recipe: AdamW 2e-4 (backbone x0.1), wd 0.01, grad clip 35, 500-iter linear warmup + cosine, 24 epochs,
# 8 GPUs x 1 sample. Official: 41.6 mAP / 51.7 NDS on nuScenes val.
# Data: mmdet3d layout under data/nuscenes/ (python tools/create_data.py nuscenes --root-path data/nuscenes
# --version v1.0-trainval --out-dir data/nuscenes). Pretrained backbone: set `load_from` or the backbone
# init_cfg to the FCOS3D R101-DCN checkpoint (official: ckpts/r101_dcn_fcos3d_pretrain.pth).
_base_ = ['../../../configs/_base_/datasets/nus-mv-det.py', '../../../configs/_base_/default_runtime.py']
custom_imports = dict(imports=['mim3d_plugin', 'projects.BEVFormer.bevformer'], allow_failed_imports=False)

point_cloud_range = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]
post_center_range = [-61.2, -61.2, -10.0, 61.2, 61.2, 10.0]
bev_shape = (200, 200)  # (Y, X) cells
embed_dims = 256
ffn_dims = 512
num_levels = 4
num_cams = 6
queue_length = 4  # frames per sample: the current key frame and 3 earlier ones
final_dim = (900, 1600)  # (H, W) px fed to the network (full resolution)

# caffe-style normalisation of the FCOS3D-initialised ResNet-101-DCN
# images padded to multiples of 32 px (official PadMultiViewImage(size_divisor=32): 900x1600 -> 928x1600)
data_preprocessor = dict(
    type='MultiViewDataPreprocessor',
    mean=[103.530, 116.280, 123.675],
    std=[1.0, 1.0, 1.0],
    bgr_to_rgb=False,
    pad_size_divisor=32)
img_backbone = dict(
    type='mmdet.ResNet',
    depth=101,
    num_stages=4,
    out_indices=(1, 2, 3),
    frozen_stages=1,
    norm_cfg=dict(type='BN2d', requires_grad=False),
    norm_eval=True,
    style='caffe',
    dcn=dict(type='PortableDCNv2', deform_groups=1, fallback_on_stride=False),
    stage_with_dcn=(False, False, True, True))
img_neck = dict(
    type='mmdet.FPN',
    in_channels=[512, 1024, 2048],
    out_channels=embed_dims,
    start_level=0,
    add_extra_convs='on_output',
    num_outs=num_levels,
    relu_before_extra_convs=True)

_ffn = dict(
    embed_dims=embed_dims,
    feedforward_channels=ffn_dims,
    num_fcs=2,
    ffn_drop=0.1,
    act_cfg=dict(type='ReLU', inplace=True))
model = dict(
    type='BEVFormer',
    data_preprocessor=data_preprocessor,
    img_backbone=img_backbone,
    img_neck=img_neck,
    grid_mask=dict(type='ImageGridMask', use_h=True, use_w=True, rotate=1, offset=False, ratio=0.5, mode=1, prob=0.7),
    use_temporal=True,
    pts_bbox_head=dict(
        type='BEVFormerHead',
        use_can_bus=True,  # official CAN-bus MLP on the BEV queries (info field can_bus; CAN values 0 without the
        # CAN-bus expansion, as the official converter)
        num_classes=10,
        embed_dims=embed_dims,
        num_query=900,
        bev_shape=bev_shape,
        point_cloud_range=point_cloud_range,
        encoder=dict(
            num_layers=6,
            num_points_in_pillar=4,
            num_cams=num_cams,
            num_feature_levels=num_levels,
            layer_cfg=dict(
                temporal_self_attention=dict(
                    type='TemporalSelfAttention',
                    embed_dims=embed_dims,
                    num_heads=8,
                    num_levels=1,
                    num_points=4,
                    dropout=0.1),
                spatial_cross_attention=dict(
                    type='SpatialCrossAttention',
                    embed_dims=embed_dims,
                    dropout=0.1,
                    deformable_attention=dict(
                        type='MSDeformableAttention3D',
                        embed_dims=embed_dims,
                        num_heads=8,
                        num_levels=num_levels,
                        num_points=8)),
                ffn=_ffn)),
        decoder=dict(
            num_layers=6,
            layer_cfg=dict(
                self_attn_cfg=dict(embed_dims=embed_dims, num_heads=8, dropout=0.1, batch_first=True),
                cross_attn_cfg=dict(embed_dims=embed_dims, num_heads=8, num_levels=1, num_points=4, batch_first=True),
                ffn_cfg=_ffn)),
        bbox_coder=dict(type='NMSFreeBBox3DCoder', post_center_range=post_center_range, max_num=300, num_classes=10),
        assigner=dict(
            type='HungarianBBox3DAssigner',
            match_costs=[dict(type='mmdet.FocalLossCost', weight=2.0),
                         dict(type='BBox3DL1MatchCost', weight=0.25)]),
        loss_cls=dict(type='PortableFocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0),
        loss_bbox=dict(type='mmdet.L1Loss', loss_weight=0.25),
        code_weights=[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.2, 0.2]))

# ---------------------------------------------------------------- data: clips of `queue_length` key frames
# BEVFormer uses no random geometric image augmentation (ImageGridMask is in the model); each frame's own
# lidar2img carries its (deterministic) resize.
img_aug = dict(
    type='MultiViewImageAug',
    final_dim=final_dim,
    resize_lim=(0.0, 0.0),
    bot_pct_lim=(0.0, 0.0),
    rot_lim=(0.0, 0.0),
    rand_flip=False)
# official training frames: photometric distortion of every view (PhotoMetricDistortionMultiViewImage) before the
# geometric augmentation
frame_pipeline = [
    dict(type='LoadMultiViewImages', num_views=num_cams, backend_args={{_base_.backend_args}}),
    dict(type='MultiViewPhotoMetricDistortion'), img_aug
]
test_frame_pipeline = [
    dict(type='LoadMultiViewImages', num_views=num_cams, backend_args={{_base_.backend_args}}),
    dict(img_aug, test_mode=True)
]
meta_keys = ('img_path', 'ori_shape', 'img_shape', 'pad_shape', 'scale_factor', 'box_mode_3d', 'box_type_3d',
             'sample_idx', 'lidar_path', 'token', 'scene_token', 'prev', 'next', 'timestamp', 'num_views', 'cam2img',
             'lidar2cam', 'lidar2img', 'cam2ego', 'img_aug_matrix', 'lidar2ego', 'ego2global', 'num_frames',
             'frame_valid', 'frame_timestamps', 'can_bus')
train_pipeline = [
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True, with_attr_label=False),
    dict(type='MultiFrameMultiView', frame_pipeline=frame_pipeline, num_prev_frames=queue_length - 1),
    dict(type='ObjectRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectNameFilter', classes={{_base_.class_names}}),
    dict(type='PackMultiViewInputs', keys=['img', 'gt_bboxes_3d', 'gt_labels_3d'], meta_keys=meta_keys),
]
test_pipeline = [
    dict(type='MultiFrameMultiView', frame_pipeline=test_frame_pipeline, num_prev_frames=queue_length - 1),
    dict(type='PackMultiViewInputs', keys=['img'], meta_keys=meta_keys),
]
train_dataloader = dict(
    batch_size=1,
    num_workers=4,
    # official: queue_length - 1 earlier frames drawn at random among the queue_length previous ones
    dataset=dict(
        type='NuScenesMultiFrameDataset',
        num_prev_frames=queue_length - 1,
        prev_frame_pool=queue_length,
        pipeline=train_pipeline,
        modality=dict(use_lidar=False, use_camera=True)))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    dataset=dict(
        type='NuScenesMultiFrameDataset',
        num_prev_frames=queue_length - 1,
        pipeline=test_pipeline,
        modality=dict(use_lidar=False, use_camera=True)))
test_dataloader = val_dataloader
# NuScenesMetric from the dataset base, camera-only submission meta; for the test server:
# tools/test.py CONFIG CKPT --format-only --out-dir DIR  (format_only=True -> DIR/pred_instances_3d/results_nusc.json)
val_evaluator = dict(modality=dict(use_camera=True, use_lidar=False))
test_evaluator = val_evaluator

# ---------------------------------------------------------------- schedule (official: 24 epochs)
max_epochs = 24
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={'img_backbone': dict(lr_mult=0.1)}),
    clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0 / 3, by_epoch=False, begin=0, end=500),
    dict(
        type='CosineAnnealingLR',
        eta_min_ratio=1e-3,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        T_max=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(enable=False, base_batch_size=8)
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook', interval=1, max_keep_ckpts=3))
