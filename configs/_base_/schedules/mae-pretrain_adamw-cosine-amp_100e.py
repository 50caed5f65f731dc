# MAE's pretraining recipe, as Mask3D on ScanNet uses it (the paper text gives no schedule): AdamW lr 1.5e-4 x
# batch / 256 (8 GPUs x 64 frames), betas (0.9, 0.95), wd 0.05 without norms, biases, position embeddings and tokens,
# fp16, 10-epoch linear warm-up, cosine, 100 epochs.
max_epochs = 100
warmup_epochs = 10
base_lr = 1.5e-4 * 512 / 256
optim_wrapper = dict(
    type='AmpOptimWrapper',
    # bf16 (the official code: fp16 + loss scaling): fp32's range, no skipped steps; GPUs without bf16: 'float16'
    dtype='bfloat16',
    optimizer=dict(type='AdamW', lr=base_lr, betas=(0.9, 0.95), weight_decay=0.05),
    paramwise_cfg=dict(
        custom_keys={
            'ln': dict(decay_mult=0.0),
            'norm': dict(decay_mult=0.0),
            'bias': dict(decay_mult=0.0),
            'pos_embed': dict(decay_mult=0.),
            'mask_token': dict(decay_mult=0.),
            'cls_token': dict(decay_mult=0.)
        }))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=warmup_epochs, convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - warmup_epochs,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(base_batch_size=512, enable=False)
