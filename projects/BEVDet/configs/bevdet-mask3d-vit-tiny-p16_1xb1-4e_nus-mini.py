# BEVDet on nuScenes v1.0-mini with the Mask3D-pretrained ViT as image backbone (masking and depth
# encoder off): the small Mask3D nuScenes run (same ViT: width 192, 4 layers, patch 16, 128 x 352
# input = 8 x 22 grid) gives the weights,
#   python tools/train.py configs/mask3d/mask3d_vit-tiny-p16_1xb1-300i_nus-mini.py
#   python tools/model_converters/extract_backbone.py work_dirs/mask3d_vit-tiny-p16_1xb1-300i_nus-mini
# and a simple feature pyramid (CustomFPN = mmdet FPN over the stride-16 maps of ViT layers 2 and
# 4, top-down fused, stride-16 output) feeds the LSS view transformer. Everything else (LSS, BEV
# encoder, CenterHead, data, schedule, layer-wise lr decay 0.8) is
# bevdet-swin-w64-d1121_1xb1-4e_nus-mini.py.
#   python tools/train.py projects/BEVDet/configs/bevdet-mask3d-vit-tiny-p16_1xb1-4e_nus-mini.py \
#       --work-dir work_dirs/bevdet_mask3d_small
_base_ = ['./bevdet-swin-w64-d1121_1xb1-4e_nus-mini.py']

pretrain_config = 'configs/mask3d/mask3d_vit-tiny-p16_1xb1-300i_nus-mini.py'
pretrained_backbone = 'work_dirs/mask3d_vit-tiny-p16_1xb1-300i_nus-mini/backbone.pth'
input_size = (128, 352)
vit_width = 192
model = dict(
    img_backbone=dict(
        _delete_=True,
        type='Mask3DViT',
        arch=dict(embed_dims=vit_width, num_layers=4, num_heads=3, feedforward_channels=768),
        img_size=input_size,
        patch_size=16,
        out_indices=(1, 3),
        out_type='featmap',
        with_depth_encoder=False,
        pyramid_strides=None,  # the stride-16 maps of the out_indices layers, fused by the neck
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint=pretrained_backbone)),
    img_neck=dict(_delete_=True, type='CustomFPN', in_channels=[vit_width, vit_width], out_channels=256, out_ids=(0, )),
    img_neck_out_index=0,
    img_view_transformer=dict(in_channels=256))
