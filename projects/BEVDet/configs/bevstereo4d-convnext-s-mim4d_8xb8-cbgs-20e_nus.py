# BEVStereo4D (the official R50 recipe of bevstereo4d-r50-official_8xb8-cbgs-20e_nus.py) with the MIM4D-pretrained
# ConvNeXt-S: stage 1 (stride 4, 96 ch) is the temporal-stereo feature (its output norm starts fresh: the MIM4D
# pretraining outputs stages 3-4 only), stages 3-4 (384 / 768 ch) feed CustomFPN as the ResNet's stages 3-4 do.
# The swap by config that puts every mim3d pretraining into the papers' detectors; layer-wise lr decay 0.8.
_base_ = ['./bevstereo4d-r50-official_8xb8-cbgs-20e_nus.py']

pretrain_config = 'configs/mim4d/mim4d_convnext-s-mask_8xb1-amp-12e_nus-pretrain.py'
pretrained_backbone = 'work_dirs/mim4d_convnext-s-mask_8xb1-amp-12e_nus-pretrain/backbone.pth'
model = dict(
    img_backbone=dict(
        _delete_=True,
        type='MaskConvNeXt',
        arch='small',
        out_indices=(0, 2, 3),
        gap_before_final_norm=False,
        drop_path_rate=0.2,
        init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint=pretrained_backbone)),
    img_neck=dict(in_channels=[384, 768]))
optim_wrapper = dict(
    constructor='LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.8, backbone='img_backbone', norm_decay_mult=0.0))
