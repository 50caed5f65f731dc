# fcos3d_convnext-s-mim4d_fpn_head-gn_8xb2-1x_nus-mono3d.py on the bundled nuScenes frames (CPU): the small ConvNeXt
# (channels 16-128, depths 1-1-2-1) of configs/mim4d/mim4d_convnext-mini-mask_1xb2-300i_nus-mini.py; data, head and
# schedule as fcos3d_swin-w64-d1121-geomim_fpn_head-gn_1xb1-1e_nus-mini-mono3d.py.
#   python tools/train.py configs/mim4d/mim4d_convnext-mini-mask_1xb2-300i_nus-mini.py
#   python tools/model_converters/extract_backbone.py work_dirs/mim4d_convnext-mini-mask_1xb2-300i_nus-mini
#   python tools/train.py configs/finetune/fcos3d_convnext-mini-mim4d_fpn_head-gn_1xb1-1e_nus-mini-mono3d.py
_base_ = ['./fcos3d_swin-w64-d1121-geomim_fpn_head-gn_1xb1-1e_nus-mini-mono3d.py']

pretrain_config = 'configs/mim4d/mim4d_convnext-mini-mask_1xb2-300i_nus-mini.py'
pretrained_backbone = 'work_dirs/mim4d_convnext-mini-mask_1xb2-300i_nus-mini/backbone.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='MaskConvNeXt',
        arch=dict(depths=[1, 1, 2, 1], channels=[16, 32, 64, 128]),
        out_indices=(2, 3),
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained_backbone, prefix='backbone.')),
    neck=dict(in_channels=[64, 128]))
optim_wrapper = dict(paramwise_cfg=dict(_delete_=True, layer_decay_rate=0.8, backbone='backbone', norm_decay_mult=0.0))
