# BEVStereo4D-Occ with the GeoMIM Swin-B at 512x1408: GeoMIM's occupancy row (Liu et al., ICCV 2023; Occ3D-nuScenes
# mIoU: Swin-B ImageNet 42.0 -> GeoMIM 45.0) on the BEVStereo4D-Occ of bevstereo4d-occ-r50_8xb4-24e_occ3d-nus.py.
# As the official Sense-X/GeoMIM bevdet/configs/bevdet_geomim/bevdet-occ-swinb-4d-stereo-512x1408-24e-geomim.py: the
# GeoMIM Swin-B (window 16, absolute position embedding, stages 3/4, its raw stage-1 map as the stereo feature) ->
# FPN_LSS (512 + 1024 -> 512, stride 16) -> stereo LSS (32 ch, Occ3D grid, 1-45 m depth bins), 512x1408 input with
# BEVDet's image augmentation, AdamW 2e-4, weight decay 0.05 except position tables and norms, layer-wise lr decay
# 0.85, grad clip 5, batch 32 x 2, EMA. The official file's runner says 100 epochs although its name and the paper
# say 24 (24 here).
# The backbone: extract_backbone.py of the GeoMIM pretraining run of configs/geomim/geomim_swin-b_16xb2-50e_nus.py.
_base_ = ['./bevstereo4d-occ-r50_8xb4-24e_occ3d-nus.py']

pretrain_config = 'configs/geomim/geomim_swin-b_16xb2-50e_nus.py'
pretrained_backbone = 'work_dirs/geomim_swin-b_16xb2-50e_nus/backbone.pth'
input_size = (512, 1408)
model = dict(
    img_backbone=dict(
        _delete_=True,
        type='GeoMIMSwin',
        arch='base',
        img_size=224,
        window_size=(16, 16, 16, 16),
        use_mask=False,
        out_indices=(2, 3),
        out_fused=False,
        return_stereo_feat=True,
        drop_path_rate=0.25,
        use_checkpoint=True,
        window_padding='official',
        init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint=pretrained_backbone)),
    img_neck=dict(
        _delete_=True,
        type='LSSFPN',
        in_channels=512 + 1024,
        out_channels=512,
        scale_factor=2,
        input_feature_index=(0, 1),
        extra_upsample=None),
    img_view_transformer=dict(input_size=input_size, in_channels=512))

ida_aug_conf = dict(_base_.ida_aug_conf, final_dim=input_size)
train_pipeline = [
    _base_.train_pipeline[0], _base_.train_pipeline[1],
    dict(type='MultiViewImageAug', **ida_aug_conf), *_base_.train_pipeline[3:]
]
test_pipeline = [
    _base_.test_pipeline[0], _base_.test_pipeline[1],
    dict(type='MultiViewImageAug', **ida_aug_conf, test_mode=True), *_base_.test_pipeline[3:]
]
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(lr=2e-4, weight_decay=0.05),
    constructor='LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=0.85,
        backbone='img_backbone',
        norm_decay_mult=0.0,
        custom_keys={
            'absolute_pos_embed': dict(decay_mult=0.0),
            'relative_position_bias_table': dict(decay_mult=0.0)
        }))
auto_scale_lr = dict(enable=False, base_batch_size=64)
