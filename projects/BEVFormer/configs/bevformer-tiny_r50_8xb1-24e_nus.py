# BEVFormer-tiny (official bevformer_tiny.py): ResNet-50 (ImageNet, pytorch style), single FPN level (C5),
# 50x50 BEV (2.048 m cells), 3 encoder layers, 450x800 images (0.5x), queue of 3 key frames.
# Official: 25.2 mAP / 35.4 NDS on val.
_base_ = ['./bevformer-small_r101-dcn_8xb1-24e_nus.py']

bev_shape = (50, 50)
final_dim = (450, 800)

model = dict(
    data_preprocessor=dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
    img_backbone=dict(
        _delete_=True,
        type='mmdet.ResNet',
        depth=50,
        num_stages=4,
        out_indices=(3, ),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    pts_bbox_head=dict(bev_shape=bev_shape))

img_aug = dict(
    type='MultiViewImageAug',
    final_dim=final_dim,
    resize_lim=(0.0, 0.0),
    bot_pct_lim=(0.0, 0.0),
    rot_lim=(0.0, 0.0),
    rand_flip=False)
frame_pipeline = [dict(type='LoadMultiViewImages', num_views=6), dict(type='MultiViewPhotoMetricDistortion'), img_aug]
test_frame_pipeline = [dict(type='LoadMultiViewImages', num_views=6), dict(img_aug, test_mode=True)]
train_pipeline = [
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True, with_attr_label=False),
    dict(type='MultiFrameMultiView', frame_pipeline=frame_pipeline, num_prev_frames=2),
    dict(type='ObjectRangeFilter', point_cloud_range={{_base_.point_cloud_range}}),
    dict(type='ObjectNameFilter', classes={{_base_.class_names}}),
    dict(type='PackMultiViewInputs', keys=['img', 'gt_bboxes_3d', 'gt_labels_3d'], meta_keys={{_base_.meta_keys}}),
]
test_pipeline = [
    dict(type='MultiFrameMultiView', frame_pipeline=test_frame_pipeline, num_prev_frames=2),
    dict(type='PackMultiViewInputs', keys=['img'], meta_keys={{_base_.meta_keys}}),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
