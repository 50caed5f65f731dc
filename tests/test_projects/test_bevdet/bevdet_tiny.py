"""Tiny BEVDet configs and synthetic batches shared by the BEVDet tests (2 cameras, 64x176 images)."""

import numpy as np
import torch
from mmdet3d.structures import Det3DDataSample, LiDARInstance3DBoxes
from mmengine.structures import InstanceData

INPUT_SIZE = (64, 176)
GRID = dict(x=[-16.0, 16.0, 1.0], y=[-16.0, 16.0, 1.0], z=[-5.0, 3.0, 8.0], depth=[1.0, 33.0, 2.0])
PC_RANGE = [-16.0, -16.0, -5.0, 16.0, 16.0, 3.0]
VOXEL = [0.25, 0.25, 8.0]
TASKS = [dict(num_class=1, class_names=['car']), dict(num_class=2, class_names=['pedestrian', 'traffic_cone'])]


def tiny_bevdet_cfg(type_: str = 'BEVDet', bev_in: int = 8, **extra) -> dict:
    cfg = dict(
        type=type_,
        img_backbone=dict(
            type='mmdet.ResNet',
            depth=18,
            base_channels=8,
            out_indices=(2, 3),
            norm_eval=False,
            norm_cfg=dict(type='BN')),
        img_neck=dict(type='CustomFPN', in_channels=[32, 64], out_channels=32, out_ids=(0, )),
        img_view_transformer=dict(
            type='LSSViewTransformer',
            grid_config=GRID,
            input_size=INPUT_SIZE,
            downsample=16,
            in_channels=32,
            out_channels=8),
        img_bev_encoder_backbone=dict(type='BEVResNet', in_channels=bev_in, num_channels=[16, 32, 64]),
        img_bev_encoder_neck=dict(type='LSSFPN', in_channels=16 + 64, out_channels=32),
        pts_bbox_head=dict(
            type='CenterHead',
            in_channels=32,
            tasks=TASKS,
            common_heads=dict(reg=(2, 2), height=(1, 2), dim=(3, 2), rot=(2, 2), vel=(2, 2)),
            share_conv_channel=16,
            bbox_coder=dict(
                type='CenterPointBBoxCoder',
                pc_range=PC_RANGE[:2],
                post_center_range=[-20, -20, -10.0, 20, 20, 10.0],
                max_num=50,
                score_threshold=0.0,
                out_size_factor=4,
                voxel_size=VOXEL[:2],
                code_size=9),
            separate_head=dict(type='SeparateHead', init_bias=-2.19, final_kernel=3),
            loss_cls=dict(type='mmdet.GaussianFocalLoss', reduction='mean'),
            loss_bbox=dict(type='mmdet.L1Loss', reduction='mean', loss_weight=0.25),
            norm_bbox=True),
        train_cfg=dict(
            pts=dict(
                point_cloud_range=PC_RANGE,
                grid_size=[128, 128, 1],
                voxel_size=VOXEL,
                out_size_factor=4,
                dense_reg=1,
                gaussian_overlap=0.1,
                max_objs=50,
                min_radius=2,
                code_weights=[1.0] * 8 + [0.2] * 2)),
        test_cfg=dict(
            pts=dict(
                pc_range=PC_RANGE[:2],
                post_center_limit_range=[-20, -20, -10.0, 20, 20, 10.0],
                max_per_img=50,
                max_pool_nms=False,
                min_radius=[4, 0.175, 0.175],
                score_threshold=0.0,
                out_size_factor=4,
                voxel_size=VOXEL[:2],
                nms_type='rotate',
                pre_max_size=100,
                post_max_size=50,
                nms_thr=0.2)))
    cfg.update(extra)
    return cfg


def camera_rig(n_cam: int = 2) -> np.ndarray:
    """``(N, 4, 4)`` lidar2img of cameras looking forward/backward (OpenCV axes), f = 80 px at 64x176."""
    k = np.array([[80.0, 0, 88.0, 0], [0, 80.0, 32.0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    mats = []
    for i in range(n_cam):
        yaw = np.pi * i
        fwd = np.array([np.cos(yaw), np.sin(yaw), 0.0])
        right = np.array([np.sin(yaw), -np.cos(yaw), 0.0])
        down = np.array([0.0, 0.0, -1.0])
        rot = np.stack([right, down, fwd])  # rows: camera axes in LiDAR frame
        lidar2cam = np.eye(4)
        lidar2cam[:3, :3] = rot
        lidar2cam[:3, 3] = -rot @ np.array([0.0, 0.0, 1.5])
        mats.append(k @ lidar2cam)
    return np.stack(mats).astype(np.float32)


def make_sample(n_cam: int = 2, n_adjacent: int = 0, ego_shift: float = 0.0, index: int = 0) -> Det3DDataSample:
    sample = Det3DDataSample()
    views = np.concatenate([camera_rig(n_cam)] * (1 + n_adjacent))
    meta = dict(
        lidar2img=views,
        lidar2ego=np.eye(4, dtype=np.float32),
        ego2global=np.eye(4, dtype=np.float32),
        box_type_3d=LiDARInstance3DBoxes,
        img_shape=INPUT_SIZE)
    if n_adjacent:
        adj = np.stack([np.eye(4, dtype=np.float32)] * n_adjacent)
        adj[:, 0, 3] = -ego_shift
        meta.update(adj_lidar2ego=np.stack([np.eye(4, dtype=np.float32)] * n_adjacent), adj_ego2global=adj)
    sample.set_metainfo(meta)
    gt = InstanceData()
    boxes = torch.tensor([[6.0, 1.0, -1.0, 4.0, 1.8, 1.5, 0.3, 1.0, 0.0],
                          [-8.0, -3.0, -1.0, 0.6, 0.6, 1.7, 0.0, 0.0, 0.5]])
    boxes[:, :3] += torch.tensor([1.3, -0.7, 0.37]) * index  # distinct targets per sample of a batch
    gt.bboxes_3d = LiDARInstance3DBoxes(boxes, box_dim=9)
    gt.labels_3d = torch.tensor([0, 1])
    sample.gt_instances_3d = gt
    return sample


def make_batch(batch: int = 1, n_cam: int = 2, n_adjacent: int = 0, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    imgs = torch.randn(batch, n_cam * (1 + n_adjacent), 3, *INPUT_SIZE, generator=gen)
    samples = [make_sample(n_cam, n_adjacent, index=i) for i in range(batch)]
    return dict(imgs=imgs), samples
