# GeoMIM's pretraining schedule (Sense-X/GeoMIM pretrain/geomim_config/pretrain_base_50ep.yaml): 50 epochs, 16 GPUs x
# 2 samples, AdamW lr 2e-4 wd 0.01 (no weight-decay exclusions), grad clip 35, linear warm-up over 500 iterations from
# 1/3, cosine to 1e-3 x lr, cyclic momentum (mmcv: beta1 0.9 -> 0.9 * 0.85 / 0.95 over 40 % of training and back).
max_epochs = 50
base_lr = 2e-4
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=base_lr, betas=(0.9, 0.999), weight_decay=0.01),
    clip_grad=dict(max_norm=35, norm_type=2))
momentum_turn = int(0.4 * max_epochs)  # mmcv cyclic momentum: step_ratio_up 0.4, target_ratio (0.85 / 0.95, 1)
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0 / 3, by_epoch=False, begin=0, end=500),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        eta_min=base_lr * 1e-3,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingMomentum',
        T_max=momentum_turn,
        eta_min=0.9 * 0.85 / 0.95,
        by_epoch=True,
        begin=0,
        end=momentum_turn,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingMomentum',
        T_max=max_epochs - momentum_turn,
        eta_min=0.9,
        by_epoch=True,
        begin=momentum_turn,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
auto_scale_lr = dict(enable=False, base_batch_size=32)
