# Small CPU version of BEVFormer-tiny on the bundled nuScenes v1.0-mini tables: train on scene-0523
# (40 key frames), evaluate with the devkit on scene-0916 (official mini_val, 41 key frames).
# Same code as the paper-scale configs with smaller numbers: ResNet-18 (from scratch: no download here),
# 128x352 images, 64 channels, 32x32 BEV (3.2 m cells), 2 encoder / 2 decoder layers, 200 queries,
# clips of 2 key frames. Info files:
#   python tools/create_data.py nuscenes --root-path ../shared/data/nuscenes --version v1.0-mini \
#       --out-dir data/nuscenes_infos
# Train / test (README):
#   python tools/train.py projects/BEVFormer/configs/bevformer-tiny_r18_1xb1-4e_nus-mini.py
#   python tools/test.py projects/BEVFormer/configs/bevformer-tiny_r18_1xb1-4e_nus-mini.py \
#       work_dirs/bevformer-tiny_r18_1xb1-4e_nus-mini/epoch_4.pth
_base_ = ['./bevformer-tiny_r50_8xb1-24e_nus.py', '../../../configs/_base_/datasets/nus-mv-mini.py']

embed_dims = 64
bev_shape = (32, 32)
final_dim = (128, 352)
queue_length = 2

_ffn = dict(
    embed_dims=embed_dims, feedforward_channels=128, num_fcs=2, ffn_drop=0.1, act_cfg=dict(type='ReLU', inplace=True))
model = dict(
    img_backbone=dict(
        depth=18, frozen_stages=-1, norm_cfg=dict(type='BN', requires_grad=True), norm_eval=False, init_cfg=None),
    img_neck=dict(in_channels=[512], out_channels=embed_dims),
    pts_bbox_head=dict(
        embed_dims=embed_dims,
        num_query=200,
        bev_shape=bev_shape,
        encoder=dict(
            num_layers=2,
            layer_cfg=dict(
                temporal_self_attention=dict(embed_dims=embed_dims, num_heads=4),
                spatial_cross_attention=dict(
                    embed_dims=embed_dims, deformable_attention=dict(embed_dims=embed_dims, num_heads=4, num_points=4)),
                ffn=_ffn)),
        decoder=dict(
            num_layers=2,
            layer_cfg=dict(
                self_attn_cfg=dict(embed_dims=embed_dims, num_heads=4),
                cross_attn_cfg=dict(embed_dims=embed_dims, num_heads=4),
                ffn_cfg=_ffn))))

img_aug = dict(
    type='MultiViewImageAug',
    final_dim=final_dim,
    resize_lim=(0.0, 0.0),
    bot_pct_lim=(0.0, 0.0),
    rot_lim=(0.0, 0.0),
    rand_flip=False)
train_pipeline = [
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True, with_attr_label=False),
    dict(
        type='MultiFrameMultiView',
        num_prev_frames=queue_length - 1,
        frame_pipeline=[
            dict(type='LoadMultiViewImages', num_views=6),
            dict(type='MultiViewPhotoMetricDistortion'), img_aug
        ]),
    dict(type='ObjectRangeFilter', point_cloud_range=_base_.point_cloud_range),
    dict(type='ObjectNameFilter', classes=_base_.class_names),
    dict(type='PackMultiViewInputs', keys=['img', 'gt_bboxes_3d', 'gt_labels_3d'], meta_keys=_base_.meta_keys),
]
test_pipeline = [
    dict(
        type='MultiFrameMultiView',
        num_prev_frames=queue_length - 1,
        frame_pipeline=[dict(type='LoadMultiViewImages', num_views=6),
                        dict(img_aug, test_mode=True)]),
    dict(type='PackMultiViewInputs', keys=['img'], meta_keys=_base_.meta_keys),
]
train_dataloader = dict(
    **_base_.nus_mini_loader,
    dataset=dict(
        **_base_.nus_mini_train,
        num_prev_frames=queue_length - 1,
        prev_frame_pool=queue_length,
        pipeline=train_pipeline))
val_dataloader = dict(
    **_base_.nus_mini_loader,
    dataset=dict(**_base_.nus_mini_val, num_prev_frames=queue_length - 1, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='NuScenesMetric', **_base_.nus_mini_evaluator, metric='bbox', modality=dict(use_camera=True, use_lidar=False))
test_evaluator = val_evaluator

max_epochs = 4
optim_wrapper = dict(optimizer=dict(lr=5e-4), paramwise_cfg=dict(custom_keys={'img_backbone': dict(lr_mult=1.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0 / 3, by_epoch=False, begin=0, end=40),
    dict(
        type='CosineAnnealingLR',
        eta_min_ratio=1e-3,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        T_max=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='AtomicCheckpointHook', interval=max_epochs, max_keep_ckpts=1))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
