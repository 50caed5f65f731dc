# UVTR fine-tune of the MIM4D-pretrained ConvNeXt-S: official hustvl/MIM4D
# projects/configs/MIM4D/uvtr_convnext_s_vs0.1_finetune.py (= UniPAD's uvtr_cam_vs0.1_finetune): 32.6 NDS / 32.3 mAP on
# nuScenes val (MIM4D paper). The plain UVTR head (no denoising queries: the official vs0.1 model is UVTR, its vs0.075
# one UVTR-DN; uvtr-dn_convnext-s-mim4d_8xb1-amp-12e_nus-vs0.1.py puts the DN head on this volume). "vs0.1" names
# the pretraining's LiDAR voxel size; the camera volume is 128 x 128 x 5 voxels of 0.8 x 0.8 x 1.6 m over
# +-51.2 m x +-51.2 m x [-5, 3] m, sampled by the grid_sample lift from 4 FPN levels (strides 8..64, 128 ch) with a
# 1x1-conv depth distribution of 64 bins over 0..64 m. Trains on every second training frame (load_interval=2),
# 12 epochs AdamW 4e-4 (backbone x 0.1), 8 GPUs x 1 sample, mixed precision.
# The backbone: extract_backbone.py of the MIM4D pretraining run (configs/mim4d/mim4d_convnext-s-mask_8xb1-amp-12e_
# nus-pretrain.py: the vs0.1 pretraining), or an official checkpoint through uvtr_official_to_mim3d.py --config.
_base_ = ['./uvtr-dn_convnext-s-mim4d_8xb1-amp-12e_nus-vs0.075.py']

point_cloud_range = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]
voxel_size = [0.8, 0.8, 1.6]
embed_dims = 128
pretrain_config = 'configs/mim4d/mim4d_convnext-s-mask_8xb1-amp-12e_nus-pretrain.py'
pretrained_backbone = 'work_dirs/mim4d_convnext-s-mask_8xb1-amp-12e_nus-pretrain/backbone.pth'
_ffn = dict(
    type='FFN',
    embed_dims=embed_dims,
    feedforward_channels=512,
    num_fcs=2,
    ffn_drop=0.1,
    act_cfg=dict(type='ReLU', inplace=True))
model = dict(
    img_backbone=dict(
        out_indices=(0, 1, 2, 3), init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint=pretrained_backbone)),
    img_neck=dict(
        _delete_=True,
        type='mmdet.FPN',
        in_channels=[96, 192, 384, 768],
        out_channels=128,
        start_level=1,
        add_extra_convs='on_output',
        num_outs=4,
        relu_before_extra_convs=True),
    neck_channels=128,
    depth_net=dict(_delete_=True, kind='simple'),
    view_transform=dict(
        _delete_=True,
        type='UVTRViewTransform',
        lift='grid_sample',
        point_cloud_range=point_cloud_range,
        voxel_size=voxel_size,
        depth_range=(0.0, 64.0),
        depth_step=1.0,
        embed_dims=embed_dims,
        num_convs=3,
        kernel_size=(3, 3, 3),
        voxel_points='corner'),  # official: the lower corner of each voxel is projected
    pts_bbox_head=dict(
        with_dn=False,
        embed_dims=embed_dims,
        point_cloud_range=point_cloud_range,
        transformer=dict(
            decoder=dict(
                transformerlayers=dict(
                    attn_cfgs=[
                        dict(type='MultiheadAttention', embed_dims=embed_dims, num_heads=8, dropout=0.1),
                        dict(type='UVTRCrossAttention', embed_dims=embed_dims, num_points=1, dropout=0.1)
                    ],
                    ffn_cfgs=_ffn))),
        code_weights=[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]))

train_dataloader = dict(dataset=dict(load_interval=2))
train_cfg = dict(val_interval=12)
default_hooks = dict(checkpoint=dict(max_keep_ckpts=1))
