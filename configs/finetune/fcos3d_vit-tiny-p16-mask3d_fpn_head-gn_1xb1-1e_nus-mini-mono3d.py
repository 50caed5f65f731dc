# fcos3d_vit-b-p16-mask3d_fpn_head-gn_8xb2-1x_nus-mono3d.py on the bundled nuScenes frames (CPU): the ViT-tiny (width
# 192, 4 layers) of configs/mask3d/mask3d_vit-tiny-p16_1xb1-300i_nus-mini.py with its simple feature pyramid (strides
# 8 / 16 / 32); data, head and schedule as fcos3d_swin-w64-d1121-geomim_fpn_head-gn_1xb1-1e_nus-mini-mono3d.py.
#   python tools/train.py configs/mask3d/mask3d_vit-tiny-p16_1xb1-300i_nus-mini.py
#   python tools/model_converters/extract_backbone.py work_dirs/mask3d_vit-tiny-p16_1xb1-300i_nus-mini
#   python tools/train.py configs/finetune/fcos3d_vit-tiny-p16-mask3d_fpn_head-gn_1xb1-1e_nus-mini-mono3d.py
_base_ = ['./fcos3d_swin-w64-d1121-geomim_fpn_head-gn_1xb1-1e_nus-mini-mono3d.py']

pretrain_config = 'configs/mask3d/mask3d_vit-tiny-p16_1xb1-300i_nus-mini.py'
pretrained_backbone = 'work_dirs/mask3d_vit-tiny-p16_1xb1-300i_nus-mini/backbone.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='Mask3DViT',
        arch=dict(embed_dims=192, num_layers=4, num_heads=3, feedforward_channels=768),
        img_size=(128, 352),  # the pretraining input: its position embedding grid (8 x 22), interpolated
        patch_size=16,
        pyramid_strides=(8, 16, 32),
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained_backbone, prefix='backbone.')),
    neck=dict(in_channels=[192, 192, 192]),
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
