# BEVFormer-small (official bevformer_small.py): ResNet-101-DCN, single FPN level (C5, stride 32), 150x150 BEV,
# 3 encoder layers, 720x1280 images (0.8x), queue of 3 key frames. Official: 37.0 mAP / 47.9 NDS on val.
_base_ = ['./bevformer-base_r101-dcn_8xb1-24e_nus.py']

bev_shape = (150, 150)
num_levels = 1
queue_length = 3
final_dim = (720, 1280)

model = dict(
    img_backbone=dict(out_indices=(3, )),
    img_neck=dict(in_channels=[2048], num_outs=num_levels),
    pts_bbox_head=dict(
        bev_shape=bev_shape,
        encoder=dict(
            num_layers=3,
            num_feature_levels=num_levels,
            layer_cfg=dict(spatial_cross_attention=dict(deformable_attention=dict(num_levels=num_levels))))))

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
    dict(type='MultiFrameMultiView', frame_pipeline=frame_pipeline, num_prev_frames=queue_length - 1),
    dict(type='ObjectRangeFilter', point_cloud_range={{_base_.point_cloud_range}}),
    dict(type='ObjectNameFilter', classes={{_base_.class_names}}),
    dict(type='PackMultiViewInputs', keys=['img', 'gt_bboxes_3d', 'gt_labels_3d'], meta_keys={{_base_.meta_keys}}),
]
test_pipeline = [
    dict(type='MultiFrameMultiView', frame_pipeline=test_frame_pipeline, num_prev_frames=queue_length - 1),
    dict(type='PackMultiViewInputs', keys=['img'], meta_keys={{_base_.meta_keys}}),
]
train_dataloader = dict(
    dataset=dict(num_prev_frames=queue_length - 1, prev_frame_pool=queue_length, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(num_prev_frames=queue_length - 1, pipeline=test_pipeline))
test_dataloader = val_dataloader
