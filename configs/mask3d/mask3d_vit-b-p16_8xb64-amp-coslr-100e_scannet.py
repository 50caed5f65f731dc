# Mask3D ViT-B/16 pretraining on ScanNet RGB-D frames (paper scale: Hou et al., CVPR 2023): the modules of
# configs/_base_/models/mask3d_vit-b-p16.py, MAE's recipe
# (configs/_base_/schedules/mae-pretrain_adamw-cosine-amp_100e.py,
# the paper text gives no schedule), 8 GPUs x 64 frames.
# Data: a ScanNet posed-image export (SensReader: color/, depth/ (mm), intrinsic/, pose/) under
# data/scannet/posed_images/<scene>/, every 25th frame (Pri3D/Mask3D-style subsampling); held-out scenes under
# data/scannet/posed_images_val/.
# The pretrained backbone: encoder.backbone.* of the checkpoint (tools/model_converters/extract_backbone.py).
_base_ = ['../_base_/models/mask3d_vit-b-p16.py', '../_base_/schedules/mae-pretrain_adamw-cosine-amp_100e.py']
default_scope = 'mmdet3d'
custom_imports = dict(imports=['mim3d_plugin', 'mim3d_plugin.evaluation'], allow_failed_imports=False)

model = dict(
    type='MaskedPretrainer',
    data_preprocessor=dict(
        type='RGBDDataPreprocessor',
        mean=[123.675, 116.28, 103.53],  # ImageNet RGB (frames
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=False),  # are packed in RGB order)
    encoder=_base_.mask3d_encoder,
    heads=dict(depth=_base_.mask3d_depth_head),
    init_cfg=_base_.mask3d_init_cfg)

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
    dataset=dict(
        type=dataset_type,
        layout='scannet',
        data_root=data_root + 'posed_images',
        depth_format='uint16',
        depth_scale=1000.,
        invalid_depth=0,
        frame_interval=25,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        layout='scannet',
        data_root=data_root + 'posed_images_val',
        depth_format='uint16',
        depth_scale=1000.,
        invalid_depth=0,
        frame_interval=100,
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
# the depth head's predictions (sample.depth: pred_depth, gt_depth, eval_mask)
val_evaluator = dict(type='DepthMetric', prediction='depth', max_depth=10.0)
test_evaluator = val_evaluator

# runtime
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='AtomicCheckpointHook', interval=10, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='Det3DVisualizationHook'))
env_cfg = dict(
    cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0), dist_cfg=dict(backend='nccl'))
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='Det3DLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0)
# decoded vs true depth PNGs in vis_data/vis_image
custom_hooks = [dict(type='PretrainVisualizationHook', interval=1000)]
