# Mask3D ViT-B/16 pretraining on nuScenes camera images with LiDAR-projected sparse depth as the depth input and
# target: every camera view is one RGB-D frame (B x N views are flattened), so the pretrained RGB ViT can go into the
# BEV detectors at their 256 x 704 input (16 x 44 grid). Data: configs/_base_/datasets/nus-mv-pretrain.py
# (LoadMultiViewImages, MultiViewImageAug, PointsToMultiViewDepth, PackMultiViewInputs; images packed BGR).
# MAE's recipe (configs/_base_/schedules/mae-pretrain_adamw-cosine-amp_100e.py) for 50 epochs, lr scaled by frames.
# The pretrained backbone: encoder.backbone.* of the checkpoint (tools/model_converters/extract_backbone.py).
_base_ = [
    '../_base_/datasets/nus-mv-pretrain.py', '../_base_/models/mask3d_vit-b-p16.py',
    '../_base_/schedules/mae-pretrain_adamw-cosine-amp_100e.py', '../_base_/default_runtime.py'
]
custom_imports = dict(imports=['mim3d_plugin', 'mim3d_plugin.evaluation'], allow_failed_imports=False)

img_size = (256, 704)
model = dict(
    type='MaskedPretrainer',
    data_preprocessor=_base_.data_preprocessor,
    # LiDAR depth is sparse (a few % of pixels) and reaches ~80 m: log depth normalisation (the base's)
    encoder=dict(_base_.mask3d_encoder, backbone=dict(_base_.mask3d_encoder.backbone, img_size=img_size)),
    heads=dict(
        depth=dict(
            _base_.mask3d_depth_head,
            head=dict(
                _base_.mask3d_depth_head.head,
                decoder=dict(_base_.mask3d_depth_head.head.decoder, patch_resolution=(16, 44))))),
    init_cfg=_base_.mask3d_init_cfg)

# the pretext evaluation on nuScenes val (DepthMetric of the depth head's predictions)
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        _base_.train_dataloader.dataset,
        ann_file='nuscenes_infos_val.pkl',
        pipeline=_base_.test_pipeline,
        test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='DepthMetric', prediction='depth', max_depth=80.0)
test_evaluator = val_evaluator

base_lr = 1.5e-4 * 8 * 4 * 6 / 256  # MAE scaling by frames (views) per step
optim_wrapper = dict(optimizer=dict(lr=base_lr))
max_epochs = 50
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=5, convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - 5,
        by_epoch=True,
        begin=5,
        end=max_epochs,
        convert_to_iter_based=True)
]
train_dataloader = dict(batch_size=4)
train_cfg = dict(max_epochs=max_epochs)
randomness = dict(seed=0)
# decoded vs true depth PNGs in vis_data/vis_image
custom_hooks = [dict(type='PretrainVisualizationHook', interval=1000)]
