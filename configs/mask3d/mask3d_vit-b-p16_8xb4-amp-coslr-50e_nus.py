# Mask3D ViT-B/16 pretraining on nuScenes camera images with LiDAR-projected sparse depth as the
# depth input and target: every camera view is one RGB-D frame (B x N views are flattened), so
# the pretrained RGB ViT can go into the BEV detectors at their 256 x 704 input (16 x 44 grid).
# Data pipeline: configs/_base_/datasets/nus-mv.py (LoadMultiViewImages, MultiViewImageAug,
# PointsToMultiViewDepth, PackMultiViewInputs); images packed BGR -> bgr_to_rgb=True.
_base_ = [
    '../_base_/datasets/nus-mv.py', '../_base_/models/mask3d_vit-b-p16.py',
    '../_base_/default_runtime.py'
]
custom_imports = dict(imports=['mim3d_plugin', 'mim3d_plugin.evaluation'],
                      allow_failed_imports=False)

img_size = (256, 704)
patch_resolution = (16, 44)
model = dict(
    data_preprocessor=dict(_delete_=True, type='MultiViewDataPreprocessor',
                           mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                           bgr_to_rgb=True),
    backbone=dict(img_size=img_size),
    # LiDAR depth is sparse (a few % of pixels) and reaches ~80 m: log depth normalisation
    head=dict(decoder=dict(patch_resolution=patch_resolution), depth_norm='log',
              depth_norm_scale=1.0, loss_region='masked'))

val_evaluator = dict(_delete_=True, type='DepthMetric', max_depth=80.0)
test_evaluator = val_evaluator

base_lr = 1.5e-4 * 8 * 4 * 6 / 256  # MAE scaling by frames (views) per step
optim_wrapper = dict(
    type='AmpOptimWrapper',
    optimizer=dict(type='AdamW', lr=base_lr, betas=(0.9, 0.95), weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={
        'ln': dict(decay_mult=0.0),
        'norm': dict(decay_mult=0.0),
        'bias': dict(decay_mult=0.0),
        'pos_embed': dict(decay_mult=0.),
        'mask_token': dict(decay_mult=0.),
        'cls_token': dict(decay_mult=0.)
    }))
max_epochs = 50
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 5, by_epoch=True, begin=5,
         end=max_epochs, convert_to_iter_based=True)
]
train_dataloader = dict(batch_size=4)
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
randomness = dict(seed=0)
# decoded vs true depth PNGs in vis_data/vis_image
custom_hooks = [dict(type='PretrainVisualizationHook', interval=1000)]
