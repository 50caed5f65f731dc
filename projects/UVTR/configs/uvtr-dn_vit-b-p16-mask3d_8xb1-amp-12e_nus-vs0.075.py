# UVTR-DN (vs0.075 recipe) with the Mask3D-pretrained ViT-B/16 instead of ConvNeXt-S (the swap by config that puts
# every mim3d pretraining into every downstream detector): the last layer's stride-16 map of the padded
# 928 x 1600 input (58 x 100 tokens, position embedding interpolated from the pretraining's 16 x 44) -> CustomFPN
# 256 ch; the voxel-pool frustum follows the feature map. Layer-wise lr decay 0.8.
_base_ = ['./uvtr-dn_convnext-s-mim4d_8xb1-amp-12e_nus-vs0.075.py']

pretrain_config = 'configs/mask3d/mask3d_vit-b-p16_8xb4-amp-coslr-50e_nus.py'
pretrained_backbone = 'work_dirs/mask3d_vit-b-p16_8xb4-amp-coslr-50e_nus/backbone.pth'
model = dict(
    img_backbone=dict(
        _delete_=True,
        type='Mask3DViT',
        arch='b',
        img_size=(928, 1600),
        patch_size=16,
        out_indices=(11, ),
        out_type='featmap',
        with_depth_encoder=False,
        pyramid_strides=None,
        drop_path_rate=0.1,
        pretrained_patch_resolution=(16, 44),
        init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint=pretrained_backbone)),
    img_neck=dict(in_channels=[768]))
optim_wrapper = dict(
    constructor='LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        _delete_=True,
        layer_decay_rate=0.8,
        backbone='img_backbone',
        norm_decay_mult=0.0,
        custom_keys={
            'pos_embed': dict(decay_mult=0.0),
            'cls_token': dict(decay_mult=0.0)
        }))
