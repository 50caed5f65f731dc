# BEVDet (ResNet-50 recipe of bevdet-r50_8xb8-cbgs-20e_nus.py: 256 x 704, LSS, CenterHead, CBGS,
# 20 epochs) with the Mask3D ViT-B/16 pretrained on nuScenes camera + LiDAR depth
# (configs/mask3d/mask3d_vit-b-p16_8xb4-amp-coslr-50e_nus.py, same 256 x 704 input = 16 x 44 grid)
# as image backbone; a simple feature pyramid (CustomFPN over the stride-16 maps of layers 8 and 12)
# gives the stride-16 map of the view transformer. Layer-wise lr decay 0.8 on the ViT. The backbone: extract_backbone.py
# of the pretraining run:
#   python tools/model_converters/extract_backbone.py work_dirs/mask3d_vit-b-p16_8xb4-amp-coslr-50e_nus
_base_ = ['./bevdet-r50_8xb8-cbgs-20e_nus.py']
custom_imports = dict(imports=['mim3d_plugin', 'projects.BEVDet.bevdet'], allow_failed_imports=False)

pretrain_config = 'configs/mask3d/mask3d_vit-b-p16_8xb4-amp-coslr-50e_nus.py'
pretrained_backbone = 'work_dirs/mask3d_vit-b-p16_8xb4-amp-coslr-50e_nus/backbone.pth'
model = dict(
    img_backbone=dict(
        _delete_=True,
        type='Mask3DViT',
        arch='b',
        img_size=(256, 704),
        patch_size=16,
        out_indices=(7, 11),
        out_type='featmap',
        with_depth_encoder=False,
        pyramid_strides=None,  # the stride-16 maps of the out_indices layers, fused by the neck
        drop_path_rate=0.1,
        pretrained_patch_resolution=(16, 44),
        init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint=pretrained_backbone)),
    img_neck=dict(_delete_=True, type='CustomFPN', in_channels=[768, 768], out_channels=512, out_ids=(0, )))
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
