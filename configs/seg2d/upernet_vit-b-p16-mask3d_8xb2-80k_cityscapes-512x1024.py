# UperNet with a Mask3D ViT-B/16 (Hou et al., CVPR 2023: Mask3D's 2D evaluation, here its Cityscapes row) on
# Cityscapes, 19 classes. Model: mmsegmentation's ViT-B + multi-level neck + UperNet (mmseg::_base_/models/
# upernet_vit-b16_ln_mln.py) with the backbone's 4 outputs at layers 4/6/8/12 and its final norm as the MAE recipe
# reads them; the backbone is Mask3D's RGB encoder converted by tools/model_converters/mask3d_to_mmseg.py
# (position table resized to the 32 x 64 grid of a 512x1024 crop). Recipe: the ViT/MAE + UperNet fine-tune of
# mmsegmentation (mmseg::mae/mae-base_upernet_8xb2-amp-160k_ade20k-512x512.py: AdamW 1e-4, betas (0.9, 0.999),
# weight decay 0.05 except norms, biases, position and cls tokens, layer-wise lr decay 0.65, 1500-iteration linear
# warm-up, poly decay, drop path 0.1, batch 8 x 2, AMP) with Cityscapes' standard 80k iterations and 512x1024
# crops (mmseg::_base_/datasets/cityscapes.py; sliding-window test); the Mask3D paper's own schedule is not public.
#   python tools/model_converters/mask3d_to_mmseg.py MASK3D.pth checkpoints/mask3d_vit-b-p16_mmseg-512x1024.pth \
#       --src-grid 15 20 --config configs/seg2d/upernet_vit-b-p16-mask3d_8xb2-80k_cityscapes-512x1024.py
#   bash tools/dist_train.sh configs/seg2d/upernet_vit-b-p16-mask3d_8xb2-80k_cityscapes-512x1024.py 8
_base_ = [
    'mmseg::_base_/models/upernet_vit-b16_ln_mln.py', 'mmseg::_base_/datasets/cityscapes.py',
    'mmseg::_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_80k.py'
]
custom_imports = dict(imports=['mim3d_plugin', 'mim3d_plugin.seg2d'], allow_failed_imports=False)

crop_size = (512, 1024)
num_classes = 19
pretrained_backbone = 'checkpoints/mask3d_vit-b-p16_mmseg-512x1024.pth'
model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained=None,
    backbone=dict(
        img_size=crop_size,
        out_indices=(3, 5, 7, 11),
        patch_bias=True,  # mmpretrain / Mask3D patch embeddings have a bias
        final_norm=True,  # the pretrained final LayerNorm on the last output
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained_backbone)),
    decode_head=dict(num_classes=num_classes),
    auxiliary_head=dict(num_classes=num_classes),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 341)))

optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    dtype='bfloat16',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='mmdet3d.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=0.65,
        backbone='backbone',
        flat_decay_mult=0.0,
        custom_keys={
            'pos_embed': dict(decay_mult=0.0),
            'cls_token': dict(decay_mult=0.0)
        }))
max_iters = 80000
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=max_iters, by_epoch=False),
]
train_cfg = dict(max_iters=max_iters)
train_dataloader = dict(batch_size=2)
