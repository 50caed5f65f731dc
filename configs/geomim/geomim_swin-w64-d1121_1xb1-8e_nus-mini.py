# GeoMIM pretraining, small CPU version on the bundled nuScenes frames (scene-0523, 40 key frames): the same model
# code as geomim_swin-b_16xb2-50e_nus.py with smaller numbers: a 4-stage GeoMIM Swin of width 64 and depths 1-1-2-1
# (swin-w64-d1121) at 96x256 px, a 3-block decoder of width 128 (3 CVA blocks), LSS into a 0.8 m grid over +-51.2 m
# (128x128, stride 2 -> 64x64). Teacher: the small CenterPoint pillar detector trained by
# configs/teachers/centerpoint_pillar08_second_secfpn_1xb2-20e_nus-mini.py (0.8 m pillars); the target is its
# stride-2 SECOND stage (128 x 64 x 64, the first stage with spatial context: a pillar detector has no 3D sparse
# encoder, whose output is the paper's target).
#   python tools/create_data.py nuscenes --root-path ../shared/data/nuscenes --version v1.0-mini \
#       --out-dir data/nuscenes_infos
#   python tools/train.py configs/teachers/centerpoint_pillar08_second_secfpn_1xb2-20e_nus-mini.py
#   python tools/train.py configs/geomim/geomim_swin-w64-d1121_1xb1-8e_nus-mini.py
_base_ = [
    './geomim_swin-b_16xb2-50e_nus.py', '../_base_/datasets/nus-mv-mini.py',
    '../_base_/models/lidar-teacher_centerpoint-pillar08_nus-mini.py'
]

# ---- data: the bundled v1.0-mini tables, 96x256 px, batch 1, no CBGS resampling, no BEV flip and no boxes (the
# paper pipeline otherwise: the teacher's key frame + sweeps with time lags cropped to the small teacher's range, and
# the depth targets from the same points; the bundled data holds no sweep files, so the key frame only)
img_size = (96, 256)
train_pipeline = [
    dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5),
    {{_base_.lidar_sweeps}},
    dict(type='PointsRangeFilter', point_cloud_range={{_base_.teacher_range}}),
    dict(type='LoadMultiViewImages', num_views=6),
    dict(
        type='MultiViewImageAug',
        final_dim=img_size,
        resize_lim=(-0.02, 0.04),
        bot_pct_lim=(0.0, 0.0),
        rot_lim=(-5.4, 5.4),
        rand_flip=True),
    dict(type='PointsToMultiViewDepth'),
    dict(type='PackMultiViewInputs', keys=['img', 'points', 'depth']),
]
train_dataloader = dict(
    **_base_.nus_mini_loader,
    dataset=dict(
        _base_.train_dataloader.dataset.dataset, _delete_=True, **_base_.nus_mini_train, pipeline=train_pipeline))

# ---- model: the same modules with smaller numbers, and the small trained teacher
model = dict(
    encoder=dict(
        backbone=dict(
            arch=dict(_delete_=True, embed_dims=64, depths=[1, 1, 2, 1], num_heads=[2, 4, 8, 16]),
            img_size=img_size,
            window_size=(8, 8, 8, 4))),
    heads=dict(
        bev=dict(
            decoder=dict(
                in_channels=4 * 64,
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
            loss_bev=dict(patch_size=8))))

# ---- schedule: 8 epochs of 40 frames (320 iterations): a 20-iteration warm-up from 0.1, cosine to 1e-6, constant
# momentum, weight-decay exclusions as mmpretrain's Swin recipe, checkpoints every epoch
max_epochs = 8
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            'absolute_pos_embed': dict(decay_mult=0.0),
            'relative_position_bias_table': dict(decay_mult=0.0),
            'mask_token': dict(decay_mult=0.0),
            'norm': dict(decay_mult=0.0)
        }))
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
custom_hooks = [dict(type='PretrainVisualizationHook', interval=80)]  # PNGs in vis_data/vis_image
randomness = dict(seed=0)
