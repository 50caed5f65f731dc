"""BEVFormer detector: multi-camera image encoder -> BEV encoder with temporal self-attention and
spatial cross-attention -> DETR-style 3D head (BEVFormer, Li et al., ECCV 2022,
https://arxiv.org/abs/2203.17270; official ``detectors/bevformer.py``)."""
from typing import Dict, List, Optional, Tuple

import torch
from mmdet3d.models.detectors import Base3DDetector
from mmdet3d.registry import MODELS
from mmdet3d.structures import Det3DDataSample
from torch import Tensor

from mim3d_plugin.geometry import VoxelGrid, relative_transform, warp_bev

try:  # shared helper of the plugin (data contract); local equivalent until it lands
    from mim3d_plugin.models.utils import stack_meta
except ImportError:  # pragma: no cover - depends on the plugin version
    import numpy as np

    def stack_meta(data_samples, key, device=None, dtype=torch.float32):
        vals = []
        for i, s in enumerate(data_samples):
            if key not in s.metainfo:
                raise KeyError(f'data_samples[{i}].metainfo has no {key!r}')
            vals.append(torch.as_tensor(np.asarray(s.metainfo[key]), dtype=dtype))
        return torch.stack(vals).to(device)


@MODELS.register_module()
class BEVFormer(Base3DDetector):
    """BEVFormer.

    Inputs (from ``MultiViewDataPreprocessor``): ``inputs['imgs']`` ``(B, N_cam,
    3, H, W)``; optionally ``inputs['prev_imgs']`` ``(B, N_cam, 3, H, W)``, the
    previous key frame of the same scene, with metainfo ``prev_lidar2img``,
    ``prev_ego2global``, ``prev_lidar2ego`` and ``prev_exists`` (False at a scene
    start). The previous BEV is computed from those images without gradient
    (as the official training queue; at test time too, so inference is
    stateless and order-independent), warped into the current LiDAR frame with
    :func:`warp_bev` and attended to by temporal self-attention. Without
    ``prev_imgs``, or where ``prev_exists`` is False, the current BEV queries
    stand in for the previous BEV (official behaviour at scene starts).

    Args:
        img_backbone (dict): image backbone (ResNet, GeoMIM Swin, MaskConvNeXt, Mask3D ViT).
        img_neck (dict): neck producing ``num_feature_levels`` maps of ``embed_dims`` channels.
        pts_bbox_head (dict): :class:`BEVFormerHead` config.
        grid_mask (dict, optional): :class:`GridMask` config applied to the current
            frame's images in training. Default: None.
        use_temporal (bool): use the previous frame when given. Default: True.
        data_preprocessor (dict, optional): data preprocessor config.
    """

    def __init__(self, img_backbone: dict, img_neck: dict, pts_bbox_head: dict, grid_mask: Optional[dict] = None,
                 use_temporal: bool = True, data_preprocessor: Optional[dict] = None, init_cfg=None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.img_backbone = MODELS.build(img_backbone)
        self.img_neck = MODELS.build(img_neck)
        self.pts_bbox_head = MODELS.build(pts_bbox_head)
        self.grid_mask = MODELS.build(grid_mask) if grid_mask is not None else None
        self.use_temporal = use_temporal
        head = self.pts_bbox_head
        self.bev_grid = VoxelGrid(head.pc_range, [(head.pc_range[3] - head.pc_range[0]) / head.bev_shape[1],
                                                  (head.pc_range[4] - head.pc_range[1]) / head.bev_shape[0],
                                                  head.pc_range[5] - head.pc_range[2]])

    # ------------------------------------------------------------------ features
    def extract_img_feat(self, imgs: Tensor, apply_grid_mask: bool = False) -> List[Tensor]:
        """``(B, N_cam, 3, H, W)`` -> list of ``(B, N_cam, C, H_l, W_l)``."""
        if imgs.dim() != 5:
            raise ValueError(f'BEVFormer: imgs must be (B, N_cam, 3, H, W), got {tuple(imgs.shape)}')
        b, n = imgs.shape[:2]
        x = imgs.flatten(0, 1)
        if apply_grid_mask and self.grid_mask is not None:
            x = self.grid_mask(x)
        feats = self.img_backbone(x)
        feats = self.img_neck(list(feats) if isinstance(feats, (list, tuple)) else [feats])
        return [f.view((b, n) + f.shape[1:]) for f in feats]

    def _lidar2global(self, data_samples: List[Det3DDataSample], prefix: str, device) -> Tensor:
        ego2global = stack_meta(data_samples, prefix + 'ego2global', device, torch.float64)
        lidar2ego = stack_meta(data_samples, prefix + 'lidar2ego', device, torch.float64)
        return ego2global @ lidar2ego

    def obtain_prev_bev(self, inputs: dict,
                        data_samples: List[Det3DDataSample]) -> Tuple[Optional[Tensor], Optional[Tensor]]:
        """Previous key frame's BEV warped into the current LiDAR frame.

        Returns:
            tuple: ``prev_bev`` ``(B, Y*X, C)`` and ``prev_mask`` ``(B, Y*X)``
            bool: False for cells whose source lies outside the previous BEV
            and for every cell of samples at a scene start (``prev_exists``
            False); there temporal self-attention uses the current queries
            (official behaviour without a previous BEV). ``(None, None)``
            without ``inputs['prev_imgs']``, with ``use_temporal=False`` or when
            no sample has a previous frame.
        """
        if not self.use_temporal or inputs.get('prev_imgs') is None:
            return None, None
        prev_imgs = inputs['prev_imgs']
        device = prev_imgs.device
        exists = torch.as_tensor([bool(s.metainfo.get('prev_exists', True)) for s in data_samples], device=device)
        if not bool(exists.any()):
            return None, None
        head = self.pts_bbox_head
        with torch.no_grad():
            feats = self.extract_img_feat(prev_imgs)
            prev_lidar2img = stack_meta(data_samples, 'prev_lidar2img', device)
            prev_bev = head.get_bev_features(feats, prev_lidar2img, prev_imgs.shape[-2:])
            y, x = head.bev_shape
            prev_bev = prev_bev.transpose(1, 2).reshape(prev_bev.shape[0], -1, y, x)
            cur2prev = relative_transform(self._lidar2global(data_samples, '', device),
                                          self._lidar2global(data_samples, 'prev_', device))
            warped, inside = warp_bev(prev_bev, cur2prev.to(prev_bev.dtype), self.bev_grid)
        return warped.flatten(2).transpose(1, 2), inside.flatten(1) & exists[:, None]

    def _bev_forward(self, inputs: dict, data_samples: List[Det3DDataSample],
                     training: bool) -> Tuple[Tensor, Tensor, Tensor]:
        imgs = inputs['imgs']
        prev_bev, prev_mask = self.obtain_prev_bev(inputs, data_samples)
        feats = self.extract_img_feat(imgs, apply_grid_mask=training)
        lidar2img = stack_meta(data_samples, 'lidar2img', imgs.device)
        return self.pts_bbox_head(feats, lidar2img, imgs.shape[-2:], prev_bev, prev_mask)

    # ------------------------------------------------------------------ modes
    def loss(self, inputs: dict, data_samples: List[Det3DDataSample], **kwargs) -> Dict[str, Tensor]:
        """Training losses; ``data_samples[i].gt_instances_3d`` holds ``bboxes_3d`` and ``labels_3d``."""
        cls, box, _ = self._bev_forward(inputs, data_samples, training=True)
        gts = [s.gt_instances_3d for s in data_samples]
        return self.pts_bbox_head.loss_by_feat(cls, box, gts)

    def predict(self, inputs: dict, data_samples: List[Det3DDataSample], **kwargs) -> List[Det3DDataSample]:
        """Detections as ``pred_instances_3d`` (LiDAR frame) for ``NuScenesMetric``."""
        cls, box, _ = self._bev_forward(inputs, data_samples, training=False)
        results = self.pts_bbox_head.predict_by_feat(cls, box)
        return self.add_pred_to_datasample(data_samples, results)

    def _forward(self, inputs: dict, data_samples: Optional[List[Det3DDataSample]] = None, **kwargs):
        """Raw head outputs ``(all_cls_scores, all_bbox_preds, bev)``."""
        return self._bev_forward(inputs, data_samples, training=False)

    def extract_feat(self, inputs: dict) -> List[Tensor]:
        return self.extract_img_feat(inputs['imgs'])
