"""BEVDet: multi-view images -> LSS view transformer -> BEV encoder -> CenterPoint head.

Huang et al., "BEVDet: High-performance Multi-camera 3D Object Detection in
Bird-Eye-View", https://arxiv.org/abs/2112.11790 (official code:
HuangJunJie2017/BEVDet ``mmdet3d/models/detectors/bevdet.py``). The view
transformer is the plugin's :class:`LSSViewTransformer`; the head is mmdet3d's
``CenterHead`` with its ``CenterPointBBoxCoder`` and losses.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmdet3d.models.detectors import Base3DDetector
from mmdet3d.registry import MODELS
from mmdet3d.structures import Det3DDataSample
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torch import Tensor

from mim3d_plugin.geometry import transform_boxes
from mim3d_plugin.models.utils import stack_meta


def boxes_to_lidar_frame(results: List[InstanceData], samples: List[Det3DDataSample]) -> List[InstanceData]:
    """Predicted boxes of frames built in the ego frame (metainfo ``lidar2keyego``, set by ``LiDARToEgoFrame``) back
    into their LiDAR frame, where mmdet3d's ``NuScenesMetric`` expects them (its LiDAR -> ego -> global then equals
    the official BEVDet's ego -> global); results of LiDAR-frame samples are returned as they are.

    Args:
        results (list[InstanceData]): per sample ``bboxes_3d`` (``LiDARInstance3DBoxes``, bottom centre, 9 values).
        samples (list[Det3DDataSample]): the samples, metainfo ``lidar2keyego`` ``(4, 4)`` where ego-frame.
    """
    for res, sample in zip(results, samples):
        mat = sample.metainfo.get('lidar2keyego')
        if mat is None or len(res.bboxes_3d) == 0:
            continue
        boxes = res.bboxes_3d
        raw = torch.cat([boxes.gravity_center, boxes.tensor[:, 3:]], -1)
        keyego2lidar = torch.linalg.inv(torch.as_tensor(np.asarray(mat), dtype=torch.float64, device=raw.device))
        moved = transform_boxes(raw.double(), keyego2lidar).to(raw)
        res.bboxes_3d = type(boxes)(moved, box_dim=moved.shape[-1], origin=(0.5, 0.5, 0.5))
    return results


@MODELS.register_module()
class BEVDet(Base3DDetector):
    """Camera-only BEV detector (BEVDet).

    Args:
        img_backbone (dict): image backbone, e.g. ``mmdet.ResNet`` (out_indices
            (2, 3)), ``mmpretrain.SwinTransformer`` or ``GeoMIMSwin``.
        img_view_transformer (dict): ``LSSViewTransformer`` config.
        img_bev_encoder_backbone (dict): e.g. :class:`BEVResNet`.
        img_bev_encoder_neck (dict): e.g. :class:`LSSFPN`.
        pts_bbox_head (dict, optional): mmdet3d ``CenterHead`` config (None: a segmentation-only model).
        img_neck (dict, optional): image neck, e.g. ``mmdet.FPN`` over the
            stride-16/32 outputs. Default: None.
        img_neck_out_index (int): which neck (or backbone) output feeds the view
            transformer (its stride must be the transformer's ``downsample``).
            Default: 0.
        depth_loss_weight (float): weight of the BEVDepth-style depth BCE from
            LiDAR depth maps (``inputs['depth']``); 0 = plain BEVDet (no depth
            supervision). Default: 0.
        seg_head (dict, optional): a BEV map-segmentation head on the same BEV features, e.g.
            :class:`BEVMapSegHead` (BEVFusion's); trained on ``gt_masks_bev`` (``LoadBEVSegmentation``), its
            probabilities returned as ``pred_masks_bev``. Default: None.
        occ_head (dict, optional): an occupancy head on the encoded voxel volume (BEVDet-Occ: the view transformer
            with ``collapse_z=False``, :class:`BEVResNet3D` + :class:`LSSFPN3D` as the BEV encoder,
            :class:`BEVOccHead`); trained on ``voxel_semantics`` / ``mask_camera`` (``LoadOcc3DLabels``), its
            ``(X, Y, Z)`` labels returned as ``pred_occ``. Default: None.
        train_cfg (dict, optional): ``dict(pts=...)`` CenterHead train config.
        test_cfg (dict, optional): ``dict(pts=...)`` CenterHead test config.
        data_preprocessor (dict, optional): e.g. ``MultiViewDataPreprocessor``.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 img_backbone: dict,
                 img_view_transformer: dict,
                 img_bev_encoder_backbone: dict,
                 img_bev_encoder_neck: dict,
                 pts_bbox_head: Optional[dict],
                 img_neck: Optional[dict] = None,
                 img_neck_out_index: int = 0,
                 depth_loss_weight: float = 0.0,
                 seg_head: Optional[dict] = None,
                 occ_head: Optional[dict] = None,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.img_backbone = MODELS.build(img_backbone)
        self.img_neck = MODELS.build(img_neck) if img_neck is not None else None
        self.img_neck_out_index = img_neck_out_index
        self.img_view_transformer = MODELS.build(img_view_transformer)
        self.img_bev_encoder_backbone = MODELS.build(img_bev_encoder_backbone)
        self.img_bev_encoder_neck = MODELS.build(img_bev_encoder_neck)
        if pts_bbox_head is None and seg_head is None and occ_head is None:
            raise ValueError(f'{type(self).__name__}: needs pts_bbox_head, seg_head, occ_head or several')
        volume = not getattr(self.img_view_transformer, 'collapse_z', True)
        if volume and (pts_bbox_head is not None or seg_head is not None):
            raise ValueError(f'{type(self).__name__}: the view transformer keeps Z (collapse_z=False), a 3D volume '
                             'only an occ_head reads; the box and BEV-segmentation heads need a BEV map')
        if occ_head is not None and not volume:
            raise ValueError(f'{type(self).__name__}: occ_head needs the voxel volume: build img_view_transformer '
                             'with collapse_z=False')
        self.pts_bbox_head = None
        if pts_bbox_head is not None:
            pts_bbox_head = dict(pts_bbox_head)
            pts_bbox_head.update(train_cfg=(train_cfg or {}).get('pts'), test_cfg=(test_cfg or {}).get('pts'))
            self.pts_bbox_head = MODELS.build(pts_bbox_head)
        self.seg_head = MODELS.build(seg_head) if seg_head is not None else None
        self.occ_head = MODELS.build(occ_head) if occ_head is not None else None
        self.depth_loss_weight = float(depth_loss_weight)
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg

    def init_weights(self) -> None:
        """mmengine init, then the sub-modules that mmengine skipped.

        mmengine's ``BaseModule.init_weights`` only recurses into children that
        have ``init_weights``; mmdet3d's ``CenterHead`` keeps its
        ``SeparateHead``s in a plain ``nn.ModuleList``, so their Kaiming init
        and the heatmap bias ``init_bias=-2.19`` (prior probability 0.1) are
        never applied and training starts from p = 0.5 everywhere
        (open-mmlab/mmdetection3d issue #1554, still open). Every
        ``BaseModule`` of the head still uninitialised after the regular pass
        is initialised here (outermost first). Only the head is visited, so
        pretrained backbone weights are never touched.
        """
        super().init_weights()
        for module in (self.pts_bbox_head.modules() if self.pts_bbox_head is not None else ()):
            if isinstance(module, BaseModule) and not module.is_init:
                module.init_weights()

    # ----------------------------------------------------------------- features
    def image_encoder(self, imgs: Tensor) -> Tensor:
        """Backbone + neck on all views.

        Args:
            imgs (Tensor): ``(B, N_cam, 3, H, W)`` normalised images.

        Returns:
            Tensor: ``(B, N_cam, C, H / s, W / s)`` features at the view
            transformer's stride ``s``.
        """
        if imgs.dim() != 5:
            raise ValueError(f'{type(self).__name__}: inputs["imgs"] must be (B, N_cam, 3, H, W), '
                             f'got {tuple(imgs.shape)}')
        b, n_cam = imgs.shape[:2]
        feats = self.img_backbone(imgs.flatten(0, 1))
        if self.img_neck is not None:
            feats = self.img_neck(feats)
        feat = feats[self.img_neck_out_index] if isinstance(feats, (list, tuple)) else feats
        return feat.unflatten(0, (b, n_cam))

    def bev_encoder(self, bev: Tensor) -> Tensor:
        """``(B, C, Y, X)`` BEV map -> ``(B, C', Y, X)`` (BEVResNet + LSSFPN), or ``(B, C, Z, Y, X)`` volume ->
        ``(B, C', Z, Y, X)`` (BEVResNet3D + LSSFPN3D)."""
        return self.img_bev_encoder_neck(self.img_bev_encoder_backbone(bev))

    def lift(self, imgs: Tensor, lidar2img: Tensor) -> Tuple[Tensor, Tensor]:
        """Image encoder + view transformer: ``(B, C_bev, Y, X)`` BEV map and ``(B, N_cam, D, h, w)`` depth."""
        return self.img_view_transformer(self.image_encoder(imgs), lidar2img)

    def extract_feat(self, batch_inputs_dict: dict,
                     batch_data_samples: List[Det3DDataSample]) -> Tuple[List[Tensor], Tensor]:
        """Images -> BEV features for the head.

        Args:
            batch_inputs_dict (dict): ``imgs`` ``(B, N_cam, 3, H, W)``.
            batch_data_samples (list[Det3DDataSample]): metainfo ``lidar2img``
                ``(N_cam, 4, 4)`` (LiDAR/BEV frame -> augmented pixels).

        Returns:
            tuple: ``[(B, C, Y, X)]`` BEV features (one level) and the
            ``(B, N_cam, D, h, w)`` depth distribution.
        """
        imgs = batch_inputs_dict['imgs']
        lidar2img = stack_meta(batch_data_samples, 'lidar2img', device=imgs.device, dtype=imgs.dtype)
        bev, depth = self.lift(imgs, lidar2img)
        return [self.bev_encoder(bev)], depth

    # ------------------------------------------------------------------- modes
    def loss(self, batch_inputs_dict: dict, batch_data_samples: List[Det3DDataSample], **kwargs) -> Dict[str, Tensor]:
        """CenterHead losses (heatmap focal loss + L1 box regression per task), plus the depth loss if weighted."""
        bev_feats, depth = self.extract_feat(batch_inputs_dict, batch_data_samples)
        losses = self.pts_bbox_head.loss(bev_feats, batch_data_samples) if self.pts_bbox_head is not None else {}
        if self.seg_head is not None:
            losses.update(self.seg_head.loss(bev_feats[0], self._gt_masks_bev(batch_data_samples, bev_feats[0])))
        if self.occ_head is not None:
            semantics, mask_camera = self._gt_occ(batch_data_samples, bev_feats[0])
            losses.update(self.occ_head.loss(bev_feats[0], semantics, mask_camera))
        if self.depth_loss_weight > 0:
            if 'depth' not in batch_inputs_dict:
                raise KeyError(f'{type(self).__name__}: depth_loss_weight > 0 needs inputs["depth"] (B, N_cam, H, W); '
                               f'add PointsToMultiViewDepth to the pipeline')
            depth_maps = batch_inputs_dict['depth'][:, :depth.shape[1]]
            losses['loss_depth'] = self.depth_loss_weight * self.img_view_transformer.depth_loss(depth, depth_maps)
        return losses

    def predict(self, batch_inputs_dict: dict, batch_data_samples: List[Det3DDataSample],
                **kwargs) -> List[Det3DDataSample]:
        """Boxes (``LiDARInstance3DBoxes``, 9-d with velocity, LiDAR frame), scores and labels in
        ``pred_instances_3d``."""
        bev_feats, _ = self.extract_feat(batch_inputs_dict, batch_data_samples)
        if self.pts_bbox_head is not None:
            results = self.pts_bbox_head.predict(bev_feats, batch_data_samples)
            results = boxes_to_lidar_frame(results, batch_data_samples)
        else:
            results = [InstanceData() for _ in batch_data_samples]
        samples = self.add_pred_to_datasample(batch_data_samples, results, [InstanceData() for _ in results])
        if self.seg_head is not None:
            for sample, masks in zip(samples, self.seg_head.predict(bev_feats[0])):
                sample.pred_masks_bev = masks
        if self.occ_head is not None:
            for sample, occ in zip(samples, self.occ_head.predict(bev_feats[0])):
                sample.pred_occ = occ
        return samples

    @staticmethod
    def _gt_masks_bev(samples: List[Det3DDataSample], ref: Tensor) -> Tensor:
        if not all('gt_masks_bev' in s for s in samples):
            raise KeyError('BEVDet: seg_head needs gt_masks_bev in every data sample (LoadBEVSegmentation in the '
                           "pipeline and 'gt_masks_bev' packed)")
        return torch.stack([s.gt_masks_bev for s in samples]).to(ref.device)

    @staticmethod
    def _gt_occ(samples: List[Det3DDataSample], ref: Tensor) -> Tuple[Tensor, Tensor]:
        """``(B, X, Y, Z)`` labels and camera masks of the samples."""
        if not all('voxel_semantics' in s and 'mask_camera' in s for s in samples):
            raise KeyError('BEVDet: occ_head needs voxel_semantics and mask_camera in every data sample '
                           '(LoadOcc3DLabels in the pipeline)')
        return (torch.stack([s.voxel_semantics for s in samples]).to(ref.device),
                torch.stack([s.mask_camera for s in samples]).to(ref.device))

    def _forward(self,
                 batch_inputs_dict: dict,
                 batch_data_samples: Optional[List[Det3DDataSample]] = None,
                 **kwargs) -> Sequence:
        """Raw CenterHead outputs (per task dicts of heatmap/reg/height/dim/rot/vel maps), then the segmentation
        logits when there is a seg_head, then the ``(B, X, Y, Z, K)`` occupancy logits when there is an occ_head."""
        bev_feats, _ = self.extract_feat(batch_inputs_dict, batch_data_samples)
        outs = tuple(self.pts_bbox_head(bev_feats)) if self.pts_bbox_head is not None else ()
        outs += (self.seg_head(bev_feats[0]), ) if self.seg_head is not None else ()
        return outs + ((self.occ_head(bev_feats[0]), ) if self.occ_head is not None else ())
