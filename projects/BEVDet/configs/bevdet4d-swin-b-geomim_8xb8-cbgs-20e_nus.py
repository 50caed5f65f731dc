# BEVDet4D Swin-B initialised from GeoMIM pretraining (Liu et al., ICCV 2023; paper: 42.25 mAP / 53.1 NDS on
# nuScenes val at 256x704). The same detector as bevdet4d-swin-b_8xb8-cbgs-20e_nus.py (the ImageNet row); only the
# backbone and its optimizer differ, as between the official GeoMIM fine-tune configs (Sense-X/GeoMIM
# bevdet-swinb-4d-256x704-cbgs-geomim.py vs -cbgs.py): the GeoMIM Swin-B (window 16-16-16-8, absolute position
# embedding, masking off, stages 3/4 into the FPN_LSS neck, drop path 0.2), AdamW wd 0.05 with layer-wise lr
# decay 0.8 and no decay on position embeddings, relative position tables and norms.
# The backbone: extract_backbone.py of the pretraining run of configs/geomim/geomim_swin-b_16xb2-50e_nus.py
# (python tools/model_converters/extract_backbone.py work_dirs/geomim_swin-b_16xb2-50e_nus), or of the official
# GeoMIM checkpoint (tools/model_converters/geomim_official_to_mim3d.py OFFICIAL OUT --backbone-only).
_base_ = ['./bevdet4d-swin-b_8xb8-cbgs-20e_nus.py']

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
        drop_path_rate=0.2,
        use_checkpoint=True,
        window_padding='official',  # official swin_bev.py: zero-padded windows are attended (16x44, 8x22 grids)
        init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint=pretrained_backbone)))

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
