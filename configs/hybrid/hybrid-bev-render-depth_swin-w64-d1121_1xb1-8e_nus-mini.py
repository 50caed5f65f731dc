# Hybrid pretraining, small CPU version on the bundled nuScenes frames (scene-0523, 40 key frames): the same model
# code as hybrid-bev-render-depth_swin-b_16xb1-24e_nus.py with smaller numbers: the small GeoMIM Swin (width 64,
# depths 1-1-2-1, 96x256 px, configs/geomim/geomim_swin-w64-d1121_1xb1-8e_nus-mini.py) on 3-key-frame clips (no
# camera sweeps on disk) with the small GeoMIM decoder / LSS / trained pillar teacher, the small MIM4D volume (1.6 m
# voxels, 16 channels, 128 rays) and a small Mask3D depth decoder (width 128, one block).
#   python tools/create_data.py nuscenes --root-path ../shared/data/nuscenes --version v1.0-mini \
#       --out-dir data/nuscenes_infos
#   python tools/train.py configs/teachers/centerpoint_pillar08_second_secfpn_1xb2-20e_nus-mini.py
#   python tools/train.py configs/hybrid/hybrid-bev-render-depth_swin-w64-d1121_1xb1-8e_nus-mini.py
# Single-head runs (same encoder, data, iterations): add
#   --cfg-options model.heads.render=None model.heads.depth=None   (bev only; likewise render / depth only)
_base_ = [
    './hybrid-bev-render-depth_swin-b_16xb1-24e_nus.py', '../_base_/datasets/nus-mv-mini.py',
    '../_base_/models/lidar-teacher_centerpoint-pillar08_nus-mini.py'
]

img_size = (96, 256)
encoder_channels = 4 * 64
volume_channels = 16
model = dict(
    encoder=dict(
        backbone=dict(
            arch=dict(_delete_=True, embed_dims=64, depths=[1, 1, 2, 1], num_heads=[2, 4, 8, 16]),
            img_size=img_size,
            window_size=(8, 8, 8, 4))),
    heads=dict(
        bev=dict(
            decoder=dict(
                in_channels=encoder_channels,
                embed_dims=128,
                num_heads=4,
                num_blocks=3,
                cva_indices=(0, 2),
                depth_fork_index=1,
                num_depth_blocks=1,
                depth_cva_indices=(0, ),
                semantic_channels=32,
                head_convs=1),
            view_transformer=dict(
                grid_config=dict(
                    x=[-51.2, 51.2, 0.8], y=[-51.2, 51.2, 0.8], z=[-5.0, 3.0, 8.0], depth=[1.0, 60.0, 0.5]),
                input_size=img_size,
                out_channels=32),
            teacher=dict(_delete_=True, **_base_.small_lidar_teacher),
            teacher_channels=_base_.small_teacher_channels,
            loss_bev=dict(patch_size=8)),
        render=dict(
            voxel_size=[1.6, 1.6, 1.6],
            view_transform=dict(
                grid_config=dict(depth=[1.0, 52.2, 1.6]),
                input_size=img_size,
                in_channels=encoder_channels,
                lift_channels=32,
                out_channels=volume_channels),
            temporal_builder=dict(embed_dims=volume_channels, ffn_channels=32),
            render_head=dict(
                in_channels=volume_channels,
                num_rays=128,
                uniform_sampler=dict(num_samples=32),
                importance_sampler=dict(num_samples=16),
                sdf_field=dict(hidden_channels=32, geo_feat_channels=8),
                rgb_field=dict(hidden_channels=32))),
        depth=dict(
            head=dict(
                decoder=dict(
                    patch_resolution=(img_size[0] // 16, img_size[1] // 16),
                    embed_dim=128,
                    decoder_embed_dim=64,
                    decoder_depth=1,
                    decoder_num_heads=2)),
            fusion=dict(
                in_channels=encoder_channels,
                embed_dims=128,
                depth_embed_dims=64,
                depth_num_layers=1,
                depth_num_heads=2))))

# data: the bundled v1.0-mini tables, 96x256 px, one clip a step, key frames (no camera sweeps on disk)
train_pipeline = [
    dict(
        type='MultiFrameMultiView',
        num_prev_frames=2,
        depth_all_frames=True,
        frame_pipeline=[
            dict(type='LoadMultiViewImages', num_views=6),
            dict(
                type='MultiViewImageAug',
                final_dim=img_size,
                resize_lim=(-0.02, 0.04),
                bot_pct_lim=(0.0, 0.0),
                rot_lim=(-5.4, 5.4),
                rand_flip=True),
        ],
        target_pipeline=[
            dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5),
            dict(type='PointsToMultiViewDepth'),
            {{_base_.lidar_sweeps}},
        ]),
    dict(type='PackMultiViewInputs', keys=['img', 'points', 'depth'], meta_keys={{_base_.clip_meta_keys}}),
]
train_dataloader = dict(
    **_base_.nus_mini_loader, dataset=dict(**_base_.nus_mini_train, pipeline=train_pipeline, frame_source='key_frames'))

# schedule: 8 epochs of 40 clips (320 iterations) as the small GeoMIM config, fp32, lr 2e-4
max_epochs = 8
optim_wrapper = dict(
    type='OptimWrapper',
    _delete_=True,
    optimizer=dict(_base_.optim_wrapper.optimizer, lr=2e-4),
    paramwise_cfg=dict(custom_keys={
        'norm': dict(decay_mult=0.0),
        'mask_token': dict(decay_mult=0.0),
        'absolute_pos_embed': dict(decay_mult=0.0)
    }),
    clip_grad=_base_.optim_wrapper.clip_grad)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        eta_min=1e-6,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(max_keep_ckpts=2))
custom_hooks = [dict(type='PretrainVisualizationHook', interval=40)]  # PNGs in vis_data/vis_image
randomness = dict(seed=0)
