# BEVDet4D-Occ with the Mask3D-pretrained ViT-B/16 (configs/mask3d/mask3d_vit-b-p16_8xb4-amp-coslr-50e_nus.py):
# bevdet4d-occ-r50_8xb4-24e_occ3d-nus.py with the backbone, neck and layer-wise lr decay of
# bevdet-mask3d-vit-b-p16_8xb8-cbgs-20e_nus.py (layers 8 and 12 at stride 16 -> CustomFPN, 256 ch). Mask3D reports
# no occupancy row: a transfer experiment, not a reproduction.
_base_ = ['./bevdet4d-occ-r50_8xb4-24e_occ3d-nus.py']

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
        pyramid_strides=None,
        drop_path_rate=0.1,
        pretrained_patch_resolution=(16, 44),
        init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint=pretrained_backbone)),
    img_neck=dict(_delete_=True, type='CustomFPN', in_channels=[768, 768], out_channels=256, out_ids=(0, )))
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
