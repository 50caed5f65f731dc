# Mask3D, small CPU config on the bundled nuScenes v1.0-mini frames: 6 camera views per sample at 128 x 352 (an
# 8 x 22 patch grid), LiDAR-projected depth as input and target. mask3d_vit-b-p16_8xb4-amp-coslr-50e_nus.py with
# smaller numbers. Train: scene-0523 (40 samples = 240 views); val: scene-0916.
#   python tools/create_data.py nuscenes --root-path ../shared/data/nuscenes \
#       --version v1.0-mini --out-dir data/nuscenes_infos
#   python tools/train.py configs/mask3d/mask3d_vit-tiny-p16_1xb1-300i_nus-mini.py \
#       --work-dir work_dirs/mask3d_nus_mini
_base_ = ['./mask3d_vit-b-p16_8xb4-amp-coslr-50e_nus.py', '../_base_/datasets/nus-mv-mini.py']

# ---- data: the bundled v1.0-mini tables, 128x352 px, batch 1
ida_aug_conf = _base_.nus_mini_ida_aug_conf
train_pipeline = [
    dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5),
    dict(type='LoadMultiViewImages', num_views=6),
    dict(type='MultiViewImageAug', **ida_aug_conf),
    dict(type='PointsToMultiViewDepth'),
    dict(type='PackMultiViewInputs', keys=['img', 'points', 'depth']),
]
test_pipeline = [
    dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5),
    dict(type='LoadMultiViewImages', num_views=6),
    dict(type='MultiViewImageAug', **ida_aug_conf, test_mode=True),
    dict(type='PointsToMultiViewDepth'),
    dict(type='PackMultiViewInputs', keys=['img', 'points', 'depth']),
]
train_dataloader = dict(
    **_base_.nus_mini_loader,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(**_base_.nus_mini_train, pipeline=train_pipeline))
val_dataloader = dict(**_base_.nus_mini_loader, dataset=dict(**_base_.nus_mini_val, pipeline=test_pipeline))
test_dataloader = val_dataloader

# ---- model: a 4-layer ViT-tiny, a 1-layer depth encoder, a 2-block decoder of width 128
model = dict(
    encoder=dict(
        backbone=dict(
            arch=dict(_delete_=True, embed_dims=192, num_layers=4, num_heads=3, feedforward_channels=768),
            img_size=ida_aug_conf['final_dim'],
            depth_embed_dims=96,
            depth_num_layers=1,
            depth_num_heads=3)),
    heads=dict(
        depth=dict(
            head=dict(
                decoder=dict(
                    patch_resolution=(8, 22),
                    embed_dim=192,
                    decoder_embed_dim=128,
                    decoder_depth=2,
                    decoder_num_heads=4)))))

# ---- schedule: 300 iterations in fp32, lr 5e-4, a 20-iteration warm-up, cosine to 1e-5, no weight-decay exclusions
max_iters = 300
optim_wrapper = dict(type='OptimWrapper', _delete_=True, optimizer=dict(_base_.optim_wrapper.optimizer, lr=5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', T_max=max_iters - 20, by_epoch=False, begin=20, end=max_iters, eta_min=1e-5)
]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=max_iters, by_epoch=False, max_keep_ckpts=1))
log_processor = dict(window_size=10, by_epoch=False)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
custom_hooks = [dict(type='PretrainVisualizationHook', interval=100)]  # PNGs in vis_data/vis_image
