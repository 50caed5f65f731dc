# MIM4D pretraining, small CPU version on the bundled nuScenes key frames (scene-0523, 40 key frames):
# the same model code as mim4d_convnext-s-mask_8xb1-amp-12e_nus-pretrain.py with smaller numbers: a 4-stage
# ConvNeXt of width 16-128 (random init, so no frozen stage and no backbone lr multiplier) at 128x352 px,
# 6 views x 3 key frames, a 1.6 m voxel grid over +-51.2 m in the LiDAR frame (64 x 64 x 5, 32 depth bins,
# 16 channels), 128 rays per image with 32 + 16 samples. Batch 2. Scene scale, NeuS constants, collider,
# target filter and temporal targets are the paper config's.
#   python tools/create_data.py nuscenes --root-path ../shared/data/nuscenes --version v1.0-mini \
#       --out-dir data/nuscenes_infos
#   python tools/train.py configs/mim4d/mim4d_convnext-mini-mask_1xb2-300i_nus-mini.py
_base_ = ['./mim4d_convnext-s-mask_8xb1-amp-12e_nus-pretrain.py', '../_base_/datasets/nus-mv-mini.py']

volume_channels = 16
model = dict(
    encoder=dict(
        backbone=dict(
            arch=dict(_delete_=True, depths=[1, 1, 2, 1], channels=[16, 32, 64, 128]),
            drop_path_rate=0.0,
            frozen_stages=0,
            init_cfg=None),
        neck=dict(in_channels=[64, 128], out_channels=64)),
    heads=dict(
        render=dict(
            voxel_size=[1.6, 1.6, 1.6],
            view_transform=dict(
                grid_config=dict(depth=[1.0, 52.2, 1.6]),
                input_size=(128, 352),
                in_channels=64,
                lift_channels=32,
                out_channels=volume_channels),
            temporal_builder=dict(embed_dims=volume_channels, ffn_channels=32),
            render_head=dict(
                in_channels=volume_channels,
                num_rays=128,
                uniform_sampler=dict(num_samples=32),
                importance_sampler=dict(num_samples=16),
                sdf_field=dict(hidden_channels=32, geo_feat_channels=8),
                rgb_field=dict(hidden_channels=32)))))

# data: the bundled v1.0-mini tables, 128x352 px, 2 clips a step
train_pipeline = [
    dict(
        type='MultiFrameMultiView',
        num_prev_frames=2,
        depth_all_frames=True,
        frame_pipeline=[
            dict(type='LoadMultiViewImages', num_views=6),
            dict(type='MultiViewImageAug', **dict(_base_.ida_aug_conf, final_dim=(128, 352))),
        ],
        target_pipeline=[
            dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5),
            dict(type='PointsToMultiViewDepth'),
        ]),
    dict(type='PackMultiViewInputs', keys=['img', 'points', 'depth'], meta_keys={{_base_.clip_meta_keys}}),
]
train_dataloader = dict(
    **dict(_base_.nus_mini_loader, batch_size=2), dataset=dict(**_base_.nus_mini_train, pipeline=train_pipeline))

# schedule: 300 iterations, lr 1e-3 (random init: no backbone lr multiplier), fp32
max_iters = 300
optim_wrapper = dict(
    type='OptimWrapper',
    _delete_=True,
    optimizer=dict(_base_.optim_wrapper.optimizer, lr=1e-3),
    paramwise_cfg=dict(custom_keys={'norm': dict(decay_mult=0.0)}),
    clip_grad=_base_.optim_wrapper.clip_grad)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', T_max=max_iters, eta_min=1e-5, by_epoch=False, begin=0, end=max_iters)
]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters)
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(by_epoch=False, interval=100, max_keep_ckpts=3))
log_processor = dict(by_epoch=False)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
