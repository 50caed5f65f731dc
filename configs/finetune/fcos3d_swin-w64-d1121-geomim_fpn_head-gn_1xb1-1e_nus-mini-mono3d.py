# fcos3d_swin-b-geomim_fpn_head-gn_8xb2-1x_nus-mono3d.py on the bundled nuScenes frames (CPU): the small GeoMIM Swin
# (width 64, depths 1-1-2-1) of the README main job, images at 352x198, a narrower FPN / head, one epoch.
#   python tools/train.py configs/geomim/geomim_swin-w64-d1121_1xb1-8e_nus-mini.py
#   python tools/model_converters/extract_backbone.py work_dirs/geomim_swin-w64-d1121_1xb1-8e_nus-mini
#   python tools/train.py configs/finetune/fcos3d_swin-w64-d1121-geomim_fpn_head-gn_1xb1-1e_nus-mini-mono3d.py
_base_ = ['./fcos3d_swin-b-geomim_fpn_head-gn_8xb2-1x_nus-mono3d.py', '../_base_/datasets/nus-mv-mini.py']

pretrain_config = 'configs/geomim/geomim_swin-w64-d1121_1xb1-8e_nus-mini.py'
pretrained_backbone = 'work_dirs/geomim_swin-w64-d1121_1xb1-8e_nus-mini/backbone.pth'
model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=64, depths=[1, 1, 2, 1], num_heads=[2, 4, 8, 16]),
        img_size=(96, 256),
        window_size=(8, 8, 8, 4),
        drop_path_rate=0.1,
        use_checkpoint=False,
        init_cfg=dict(checkpoint=pretrained_backbone)),
    neck=dict(in_channels=[256, 512], out_channels=64),
    bbox_head=dict(
        in_channels=64,
        feat_channels=64,
        cls_branch=(64, ),
        reg_branch=((64, ), (64, ), (64, ), (64, ), ()),
        dir_branch=(64, ),
        attr_branch=(64, )))

# ---- data: the bundled v1.0-mini tables (mmdet3d's NuScenesDataset, one camera image per sample), 352x198 px
img_scale = (352, 198)
train_pipeline = [
    dict(type='LoadImageFromFileMono3D'),
    dict(
        type='LoadAnnotations3D',
        with_bbox=True,
        with_label=True,
        with_attr_label=True,
        with_bbox_3d=True,
        with_label_3d=True,
        with_bbox_depth=True),
    dict(type='Resize3D', scale=img_scale, keep_ratio=True),  # also rescales centers_2d and cam2img
    dict(type='RandomFlip3D', flip_ratio_bev_horizontal=0.5),
    dict(
        type='Pack3DDetInputs',
        keys=[
            'img', 'gt_bboxes', 'gt_bboxes_labels', 'attr_labels', 'gt_bboxes_3d', 'gt_labels_3d', 'centers_2d',
            'depths'
        ]),
]
test_pipeline = [
    dict(type='LoadImageFromFileMono3D'),
    dict(type='Resize3D', scale=img_scale, keep_ratio=True),  # also rescales centers_2d and cam2img
    dict(type='Pack3DDetInputs', keys=['img']),
]
metainfo = dict(classes=_base_.class_names, version='v1.0-mini')
train_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(**_base_.nus_mini_train, metainfo=metainfo, pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(**_base_.nus_mini_val, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(**_base_.nus_mini_evaluator, jsonfile_prefix=None)
test_evaluator = val_evaluator

max_epochs = 1
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20)]
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
