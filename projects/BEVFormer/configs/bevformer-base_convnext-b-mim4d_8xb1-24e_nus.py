# BEVFormer-base with the MIM4D-pretrained ConvNeXt-B (MaskConvNeXt; masking is off downstream) instead of
# ResNet-101-DCN: stages 2-4 (strides 8/16/32 px, 256/512/1024 ch) feed the 4-level FPN. Backbone swap by
# config only; layer-wise lr decay 0.8. Set the checkpoint to a MIM4D pretraining checkpoint (configs/mim4d/).
_base_ = ['./bevformer-base_r101-dcn_8xb1-24e_nus.py']

model = dict(
    data_preprocessor=dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
    img_backbone=dict(
        _delete_=True, type='MaskConvNeXt', arch='base', out_indices=(1, 2, 3), drop_path_rate=0.2,
        gap_before_final_norm=False,
        init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint='checkpoints/mim4d_convnext-b_nus.pth')),
    img_neck=dict(in_channels=[256, 512, 1024]))

optim_wrapper = dict(
    constructor='LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(_delete_=True, layer_decay_rate=0.8, backbone='img_backbone', norm_decay_mult=0.0))
