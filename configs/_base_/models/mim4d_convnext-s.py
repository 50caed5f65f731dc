# MIM4D's pieces at paper scale (Zou et al., 2024; official vs0.1 recipe, hustvl/MIM4D
# projects/configs/MIM4D/uvtr_convnext_s_vs0.1_pretrain.py), assembled into a MaskedPretrainer by
# configs/mim4d/mim4d_convnext-s-mask_8xb1-amp-12e_nus-pretrain.py (and by the hybrids):
#   mim4d_encoder       SparseMaskEncoder: ConvNeXt-S with SparK masking (32x32 px, ratio 0.3) + FPN (stride 16)
#   mim4d_render_head   TemporalRenderingHead: voxel lifting in each frame's LiDAR frame (+-51.2 m x +-51.2 m x
#                       [-5, 3] m at 0.8 x 0.8 x 1.6 m, 64 depth bins, 32 channels), continuous scene flow with both
#                       official temporal targets (the current frame from the past, a random earlier frame from all
#                       others), NeuS volume rendering in the official normalised scene (scene_scale = 1 / 51.2:
#                       inv_s init 20.1 and up-sampling 64 per unit), 2048 rays per image from LiDAR targets at 3-50 m
#                       inside the volume, rays clipped to the volume with a 1 m near plane, 72 uniform + 24
#                       importance samples in one step, L1 RGB x10 and depth x10 on the pseudo-3D and the own
#                       volume, no eikonal term.
mim4d_num_frames = 3  # T = 2 earlier frames + the current one (official vs0.1: cam_sweep_num = 3)
mim4d_img_size = (256, 704)  # (H, W) px, multiples of the 32 px mask patches
mim4d_volume_range = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]  # LiDAR frame, m (nuScenes ground at z ~ -1.84 m)
mim4d_voxel_size = [0.8, 0.8, 1.6]
mim4d_volume_channels = 32
# initial backbone weights, as the official MIM4D: SparK's self-supervised ImageNet-1k ConvNeXt-S (keyu-tian/SparK,
# released as convnextS_1kpretrained_official_style.pth, facebookresearch ConvNeXt key layout; the official vs0.075
# loads it, vs0.1 the ConvNeXt-B one), converted to mmpretrain's layout under backbone.*:
#   python tools/model_converters/mim4d_official_to_mim3d.py convnextS_1kpretrained_official_style.pth \
#       checkpoints/convnextS_1kpretrained_spark_mim3d.pth --backbone-only
# (its output-norm layers norm2 / norm3 are not in SparK's file and start at LayerNorm's identity, as the official
# norm_out layers do). mmpretrain's supervised ImageNet ConvNeXt-S is the alternative (not the official recipe):
#   model.encoder.backbone.init_cfg.checkpoint=<convnext_small_in1k below>
spark_convnext_small = 'checkpoints/convnextS_1kpretrained_spark_mim3d.pth'
convnext_small_in1k = ('https://download.openmmlab.com/mmclassification/v0/convnext/'
                       'convnext-small_32xb128-noema_in1k_20221208-4a618995.pth')

mim4d_encoder = dict(
    type='SparseMaskEncoder',
    neck_level=0,  # FPN level of stride 16 (ConvNeXt stages 2 and 3 fused)
    backbone=dict(
        type='MaskConvNeXt',
        arch='small',
        out_indices=(2, 3),
        drop_path_rate=0.2,
        frozen_stages=1,
        gap_before_final_norm=False,
        mask_ratio=0.3,
        mask_patch_size=32,
        init_cfg=dict(type='Pretrained', checkpoint=spark_convnext_small, prefix='backbone.')),
    neck=dict(type='mmdet.FPN', in_channels=[384, 768], out_channels=256, num_outs=2))
mim4d_render_head = dict(
    type='TemporalRenderingHead',
    num_frames=mim4d_num_frames,
    volume_frame='lidar',
    temporal_targets=('current', 'random'),
    point_cloud_range=mim4d_volume_range,
    voxel_size=mim4d_voxel_size,
    view_transform=dict(
        type='VoxelLifting',
        grid_config=dict(depth=[1.0, 52.2, 0.8]),
        input_size=mim4d_img_size,
        downsample=16,
        in_channels=256,
        lift_channels=64,
        out_channels=mim4d_volume_channels,
        num_convs=2),
    temporal_builder=dict(
        type='SceneFlowPseudo3DBuilder',
        embed_dims=mim4d_volume_channels,
        num_frames=mim4d_num_frames - 1,
        num_layers=1,
        num_heads=4,
        num_points=4,
        ffn_channels=64),
    render_head=dict(
        type='VolumeRenderingHead',
        in_channels=mim4d_volume_channels,
        scene_scale='auto',
        num_rays=2048,  # official vs0.1 ray_sampler_cfg point_nsample = merged_nsample = 2048 (vs0.075: 512)
        collider=dict(type='AABBCollider', near_plane=1.0),
        target_radius=(3.0, 50.0),
        targets_inside_volume=True,
        uniform_sampler=dict(type='UniformSampler', num_samples=72),
        importance_sampler=dict(type='NeuSUpSampler', num_samples=24, num_steps=1, base_inv_s=64.0),
        sdf_field=dict(hidden_channels=64, num_layers=3, geo_feat_channels=16, init_variance=0.3),
        rgb_field=dict(hidden_channels=64, num_layers=3),
        loss_rgb_weight=10.0,
        loss_depth_weight=10.0,
        loss_eikonal_weight=0.0))
