# BEVDet4D-R50-CBGS exactly as the official BEVDet dev2.1 config (HuangJunJie2017/BEVDet configs/bevdet/
# bevdet-r50-4d-cbgs.py), so that its released checkpoint loads and evaluates here: the BEVDet4D detector of
# bevdet4d-swin-b_8xb8-cbgs-20e_nus.py (80-ch LSS, per-frame pre_process, one previous frame, one 10-class task with
# per-class Scale-NMS) with the ResNet-50 + CustomFPN (256 ch) image encoder, the official frustum pixels and
# voxel index (LSSViewTransformer frustum_pixels='linspace', coord_rounding='trunc').
#   python tools/model_converters/bevdet_official_to_mim3d.py bevdet-r50-4d-cbgs.pth \
#       checkpoints/bevdet4d-r50_mim3d.pth \
#       --config projects/BEVDet/configs/bevdet4d-r50-official_8xb8-cbgs-20e_nus.py
_base_ = ['./bevdet4d-swin-b_8xb8-cbgs-20e_nus.py']

model = dict(
    img_backbone=dict(
        _delete_=True,
        type='mmdet.ResNet',
        depth=50,
        num_stages=4,
        out_indices=(2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        with_cp=True,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    img_neck=dict(_delete_=True, type='CustomFPN', in_channels=[1024, 2048], out_channels=256, out_ids=(0, )),
    img_view_transformer=dict(frustum_pixels='linspace', coord_rounding='trunc'))
