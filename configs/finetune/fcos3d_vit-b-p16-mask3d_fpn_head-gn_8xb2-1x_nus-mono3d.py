# mmdet3d's own FCOS3D with the Mask3D-pretrained ViT-B/16 (nuScenes camera + LiDAR depth pretraining): the swap of
# fcos3d_swin-b-geomim_fpn_head-gn_8xb2-1x_nus-mono3d.py, with the ViT's simple feature pyramid (ViTDet: strides 8 /
# 16 / 32 from the last map, parameter-free, so every backbone weight is pretrained) into FPN at FCOS3D's own head
# strides (8 ... 128), layer-wise lr decay 0.65 (ViT fine-tuning).
#   python tools/train.py configs/mask3d/mask3d_vit-b-p16_8xb4-amp-coslr-50e_nus.py
#   python tools/model_converters/extract_backbone.py work_dirs/mask3d_vit-b-p16_8xb4-amp-coslr-50e_nus
#   bash tools/dist_train.sh configs/finetune/fcos3d_vit-b-p16-mask3d_fpn_head-gn_8xb2-1x_nus-mono3d.py 8
_base_ = ['./fcos3d_swin-b-geomim_fpn_head-gn_8xb2-1x_nus-mono3d.py']

pretrain_config = 'configs/mask3d/mask3d_vit-b-p16_8xb4-amp-coslr-50e_nus.py'
pretrained_backbone = 'work_dirs/mask3d_vit-b-p16_8xb4-amp-coslr-50e_nus/backbone.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='Mask3DViT',
        arch='b',
        img_size=(256, 704),  # the pretraining input: its position embedding grid (16 x 44), interpolated
        patch_size=16,
        pyramid_strides=(8, 16, 32),
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained_backbone, prefix='backbone.')),
    neck=dict(in_channels=[768, 768, 768]),
    bbox_head=dict(strides=[8, 16, 32, 64, 128]))
optim_wrapper = dict(
    paramwise_cfg=dict(
        _delete_=True,
        layer_decay_rate=0.65,
        backbone='backbone',
        norm_decay_mult=0.0,
        custom_keys={
            'pos_embed': dict(decay_mult=0.0),
            'cls_token': dict(decay_mult=0.0)
        }))
