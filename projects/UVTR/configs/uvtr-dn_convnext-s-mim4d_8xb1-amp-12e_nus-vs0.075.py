# UVTR-DN fine-tune of the MIM4D-pretrained ConvNeXt-S: official hustvl/MIM4D
# projects/configs/MIM4D/uvtr_convnext_s_vs0.075_finetune.py (= UniPAD's uvtr_cam_vs0.075_finetune): 47.0 NDS /
# 41.4 mAP on nuScenes val (MIM4D paper; UniPAD README: 47.4 / 41.5). "vs0.075" names the pretraining's LiDAR voxel
# size; the camera volume here is 180 x 180 x 5 voxels of 0.6 x 0.6 x 1.6 m over +-54 m x +-54 m x [-5, 3] m.
# Full-resolution images (900 x 1600, padded to 928 x 1600), ConvNeXt-S stage 4 (stride 32) -> CustomFPN (256 ch),
# complex depth net (118 bins of 0.5 m from 1 m), voxel-pool lift + 3 Conv3d, 900 queries + denoising groups,
# 6 decoder layers, 12 epochs AdamW 4e-4 (backbone x 0.1), 8 GPUs x 1 sample, mixed precision.
# The backbone: extract_backbone.py of the MIM4D pretraining run, or an official MIM4D / UniPAD checkpoint through
#   python tools/model_converters/uvtr_official_to_mim3d.py uvtrs_mim4d_vs0.075_pretrain.pth ckpt.pth \
#       --config THIS_CONFIG          (then load_from=ckpt.pth: backbone, neck, input_proj, depth net, volume convs)
_base_ = ['../../../configs/_base_/datasets/nus-mv-det.py', '../../../configs/_base_/default_runtime.py']
custom_imports = dict(
    imports=['mim3d_plugin', 'projects.BEVDet.bevdet', 'projects.UVTR.uvtr'], allow_failed_imports=False)

point_cloud_range = [-54.0, -54.0, -5.0, 54.0, 54.0, 3.0]
voxel_size = [0.6, 0.6, 1.6]
post_center_range = [-61.2, -61.2, -10.0, 61.2, 61.2, 10.0]
depth_range = (1.0, 60.0)  # m (official frustum_range[2], [5])
depth_step = 0.5  # m (official frustum_size[2]): 118 bins
embed_dims = 256
num_cams = 6
final_dim = (900, 1600)
pretrain_config = 'configs/mim4d/mim4d_convnext-s-mask-vs0.075_8xb1-amp-12e_nus-pretrain-450x800.py'
pretrained_backbone = 'work_dirs/mim4d_convnext-s-mask-vs0.075_8xb1-amp-12e_nus-pretrain-450x800/backbone.pth'

_ffn = dict(
    type='FFN',
    embed_dims=embed_dims,
    feedforward_channels=embed_dims * 2,
    num_fcs=2,
    ffn_drop=0.1,
    act_cfg=dict(type='ReLU', inplace=True))
model = dict(
    type='UVTR',
    data_preprocessor=dict(
        type='MultiViewDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32),
    grid_mask=dict(type='ImageGridMask', use_h=True, use_w=True, rotate=1, offset=False, ratio=0.5, mode=1, prob=0.7),
    img_backbone=dict(
        type='MaskConvNeXt',
        arch='small',
        out_indices=(3, ),
        gap_before_final_norm=False,
        drop_path_rate=0.2,
        frozen_stages=1,
        init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint=pretrained_backbone)),
    img_neck=dict(type='CustomFPN', in_channels=[768], out_channels=256, start_level=0, out_ids=(0, )),
    neck_channels=256,
    depth_net=dict(kind='complex', use_dcn=False, aspp_mid_channels=96),
    view_transform=dict(
        type='UVTRViewTransform',
        lift='voxel_pool',
        point_cloud_range=point_cloud_range,
        voxel_size=voxel_size,
        depth_range=depth_range,
        depth_step=depth_step,
        embed_dims=embed_dims,
        num_convs=3,
        kernel_size=(3, 3, 3),
        # the official conventions (module docstring): top-left pixel of each feature cell, truncated voxel index
        frustum_pixels='corner',
        voxel_rounding='trunc'),
    pts_bbox_head=dict(
        type='UVTRHead',
        with_dn=True,
        with_box_refine=True,
        num_query=900,
        num_classes=10,
        embed_dims=embed_dims,
        point_cloud_range=point_cloud_range,
        transformer=dict(
            decoder=dict(
                num_layers=6,
                transformerlayers=dict(
                    attn_cfgs=[
                        dict(type='MultiheadAttention', embed_dims=embed_dims, num_heads=8, dropout=0.1),
                        dict(type='UVTRCrossAttention', embed_dims=embed_dims, num_points=1, dropout=0.1)
                    ],
                    ffn_cfgs=_ffn,
                    norm_cfg=dict(type='LN'),
                    operation_order=('self_attn', 'norm', 'cross_attn', 'norm', 'ffn', 'norm')))),
        bbox_coder=dict(type='NMSFreeBBox3DCoder', post_center_range=post_center_range, max_num=300, num_classes=10),
        assigner=dict(
            type='HungarianBBox3DAssigner',
            match_costs=[dict(type='mmdet.FocalLossCost', weight=2.0),
                         dict(type='BBox3DL1MatchCost', weight=0.25)]),
        loss_cls=dict(type='PortableFocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0),
        loss_bbox=dict(type='mmdet.L1Loss', loss_weight=0.25),
        # official [2, 2, 1, 1, 1, 1, 1, 1, 0.2, 0.2] over (cx, cy, w, l, cz, h, ...), in our box order
        code_weights=[2.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.2, 0.2],
        scalar=10,
        bbox_noise_scale=1.0,
        bbox_noise_trans=0.0,
        split=0.75,
        dn_weight=1.0,
        iou_weight=0.5))

img_aug = dict(
    type='MultiViewImageAug',
    final_dim=final_dim,
    resize_lim=(0.0, 0.0),
    bot_pct_lim=(0.0, 0.0),
    rot_lim=(0.0, 0.0),
    rand_flip=False)
# official UnifiedRotScaleTransFlip: rotation +-0.3925 rad, scale 0.95..1.05, no flips
bev_aug = dict(type='BEVAug', rot_lim=(-22.5, 22.5), scale_lim=(0.95, 1.05), flip_dx_ratio=0.0, flip_dy_ratio=0.0)
meta_keys = ('img_path', 'ori_shape', 'img_shape', 'pad_shape', 'scale_factor', 'box_mode_3d', 'box_type_3d',
             'sample_idx', 'lidar_path', 'token', 'num_views', 'cam2img', 'lidar2cam', 'lidar2img', 'cam2ego',
             'img_aug_matrix', 'bev_aug_matrix', 'lidar2ego', 'ego2global', 'timestamp')
train_pipeline = [
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True, with_attr_label=False),
    dict(type='LoadMultiViewImages', num_views=num_cams, backend_args={{_base_.backend_args}}),
    dict(type='MultiViewPhotoMetricDistortion'),
    img_aug,
    bev_aug,
    dict(type='ObjectRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectNameFilter', classes={{_base_.class_names}}),
    dict(type='PackMultiViewInputs', keys=['img', 'gt_bboxes_3d', 'gt_labels_3d'], meta_keys=meta_keys),
]
test_pipeline = [
    dict(type='LoadMultiViewImages', num_views=num_cams, backend_args={{_base_.backend_args}}),
    dict(img_aug, test_mode=True),
    dict(type='PackMultiViewInputs', keys=['img'], meta_keys=meta_keys),
]
train_dataloader = dict(
    batch_size=1, num_workers=4, dataset=dict(pipeline=train_pipeline, modality=dict(use_lidar=False, use_camera=True)))
val_dataloader = dict(
    batch_size=1, num_workers=4, dataset=dict(pipeline=test_pipeline, modality=dict(use_lidar=False, use_camera=True)))
test_dataloader = val_dataloader
val_evaluator = dict(modality=dict(use_camera=True, use_lidar=False))
test_evaluator = val_evaluator

max_epochs = 12
optim_wrapper = dict(
    type='AmpOptimWrapper',
    dtype='bfloat16',  # official fp16 (loss scale 32); 'float16' for GPUs without bf16
    optimizer=dict(type='AdamW', lr=4e-4, weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={'img_backbone': dict(lr_mult=0.1)}),
    clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0 / 3, by_epoch=False, begin=0, end=500),
    dict(
        type='CosineAnnealingLR',
        eta_min_ratio=1e-3,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        T_max=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=4)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(enable=False, base_batch_size=8)
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook', interval=1, max_keep_ckpts=2))
