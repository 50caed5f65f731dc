# UVTR-DN (vs0.075 recipe) with the GeoMIM-pretrained Swin-B instead of ConvNeXt-S: the swap by config that puts
# every mim3d pretraining into every downstream detector (stage 4, stride 32, 1024 ch -> CustomFPN 256 ch; the
# voxel-pool frustum follows the feature map). Layer-wise lr decay 0.8 as the GeoMIM downstream configs.
_base_ = ['./uvtr-dn_convnext-s-mim4d_8xb1-amp-12e_nus-vs0.075.py']

pretrain_config = 'configs/geomim/geomim_swin-b_16xb2-50e_nus.py'
pretrained_backbone = 'work_dirs/geomim_swin-b_16xb2-50e_nus/backbone.pth'
model = dict(
    img_backbone=dict(
        _delete_=True,
        type='GeoMIMSwin',
        arch='base',
        img_size=224,
        window_size=(16, 16, 16, 8),
        use_mask=False,
        out_indices=(3, ),
        out_fused=False,
        drop_path_rate=0.2,
        use_checkpoint=True,
        window_padding='official',
        init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint=pretrained_backbone)),
    img_neck=dict(in_channels=[1024]))
optim_wrapper = dict(
    optimizer=dict(weight_decay=0.05),
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
