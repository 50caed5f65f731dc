# UperNet with a ViT, small CPU version: upernet_vit-b-p16-mask3d_8xb2-80k_cityscapes-512x1024.py on the one bundled
# Cityscapes frame (../shared/data/seg2d: 256x128 px, 19 train ids), trained and scored on that frame (an overfit:
# it checks the fine-tune and the mIoU path end to end, it does not measure transfer). What shrinks: the ViT of the
# small Mask3D configs (192 wide, 4 layers, 3 heads: outputs of all 4 layers), a 64-channel UperNet, BN, the
# whole 128x256 frame (no rescale / crop) twice per batch, 200 iterations, no warm-up, float32. Trained from scratch
# here; give model.backbone.init_cfg a converted Mask3D tiny checkpoint (mask3d_to_mmseg.py) to start from one.
#   python tools/train.py configs/seg2d/upernet_vit-tiny-p16_1xb2-200i_cityscapes-frame-128x256.py \
#       --work-dir work_dirs/upernet_vit_tiny_frame
#   python tools/test.py configs/seg2d/upernet_vit-tiny-p16_1xb2-200i_cityscapes-frame-128x256.py \
#       work_dirs/upernet_vit_tiny_frame/iter_200.pth
_base_ = ['./upernet_vit-b-p16-mask3d_8xb2-80k_cityscapes-512x1024.py']

crop_size = (128, 256)
width = 192
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        img_size=crop_size,
        embed_dims=width,
        num_layers=4,
        num_heads=3,
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.0,
        init_cfg=None),
    neck=dict(in_channels=[width] * 4, out_channels=width),
    decode_head=dict(in_channels=[width] * 4, channels=64, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=width, channels=32, norm_cfg=norm_cfg),
    test_cfg=dict(_delete_=True, mode='whole'))

seg2d_root = '../shared/data/seg2d/cityscapes_dataset/'
train_pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'), dict(type='PackSegInputs')]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'), dict(type='PackSegInputs')]
frame = dict(
    type='CityscapesDataset',
    data_root=seg2d_root,
    data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val'))
# batch 2 (the frame twice, differently dropped-out): UperNet's 1x1 pyramid-pooling BN needs more than one value
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False, dataset=dict(**frame, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False, dataset=dict(**frame, pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(_base_.optim_wrapper.optimizer, lr=1e-3),
    constructor=_base_.optim_wrapper.constructor,
    paramwise_cfg=_base_.optim_wrapper.paramwise_cfg)
max_iters = 200
param_scheduler = [dict(type='PolyLR', eta_min=0.0, power=1.0, begin=0, end=max_iters, by_epoch=False)]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=20), checkpoint=dict(interval=max_iters, max_keep_ckpts=1), visualization=dict(draw=False))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
