# BEVDet4D Swin-B initialised from GeoMIM pretraining (Liu et al., ICCV 2023; paper: 42.25 mAP / 53.1 NDS on
# nuScenes val at 256x704): the GeoMIM Swin-B (window 16, masking off) with its fused stride-16 output
# (512 ch) feeds the view transformer directly; decoder and teacher of the pretraining checkpoint are
# dropped. Fine-tuning recipe of the paper: layer-wise lr decay 0.8, 20 epochs CBGS, EMA.
# Checkpoint: produced by configs/geomim/geomim_swin-b_16xb2-50e_nus.py (prefix 'backbone.'), or its
# backbone-only form from tools/model_converters/extract_backbone.py (then drop `prefix`).
_base_ = ['./bevdet4d-swin-b_8xb8-cbgs-20e_nus.py']

geomim_checkpoint = 'work_dirs/geomim_swin-b_16xb2-50e_nus/epoch_50.pth'
model = dict(
    img_backbone=dict(
        _delete_=True,
        type='GeoMIMSwin', arch='base', img_size=224, window_size=(16, 16, 16, 8), use_mask=False,
        out_indices=(), out_fused=True, drop_path_rate=0.2, use_checkpoint=True,
        init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint=geomim_checkpoint)),
    img_neck=None,
    img_neck_out_index=0,
    img_view_transformer=dict(in_channels=4 * 128))

optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'absolute_pos_embed': dict(decay_mult=0.0)}))
