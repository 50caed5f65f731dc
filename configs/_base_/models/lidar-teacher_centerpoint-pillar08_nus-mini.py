# The small LiDAR teacher of the CPU configs (GeoMIM, hybrid): the detector of
# configs/teachers/centerpoint_pillar08_second_secfpn_1xb2-20e_nus-mini.py up to the stage distilled (same
# voxelization, same weights: its checkpoint), as a LiDARBEVTeacher. Its target is the stride-2 SECOND stage
# (128 x 64 x 64 over +-51.2 m), the first stage with spatial context (a pillar detector has no 3D sparse encoder,
# whose output is the paper's target). Train it first:
#   python tools/train.py configs/teachers/centerpoint_pillar08_second_secfpn_1xb2-20e_nus-mini.py
teacher_config = 'centerpoint_pillar08_second_secfpn_1xb2-20e_nus-mini'
teacher_range = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]
pillar_size = [0.8, 0.8, 8.0]
small_teacher = dict(
    type='CenterPoint',
    data_preprocessor=dict(
        type='PortableDet3DDataPreprocessor',
        voxel=True,
        voxel_layer=dict(
            max_num_points=32, voxel_size=pillar_size, max_voxels=(16384, 16384), point_cloud_range=teacher_range)),
    pts_voxel_encoder=dict(
        type='PillarFeatureNet',
        in_channels=5,
        feat_channels=[64],
        with_distance=False,
        voxel_size=pillar_size,
        point_cloud_range=teacher_range,
        norm_cfg=dict(type='BN1d', eps=1e-3, momentum=0.01),
        legacy=False),
    pts_middle_encoder=dict(type='PointPillarsScatter', in_channels=64, output_shape=(128, 128)),
    pts_backbone=dict(
        type='SECOND',
        in_channels=64,
        out_channels=[64, 128],
        layer_nums=[3, 5],
        layer_strides=[1, 2],
        norm_cfg=dict(type='BN', eps=1e-3, momentum=0.01),
        conv_cfg=dict(type='Conv2d', bias=False)))

small_lidar_teacher = dict(
    type='LiDARBEVTeacher',
    detector=small_teacher,
    stage='pts_backbone',
    out_level=1,
    checkpoint=f'work_dirs/{teacher_config}/epoch_20.pth')
small_teacher_channels = 128
