"""BEVFormer detector: multi-camera image encoder -> BEV encoder with temporal self-attention and
spatial cross-attention -> DETR-style 3D head (BEVFormer, Li et al., ECCV 2022,
https://arxiv.org/abs/2203.17270; official ``detectors/bevformer.py``)."""
import logging
from typing import Dict, List, Optional, Tuple

import torch
from mmdet3d.models.detectors import Base3DDetector
from mmdet3d.registry import MODELS
from mmdet3d.structures import Det3DDataSample
from mmengine.logging import print_log
from torch import Tensor

from mim3d_plugin.geometry import VoxelGrid, relative_transform, warp_bev
from mim3d_plugin.models.utils import stack_meta
from .bevformer_encoder import official_bev_shift
from .bevformer_head import official_can_bus


@MODELS.register_module()
class BEVFormer(Base3DDetector):
    """BEVFormer.

    Inputs: ``inputs['imgs']`` ``(B, F * N_cam, 3, H, W)`` from
    ``MultiViewDataPreprocessor``, the views of ``F = num_frames`` key frames
    frame-major, oldest first, current last (``NuScenesMultiFrameDataset`` +
    ``MultiFrameMultiView``; ``F = 1`` without temporal input). Metainfo:
    ``lidar2img`` ``(F * N_cam, 4, 4)``, ``ego2global`` / ``lidar2ego``
    ``(F, 4, 4)`` (or ``(4, 4)`` for ``F = 1``), ``num_frames`` and
    ``frame_valid`` ``(F,)`` (False for an earlier frame that only repeats
    another at a scene start).

    The BEVs of the earlier frames are built oldest first without gradient and
    in eval mode (the official ``obtain_history_bev``: no dropout, BatchNorm
    statistics frozen; the same at test time, so inference is
    stateless and does not depend on the sample order), each warped into the
    next frame's LiDAR frame with :func:`warp_bev` and attended to by that
    frame's temporal self-attention. Where no valid previous BEV exists
    (scene start, cells outside the previous BEV) the current queries stand in
    for it (official behaviour without ``prev_bev``).

    Args:
        img_backbone (dict): image backbone (ResNet, GeoMIM Swin, MaskConvNeXt, Mask3D ViT).
        img_neck (dict): neck producing ``num_feature_levels`` maps of ``embed_dims`` channels.
        pts_bbox_head (dict): :class:`BEVFormerHead` config.
        grid_mask (dict, optional): :class:`ImageGridMask` config applied to the current
            frame's images in training. Default: None.
        use_temporal (bool): use the earlier frames when given. Default: True.
        prev_bev_align (str): how the previous BEV meets the current frame. ``'rigid'`` (default): warped by the
            full rigid ego motion (:func:`warp_bev`, bilinear; cells without a source masked). ``'official'``:
            as the official ``PerceptionTransformer`` (for official weights; needs ``use_can_bus``): the
            previous BEV image rotated by the yaw change (``can_bus`` 17, deg; torchvision ``rotate``, nearest,
            about ``rotate_center``) and the temporal self-attention sampling it at reference points shifted by
            :func:`official_bev_shift`.
        rotate_center (Sequence[float]): pixel centre of the official rotation. Default: ``(100, 100)`` (the
            official default, kept by its small and tiny configs although their BEV is 150 / 50 cells wide).
        seg_head (dict, optional): a BEV map-segmentation head on the encoder's BEV (``(B, C, Y, X)``, LiDAR frame
            over the head's ``pc_range``), e.g. :class:`BEVMapSegHead`; trained on ``gt_masks_bev``, its
            probabilities returned as ``pred_masks_bev``. Default: None.
        data_preprocessor (dict, optional): data preprocessor config.
    """

    def __init__(self,
                 img_backbone: dict,
                 img_neck: dict,
                 pts_bbox_head: dict,
                 grid_mask: Optional[dict] = None,
                 use_temporal: bool = True,
                 prev_bev_align: str = 'rigid',
                 rotate_center=(100, 100),
                 seg_head: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg=None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if prev_bev_align not in ('rigid', 'official'):
            raise ValueError(f"BEVFormer: prev_bev_align must be 'rigid' or 'official', got {prev_bev_align!r}")
        self.prev_bev_align = prev_bev_align
        self._warned_zero_can_bus = False
        self.rotate_center = [float(c) for c in rotate_center]
        self.img_backbone = MODELS.build(img_backbone)
        self.img_neck = MODELS.build(img_neck)
        self.pts_bbox_head = MODELS.build(pts_bbox_head)
        self.seg_head = MODELS.build(seg_head) if seg_head is not None else None
        self.grid_mask = MODELS.build(grid_mask) if grid_mask is not None else None
        self.use_temporal = use_temporal
        head = self.pts_bbox_head
        if prev_bev_align == 'official' and not head.use_can_bus:
            raise ValueError("BEVFormer: prev_bev_align='official' needs pts_bbox_head.use_can_bus=True (the shift "
                             "and rotation come from the CAN-bus vector)")
        self.bev_grid = VoxelGrid(
            head.pc_range,
            [(head.pc_range[3] - head.pc_range[0]) / head.bev_shape[1],
             (head.pc_range[4] - head.pc_range[1]) / head.bev_shape[0], head.pc_range[5] - head.pc_range[2]])

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

    def _frames(self, inputs: dict, data_samples: List[Det3DDataSample]) -> dict:
        """Split the frame-major inputs into per-frame tensors (``F`` first)."""
        imgs = inputs['imgs']
        device = imgs.device
        nums = {int(s.metainfo.get('num_frames', 1)) for s in data_samples}
        if len(nums) != 1:
            raise ValueError(f'BEVFormer: samples of a batch have different num_frames {sorted(nums)}')
        f = nums.pop()
        b, views = imgs.shape[:2]
        if views % f:
            raise ValueError(f'BEVFormer: {views} views are not num_frames={f} frames of equal camera count')
        n = views // f
        lidar2img = stack_meta(data_samples, 'lidar2img', device)
        if lidar2img.shape[1] != views:
            raise ValueError(f'BEVFormer: metainfo lidar2img has {lidar2img.shape[1]} views, images {views}')
        lidar2global = (
            stack_meta(data_samples, 'ego2global', device, torch.float64)
            @ stack_meta(data_samples, 'lidar2ego', device, torch.float64))
        if f == 1 and lidar2global.dim() == 3:
            lidar2global = lidar2global.unsqueeze(1)
        if lidar2global.shape[1] != f:
            raise ValueError(f'BEVFormer: metainfo ego2global/lidar2ego hold {lidar2global.shape[1]} poses for '
                             f'num_frames={f}')
        valid = (
            stack_meta(data_samples, 'frame_valid', device, torch.bool) if f > 1 else torch.ones(
                b, 1, dtype=torch.bool, device=device))
        can_bus = None
        if self.pts_bbox_head.use_can_bus:
            missing = [s.metainfo.get('token') for s in data_samples if 'can_bus' not in s.metainfo]
            if missing:
                raise ValueError(f'BEVFormer: use_can_bus but frames {missing} have no metainfo "can_bus" (add '
                                 f'"can_bus" to the meta_keys of PackMultiViewInputs; info files written before '
                                 f'this field: python tools/create_data.py nuscenes --update-infos FILE ...)')
            can_bus = stack_meta(data_samples, 'can_bus', device, torch.float64).reshape(b, f, -1)
            if not self._warned_zero_can_bus and not bool(can_bus[..., 7:16].any()):
                self._warned_zero_can_bus = True  # once per model: the info files hold no CAN-bus values
                print_log(
                    'BEVFormer: use_can_bus but the CAN-bus acceleration / rotation rate / velocity of frames '
                    f'{[s.metainfo.get("token") for s in data_samples]} are all 0: the info files were written '
                    'without the nuScenes CAN bus expansion (tools/create_data.py --can-bus-root). Official weights '
                    'were trained on measured values; their results here are not comparable with the paper.',
                    logger='current',
                    level=logging.WARNING)
            can_bus = official_can_bus(can_bus, valid).to(torch.float32).transpose(0, 1)
        return dict(
            imgs=imgs.view((b, f, n) + imgs.shape[2:]).transpose(0, 1),
            lidar2img=lidar2img.view(b, f, n, 4, 4).transpose(0, 1),
            lidar2global=lidar2global.transpose(0, 1),
            valid=valid.transpose(0, 1),
            num_frames=f,
            can_bus=can_bus)

    def _align(self, bev: Tensor, src2global: Tensor, dst2global: Tensor) -> Tuple[Tensor, Tensor]:
        """Warp a ``(B, Y*X, C)`` BEV from one frame into another; returns it and the ``(B, Y*X)`` inside mask."""
        y, x = self.pts_bbox_head.bev_shape
        grid = bev.transpose(1, 2).reshape(bev.shape[0], -1, y, x)
        dst2src = relative_transform(dst2global, src2global)
        warped, inside = warp_bev(grid, dst2src.to(bev.dtype), self.bev_grid)
        return warped.flatten(2).transpose(1, 2), inside.flatten(1)

    def _official_rotate(self, bev: Tensor, angle_deg: Tensor) -> Tensor:
        """Official ``rotate_prev_bev``: each sample's ``(Y*X, C)`` BEV image rotated by its angle (deg)."""
        from torchvision.transforms.functional import InterpolationMode, rotate
        y, x = self.pts_bbox_head.bev_shape
        out = []
        for i in range(bev.shape[0]):
            img = bev[i].reshape(y, x, -1).permute(2, 0, 1)
            img = rotate(img, float(angle_deg[i]), interpolation=InterpolationMode.NEAREST, center=self.rotate_center)
            out.append(img.permute(1, 2, 0).reshape(y * x, -1))
        return torch.stack(out)

    def _bev_shift(self, frames: dict, t: int) -> Optional[Tensor]:
        if self.prev_bev_align != 'official':
            return None
        head = self.pts_bbox_head
        return official_bev_shift(frames['can_bus'][t], head.pc_range, head.bev_shape)

    def obtain_prev_bev(self, frames: dict) -> Tuple[Optional[Tensor], Optional[Tensor]]:
        """BEV of the frames before the current one, built oldest first, aligned to the current frame.

        Args:
            frames (dict): output of :meth:`_frames`.

        Returns:
            tuple: ``prev_bev`` ``(B, Y*X, C)`` and ``prev_mask`` ``(B, Y*X)``
            bool (False where the previous frame is invalid or the cell lies
            outside the previous BEV), or ``(None, None)`` without earlier
            frames or with ``use_temporal=False``.
        """
        f = frames['num_frames']
        if not self.use_temporal or f == 1 or not bool(frames['valid'][:-1].any()):
            return None, None
        head = self.pts_bbox_head
        prev_bev, prev_mask = None, None
        was_training = self.training
        self.eval()  # official obtain_history_bev: no dropout, BatchNorm statistics neither used nor updated
        try:
            with torch.no_grad():
                for t in range(f - 1):
                    feats = self.extract_img_feat(frames['imgs'][t])
                    can_bus = None if frames['can_bus'] is None else frames['can_bus'][t]
                    shift = None if prev_bev is None else self._bev_shift(frames, t)
                    bev = head.get_bev_features(feats, frames['lidar2img'][t], frames['imgs'].shape[-2:], prev_bev,
                                                prev_mask, can_bus, shift)
                    if self.prev_bev_align == 'official':
                        prev_bev = self._official_rotate(bev, frames['can_bus'][t + 1][:, 17])
                        prev_mask = frames['valid'][t][:, None].expand(-1, bev.shape[1])
                    else:
                        prev_bev, inside = self._align(bev, frames['lidar2global'][t], frames['lidar2global'][t + 1])
                        prev_mask = inside & frames['valid'][t][:, None]
        finally:
            self.train(was_training)
        return prev_bev, prev_mask

    def _bev_forward(self, inputs: dict, data_samples: List[Det3DDataSample],
                     training: bool) -> Tuple[Tensor, Tensor, Tensor]:
        frames = self._frames(inputs, data_samples)
        prev_bev, prev_mask = self.obtain_prev_bev(frames)
        feats = self.extract_img_feat(frames['imgs'][-1], apply_grid_mask=training)
        can_bus = None if frames['can_bus'] is None else frames['can_bus'][-1]
        shift = None if prev_bev is None else self._bev_shift(frames, -1)
        return self.pts_bbox_head(feats, frames['lidar2img'][-1], frames['imgs'].shape[-2:], prev_bev, prev_mask,
                                  can_bus, shift)

    # ------------------------------------------------------------------ modes
    def loss(self, inputs: dict, data_samples: List[Det3DDataSample], **kwargs) -> Dict[str, Tensor]:
        """Training losses; ``data_samples[i].gt_instances_3d`` holds ``bboxes_3d`` and ``labels_3d``."""
        cls, box, bev = self._bev_forward(inputs, data_samples, training=True)
        gts = [s.gt_instances_3d for s in data_samples]
        losses = self.pts_bbox_head.loss_by_feat(cls, box, gts)
        if self.seg_head is not None:
            if not all('gt_masks_bev' in s for s in data_samples):
                raise KeyError('BEVFormer: seg_head needs gt_masks_bev in every data sample (LoadBEVSegmentation)')
            masks = torch.stack([s.gt_masks_bev for s in data_samples]).to(bev.device)
            losses.update(self.seg_head.loss(self._bev_map(bev), masks))
        return losses

    def _bev_map(self, bev: Tensor) -> Tensor:
        """``(B, Y*X, C)`` BEV queries -> ``(B, C, Y, X)`` map."""
        y, x = self.pts_bbox_head.bev_shape
        return bev.transpose(1, 2).reshape(bev.shape[0], -1, y, x)

    def predict(self, inputs: dict, data_samples: List[Det3DDataSample], **kwargs) -> List[Det3DDataSample]:
        """Detections as ``pred_instances_3d`` (LiDAR frame) for ``NuScenesMetric``."""
        cls, box, bev = self._bev_forward(inputs, data_samples, training=False)
        results = self.pts_bbox_head.predict_by_feat(cls, box)
        samples = self.add_pred_to_datasample(data_samples, results)
        if self.seg_head is not None:
            for sample, masks in zip(samples, self.seg_head.predict(self._bev_map(bev))):
                sample.pred_masks_bev = masks
        return samples

    def _forward(self, inputs: dict, data_samples: Optional[List[Det3DDataSample]] = None, **kwargs):
        """Raw head outputs ``(all_cls_scores, all_bbox_preds, bev)``."""
        return self._bev_forward(inputs, data_samples, training=False)

    def extract_feat(self, inputs: dict) -> List[Tensor]:
        """Image features of all views of all frames, ``[(B, F * N_cam, C, H_l, W_l)]``."""
        return self.extract_img_feat(inputs['imgs'])
