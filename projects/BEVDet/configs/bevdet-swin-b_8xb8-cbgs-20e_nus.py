# BEVDet with a Swin-B image backbone (mmpretrain, ImageNet-1k weights), otherwise as bevdet-r50: the backbone
# swaps by config only. Layer-wise lr decay 0.8 on the backbone (LayerDecayOptimWrapperConstructor).
_base_ = ['./bevdet-r50_8xb8-cbgs-20e_nus.py']

model = dict(
    img_backbone=dict(
        _delete_=True,
        type='mmpretrain.SwinTransformer',
        arch='base',
        img_size=224,
        out_indices=(2, 3),
        drop_path_rate=0.2,
        with_cp=True,
        pad_small_map=True,
        init_cfg=dict(
            type='Pretrained',
            prefix='backbone.',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/swin-transformer/'
            'swin_base_224_b16x64_300e_imagenet_20210616_190742-93230b0d.pth')),
    img_neck=dict(in_channels=[512, 1024]))

optim_wrapper = dict(
    constructor='LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=0.8,
        backbone='img_backbone',
        norm_decay_mult=0.0,
        custom_keys={
            'absolute_pos_embed': dict(decay_mult=0.0),
            'relative_position_bias_table': dict(decay_mult=0.0)
        }))
