# BEVDet4D (Huang & Huang, 2022, https://arxiv.org/abs/2203.17054) with a Swin-B backbone (mmpretrain,
# ImageNet-1k): the ImageNet row of the GeoMIM paper's BEVDet4D Swin-B 256x704 comparison (33.98 mAP / 47.19 NDS
# on nuScenes val). Detector as the official GeoMIM fine-tune (Sense-X/GeoMIM bevdet/configs/bevdet_geomim/
# bevdet-swinb-4d-256x704-cbgs.py and -geomim.py, BEVDet dev2.1 layout): Swin stages 3/4 -> FPN_LSS (512 + 1024
# -> 256, stride 16) -> LSS (80 ch; the previous frame lifted into the current BEV frame) -> per-frame
# pre_process (2 BasicBlocks) -> concatenated -> BEV ResNet + FPN_LSS -> one 10-class CenterHead task with
# per-class Scale-NMS; BEV, boxes and results in the ego frame (bevdet-r50_8xb8-cbgs-20e_nus.py). The GeoMIM row
# (bevdet4d-swin-b-geomim_8xb8-cbgs-20e_nus.py) inherits this file and changes the backbone (and, as the official
# configs, its optimizer) only. Recipe: AdamW 2e-4 (wd 1e-2 here, as the official ImageNet config), grad clip 5,
# 200-iteration warm-up then a constant lr for 20 epochs (official step at 20), CBGS, EMA, the previous frame
# zeroed in epochs 0-2 (official SequentialControlHook, temporal_start_epoch=2).
_base_ = ['./bevdet-r50_8xb8-cbgs-20e_nus.py']

bev_channels = 80
num_adjacent = 1
# one task of all 10 classes, in the dataset's class order (see bevdet-r50: HeadClassOrderHook checks it)
tasks = [dict(num_class=10, class_names={{_base_.class_names}})]
model = dict(
    type='BEVDet4D',
    num_adjacent=num_adjacent,
    # official align_after_view_transfromation=False (BEVDet dev2.1 and GeoMIM 4D configs): the previous frame's
    # cameras lifted straight into the current BEV frame, then pre_process
    adjacent_alignment='lift',
    # official per-frame BEV net (master and dev2.1): two BasicBlocks at stride 1 before the alignment
    pre_process=dict(
        type='BEVResNet', in_channels=bev_channels, num_layers=[2], num_channels=[bev_channels], strides=[1]),
    img_backbone=dict(
        _delete_=True,
        type='mmpretrain.SwinTransformer',
        arch='base',
        img_size=224,
        out_indices=(2, 3),
        drop_path_rate=0.1,
        with_cp=True,
        pad_small_map=True,
        init_cfg=dict(
            type='Pretrained',
            prefix='backbone.',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/swin-transformer/'
            'swin_base_224_b16x64_300e_imagenet_20210616_190742-93230b0d.pth')),
    # official img_neck FPN_LSS: stage 4 upsampled x2, concatenated with stage 3, two conv3x3 -> 256 ch
    img_neck=dict(
        _delete_=True,
        type='LSSFPN',
        in_channels=512 + 1024,
        out_channels=256,
        scale_factor=2,
        input_feature_index=(0, 1),
        extra_upsample=None),
    # GeoMIM's BEVDet is BEVDet dev2.x: frustum pixels linspace(0, W - 1, w), voxel index truncated toward zero
    img_view_transformer=dict(
        in_channels=256, out_channels=bev_channels, frustum_pixels='linspace', coord_rounding='trunc'),
    img_bev_encoder_backbone=dict(
        in_channels=bev_channels * (1 + num_adjacent),
        num_channels=[bev_channels * 2, bev_channels * 4, bev_channels * 8]),
    img_bev_encoder_neck=dict(in_channels=bev_channels * 8 + bev_channels * 2),
    pts_bbox_head=dict(tasks=tasks),
    train_cfg=dict(pts=dict(code_weights=[1.0] * 10)),
    test_cfg=dict(
        pts=dict(
            post_max_size=500,
            nms_type=['rotate'],
            nms_thr=[0.2],
            nms_rescale_factor=[[1.0, 0.7, 0.7, 0.4, 0.55, 1.1, 1.0, 1.0, 1.5, 3.5]])))

train_dataloader = dict(dataset=dict(dataset=dict(type='BEVDet4DDataset', num_adjacent=num_adjacent)))
val_dataloader = dict(dataset=dict(type='BEVDet4DDataset', num_adjacent=num_adjacent))
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=1e-2),
    clip_grad=dict(max_norm=5, norm_type=2))
param_scheduler = [dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=200)]

custom_hooks = [*_base_.custom_hooks, dict(type='SequentialControlHook', temporal_start_epoch=2)]
