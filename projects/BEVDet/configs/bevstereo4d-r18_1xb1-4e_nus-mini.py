# BEVStereo4D, small CPU version: bevstereo4d-r50-official_8xb8-cbgs-20e_nus.py on the bundled v1.0-mini tables
# (train scene-0523, test scene-0916 with the devkit). What shrinks: 6 views at 128x352, ResNet-18 from scratch (its
# stage 1, 64 ch at stride 4, is the stereo feature; stages 3/4 -> CustomFPN 64 ch), LSS into a 1.6 m BEV grid
# over +-51.2 m (64x64; 59 sid depth bins 1-58 m, 32 channels), ASPP 16 wide, BEV encoder 64 -> 256 -> 128 channels,
# 4 epochs, no CBGS / EMA. Each sample loads two earlier key frames (fused + stereo reference).
#   python tools/create_data.py nuscenes --root-path ../shared/data/nuscenes --version v1.0-mini \
#       --out-dir data/nuscenes_infos
#   python tools/train.py projects/BEVDet/configs/bevstereo4d-r18_1xb1-4e_nus-mini.py \
#       --work-dir work_dirs/bevstereo4d_small
#   python tools/test.py projects/BEVDet/configs/bevstereo4d-r18_1xb1-4e_nus-mini.py \
#       work_dirs/bevstereo4d_small/epoch_4.pth
_base_ = ['./bevstereo4d-r50-official_8xb8-cbgs-20e_nus.py', '../../../configs/_base_/datasets/nus-mv-mini.py']

input_size = (128, 352)
train_pipeline = [
    *_base_.train_pipeline[:3],
    dict(type='MultiViewImageAug', **_base_.nus_mini_ida_aug_conf), *_base_.train_pipeline[4:]
]
test_pipeline = [
    *_base_.test_pipeline[:2],
    dict(type='MultiViewImageAug', **_base_.nus_mini_ida_aug_conf, test_mode=True), *_base_.test_pipeline[3:]
]
train_dataloader = dict(
    **_base_.nus_mini_loader,
    dataset=dict(
        _base_.train_dataloader.dataset.dataset, _delete_=True, **_base_.nus_mini_train, pipeline=train_pipeline))
val_dataloader = dict(**_base_.nus_mini_loader, dataset=dict(**_base_.nus_mini_val, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(**_base_.nus_mini_evaluator, jsonfile_prefix=None)
test_evaluator = val_evaluator

voxel_size = [0.2, 0.2, 8.0]
grid_config = dict(x=[-51.2, 51.2, 1.6], y=[-51.2, 51.2, 1.6], z=[-5.0, 3.0, 8.0], depth=[1.0, 60.0, 1.0])
bev_channels = 32
model = dict(
    img_backbone=dict(depth=18, with_cp=False, init_cfg=None),
    img_neck=dict(in_channels=[256, 512], out_channels=64),
    img_view_transformer=dict(
        grid_config=grid_config,
        input_size=input_size,
        in_channels=64,
        out_channels=bev_channels,
        depthnet_cfg=dict(aspp_mid_channels=16)),
    pre_process=dict(in_channels=bev_channels, num_channels=[bev_channels]),
    img_bev_encoder_backbone=dict(
        in_channels=bev_channels * 2, num_channels=[bev_channels * 2, bev_channels * 4, bev_channels * 8]),
    img_bev_encoder_neck=dict(in_channels=bev_channels * 8 + bev_channels * 2, out_channels=128),
    pts_bbox_head=dict(in_channels=128, share_conv_channel=32, bbox_coder=dict(voxel_size=voxel_size[:2])),
    train_cfg=dict(pts=dict(grid_size=[512, 512, 1], voxel_size=voxel_size)),
    test_cfg=dict(pts=dict(voxel_size=voxel_size[:2])))

optim_wrapper = dict(optimizer=dict(lr=5e-4))
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
