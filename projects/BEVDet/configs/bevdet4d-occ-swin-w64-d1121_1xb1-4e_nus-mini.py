# BEVDet4D-Occ, small CPU version: bevdet4d-occ-r50_8xb4-24e_occ3d-nus.py on the bundled v1.0-mini frames with the
# derived occupancy labels (tools/create_occ_labels.py: Occ3D's layout and grid, NOT Occ3D; classes from the
# boxes, the drivable-area raster at ground level, "others" for any other static voxel), trained on scene-0523,
# scored on scene-0916. What shrinks: 6 views at 128x352, the small GeoMIM Swin of
# bevdet-swin-w64-d1121_1xb1-4e_nus-mini.py, 8 voxel channels, one block per 3D stage (8, 16, 32 ch), 1 m depth
# bins, 4 epochs at lr 2e-3 (10-iteration warm-up), no EMA. The label grid (200 x 200 x 16 voxels of 0.4 m) is the
# paper's.
#   python tools/create_data.py nuscenes --root-path ../shared/data/nuscenes --version v1.0-mini \
#       --out-dir data/nuscenes_infos
#   python tools/create_occ_labels.py --root-path ../shared/data/nuscenes --version v1.0-mini \
#       --out-dir data/occ_derived    # about 12 min on 2 cores
#   python tools/train.py projects/BEVDet/configs/bevdet4d-occ-swin-w64-d1121_1xb1-4e_nus-mini.py \
#       --work-dir work_dirs/bevdet4d_occ_small
#   python tools/test.py projects/BEVDet/configs/bevdet4d-occ-swin-w64-d1121_1xb1-4e_nus-mini.py \
#       work_dirs/bevdet4d_occ_small/epoch_4.pth
_base_ = ['./bevdet4d-occ-r50_8xb4-24e_occ3d-nus.py', '../../../configs/_base_/datasets/nus-mv-mini.py']

input_size = (128, 352)
occ_root = 'data/occ_derived/'
occ_channels = 8
occ_grid = dict(_base_.occ_grid, depth=[1.0, 45.0, 1.0])
model = dict(
    img_backbone=dict(
        _delete_=True,
        type='GeoMIMSwin',
        arch=dict(embed_dims=64, depths=[1, 1, 2, 1], num_heads=[2, 4, 8, 16]),
        img_size=(96, 256),
        window_size=(8, 8, 8, 4),
        use_mask=False,
        out_indices=(2, ),
        out_fused=True,
        drop_path_rate=0.1,
        init_cfg=None),
    img_neck=None,
    img_neck_out_index=0,
    img_view_transformer=dict(
        grid_config=occ_grid, input_size=input_size, in_channels=4 * 64, out_channels=occ_channels),
    pre_process=dict(numC_input=occ_channels, num_channels=[occ_channels]),
    img_bev_encoder_backbone=dict(
        numC_input=occ_channels * 2,
        num_layer=[1, 1, 1],
        num_channels=[occ_channels, occ_channels * 2, occ_channels * 4]),
    img_bev_encoder_neck=dict(in_channels=occ_channels * 7, out_channels=occ_channels),
    occ_head=dict(in_channels=occ_channels, out_dim=16))

occ_load = dict(_base_.occ_load, occ_root=occ_root)
ida_aug_conf = _base_.nus_mini_ida_aug_conf
train_pipeline = [
    _base_.train_pipeline[0], _base_.train_pipeline[1],
    dict(type='MultiViewImageAug', **ida_aug_conf), _base_.occ_ego_frame, _base_.occ_bda, occ_load,
    *_base_.train_pipeline[6:]
]
test_pipeline = [
    _base_.test_pipeline[0], _base_.test_pipeline[1],
    dict(type='MultiViewImageAug', **ida_aug_conf, test_mode=True), _base_.occ_ego_frame, occ_load,
    *_base_.test_pipeline[5:]
]
train_dataloader = dict(**_base_.nus_mini_loader, dataset=dict(**_base_.nus_mini_train, pipeline=train_pipeline))
val_dataloader = dict(**_base_.nus_mini_loader, dataset=dict(**_base_.nus_mini_val, pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=2e-3))
max_epochs = 4
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=10),
    dict(type='MultiStepLR', by_epoch=True, milestones=[3], gamma=0.1, begin=0, end=max_epochs),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
custom_hooks = []
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(max_keep_ckpts=2))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
log_processor = dict(window_size=5)
randomness = dict(seed=0)
