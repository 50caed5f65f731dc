# GeoMIM's pieces at paper scale (Liu et al., ICCV 2023), assembled into a MaskedPretrainer by
# configs/geomim/geomim_swin-b_16xb2-50e_nus.py (and by the hybrids):
#   geomim_encoder   UnitMaskSwinEncoder: Swin-B with 32x32-px complementary mask units at ratio 0.5 -> stride-16 map
#   geomim_bev_head  LiDARBEVDistillHead: 8-block decoder (width 512, 16 heads, 3 CVA blocks), LSS into a 0.3 m grid
#                    over +-54 m (360x360, stride 2 -> 180x180); target: the 256 x 180 x 180 sparse-encoder output of
#                    a frozen VoxelNet LiDAR detector (here mmdet3d's CenterPoint voxel0075, the same encoder as the
#                    BEVFusion LiDAR-only teacher of the paper), loaded from the mmdet3d model zoo (65.17 NDS /
#                    56.54 mAP on nuScenes val; mmengine downloads the URL once into the torch hub cache) or from a
#                    local copy:
#                    --cfg-options model.heads.bev.teacher.checkpoint=checkpoints/centerpoint_0075voxel_....pth
geomim_img_size = (256, 704)
geomim_grid_config = dict(x=[-54.0, 54.0, 0.3], y=[-54.0, 54.0, 0.3], z=[-10.0, 10.0, 20.0], depth=[1.0, 60.0, 0.5])
teacher_pc_range = [-54, -54, -5.0, 54, 54, 3.0]
teacher_voxel_size = [0.075, 0.075, 0.2]
# mmdet3d configs/centerpoint/centerpoint_voxel0075_second_secfpn_head-circlenms_8xb4-cyclic-20e_nus-3d.py (metafile
# Weights); circle NMS changes only the head's test_cfg, which the teacher does not run. Key-for-key equality of the
# stages below with that config: tests/test_configs/test_teacher_configs.py
teacher_checkpoint = ('https://download.openmmlab.com/mmdetection3d/v1.0.0_models/centerpoint/'
                      'centerpoint_0075voxel_second_secfpn_circlenms_4x8_cyclic_20e_nus/'
                      'centerpoint_0075voxel_second_secfpn_circlenms_4x8_cyclic_20e_nus_20220810_011659-04cb3a3b.pth')
centerpoint_voxel0075 = dict(
    type='CenterPoint',
    data_preprocessor=dict(
        type='Det3DDataPreprocessor',
        voxel=True,
        voxel_layer=dict(
            max_num_points=10,
            voxel_size=teacher_voxel_size,
            max_voxels=(120000, 160000),
            point_cloud_range=teacher_pc_range)),
    pts_voxel_encoder=dict(type='HardSimpleVFE', num_features=5),
    pts_middle_encoder=dict(
        type='SparseEncoder',
        in_channels=5,
        sparse_shape=[41, 1440, 1440],
        output_channels=128,
        order=('conv', 'norm', 'act'),
        encoder_channels=((16, 16, 32), (32, 32, 64), (64, 64, 128), (128, 128)),
        encoder_paddings=((0, 0, 1), (0, 0, 1), (0, 0, [0, 1, 1]), (0, 0)),
        block_type='basicblock'),
    pts_backbone=dict(
        type='SECOND',
        in_channels=256,
        out_channels=[128, 256],
        layer_nums=[5, 5],
        layer_strides=[1, 2],
        norm_cfg=dict(type='BN', eps=0.001, momentum=0.01),
        conv_cfg=dict(type='Conv2d', bias=False)),
    pts_neck=dict(
        type='SECONDFPN',
        in_channels=[128, 256],
        out_channels=[256, 256],
        upsample_strides=[1, 2],
        norm_cfg=dict(type='BN', eps=0.001, momentum=0.01),
        upsample_cfg=dict(type='deconv', bias=False),
        use_conv_for_no_stride=True))

geomim_encoder = dict(
    type='UnitMaskSwinEncoder',
    backbone=dict(
        type='GeoMIMSwin',
        arch='base',
        img_size=224,
        window_size=(16, 16, 16, 8),
        use_mask=True,
        mask_ratio=0.5,
        mask_unit=32,
        mask_shared_over_views=True,
        drop_path_rate=0.0,
        # MixMIM ImageNet weights load by key, e.g.
        # init_cfg=dict(type='Pretrained', checkpoint='checkpoints/mixmim-base_in1k.pth', prefix='backbone.')
        init_cfg=None))
geomim_bev_head = dict(
    type='LiDARBEVDistillHead',
    decoder=dict(
        type='GeoMIMDecoder',
        in_channels=4 * 128,
        embed_dims=512,
        num_heads=16,
        num_blocks=8,
        cva_indices=(1, 5),
        depth_fork_index=3,
        num_depth_blocks=4,
        depth_cva_indices=(1, ),
        semantic_channels=80,
        num_depth_bins=118,
        # official: MixMIM's frozen 7x7 (224 / 32) decoder position table, bicubically interpolated to 16x44
        pos_table_size=(7, 7)),
    view_transformer=dict(
        type='LSSViewTransformer',
        grid_config=geomim_grid_config,
        input_size=geomim_img_size,
        downsample=16,
        out_channels=80,
        with_depth_net=False,
        bev_downsample=2,
        coord_rounding='trunc'),  # official (BEVFusion bev_pool): voxel index by .long(), see LSSViewTransformer
    teacher=dict(
        type='LiDARBEVTeacher',
        detector=centerpoint_voxel0075,
        stage='pts_middle_encoder',
        checkpoint=teacher_checkpoint),
    teacher_channels=256,
    loss_bev=dict(type='PatchNormMSELoss', patch_size=18),
    depth_loss_weight=0.01)
