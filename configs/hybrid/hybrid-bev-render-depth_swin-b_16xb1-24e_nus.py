# Hybrid 3D-aware pretraining, paper scale: one GeoMIM Swin-B encoder (complementary 32 px unit masks, ratio 0.5,
# 256x704, 6 views) on 3-frame clips, trained at once by three pretext heads of MaskedPretrainer:
#   bev    LiDAR-BEV distillation: GeoMIM's decoder (8 blocks, 3 CVA) + LSS (0.3 m, +-54 m) regressing the frozen
#          mmdet3d CenterPoint voxel0075 BEV of the current frame (configs/_base_/models/geomim_swin-b.py, unchanged)
#   render temporal volume rendering: MIM4D's voxel lifting (0.8 m x 0.8 m x 1.6 m over +-51.2 m, LiDAR frame),
#          scene-flow temporal builder and NeuS renderer (configs/mim4d/mim4d_convnext-s-mask_8xb1-amp-12e_nus-pretrain.py,
#          same numbers; the lifted map is the Swin's fused stride-16 map, 512 channels, instead of the ConvNeXt FPN)
#   depth  LiDAR-depth prior: Mask3D's depth encoder (384 wide, 2 layers, 75 % of the depth patches dropped) fused
#          with the Swin map at 16 px patches, and its depth decoder (512 wide, 8 blocks), masked L1 on log depth
#          (configs/mask3d/mask3d_vit-b-p16_8xb4-amp-coslr-50e_nus.py numbers)
# The encoder runs once per clip; the bev and depth heads use the current frame's views, render all frames.
# Data: the MIM4D clip (camera sweeps ~0.1 s apart, key frames where absent) with GeoMIM's image augmentation;
# the teacher sees the key frame + 9 LiDAR sweeps as it was trained; the earlier frames' depth maps project those
# points (MIM4D's static-scene assumption, here with the sweeps). No BEV flip (it would break the frame-to-frame
# poses) and no CBGS (MIM4D has none). Schedule: AdamW 1e-4 (GeoMIM's 2e-4 at 32 samples, scaled to 16 clips),
# 500-iteration warm-up, cosine, grad clip 35, AMP; 24 epochs (GeoMIM 50, MIM4D 12: not tuned, no GPU here).
# Single-head ablations at equal compute: --cfg-options model.heads.render=None model.heads.depth=None (etc.).
# bash tools/dist_train.sh configs/hybrid/hybrid-bev-render-depth_swin-b_16xb1-24e_nus.py 8   (x2 nodes)
_base_ = ['../_base_/datasets/nus-mv.py', '../_base_/models/geomim_swin-b.py', '../_base_/default_runtime.py']

num_prev_frames = 2
num_frames = num_prev_frames + 1
img_size = (256, 704)
encoder_channels = 4 * 128  # GeoMIMSwin fused stride-16 map of Swin-B
volume_grid = dict(x=[-51.2, 51.2, 0.8], y=[-51.2, 51.2, 0.8], z=[-5.0, 3.0, 1.6], depth=[1.0, 52.2, 0.8])
volume_range = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]  # LiDAR frame, m
voxel_size = [0.8, 0.8, 1.6]
volume_channels = 32
patch_size = 16

bev_head = dict(type='LiDARBEVDistillHead', **{k: _base_.model[k] for k in (
    'decoder', 'view_transformer', 'teacher', 'teacher_channels', 'loss_bev', 'depth_loss_weight')})
render_head = dict(
    type='TemporalRenderingHead', num_frames=num_frames, volume_frame='lidar', temporal_targets=('current', 'random'),
    view_transform=dict(type='VoxelLifting', grid_config=volume_grid, input_size=img_size, downsample=16,
                        in_channels=encoder_channels, lift_channels=64, out_channels=volume_channels, num_convs=2),
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
depth_head = dict(
    type='DepthPriorHead',
    head=dict(type='Mask3DHead', patch_size=patch_size, depth_norm='log', depth_norm_scale=1.0, loss_region='masked',
              decoder=dict(type='Mask3DPretrainDecoder', patch_resolution=(img_size[0] // patch_size,
                                                                           img_size[1] // patch_size),
                           embed_dim=768, decoder_embed_dim=512, decoder_depth=8, decoder_num_heads=16)),
    fusion=dict(type='DepthTokenFusion', in_channels=encoder_channels, embed_dims=768, patch_size=patch_size,
                depth_mask_ratio=0.75, depth_embed_dims=384, depth_num_layers=2, depth_num_heads=6))

model = dict(
    _delete_=True,
    type='MaskedPretrainer',
    num_frames=num_frames,
    data_preprocessor=_base_.model.data_preprocessor,
    encoder=dict(type='UnitMaskSwinEncoder', backbone=_base_.model.backbone),
    heads=dict(bev=bev_head, render=render_head, depth=depth_head),
    loss_weights=dict(bev=1.0, render=1.0, depth=1.0))

meta_keys = ('img_path', 'ori_shape', 'img_shape', 'pad_shape', 'sample_idx', 'lidar_path', 'token', 'scene_token',
             'prev', 'next', 'timestamp', 'cam_names', 'cam2img', 'lidar2cam', 'lidar2img', 'cam2ego',
             'img_aug_matrix', 'lidar2ego', 'ego2global', 'frame_valid', 'frame_timestamps', 'num_frames',
             'depth_frames', 'frame_sources')
train_pipeline = [
    dict(type='MultiFrameMultiView', num_prev_frames=num_prev_frames, depth_all_frames=True,
         frame_pipeline=[
             dict(type='LoadMultiViewImages', num_views=6),
             dict(type='MultiViewImageAug', final_dim=img_size, resize_lim=(-0.06, 0.11), bot_pct_lim=(0.0, 0.0),
                  rot_lim=(-5.4, 5.4), rand_flip=True),
         ],
         target_pipeline=[
             dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5),
             dict(type='PointsToMultiViewDepth'),
             _base_.lidar_sweeps,
         ]),
    dict(type='PackMultiViewInputs', keys=['img', 'points', 'depth'], meta_keys=meta_keys),
]
train_dataloader = dict(
    batch_size=1, num_workers=4, persistent_workers=True,
    dataset=dict(type='NuScenesMultiFrameDataset', num_prev_frames=num_prev_frames, frame_source='cam_sweeps',
                 sweep_interval=1, pipeline=train_pipeline, filter_empty_gt=False))

max_epochs = 24
base_lr = 1e-4
optim_wrapper = dict(
    type='AmpOptimWrapper', loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=base_lr, betas=(0.9, 0.999), weight_decay=0.01),
    clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0 / 3, by_epoch=False, begin=0, end=500),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=base_lr * 1e-3, by_epoch=True, begin=0, end=max_epochs,
         convert_to_iter_based=True)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
iter_checkpoint = dict(type='AtomicCheckpointHook', by_epoch=False, interval=1000, filename_tmpl='iter_latest.pth',
                       max_keep_ckpts=-1)
# each head's pictures (masked views, student vs teacher BEV, renderings, decoded depth) under vis_data/vis_image
custom_hooks = [iter_checkpoint, dict(type='PretrainVisualizationHook', interval=1000)]
val_cfg = None
val_dataloader = None
val_evaluator = None
test_cfg = None
test_dataloader = None
test_evaluator = None
auto_scale_lr = dict(enable=False, base_batch_size=16)
