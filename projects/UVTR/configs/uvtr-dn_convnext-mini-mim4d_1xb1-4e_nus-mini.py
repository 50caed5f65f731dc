# Small CPU version of UVTR-DN (uvtr-dn_convnext-s-mim4d_8xb1-amp-12e_nus-vs0.075.py) on the bundled nuScenes
# v1.0-mini tables: train on scene-0523 (40 key frames), evaluate with the devkit on scene-0916 (official mini_val,
# 41 key frames). Same code with smaller numbers: a 4-stage ConvNeXt of 16..128 channels (the MIM4D small
# pretraining's, from scratch here), 128 x 352 images, 64 channels, a 30 x 30 x 5 volume of 3.6 x 3.6 x 1.6 m,
# 59 depth bins of 1 m, 100 queries, 2 decoder layers, 4 epochs, float32.
# Info files: python tools/create_data.py nuscenes --root-path ../shared/data/nuscenes --version v1.0-mini \
#     --out-dir data/nuscenes_infos
# Train / test (projects/UVTR/README.md):
#   python tools/train.py projects/UVTR/configs/uvtr-dn_convnext-mini-mim4d_1xb1-4e_nus-mini.py
#   python tools/test.py projects/UVTR/configs/uvtr-dn_convnext-mini-mim4d_1xb1-4e_nus-mini.py \
#       work_dirs/uvtr-dn_convnext-mini-mim4d_1xb1-4e_nus-mini/epoch_4.pth
_base_ = ['./uvtr-dn_convnext-s-mim4d_8xb1-amp-12e_nus-vs0.075.py', '../../../configs/_base_/datasets/nus-mv-mini.py']

embed_dims = 64
final_dim = (128, 352)
voxel_size = [3.6, 3.6, 1.6]
_ffn = dict(
    type='FFN',
    embed_dims=embed_dims,
    feedforward_channels=128,
    num_fcs=2,
    ffn_drop=0.1,
    act_cfg=dict(type='ReLU', inplace=True))
model = dict(
    img_backbone=dict(
        _delete_=True,
        type='MaskConvNeXt',
        arch=dict(depths=[1, 1, 2, 1], channels=[16, 32, 64, 128]),
        out_indices=(3, ),
        gap_before_final_norm=False,
        drop_path_rate=0.1),
    img_neck=dict(in_channels=[128], out_channels=embed_dims),
    neck_channels=embed_dims,
    depth_net=dict(aspp_mid_channels=16),
    view_transform=dict(voxel_size=voxel_size, depth_step=1.0, embed_dims=embed_dims),
    pts_bbox_head=dict(
        num_query=100,
        embed_dims=embed_dims,
        transformer=dict(
            decoder=dict(
                num_layers=2,
                transformerlayers=dict(
                    attn_cfgs=[
                        dict(type='MultiheadAttention', embed_dims=embed_dims, num_heads=4, dropout=0.1),
                        dict(type='UVTRCrossAttention', embed_dims=embed_dims, num_points=1, dropout=0.1)
                    ],
                    ffn_cfgs=_ffn)))))

img_aug = dict(
    type='MultiViewImageAug',
    final_dim=final_dim,
    resize_lim=(0.0, 0.0),
    bot_pct_lim=(0.0, 0.0),
    rot_lim=(0.0, 0.0),
    rand_flip=False)
train_pipeline = [
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True, with_attr_label=False),
    dict(type='LoadMultiViewImages', num_views=6),
    dict(type='MultiViewPhotoMetricDistortion'),
    img_aug,
    _base_.bev_aug,
    dict(type='ObjectRangeFilter', point_cloud_range=_base_.point_cloud_range),
    dict(type='ObjectNameFilter', classes=_base_.class_names),
    dict(type='PackMultiViewInputs', keys=['img', 'gt_bboxes_3d', 'gt_labels_3d'], meta_keys=_base_.meta_keys),
]
test_pipeline = [
    dict(type='LoadMultiViewImages', num_views=6),
    dict(img_aug, test_mode=True),
    dict(type='PackMultiViewInputs', keys=['img'], meta_keys=_base_.meta_keys),
]
train_dataloader = dict(**_base_.nus_mini_loader, dataset=dict(**_base_.nus_mini_train, pipeline=train_pipeline))
val_dataloader = dict(**_base_.nus_mini_loader, dataset=dict(**_base_.nus_mini_val, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='NuScenesMetric', **_base_.nus_mini_evaluator, metric='bbox', modality=dict(use_camera=True, use_lidar=False))
test_evaluator = val_evaluator

max_epochs = 4
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=5e-4, weight_decay=0.01),
    clip_grad=dict(max_norm=35, norm_type=2))
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
