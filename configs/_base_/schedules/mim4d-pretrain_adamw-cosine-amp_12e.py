# MIM4D's pretraining schedule (official vs0.1 recipe): 12 epochs, 8 GPUs x 1 clip, AdamW lr 4e-4 wd 0.01, fp16,
# backbone lr x0.1, grad clip 35, linear warm-up over 500 iterations from 1/3, cosine to 1e-3 x lr.
max_epochs = 12
base_lr = 4e-4
optim_wrapper = dict(
    type='AmpOptimWrapper',
    # bf16 (the official code: fp16 + loss scaling): fp32's range, no skipped steps; GPUs without bf16: 'float16'
    dtype='bfloat16',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=base_lr, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={
        'encoder.backbone': dict(lr_mult=0.1),
        'norm': dict(decay_mult=0.0),
        'frame_embed': dict(decay_mult=0.0)
    }),
    clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0 / 3, by_epoch=False, begin=0, end=500),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        eta_min=4e-7,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True)  # eta_min: 1e-3 x lr
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
auto_scale_lr = dict(enable=False, base_batch_size=8)
