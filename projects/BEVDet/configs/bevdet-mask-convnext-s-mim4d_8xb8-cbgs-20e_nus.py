# BEVDet (ResNet-50 recipe of bevdet-r50_8xb8-cbgs-20e_nus.py: 256 x 704, LSS, CenterHead, CBGS, 20 epochs) with
# the ConvNeXt-S pretrained by MIM4D (configs/mim4d/mim4d_convnext-s-mask_8xb1-amp-12e_nus-pretrain.py) as image
# backbone: MaskConvNeXt without a mask is a plain ConvNeXt; its stages 2 and 3 (stride 16 and 32) are fused by
# CustomFPN into the stride-16 map of the view transformer. The backbone: extract_backbone.py of the pretraining run
# (python tools/model_converters/extract_backbone.py work_dirs/mim4d_convnext-s-mask_8xb1-amp-12e_nus-pretrain).
_base_ = ['./bevdet-r50_8xb8-cbgs-20e_nus.py']
custom_imports = dict(imports=['mim3d_plugin', 'projects.BEVDet.bevdet'], allow_failed_imports=False)

pretrain_config = 'configs/mim4d/mim4d_convnext-s-mask_8xb1-amp-12e_nus-pretrain.py'
pretrained_backbone = 'work_dirs/mim4d_convnext-s-mask_8xb1-amp-12e_nus-pretrain/backbone.pth'
model = dict(
    img_backbone=dict(
        _delete_=True,
        type='MaskConvNeXt',
        arch='small',
        out_indices=(2, 3),
        gap_before_final_norm=False,
        drop_path_rate=0.2,
        init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint=pretrained_backbone)),
    img_neck=dict(_delete_=True, type='CustomFPN', in_channels=[384, 768], out_channels=512, out_ids=(0, )))
