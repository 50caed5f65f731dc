# BEVFormer-base with the GeoMIM-pretrained Swin-B (Liu et al., ICCV 2023) instead of ResNet-101-DCN: the
# backbone swaps by config only (as in projects/BEVDet). Stages 2-4 (strides 8/16/32 px, 256/512/1024 ch) feed
# the 4-level FPN. Fine-tuning recipe of GeoMIM: layer-wise lr decay 0.8 on the backbone.
# Set the checkpoint to a GeoMIM pretraining checkpoint (configs/geomim/), keys under 'backbone.'.
_base_ = ['./bevformer-base_r101-dcn_8xb1-24e_nus.py']

model = dict(
    data_preprocessor=dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
    img_backbone=dict(
        _delete_=True, type='GeoMIMSwin', arch='base', img_size=224, window_size=(16, 16, 16, 8),
        out_indices=(1, 2, 3), use_mask=False, drop_path_rate=0.2, use_checkpoint=True,
        window_padding='official',  # as the official GeoMIM fine-tuning backbone (swin_bev.py)
        init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint='checkpoints/geomim_swin-b_nus.pth')),
    img_neck=dict(in_channels=[256, 512, 1024]))

optim_wrapper = dict(
    constructor='LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(_delete_=True, layer_decay_rate=0.8, backbone='img_backbone', norm_decay_mult=0.0,
                       custom_keys={'absolute_pos_embed': dict(decay_mult=0.0),
                                    'relative_position_bias_table': dict(decay_mult=0.0)}))
