# BEVDet4D-Occ (occupancy, Occ3D-nuScenes) with ResNet-50: the model family of the official BEVDet-Occ configs
# (HuangJunJie2017/BEVDet dev2.1 configs/bevdet_occ/bevdet-occ-r50-4d-stereo-24e.py; GeoMIM's occupancy rows,
# Sense-X/GeoMIM bevdet/configs/bevdet_geomim/bevdet-occ-swinb-4d-stereo-512x1408-24e-geomim.py) without the stereo
# depth (with it: bevstereo4d-occ-r50_8xb4-24e_occ3d-nus.py, the official model): the BEVDet4D R50 image encoder
# (bevdet4d-r50-official_8xb8-cbgs-20e_nus.py) -> LSS into the Occ3D grid keeping Z (0.4 m voxels over x, y in [-40, 40]
# m, z in [-1, 5.4] m: 200 x 200 x 16; depth bins 1-45 m every 0.5 m; 32 channels) -> per-frame pre_process (one 3D
# BasicBlock) -> previous frame lifted into the current frame, concatenated -> 3D ResNet [1, 2, 4] blocks (32, 64, 128
# ch, strides 1, 2, 2) + 3D LSS FPN -> occupancy head (3x3x3 conv + Softplus MLP, 18 classes, cross-entropy inside
# mask_camera) and the LiDAR depth loss (weight 0.05). Recipe: AdamW 1e-4, wd 1e-2, grad clip 5, 200-iteration warm-up,
# 24 epochs, batch 8 x 4, EMA, BEV augmentation = random x / y flips only (labels flipped with the BEV). Frame: the ego
# frame at the LiDAR timestamp, the labels' frame (the official uses CAM_FRONT's ego pose). The official file's runner
# says 100 epochs (its name and the GeoMIM paper: 24) and it starts from the BEVStereo4D detection checkpoint
# (load_from); set load_from to a converted BEVDet4D detection checkpoint to do the same. Other backbones: the
# -convnext-s-mim4d, -vit-b-p16-mask3d variants of this file; GeoMIM:
# bevstereo4d-occ-swin-b-geomim_32xb2-24e_occ3d-nus-512x1408.py.
# Data: the Occ3D-nuScenes release's gts/<scene>/<token>/labels.npz under data/nuscenes/ (as BEVDet-Occ).
#   python tools/train.py projects/BEVDet/configs/bevdet4d-occ-r50_8xb4-24e_occ3d-nus.py --launcher pytorch
_base_ = ['./bevdet4d-r50-official_8xb8-cbgs-20e_nus.py']

occ_grid = dict(x=[-40.0, 40.0, 0.4], y=[-40.0, 40.0, 0.4], z=[-1.0, 5.4, 0.4], depth=[1.0, 45.0, 0.5])
occ_channels = 32
num_adjacent = 1
occ_root = 'data/nuscenes/'
model = dict(
    img_view_transformer=dict(grid_config=occ_grid, out_channels=occ_channels, collapse_z=False),
    pre_process=dict(
        _delete_=True,
        type='BEVResNet3D',
        numC_input=occ_channels,
        num_layer=[1],
        num_channels=[occ_channels],
        stride=[1],
        backbone_output_ids=[0]),
    img_bev_encoder_backbone=dict(
        _delete_=True,
        type='BEVResNet3D',
        numC_input=occ_channels * (1 + num_adjacent),
        num_layer=[1, 2, 4],
        num_channels=[occ_channels, occ_channels * 2, occ_channels * 4],
        stride=[1, 2, 2],
        backbone_output_ids=[0, 1, 2]),
    img_bev_encoder_neck=dict(_delete_=True, type='LSSFPN3D', in_channels=occ_channels * 7, out_channels=occ_channels),
    pts_bbox_head=None,
    occ_head=dict(
        type='BEVOccHead',
        in_channels=occ_channels,
        out_dim=32,
        num_classes=18,
        use_mask=True,
        grid_shape_xyz=(200, 200, 16),
        loss_occ=dict(type='mmdet.CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    depth_loss_weight=0.05,
    train_cfg=None,
    test_cfg=None)

occ_ego_frame = dict(type='LiDARToEgoFrame', ego_cam=None)
occ_bda = dict(type='BEVAug', rot_lim=(0.0, 0.0), scale_lim=(1.0, 1.0), flip_dx_ratio=0.5, flip_dy_ratio=0.5)
occ_load = dict(type='LoadOcc3DLabels', occ_root=occ_root)
train_pipeline = [
    dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5),
    dict(type='LoadMultiViewImages', num_views=6),
    dict(type='MultiViewImageAug', **_base_.ida_aug_conf),
    occ_ego_frame,
    occ_bda,
    occ_load,
    dict(type='PointsToMultiViewDepth'),
    dict(type='PackMultiViewInputs', keys=['img', 'points', 'depth']),
]
test_pipeline = [
    dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5),
    dict(type='LoadMultiViewImages', num_views=6),
    dict(type='MultiViewImageAug', **_base_.ida_aug_conf, test_mode=True),
    occ_ego_frame,
    occ_load,
    dict(type='PackMultiViewInputs', keys=['img']),
]
train_dataloader = dict(
    batch_size=4,
    dataset=dict(
        _delete_=True,
        type='BEVDet4DDataset',
        num_adjacent=num_adjacent,
        data_root='data/nuscenes/',
        ann_file='nuscenes_infos_train.pkl',
        pipeline=train_pipeline,
        cameras=_base_.cameras,
        metainfo=_base_.metainfo,
        modality=_base_.input_modality,
        data_prefix=_base_.data_prefix,
        test_mode=False,
        filter_empty_gt=False,
        box_type_3d='LiDAR',
        backend_args=None))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='Occ3DMetric', use_image_mask=True)
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(lr=1e-4, weight_decay=1e-2), clip_grad=dict(max_norm=5, norm_type=2))
max_epochs = 24
param_scheduler = [dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=200)]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
custom_hooks = [
    dict(
        type='EMAHook',
        ema_type='MEGVIIEMA',
        decay=0.999,
        gamma=2000,
        init_updates=10560,
        update_buffers=True,
        priority=49)
]  # the official occupancy configs: EMA, no SequentialControlHook (the previous frame is used from the start)
auto_scale_lr = dict(enable=False, base_batch_size=32)
