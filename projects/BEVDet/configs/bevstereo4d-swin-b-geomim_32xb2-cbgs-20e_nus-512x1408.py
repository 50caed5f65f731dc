# BEVStereo4D with the GeoMIM Swin-B at 512x1408: GeoMIM's best detection row (52.04 mAP / 60.92 NDS on nuScenes
# val; official BEVDet Swin-B at this size 47.2 / 57.6), as Sense-X/GeoMIM bevdet/configs/bevdet_geomim/
# bevdet-swinb-4d-stereo-512x1408-cbgs-geomim.py: bevstereo4d-swin-b-geomim_8xb8-cbgs-20e_nus.py at 512x1408 px
# (BEVDet's image augmentation), batch 32 x 2, layer-wise lr decay 0.85 (official for this row), 20 epochs.
_base_ = ['./bevstereo4d-swin-b-geomim_8xb8-cbgs-20e_nus.py']

input_size = (512, 1408)
model = dict(img_view_transformer=dict(input_size=input_size))
ida_aug_conf = dict(_base_.ida_aug_conf, final_dim=input_size)
train_pipeline = [
    *_base_.train_pipeline[:3],
    dict(type='MultiViewImageAug', **ida_aug_conf), *_base_.train_pipeline[4:]
]
test_pipeline = [
    *_base_.test_pipeline[:2],
    dict(type='MultiViewImageAug', **ida_aug_conf, test_mode=True), *_base_.test_pipeline[3:]
]
train_dataloader = dict(batch_size=2, dataset=dict(dataset=dict(pipeline=train_pipeline)))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.85))
auto_scale_lr = dict(enable=False, base_batch_size=64)
