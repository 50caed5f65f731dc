# MIM4D pretraining at paper scale (Zou et al., 2024), our variant of the official vs0.1 recipe
# (hustvl/MIM4D projects/configs/MIM4D/uvtr_convnext_s_vs0.1_pretrain.py) with a ConvNeXt-S: the modules of
# configs/_base_/models/mim4d_convnext-s.py (SparK masking + FPN, voxel lifting in each frame's LiDAR frame, scene
# flow with both official temporal targets, NeuS rendering in the official normalised scene), backbone lr x0.1,
# first stage frozen, drop path 0.2, EMA (as vs0.1). nuScenes train, 8 GPUs x 1 clip, AdamW 4e-4, 12 epochs, fp16
# (configs/_base_/schedules/mim4d-pretrain_adamw-cosine-amp_12e.py).
# What differs from the official recipe, and why: 6 views at 256x704 with BEVDet's image augmentation (the
# official pretrains at 450x800 without augmentation) so that pretraining sees the input of the BEVDet
# fine-tuning configs; clips of key frames where camera sweep files are absent. The exact official recipe is
# mim4d_convnext-s-mask-vs0.075_8xb1-amp-12e_nus-pretrain-450x800.py.
#   bash tools/dist_train.sh configs/mim4d/mim4d_convnext-s-mask_8xb1-amp-12e_nus-pretrain.py 8
# The pretrained backbone: encoder.backbone.* of the checkpoint (tools/model_converters/extract_backbone.py).
_base_ = [
    '../_base_/datasets/nus-mv-pretrain.py', '../_base_/models/mim4d_convnext-s.py',
    '../_base_/schedules/mim4d-pretrain_adamw-cosine-amp_12e.py', '../_base_/default_runtime.py'
]

num_prev_frames = _base_.mim4d_num_frames - 1  # T earlier frames
model = dict(
    type='MaskedPretrainer',
    num_frames=_base_.mim4d_num_frames,
    data_preprocessor=dict(_base_.data_preprocessor, pad_size_divisor=32),
    encoder=_base_.mim4d_encoder,
    heads=dict(render=_base_.mim4d_render_head))

train_pipeline = [
    dict(
        type='MultiFrameMultiView',
        num_prev_frames=num_prev_frames,
        depth_all_frames=True,
        frame_pipeline=[
            dict(type='LoadMultiViewImages', num_views=6),
            dict(type='MultiViewImageAug', **_base_.ida_aug_conf),
        ],
        target_pipeline=[
            dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5),
            dict(type='PointsToMultiViewDepth'),
        ]),
    dict(type='PackMultiViewInputs', keys=['img', 'points', 'depth'], meta_keys=_base_.clip_meta_keys),
]
train_dataloader = dict(
    batch_size=1,
    # camera sweeps ~0.1 s apart (official), key frames where the sweep files are absent (one warning)
    dataset=dict(
        type='NuScenesMultiFrameDataset',
        num_prev_frames=num_prev_frames,
        frame_source='cam_sweeps',
        sweep_interval=1,
        pipeline=train_pipeline))

# official vs0.1 `custom_hooks = [dict(type='EMAHook')]`: mmcv 1.x's EMAHook (the plugin registers only MEGVIIEMAHook),
# ema = (1 - 0.0002) * ema + 0.0002 * w after every iteration (its warm-up min(0.0002, (1 + it) / (100 + it)) never
# binds), parameters only = mmengine ExponentialMovingAverage(momentum=0.0002, update_buffers=False); mmengine starts
# the average at the weights after the first update instead of before it (a 0.9998^n-decaying difference); the saved
# state_dict holds the averaged weights in both (mmengine swaps them in when saving; mmcv swaps at epoch ends)
# a rolling iteration checkpoint besides the epoch ones, so a killed multi-day run loses minutes, not an epoch
iter_checkpoint = dict(
    type='AtomicCheckpointHook', by_epoch=False, interval=1000, filename_tmpl='iter_latest.pth', max_keep_ckpts=-1)
custom_hooks = [
    dict(type='EMAHook', ema_type='ExponentialMovingAverage', momentum=0.0002, update_buffers=False, priority=49),
    iter_checkpoint,
    # rendered RGB / depth of the rebuilt frame vs targets under vis_data/vis_image
    dict(type='PretrainVisualizationHook', interval=1000)
]
