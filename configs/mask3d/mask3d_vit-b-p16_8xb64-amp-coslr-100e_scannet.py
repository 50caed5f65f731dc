# Mask3D ViT-B/16 pretraining on ScanNet RGB-D frames (paper scale: Hou et al., CVPR 2023).
# Data: a ScanNet posed-image export (SensReader: color/, depth/ (mm), intrinsic/, pose/) under
# data/scannet/posed_images/<scene>/, every 25th frame (Pri3D/Mask3D-style subsampling);
# held-out scenes under data/scannet/posed_images_val/.
# Recipe: MAE's pretraining recipe (AdamW, lr 1.5e-4 x batch / 256, betas (0.9, 0.95), wd 0.05,
# 40-epoch warm-up, cosine) since the paper text available here gives no schedule.
_base_ = ['../_base_/models/mask3d_vit-b-p16.py']
default_scope = 'mmdet3d'
custom_imports = dict(imports=['mim3d_plugin', 'mim3d_plugin.evaluation'],
                      allow_failed_imports=False)

dataset_type = 'RGBDFrameDataset'
data_root = 'data/scannet/'
img_size = (240, 320)  # (H, W) px, as the model base config
train_pipeline = [
    dict(type='LoadRGBDFrame', min_depth=0.1, max_depth=10.0),
    dict(type='RGBDResize', scale=(img_size[1], img_size[0])),
    dict(type='RGBDRandomFlip', prob=0.5),
    dict(type='PackRGBDInputs'),
]
test_pipeline = [
    dict(type='LoadRGBDFrame', min_depth=0.1, max_depth=10.0),
    dict(type='RGBDResize', scale=(img_size[1], img_size[0])),
    dict(type='PackRGBDInputs'),
]
train_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, layout='scannet', data_root=data_root + 'posed_images',
                 depth_format='uint16', depth_scale=1000., invalid_depth=0, frame_interval=25,
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, layout='scannet', data_root=data_root + 'posed_images_val',
                 depth_format='uint16', depth_scale=1000., invalid_depth=0, frame_interval=100,
                 test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='DepthMetric', max_depth=10.0)
test_evaluator = val_evaluator

# schedule (MAE recipe), 8 GPUs x 64 frames
base_lr = 1.5e-4 * 512 / 256
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
max_epochs = 100
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 10, by_epoch=True, begin=10,
         end=max_epochs, convert_to_iter_based=True)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(base_batch_size=512, enable=False)

# runtime
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='AtomicCheckpointHook', interval=10, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='Det3DVisualizationHook'))
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='nccl'))
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='Det3DLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0)
# decoded vs true depth PNGs in vis_data/vis_image
custom_hooks = [dict(type='PretrainVisualizationHook', interval=1000)]
