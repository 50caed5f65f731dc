# BEVStereo4D with the GeoMIM Swin-B at 256x704: GeoMIM's BEVStereo4D row (Liu et al., ICCV 2023: 45.33 mAP /
# 55.1 NDS on nuScenes val), as the official Sense-X/GeoMIM bevdet/configs/bevdet_geomim/
# bevdet-swinb-4d-stereo-256x704-cbgs-geomim.py: the BEVStereo4D of bevstereo4d-r50-official_8xb8-cbgs-20e_nus.py
# with the GeoMIM Swin-B of bevdet4d-swin-b-geomim_8xb8-cbgs-20e_nus.py (stages 3/4 -> FPN_LSS 512 + 1024 -> 512,
# its raw stage-1 map as the stereo feature: return_stereo_feat) and its optimizer (AdamW wd 0.05, layer-wise lr
# decay 0.8, no decay on position tables and norms).
_base_ = ['./bevstereo4d-r50-official_8xb8-cbgs-20e_nus.py']

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
        out_indices=(2, 3),
        out_fused=False,
        return_stereo_feat=True,
        drop_path_rate=0.2,
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
    img_view_transformer=dict(in_channels=512))

optim_wrapper = dict(
    optimizer=dict(weight_decay=0.05),
    constructor='LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=0.8,
        backbone='img_backbone',
        norm_decay_mult=0.0,
        custom_keys={
            'absolute_pos_embed': dict(decay_mult=0.0),
            'relative_position_bias_table': dict(decay_mult=0.0)
        }))
