# BEVStereo4D (the official R50 recipe of bevstereo4d-r50-official_8xb8-cbgs-20e_nus.py) with the Mask3D-pretrained
# ViT-B/16: the last layer's map as a parameter-free simple feature pyramid (Mask3DViT pyramid_strides): stride 4 is
# the temporal-stereo feature, strides 16 and 32 feed CustomFPN as the ResNet's stages 3-4 do. Every backbone
# parameter is a pretrained one. The swap by config that puts every mim3d pretraining into the papers' detectors.
_base_ = ['./bevstereo4d-r50-official_8xb8-cbgs-20e_nus.py']

pretrain_config = 'configs/mask3d/mask3d_vit-b-p16_8xb4-amp-coslr-50e_nus.py'
pretrained_backbone = 'work_dirs/mask3d_vit-b-p16_8xb4-amp-coslr-50e_nus/backbone.pth'
model = dict(
    img_backbone=dict(
        _delete_=True,
        type='Mask3DViT',
        arch='b',
        img_size=(256, 704),
        patch_size=16,
        out_indices=(11, ),
        out_type='featmap',
        with_depth_encoder=False,
        pyramid_strides=(4, 16, 32),
        drop_path_rate=0.1,
        pretrained_patch_resolution=(16, 44),
        init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint=pretrained_backbone)),
    img_neck=dict(in_channels=[768, 768]))
optim_wrapper = dict(
    constructor='LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=0.8,
        backbone='img_backbone',
        norm_decay_mult=0.0,
        custom_keys={
            'pos_embed': dict(decay_mult=0.0),
            'cls_token': dict(decay_mult=0.0)
        }))
