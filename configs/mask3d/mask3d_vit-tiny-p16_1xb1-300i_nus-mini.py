# Mask3D, small CPU config on the bundled nuScenes v1.0-mini frames: 6 camera views per sample at
# 128 x 352 (an 8 x 22 patch grid), LiDAR-projected depth as input and target. Same code as the
# ViT-B nuScenes config. Train: scene-0523 (40 samples = 240 views); val: scene-0916.
#   python tools/create_data.py nuscenes --root-path ../shared/data/nuscenes \
#       --version v1.0-mini --out-dir data/nuscenes_infos
#   python tools/train.py configs/mask3d/mask3d_vit-tiny-p16_1xb1-300i_nus-mini.py \
#       --work-dir work_dirs/mask3d_nus_mini
_base_ = [
    '../_base_/datasets/nus-mv-mini.py', '../_base_/models/mask3d_vit-b-p16.py',
    '../_base_/default_runtime.py'
]
custom_imports = dict(imports=['mim3d_plugin', 'mim3d_plugin.evaluation'],
                      allow_failed_imports=False)

img_size = (128, 352)
patch_resolution = (8, 22)
model = dict(
    data_preprocessor=dict(_delete_=True, type='MultiViewDataPreprocessor',
                           mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                           bgr_to_rgb=True),
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=192, num_layers=4, num_heads=3,
                  feedforward_channels=768),
        img_size=img_size, depth_embed_dims=96, depth_num_layers=1, depth_num_heads=3),
    head=dict(decoder=dict(patch_resolution=patch_resolution, embed_dim=192,
                           decoder_embed_dim=128, decoder_depth=2, decoder_num_heads=4),
              depth_norm='log', depth_norm_scale=1.0))

train_dataloader = dict(sampler=dict(type='InfiniteSampler', shuffle=True))
val_evaluator = dict(_delete_=True, type='DepthMetric', max_depth=80.0)
test_evaluator = val_evaluator

max_iters = 300
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='AdamW', lr=5e-4, betas=(0.9, 0.95), weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', T_max=max_iters - 20, by_epoch=False, begin=20,
         end=max_iters, eta_min=1e-5)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(logger=dict(interval=10),
                     checkpoint=dict(interval=max_iters, by_epoch=False, max_keep_ckpts=1))
log_processor = dict(window_size=10, by_epoch=False)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
custom_hooks = [dict(type='PretrainVisualizationHook', interval=100)]  # PNGs in vis_data/vis_image
