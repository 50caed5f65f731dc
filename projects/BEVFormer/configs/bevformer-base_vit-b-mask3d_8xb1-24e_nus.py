# BEVFormer-base with the Mask3D-pretrained ViT-B/16 (Mask3DViT without its depth encoder) instead of
# ResNet-101-DCN: the stride-16 map of the last layer (768 ch) feeds the FPN, whose extra convs give the
# 4 levels (strides 16/32/64/128). Backbone swap by config only; layer-wise lr decay 0.65 (ViT finetuning).
# The position embedding (stored at the 16 x 44 grid of the 256x704 pretraining) is interpolated to the 900x1600
# input. The backbone: extract_backbone.py of the pretraining run
#   python tools/model_converters/extract_backbone.py work_dirs/mask3d_vit-b-p16_8xb4-amp-coslr-50e_nus
_base_ = ['./bevformer-base_r101-dcn_8xb1-24e_nus.py']

pretrain_config = 'configs/mask3d/mask3d_vit-b-p16_8xb4-amp-coslr-50e_nus.py'
pretrained_backbone = 'work_dirs/mask3d_vit-b-p16_8xb4-amp-coslr-50e_nus/backbone.pth'

model = dict(
    data_preprocessor=dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
    img_backbone=dict(
        _delete_=True,
        type='Mask3DViT',
        arch='b',
        img_size=(900, 1600),
        patch_size=16,
        out_indices=-1,
        out_type='featmap',
        with_depth_encoder=False,
        pyramid_strides=None,
        mask_ratio=0.0,
        drop_path_rate=0.1,
        pretrained_patch_resolution=(16, 44),
        init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint=pretrained_backbone)),
    img_neck=dict(in_channels=[768], start_level=0, num_outs=4))

optim_wrapper = dict(
    constructor='LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(_delete_=True, layer_decay_rate=0.65, backbone='img_backbone', norm_decay_mult=0.0))
