# MIM4D pretraining with the official recipe (hustvl/MIM4D projects/configs/MIM4D/uvtr_convnext_s_vs0.075_pretrain.py,
# the ConvNeXt-S pretraining behind the UVTR-S vs0.075 fine-tune): 4 frames (the key frame + 3 camera sweeps,
# ~0.1 s apart), 6 views at 0.5 scale (900x1600 -> 450x800, zero-padded to 480x800) without image augmentation,
# ConvNeXt-S stage 4 (stride 32, drop path 0.2, stage 1 frozen, backbone lr x0.1) -> FPN to 256 channels,
# 118 depth bins (1-60 m, 0.5 m), a 180 x 180 x 5 volume (+-54 m, 0.6 x 0.6 x 1.6 m, LiDAR frame) of 32 channels,
# 512 rays per image (LiDAR targets at 3-100 m BEV radius inside the volume: the vs0.075 config sets no far
# radius, the code's default is 100 m), 72 + 24 samples, fp16 with a static loss scale of 32, no EMA.
# Same modules as mim4d_convnext-s-mask_8xb1-amp-12e_nus-pretrain.py; where our modules differ from the
# official ones (voxel lifting by LSS splat, one deformable temporal attention, 3-layer SDF/RGB MLPs) see
# configs/mim4d/README.md.
#   bash tools/dist_train.sh configs/mim4d/mim4d_convnext-s-mask-vs0.075_8xb1-amp-12e_nus-pretrain-450x800.py 8
_base_ = ['./mim4d_convnext-s-mask_8xb1-amp-12e_nus-pretrain.py']

img_size = (450, 800)  # (H, W) after the 0.5 rescale; padded to multiples of 32 by the data preprocessor
input_size = (480, 800)  # padded network input
num_prev_frames = 3  # cam_sweep_num = 4

model = dict(
    num_frames=num_prev_frames + 1,
    encoder=dict(
        backbone=dict(out_indices=(3, ), drop_path_rate=0.2, frozen_stages=1),
        neck=dict(_delete_=True, type='mmdet.FPN', in_channels=[768], out_channels=256, num_outs=1)),
    heads=dict(
        render=dict(
            num_frames=num_prev_frames + 1,
            point_cloud_range=[-54.0, -54.0, -5.0, 54.0, 54.0, 3.0],
            voxel_size=[0.6, 0.6, 1.6],
            view_transform=dict(
                grid_config=dict(depth=[1.0, 60.0, 0.5]),
                input_size=input_size,
                downsample=32,
                in_channels=256,
                lift_channels=256,
                out_channels=32,
                num_convs=1),
            temporal_builder=dict(num_frames=num_prev_frames),
            render_head=dict(num_rays=512, target_radius=(3.0, 100.0)))))  # vs0.075: point/merged_nsample 512

train_pipeline = [
    dict(
        type='MultiFrameMultiView',
        num_prev_frames=num_prev_frames,
        depth_all_frames=True,
        frame_pipeline=[
            dict(type='LoadMultiViewImages', num_views=6),
            # deterministic 0.5 rescale, no crop / flip / rotation (official RandomScaleImageMultiViewImage [0.5])
            dict(type='MultiViewImageAug', final_dim=img_size, test_mode=True),
        ],
        target_pipeline=[
            dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5),
            dict(type='PointsToMultiViewDepth'),
        ]),
    dict(type='PackMultiViewInputs', keys=['img', 'points', 'depth'], meta_keys={{_base_.clip_meta_keys}}),
]
train_dataloader = dict(dataset=dict(num_prev_frames=num_prev_frames, pipeline=train_pipeline))

optim_wrapper = dict(
    loss_scale=32.0,  # official fp16 = dict(loss_scale=32.0): static
    paramwise_cfg=dict(_delete_=True, custom_keys={'encoder.backbone': dict(lr_mult=0.1)}))  # no decay exclusions
custom_hooks = [{{_base_.iter_checkpoint}},
                dict(type='PretrainVisualizationHook', interval=1000)]  # the vs0.075 recipe has no EMA
