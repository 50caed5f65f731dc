# mmdet3d's own FCOS3D with the MIM4D-pretrained ConvNeXt-S: the swap of
# fcos3d_swin-b-geomim_fpn_head-gn_8xb2-1x_nus-mono3d.py (plugin import, backbone.pth with prefix 'backbone.',
# ImageNet RGB normalisation as the pretraining, the pretrained stages 3 and 4 (384 / 768 ch) into FPN with the head
# strides following, AdamW with layer-wise lr decay).
#   python tools/train.py configs/mim4d/mim4d_convnext-s-mask_8xb1-amp-12e_nus-pretrain.py
#   python tools/model_converters/extract_backbone.py work_dirs/mim4d_convnext-s-mask_8xb1-amp-12e_nus-pretrain
#   bash tools/dist_train.sh configs/finetune/fcos3d_convnext-s-mim4d_fpn_head-gn_8xb2-1x_nus-mono3d.py 8
_base_ = ['./fcos3d_swin-b-geomim_fpn_head-gn_8xb2-1x_nus-mono3d.py']

pretrain_config = 'configs/mim4d/mim4d_convnext-s-mask_8xb1-amp-12e_nus-pretrain.py'
pretrained_backbone = 'work_dirs/mim4d_convnext-s-mask_8xb1-amp-12e_nus-pretrain/backbone.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='MaskConvNeXt',  # without a mask: a plain ConvNeXt (mmpretrain's keys)
        arch='small',
        out_indices=(2, 3),
        drop_path_rate=0.2,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained_backbone, prefix='backbone.')),
    neck=dict(in_channels=[384, 768]))
optim_wrapper = dict(paramwise_cfg=dict(_delete_=True, layer_decay_rate=0.8, backbone='backbone', norm_decay_mult=0.0))
