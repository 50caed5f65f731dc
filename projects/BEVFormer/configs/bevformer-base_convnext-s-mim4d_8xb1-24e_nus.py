# BEVFormer-base with the MIM4D-pretrained ConvNeXt-S (MaskConvNeXt; masking is off downstream) instead of
# ResNet-101-DCN: the stages MIM4D pretrained with their output norms (stages 3 and 4, strides 16 / 32 px, 384 / 768
# ch) feed the FPN, whose two extra convs give the 4 levels (strides 16 / 32 / 64 / 128). Backbone swap by config
# only; layer-wise lr decay 0.8. The backbone: extract_backbone.py of the pretraining run
#   python tools/model_converters/extract_backbone.py work_dirs/mim4d_convnext-s-mask_8xb1-amp-12e_nus-pretrain
_base_ = ['./bevformer-base_r101-dcn_8xb1-24e_nus.py']

pretrain_config = 'configs/mim4d/mim4d_convnext-s-mask_8xb1-amp-12e_nus-pretrain.py'
pretrained_backbone = 'work_dirs/mim4d_convnext-s-mask_8xb1-amp-12e_nus-pretrain/backbone.pth'
model = dict(
    data_preprocessor=dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
    img_backbone=dict(
        _delete_=True,
        type='MaskConvNeXt',
        arch='small',
        out_indices=(2, 3),
        drop_path_rate=0.2,
        gap_before_final_norm=False,
        init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint=pretrained_backbone)),
    img_neck=dict(in_channels=[384, 768]))

optim_wrapper = dict(
    constructor='LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(_delete_=True, layer_decay_rate=0.8, backbone='img_backbone', norm_decay_mult=0.0))
