# GeoMIM pretraining, paper recipe: Swin-B, 256x704, 6 views, 180x180 BEV target, 50 epochs on nuScenes
# train, 16 GPUs x 2 samples, AdamW lr 2e-4 wd 0.01, cosine, grad clip 35.
# bash tools/dist_train.sh configs/geomim/geomim_swin-b_16xb2-50e_nus.py 8   (x2 nodes)
_base_ = ['../_base_/datasets/nus-mv.py', '../_base_/models/geomim_swin-b.py', '../_base_/default_runtime.py']

# the teacher sees the key frame + 9 LiDAR sweeps with the time-lag column (as it was trained); depth from the key frame
train_dataloader = dict(batch_size=2, num_workers=4, dataset=dict(pipeline={{_base_.teacher_train_pipeline}}))
max_epochs = 50
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={
        'absolute_pos_embed': dict(decay_mult=0.0),
        'relative_position_bias_table': dict(decay_mult=0.0),
        'mask_token': dict(decay_mult=0.0),
        'norm': dict(decay_mult=0.0)}),
    clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=500),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=1e-7, by_epoch=True, begin=0, end=max_epochs,
         convert_to_iter_based=True)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
val_cfg = None
val_dataloader = None
val_evaluator = None
test_cfg = None
test_dataloader = None
test_evaluator = None
auto_scale_lr = dict(enable=False, base_batch_size=32)
