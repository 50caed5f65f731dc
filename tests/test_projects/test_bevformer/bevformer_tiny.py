"""Tiny BEVFormer model config and synthetic multi-camera batch shared by the BEVFormer tests."""
import math

import numpy as np
import torch
from mmdet3d.structures import Det3DDataSample, LiDARInstance3DBoxes
from mmengine.structures import InstanceData

PC_RANGE = [-10.0, -10.0, -3.0, 10.0, 10.0, 2.0]
IMG_SHAPE = (64, 176)
EMBED = 16


def tiny_model_cfg(num_query: int = 12, use_temporal: bool = True) -> dict:
    ffn = dict(embed_dims=EMBED, feedforward_channels=32, num_fcs=2, ffn_drop=0.0, act_cfg=dict(type='ReLU'))
    return dict(
        type='BEVFormer',
        img_backbone=dict(
            type='mmdet.ResNet',
            depth=18,
            num_stages=4,
            out_indices=(2, 3),
            base_channels=8,
            norm_cfg=dict(type='BN'),
            norm_eval=False,
            style='pytorch'),
        img_neck=dict(
            type='mmdet.FPN',
            in_channels=[32, 64],
            out_channels=EMBED,
            num_outs=2,
            start_level=0,
            add_extra_convs='on_output',
            relu_before_extra_convs=True),
        grid_mask=dict(type='ImageGridMask', prob=0.7),
        use_temporal=use_temporal,
        pts_bbox_head=dict(
            type='BEVFormerHead',
            num_classes=10,
            embed_dims=EMBED,
            num_query=num_query,
            bev_shape=(20, 20),
            point_cloud_range=PC_RANGE,
            encoder=dict(
                num_layers=2,
                num_points_in_pillar=4,
                num_cams=2,
                num_feature_levels=2,
                layer_cfg=dict(
                    temporal_self_attention=dict(
                        type='TemporalSelfAttention', embed_dims=EMBED, num_heads=2, num_levels=1, num_points=2),
                    spatial_cross_attention=dict(
                        type='SpatialCrossAttention',
                        embed_dims=EMBED,
                        deformable_attention=dict(
                            type='MSDeformableAttention3D', embed_dims=EMBED, num_heads=2, num_levels=2, num_points=4)),
                    ffn=ffn)),
            decoder=dict(
                num_layers=2,
                layer_cfg=dict(
                    self_attn_cfg=dict(embed_dims=EMBED, num_heads=2, dropout=0.0, batch_first=True),
                    cross_attn_cfg=dict(embed_dims=EMBED, num_heads=2, num_levels=1, num_points=2, batch_first=True),
                    ffn_cfg=ffn)),
            bbox_coder=dict(
                type='NMSFreeBBox3DCoder', post_center_range=[-15, -15, -5, 15, 15, 5], max_num=20, num_classes=10)))


def camera_rig(n_cam: int = 2) -> dict:
    """Front and back pinhole cameras 1.5 m above the LiDAR, as numpy meta (lidar2img with intrinsics)."""
    mats = []
    for i in range(n_cam):
        yaw = i * 2 * math.pi / n_cam
        # camera axes in the LiDAR frame: x_cam = -left, y_cam = -up, z_cam = forward (rotated by yaw)
        fwd = np.array([math.cos(yaw), math.sin(yaw), 0.0])
        left = np.array([-math.sin(yaw), math.cos(yaw), 0.0])
        up = np.array([0.0, 0.0, 1.0])
        rot = np.stack([-left, -up, fwd])  # rows: cam axes expressed in LiDAR
        lidar2cam = np.eye(4)
        lidar2cam[:3, :3] = rot
        lidar2cam[:3, 3] = -rot @ np.array([0.0, 0.0, 1.5])
        cam2img = np.eye(4)
        cam2img[:3, :3] = [[80.0, 0, 88.0], [0, 80.0, 32.0], [0, 0, 1]]
        mats.append(cam2img @ lidar2cam)
    return dict(lidar2img=np.stack(mats).astype(np.float32))


def make_batch(batch_size: int = 1, n_cam: int = 2, num_frames: int = 2, seed: int = 0):
    """Synthetic batch in the ``MultiFrameMultiView`` layout: ``imgs`` ``(B, F * N, 3, H, W)`` frame-major,
    current frame last. Sample ``b`` drove ``+2 m`` along x per key frame; odd samples are at a scene start
    (earlier frames invalid)."""
    g = torch.Generator().manual_seed(seed)
    inputs = dict(imgs=torch.randn(batch_size, num_frames * n_cam, 3, *IMG_SHAPE, generator=g))
    samples = []
    for b in range(batch_size):
        lidar2img = camera_rig(n_cam)['lidar2img']
        ego2global = np.tile(np.eye(4, dtype=np.float32), (num_frames, 1, 1))
        ego2global[:, :3, 3] = [100.0 + b, 50.0, 0.0]
        ego2global[:, 0, 3] -= 2.0 * np.arange(num_frames)[::-1]
        valid = np.ones(num_frames, dtype=bool)
        valid[:-1] = b % 2 == 0
        meta = dict(
            lidar2img=np.concatenate([lidar2img] * num_frames),
            ego2global=ego2global,
            lidar2ego=np.tile(np.eye(4, dtype=np.float32), (num_frames, 1, 1)),
            img_shape=IMG_SHAPE,
            num_frames=num_frames,
            frame_valid=valid)
        s = Det3DDataSample(metainfo=meta)
        boxes = torch.tensor([[4.0, 0.5, -1.5, 4.2, 1.8, 1.6, 0.3, 1.0, 0.0],
                              [-5.0, 2.0, -1.2, 0.8, 0.7, 1.7, -1.0, 0.0, 0.5]])
        s.gt_instances_3d = InstanceData(
            bboxes_3d=LiDARInstance3DBoxes(boxes, box_dim=9), labels_3d=torch.tensor([0, 8]))
        samples.append(s)
    return inputs, samples
