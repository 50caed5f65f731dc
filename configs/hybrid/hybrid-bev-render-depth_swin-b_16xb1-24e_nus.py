# Hybrid 3D-aware pretraining, paper scale: one GeoMIM Swin-B encoder (complementary 32 px unit masks, ratio 0.5,
# 256x704, 6 views) on 3-frame clips, trained at once by three pretext heads of MaskedPretrainer, each the method's
# own paper-scale module (configs/_base_/models/):
#   bev    GeoMIM's LiDAR-BEV distillation (geomim_swin-b.py: decoder, LSS 0.3 m over +-54 m, CenterPoint voxel0075
#          teacher of the current frame), unchanged
#   render MIM4D's temporal volume rendering (mim4d_convnext-s.py: voxel lifting, scene flow, NeuS renderer); the
#          lifted map is the Swin's fused stride-16 map (512 channels) instead of the ConvNeXt FPN (256)
#   depth  Mask3D's LiDAR-depth prior (mask3d_vit-b-p16.py: its depth encoder numbers in a DepthTokenFusion on the
#          Swin map at 16 px patches, its depth decoder at the 16 x 44 grid), masked L1 on log depth
# The encoder runs once per clip; the bev and depth heads use the current frame's views, render all frames.
# Every head reads the complementary groups one at a time, the other group hidden (EncoderOutput.passes): bev decodes
# each group (GeoMIM), render renders only the pixels the pass hid (target_rays='hidden'), depth drops depth patches
# at random (Mask3D) and sees the RGB of about half of them (the unit mask ratio 0.5; Mask3D's ViT: 0.25).
# Data: the MIM4D clip (camera sweeps ~0.1 s apart, key frames where absent) with GeoMIM's image augmentation;
# the teacher sees the key frame + 9 LiDAR sweeps as it was trained; the earlier frames' depth maps project those
# points (MIM4D's static-scene assumption, here with the sweeps). No BEV flip (it would break the frame-to-frame
# poses) and no CBGS (MIM4D has none). Schedule: AdamW 1e-4 (GeoMIM's 2e-4 at 32 samples, scaled to 16 clips),
# 500-iteration warm-up, cosine, grad clip 35, AMP; 24 epochs (GeoMIM 50, MIM4D 12: not tuned, no GPU here).
# Single-head ablations: --cfg-options model.heads.render=None model.heads.depth=None (etc.).
# bash tools/dist_train.sh configs/hybrid/hybrid-bev-render-depth_swin-b_16xb1-24e_nus.py 8   (x2 nodes)
_base_ = [
    '../_base_/datasets/nus-mv-pretrain.py', '../_base_/models/geomim_swin-b.py',
    '../_base_/models/mim4d_convnext-s.py', '../_base_/models/mask3d_vit-b-p16.py', '../_base_/default_runtime.py'
]

num_prev_frames = 2
num_frames = num_prev_frames + 1
img_size = (256, 704)
encoder_channels = 4 * 128  # GeoMIMSwin fused stride-16 map of Swin-B
patch_size = 16
mim4d_head = _base_.mim4d_render_head
mask3d_head = _base_.mask3d_depth_head.head
model = dict(
    type='MaskedPretrainer',
    num_frames=num_frames,
    data_preprocessor=_base_.data_preprocessor,
    encoder=_base_.geomim_encoder,
    heads=dict(
        bev=_base_.geomim_bev_head,
        render=dict(
            mim4d_head,
            num_frames=num_frames,
            view_transform=dict(mim4d_head.view_transform, input_size=img_size, in_channels=encoder_channels),
            temporal_builder=dict(mim4d_head.temporal_builder, num_frames=num_prev_frames),
            # each complementary pass renders only the pixels it hid (MIM4D's 'all' would render seen pixels)
            target_rays='hidden'),
        depth=dict(
            type='DepthPriorHead',
            head=dict(
                mask3d_head,
                decoder=dict(
                    mask3d_head.decoder, patch_resolution=(img_size[0] // patch_size, img_size[1] // patch_size))),
            fusion=dict(
                type='DepthTokenFusion',
                in_channels=encoder_channels,
                embed_dims=768,
                patch_size=patch_size,
                **_base_.mask3d_depth_tokens))),
    loss_weights=dict(bev=1.0, render=1.0, depth=1.0))

train_pipeline = [
    dict(
        type='MultiFrameMultiView',
        num_prev_frames=num_prev_frames,
        depth_all_frames=True,
        frame_pipeline=[
            dict(type='LoadMultiViewImages', num_views=6),
            dict(
                type='MultiViewImageAug',
                final_dim=img_size,
                resize_lim=(-0.06, 0.11),
                bot_pct_lim=(0.0, 0.0),
                rot_lim=(-5.4, 5.4),
                rand_flip=True),
        ],
        target_pipeline=[
            dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=5),
            dict(type='PointsToMultiViewDepth'),
            _base_.lidar_sweeps,
        ]),
    dict(type='PackMultiViewInputs', keys=['img', 'points', 'depth'], meta_keys=_base_.clip_meta_keys),
]
train_dataloader = dict(
    batch_size=1,
    dataset=dict(
        type='NuScenesMultiFrameDataset',
        num_prev_frames=num_prev_frames,
        frame_source='cam_sweeps',
        sweep_interval=1,
        pipeline=train_pipeline))

max_epochs = 24
base_lr = 1e-4
optim_wrapper = dict(
    type='AmpOptimWrapper',
    # bf16 (the official code: fp16 + loss scaling): fp32's range, no skipped steps; GPUs without bf16: 'float16'
    dtype='bfloat16',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=base_lr, betas=(0.9, 0.999), weight_decay=0.01),
    clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0 / 3, by_epoch=False, begin=0, end=500),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        eta_min=base_lr * 1e-3,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
auto_scale_lr = dict(enable=False, base_batch_size=16)
iter_checkpoint = dict(
    type='AtomicCheckpointHook', by_epoch=False, interval=1000, filename_tmpl='iter_latest.pth', max_keep_ckpts=-1)
# each head's pictures (masked views, student vs teacher BEV, renderings, decoded depth) under vis_data/vis_image
custom_hooks = [iter_checkpoint, dict(type='PretrainVisualizationHook', interval=1000)]
