# As bevdet-swin-w64-d1121_1xb1-4e_nus-mini.py (same BEV model, data and schedule), with the small ConvNeXt
# pretrained by the small MIM4D run as image backbone:
#   python tools/train.py configs/mim4d/mim4d_convnext-mini-mask_1xb2-300i_nus-mini.py
#   python tools/model_converters/extract_backbone.py work_dirs/mim4d_convnext-mini-mask_1xb2-300i_nus-mini
# MaskConvNeXt without a mask is a plain ConvNeXt; CustomFPN fuses its stride-16/32 stages into the stride-16 map.
_base_ = ['./bevdet-swin-w64-d1121_1xb1-4e_nus-mini.py']

pretrain_config = 'configs/mim4d/mim4d_convnext-mini-mask_1xb2-300i_nus-mini.py'
pretrained_backbone = 'work_dirs/mim4d_convnext-mini-mask_1xb2-300i_nus-mini/backbone.pth'
model = dict(
    img_backbone=dict(
        _delete_=True,
        type='MaskConvNeXt',
        arch=dict(depths=[1, 1, 2, 1], channels=[16, 32, 64, 128]),
        out_indices=(2, 3),
        gap_before_final_norm=False,
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint=pretrained_backbone)),
    img_neck=dict(_delete_=True, type='CustomFPN', in_channels=[64, 128], out_channels=256, out_ids=(0, )),
    img_neck_out_index=0)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=5e-4, weight_decay=1e-2),
    clip_grad=dict(max_norm=5, norm_type=2))
