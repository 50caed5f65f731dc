"""Occupancy head of BEVDet-Occ: per-voxel class logits over the encoded 3D volume, cross-entropy inside the camera
visibility mask.

Reproduces the head of ``BEVStereo4DOCC`` (``mmdet3d/models/detectors/bevdet_occ.py`` of HuangJunJie2017/BEVDet
dev2.1; the detector of GeoMIM's occupancy rows, Sense-X/GeoMIM ``bevdet/configs/bevdet_geomim/bevdet-occ-*``):
``final_conv`` (3x3x3 ``Conv3d`` with bias + ReLU, no norm) to ``out_dim`` channels, the volume permuted from
``(B, C, Z, Y, X)`` to ``(B, X, Y, Z, C)`` (Occ3D's array order), the ``predicter`` MLP (Linear ``out_dim -> 2
out_dim``, Softplus, Linear ``-> num_classes``), and ``loss_occ`` = cross-entropy weighted by ``mask_camera`` and
averaged over the number of camera-visible voxels (official ``use_mask=True``); prediction = argmax (official
``simple_test``: softmax, argmax, uint8). The official ``final_conv.*`` / ``predicter.*`` keys are ours under
``occ_head.``.
"""
from typing import Dict, List, Optional, Sequence

import torch
from mmcv.cnn import ConvModule
from mmdet3d.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor, nn


@MODELS.register_module()
class BEVOccHead(BaseModule):
    """BEVDet-Occ occupancy head.

    Args:
        in_channels (int): channels of the encoded volume (official: the view transformer's ``out_channels``, 32).
        out_dim (int): channels of ``final_conv`` (the predicter's width). Default: 32.
        num_classes (int): classes including free (Occ3D-nuScenes: 18, 17 = free). Default: 18.
        use_predicter (bool): the Softplus MLP after ``final_conv`` (official default True); False: ``final_conv``
            outputs the class logits. Default: True.
        use_mask (bool): weight the loss with ``mask_camera`` (official occupancy configs: True). Default: True.
        loss_occ (dict): classification loss, called as mmdet's ``CrossEntropyLoss(pred, label, weight,
            avg_factor)``. Default: ``mmdet.CrossEntropyLoss``, softmax, weight 1.
        grid_shape_xyz (Sequence[int]): ``(X, Y, Z)`` voxels the labels have (Occ3D: 200 x 200 x 16); the head's
            input volume must be ``(Z, Y, X)`` of it. Default: ``(200, 200, 16)``.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 in_channels: int,
                 out_dim: int = 32,
                 num_classes: int = 18,
                 use_predicter: bool = True,
                 use_mask: bool = True,
                 loss_occ: Optional[dict] = None,
                 grid_shape_xyz: Sequence[int] = (200, 200, 16),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_classes = int(num_classes)
        self.use_mask = use_mask
        self.grid_shape_xyz = tuple(int(v) for v in grid_shape_xyz)
        self.final_conv = ConvModule(
            in_channels,
            out_dim if use_predicter else num_classes,
            kernel_size=3,
            padding=1,
            bias=True,
            conv_cfg=dict(type='Conv3d'))
        self.predicter = None
        if use_predicter:
            self.predicter = nn.Sequential(
                nn.Linear(out_dim, out_dim * 2), nn.Softplus(), nn.Linear(out_dim * 2, num_classes))
        self.loss_occ = MODELS.build(
            loss_occ or dict(type='mmdet.CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0))

    def forward(self, volume: Tensor) -> Tensor:
        """``(B, C, Z, Y, X)`` encoded volume -> ``(B, X, Y, Z, num_classes)`` logits.

        Raises:
            ValueError: the volume is not 5-D or its ``(X, Y, Z)`` is not ``grid_shape_xyz``.
        """
        if volume.dim() != 5 or tuple(volume.shape[2:][::-1]) != self.grid_shape_xyz:
            raise ValueError(f'BEVOccHead: input must be (B, C, Z, Y, X) with (X, Y, Z) = {self.grid_shape_xyz} (the '
                             f'label grid), got {tuple(volume.shape)}; build the view transformer with '
                             'collapse_z=False over the occupancy grid')
        logits = self.final_conv(volume).permute(0, 4, 3, 2, 1)
        return self.predicter(logits) if self.predicter is not None else logits

    def loss(self, volume: Tensor, voxel_semantics: Tensor, mask_camera: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """Masked cross-entropy (official ``loss_single``).

        Args:
            volume (Tensor): ``(B, C, Z, Y, X)``.
            voxel_semantics (Tensor): ``(B, X, Y, Z)`` labels ``0 .. num_classes - 1``.
            mask_camera (Tensor, optional): ``(B, X, Y, Z)`` camera visibility (needed with ``use_mask``).

        Returns:
            dict: ``loss_occ``.
        """
        preds = self(volume)
        if voxel_semantics.shape != preds.shape[:-1]:
            raise ValueError(f'BEVOccHead: voxel_semantics {tuple(voxel_semantics.shape)} must be (B, X, Y, Z) = '
                             f'{tuple(preds.shape[:-1])}')
        labels = voxel_semantics.long().reshape(-1)
        if labels.numel() and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(f'BEVOccHead: voxel_semantics must be 0..{self.num_classes - 1}, got '
                             f'{int(labels.min())}..{int(labels.max())}')
        preds = preds.reshape(-1, self.num_classes)
        if not self.use_mask:
            return dict(loss_occ=self.loss_occ(preds, labels))
        if mask_camera is None or mask_camera.shape != voxel_semantics.shape:
            raise ValueError(f'BEVOccHead: use_mask needs mask_camera of shape {tuple(voxel_semantics.shape)}, got '
                             f'{None if mask_camera is None else tuple(mask_camera.shape)}')
        weight = mask_camera.reshape(-1).to(preds.dtype)
        # official avg_factor = mask_camera.sum(); a batch with no visible voxel gives 0 (not NaN)
        return dict(loss_occ=self.loss_occ(preds, labels, weight, avg_factor=weight.sum().clamp(min=1.0)))

    def predict(self, volume: Tensor) -> List[Tensor]:
        """Per sample ``(X, Y, Z)`` uint8 labels (argmax of the logits = of the official softmax)."""
        return list(self(volume).argmax(-1).to(torch.uint8).unbind(0))
