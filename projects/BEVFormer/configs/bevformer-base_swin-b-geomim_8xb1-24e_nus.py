# BEVFormer-base with the GeoMIM-pretrained Swin-B (Liu et al., ICCV 2023) instead of ResNet-101-DCN: the backbone
# swaps by config only (as in projects/BEVDet). The stages GeoMIM pretrained with their output norms (stages 3 and 4,
# strides 16 / 32 px, 512 / 1024 ch, as GeoMIM's own BEVDet fine-tuning) feed the FPN, whose two extra convs give the
# 4 levels (strides 16 / 32 / 64 / 128). Fine-tuning recipe of GeoMIM: layer-wise lr decay 0.8 on the backbone.
# The backbone: extract_backbone.py of the pretraining run
#   python tools/model_converters/extract_backbone.py work_dirs/geomim_swin-b_16xb2-50e_nus
_base_ = ['./bevformer-base_r101-dcn_8xb1-24e_nus.py']

pretrain_config = 'configs/geomim/geomim_swin-b_16xb2-50e_nus.py'
pretrained_backbone = 'work_dirs/geomim_swin-b_16xb2-50e_nus/backbone.pth'
model = dict(
    data_preprocessor=dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
    img_backbone=dict(
        _delete_=True,
        type='GeoMIMSwin',
        arch='base',
        img_size=224,
        window_size=(16, 16, 16, 8),
        out_indices=(2, 3),
        use_mask=False,
        drop_path_rate=0.2,
        use_checkpoint=True,
        window_padding='official',  # as the official GeoMIM fine-tuning backbone (swin_bev.py)
        init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint=pretrained_backbone)),
    img_neck=dict(in_channels=[512, 1024]))

optim_wrapper = dict(
    constructor='LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        _delete_=True,
        layer_decay_rate=0.8,
        backbone='img_backbone',
        norm_decay_mult=0.0,
        custom_keys={
            'absolute_pos_embed': dict(decay_mult=0.0),
            'relative_position_bias_table': dict(decay_mult=0.0)
        }))
