# BEVDet4D-Occ with the MIM4D-pretrained ConvNeXt-S (configs/mim4d/mim4d_convnext-s-mask_8xb1-amp-12e_nus-pretrain.py):
# bevdet4d-occ-r50_8xb4-24e_occ3d-nus.py with the backbone and neck of bevdet-mask-convnext-s-mim4d_8xb8-cbgs-20e_nus.py
# (stages 3/4 -> CustomFPN, 256 ch at stride 16 as the occupancy R50). The MIM4D paper reports no occupancy row:
# this is the transfer experiment the project makes possible, not a reproduction.
_base_ = ['./bevdet4d-occ-r50_8xb4-24e_occ3d-nus.py']

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
    img_neck=dict(_delete_=True, type='CustomFPN', in_channels=[384, 768], out_channels=256, out_ids=(0, )))
