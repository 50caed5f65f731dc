# MIM4D pretraining at paper scale (Zou et al., 2024), our variant of the official vs0.1 recipe
# (hustvl/MIM4D projects/configs/MIM4D/uvtr_convnext_s_vs0.1_pretrain.py) with a ConvNeXt-S: SparK masking
# (32x32 px, ratio 0.3) + FPN, voxel lifting in each frame's LiDAR frame (+-51.2 m x +-51.2 m x [-5, 3] m at
# 0.8 x 0.8 x 1.6 m, 64 depth bins, 32 channels), continuous scene flow with both official temporal targets
# (the current frame from the past, and a random earlier frame from all others), NeuS volume rendering in the
# official normalised scene (scene_scale = 1 / 51.2: inv_s init 20.1 and up-sampling 64 per unit), 512 rays
# per image from LiDAR targets at 3-50 m inside the volume, rays clipped to the volume with a 1 m near plane,
# 72 uniform + 24 importance samples in one step, L1 RGB x10 and depth x10 on the pseudo-3D and the own
# volume, no eikonal term; backbone lr x0.1, first stage frozen, drop path 0.2, EMA (as vs0.1).
# What differs from the official recipe, and why: 6 views at 256x704 with BEVDet's image augmentation (the
# official pretrains at 450x800 without augmentation) so that pretraining sees the input of the BEVDet
# fine-tuning configs; clips of key frames where camera sweep files are absent. The exact official recipe is
# mim4d_convnext-s-mask-vs0.075_8xb1-amp-12e_nus-450x800.py. nuScenes train, 8 GPUs x 1 sample, AdamW 4e-4,
# 12 epochs, fp16 (AmpOptimWrapper).
#   bash tools/dist_train.sh configs/mim4d/mim4d_convnext-s-mask_8xb1-amp-12e_nus-pretrain.py 8
# The pretrained backbone is `img_backbone.*` of the checkpoint; finetune with
#   img_backbone=dict(type='MaskConvNeXt', arch='small', ..., init_cfg=dict(type='Pretrained',
#                     checkpoint='<mim4d.pth>', prefix='img_backbone.'))
_base_ = ['../_base_/datasets/nus-mv.py', '../_base_/default_runtime.py']

final_dim = (256, 704)  # (H, W) px, multiples of the 32 px mask patches
ida_aug_conf = dict(final_dim=final_dim, resize_lim=(-0.06, 0.11), bot_pct_lim=(0.0, 0.0), rot_lim=(-5.4, 5.4),
                    rand_flip=True)
num_prev_frames = 2  # T earlier frames (official vs0.1: cam_sweep_num = 3 frames in all)
grid_config = dict(x=[-51.2, 51.2, 0.8], y=[-51.2, 51.2, 0.8], z=[-5.0, 3.0, 1.6], depth=[1.0, 52.2, 0.8])
volume_range = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]  # LiDAR frame, m (nuScenes ground at z ~ -1.84 m)
voxel_size = [0.8, 0.8, 1.6]
volume_channels = 32
convnext_small_in1k = ('https://download.openmmlab.com/mmclassification/v0/convnext/'
                       'convnext-small_32xb128-noema_in1k_20221208-4a618995.pth')

model = dict(
    type='MIM4D',
    num_frames=num_prev_frames + 1,
    volume_frame='lidar',
    temporal_targets=('current', 'random'),
    neck_level=0,  # FPN level of stride 16 (ConvNeXt stages 2 and 3 fused)
    data_preprocessor=dict(type='MultiViewDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_size_divisor=32),
    img_backbone=dict(
        type='MaskConvNeXt', arch='small', out_indices=(2, 3), drop_path_rate=0.2, frozen_stages=1,
        gap_before_final_norm=False,
        mask_ratio=0.3, mask_patch_size=32,
        init_cfg=dict(type='Pretrained', checkpoint=convnext_small_in1k, prefix='backbone.')),
    img_neck=dict(type='mmdet.FPN', in_channels=[384, 768], out_channels=256, num_outs=2),
    view_transform=dict(type='VoxelLifting', grid_config=grid_config, input_size=final_dim,
                        downsample=16, in_channels=256, lift_channels=64, out_channels=volume_channels, num_convs=2),
    temporal_builder=dict(type='SceneFlowPseudo3DBuilder', point_cloud_range=volume_range, voxel_size=voxel_size,
                          embed_dims=volume_channels, num_frames=num_prev_frames, num_layers=1, num_heads=4,
                          num_points=4, ffn_channels=64),
    render_head=dict(
        type='VolumeRenderingHead', point_cloud_range=volume_range, voxel_size=voxel_size,
        in_channels=volume_channels, scene_scale='auto', num_rays=512,
        collider=dict(type='AABBCollider', near_plane=1.0), target_radius=(3.0, 50.0), targets_inside_volume=True,
        uniform_sampler=dict(type='UniformSampler', num_samples=72),
        importance_sampler=dict(type='NeuSUpSampler', num_samples=24, num_steps=1, base_inv_s=64.0),
        sdf_field=dict(hidden_channels=64, num_layers=3, geo_feat_channels=16, init_variance=0.3),
        rgb_field=dict(hidden_channels=64, num_layers=3),
        loss_rgb_weight=10.0, loss_depth_weight=10.0, loss_eikonal_weight=0.0))

meta_keys = ('img_path', 'ori_shape', 'img_shape', 'pad_shape', 'sample_idx', 'lidar_path', 'token', 'scene_token',
             'prev', 'next', 'timestamp', 'cam_names', 'cam2img', 'lidar2cam', 'lidar2img', 'cam2ego',
             'img_aug_matrix', 'lidar2ego', 'ego2global', 'frame_valid', 'frame_timestamps', 'num_frames',
             'depth_frames', 'frame_sources')
train_pipeline = [
    dict(type='MultiFrameMultiView', num_prev_frames=num_prev_frames, depth_all_frames=True,
         frame_pipeline=[
             dict(type='LoadMultiViewImages', num_views=6),
             dict(type='MultiViewImageAug', **ida_aug_conf),
         ],
         target_pipeline=[
             dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5),
             dict(type='PointsToMultiViewDepth'),
         ]),
    dict(type='PackMultiViewInputs', keys=['img', 'points', 'depth'], meta_keys=meta_keys),
]
train_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    # camera sweeps ~0.1 s apart (official), key frames where the sweep files are absent (one warning)
    dataset=dict(type='NuScenesMultiFrameDataset', num_prev_frames=num_prev_frames, frame_source='cam_sweeps',
                 sweep_interval=1, pipeline=train_pipeline,
                 filter_empty_gt=False))

max_epochs = 12
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=4e-4, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={'img_backbone': dict(lr_mult=0.1), 'norm': dict(decay_mult=0.0),
                                    'frame_embed': dict(decay_mult=0.0)}),
    clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0 / 3, by_epoch=False, begin=0, end=500),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=4e-7, by_epoch=True, begin=0, end=max_epochs,
         convert_to_iter_based=True)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
# official EMAHook: decay 0.999 * (1 - exp(-updates / 2000)) on all weights and buffers = mmdet ExpMomentumEMA
# a rolling iteration checkpoint besides the epoch ones, so a killed multi-day run loses minutes, not an epoch
checkpoint_interval_iters = 1000
iter_checkpoint = dict(type='AtomicCheckpointHook', by_epoch=False, interval=checkpoint_interval_iters,
                       filename_tmpl='iter_latest.pth', max_keep_ckpts=-1)
custom_hooks = [dict(type='EMAHook', ema_type='mmdet.ExpMomentumEMA', momentum=0.001, gamma=2000,
                     update_buffers=True, priority=49), iter_checkpoint,
                # rendered RGB / depth of the rebuilt frame vs targets under vis_data/vis_image
                dict(type='PretrainVisualizationHook', interval=1000)]
val_cfg = None
val_dataloader = None
val_evaluator = None
test_cfg = None
test_dataloader = None
test_evaluator = None
auto_scale_lr = dict(enable=False, base_batch_size=8)
