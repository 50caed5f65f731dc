# BEVDet, small CPU version on the bundled nuScenes v1.0-mini tables: trains on scene-0523 (40 key frames)
# and evaluates on scene-0916 (the official mini_val split) with the nuScenes devkit. bevdet-r50_8xb8-cbgs-20e_nus.py
# with smaller numbers: 6 views at 128x352, the GeoMIM Swin of the small GeoMIM
# pretraining config (configs/geomim/geomim_swin-w64-d1121_1xb1-8e_nus-mini.py: width 64, depths 1-1-2-1,
# masking off, fused stride-16 output), LSS into a 1.6 m BEV grid over +-51.2 m (64x64, 59 depth bins),
# BEV encoder 32 -> 128 channels, CenterHead with the 6 CenterPoint task groups. Trained from scratch here;
# bevdet-swin-w64-d1121-geomim_1xb1-4e_nus-mini.py starts the backbone from a GeoMIM checkpoint.
#   python tools/create_data.py nuscenes --root-path ../shared/data/nuscenes --version v1.0-mini \
#       --out-dir data/nuscenes_infos
#   python tools/train.py projects/BEVDet/configs/bevdet-swin-w64-d1121_1xb1-4e_nus-mini.py \
#       --work-dir work_dirs/bevdet_small
#   python tools/test.py projects/BEVDet/configs/bevdet-swin-w64-d1121_1xb1-4e_nus-mini.py \
#       work_dirs/bevdet_small/epoch_4.pth --out-dir work_dirs/bevdet_small/results
_base_ = ['./bevdet-r50_8xb8-cbgs-20e_nus.py', '../../../configs/_base_/datasets/nus-mv-mini.py']

# ---- data: the bundled v1.0-mini tables, 128x352 px, batch 1, no CBGS
input_size = (128, 352)
ida_aug_conf = _base_.nus_mini_ida_aug_conf
bda_aug_conf = _base_.bda_aug_conf
train_pipeline = [
    dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5),
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True, with_attr_label=False),
    dict(type='LoadMultiViewImages', num_views=6),
    dict(type='MultiViewImageAug', **ida_aug_conf),
    _base_.ego_frame,
    dict(type='BEVAug', **bda_aug_conf),
    dict(type='ObjectRangeFilter', point_cloud_range=_base_.point_cloud_range),
    dict(type='ObjectNameFilter', classes=_base_.class_names),
    dict(type='PointsToMultiViewDepth'),
    dict(type='PackMultiViewInputs', keys=['img', 'points', 'depth', 'gt_bboxes_3d', 'gt_labels_3d']),
]
test_pipeline = [
    dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5),
    dict(type='LoadMultiViewImages', num_views=6),
    dict(type='MultiViewImageAug', **ida_aug_conf, test_mode=True),
    _base_.ego_frame,
    dict(type='PointsToMultiViewDepth'),
    dict(type='PackMultiViewInputs', keys=['img', 'points', 'depth']),
]
train_dataloader = dict(
    **_base_.nus_mini_loader,
    dataset=dict(
        _base_.train_dataloader.dataset.dataset, _delete_=True, **_base_.nus_mini_train, pipeline=train_pipeline))
val_dataloader = dict(**_base_.nus_mini_loader, dataset=dict(**_base_.nus_mini_val, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(**_base_.nus_mini_evaluator, jsonfile_prefix=None)
test_evaluator = val_evaluator

# ---- model: the small GeoMIM Swin (fused stride-16 map, no neck), a 1.6 m BEV grid (64x64), narrower BEV encoder/head
voxel_size = [0.2, 0.2, 8.0]
grid_config = dict(x=[-51.2, 51.2, 1.6], y=[-51.2, 51.2, 1.6], z=[-5.0, 3.0, 8.0], depth=[1.0, 60.0, 1.0])
bev_channels = 32
model = dict(
    img_backbone=dict(
        _delete_=True,
        type='GeoMIMSwin',
        arch=dict(embed_dims=64, depths=[1, 1, 2, 1], num_heads=[2, 4, 8, 16]),
        # position embedding stored at the pretraining size (loads without resizing), interpolated to 128x352
        img_size=(96, 256),
        window_size=(8, 8, 8, 4),
        use_mask=False,
        out_indices=(2, ),
        out_fused=True,
        drop_path_rate=0.1,
        init_cfg=None),
    img_neck=None,
    img_neck_out_index=0,  # the fused stride-16 map (4 * 64 channels)
    img_view_transformer=dict(
        grid_config=grid_config, input_size=input_size, in_channels=4 * 64, out_channels=bev_channels),
    img_bev_encoder_backbone=dict(
        in_channels=bev_channels, num_channels=[bev_channels * 2, bev_channels * 4, bev_channels * 8]),
    img_bev_encoder_neck=dict(in_channels=bev_channels * 8 + bev_channels * 2, out_channels=128),
    pts_bbox_head=dict(in_channels=128, share_conv_channel=32, bbox_coder=dict(voxel_size=voxel_size[:2])),
    train_cfg=dict(pts=dict(grid_size=[512, 512, 1], voxel_size=voxel_size)),
    test_cfg=dict(pts=dict(voxel_size=voxel_size[:2])))

# ---- schedule: 4 epochs, lr 5e-4 with layer-wise decay 0.8 on the backbone (GeoMIM fine-tuning recipe), a
# 20-iteration warm-up from 0.1, x0.1 after epoch 3, no EMA
optim_wrapper = dict(
    optimizer=dict(lr=5e-4),
    constructor='LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.8, backbone='img_backbone'))
max_epochs = 4
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='MultiStepLR', by_epoch=True, milestones=[3], gamma=0.1, begin=0, end=max_epochs),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
custom_hooks = [dict(type='HeadClassOrderHook')]
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(max_keep_ckpts=2))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
log_processor = dict(window_size=5)
randomness = dict(seed=0)
