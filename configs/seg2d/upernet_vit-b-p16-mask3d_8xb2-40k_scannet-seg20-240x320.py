# UperNet with a Mask3D ViT-B/16 on ScanNet image semantic segmentation, the 20 benchmark classes (Mask3D's headline
# 2D result: +6.5 mIoU over Pri3D). The Cityscapes config's model and ViT/MAE fine-tune recipe; data: ScanNet 2D
# frames at 240x320, Mask3D's pretraining size (so the position table loads without resizing), random scale
# 0.5-2.0 + crop + flip + photometric jitter; 40k iterations at batch 8 x 2; whole-image test. The ScanNet frames and
# their NYU40 label PNGs go under data/scannet_seg/{images,labels}/{train,val}/ (mim3d_plugin/seg2d/datasets.py).
#   python tools/model_converters/mask3d_to_mmseg.py MASK3D.pth checkpoints/mask3d_vit-b-p16_mmseg-240x320.pth \
#       --src-grid 15 20 --config configs/seg2d/upernet_vit-b-p16-mask3d_8xb2-40k_scannet-seg20-240x320.py
_base_ = ['./upernet_vit-b-p16-mask3d_8xb2-80k_cityscapes-512x1024.py']

crop_size = (240, 320)
num_classes = 20
pretrained_backbone = 'checkpoints/mask3d_vit-b-p16_mmseg-240x320.pth'
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(img_size=crop_size, init_cfg=dict(checkpoint=pretrained_backbone)),
    decode_head=dict(num_classes=num_classes),
    auxiliary_head=dict(num_classes=num_classes),
    test_cfg=dict(_delete_=True, mode='whole'))

dataset_type = 'ScanNetSeg20Dataset'
data_root = 'data/scannet_seg/'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(320, 240), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(320, 240), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='images/train', seg_map_path='labels/train'),
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='images/val', seg_map_path='labels/val'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader

max_iters = 40000
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=max_iters, by_epoch=False),
]
train_cfg = dict(max_iters=max_iters, val_interval=4000)
default_hooks = dict(checkpoint=dict(interval=4000))
