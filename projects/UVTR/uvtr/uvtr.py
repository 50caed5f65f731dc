"""UVTR camera detector (Li et al., "Unifying Voxel-based Representation with Transformer for 3D Object Detection",
NeurIPS 2022), camera branch as UniPAD / MIM4D fine-tune it (official ``detectors/uvtr.py`` / ``uvtr_dn.py`` of
hustvl/MIM4D and Nightmare-n/UniPAD): image backbone -> neck -> ``input_proj`` (1x1 conv per level) -> depth
distribution (:class:`UVTRDepthNet`, softmax over the depth bins) -> :class:`UVTRViewTransform` (voxel volume,
LiDAR frame) -> :class:`UVTRHead` (DETR decoder sampling the volume; UVTR-DN with denoising queries)."""
from typing import Dict, List, Optional, Sequence, Tuple

from mmdet3d.models.detectors import Base3DDetector
from mmdet3d.registry import MODELS
from mmdet3d.structures import Det3DDataSample
from torch import Tensor, nn

from mim3d_plugin.models.utils import stack_meta


@MODELS.register_module()
class UVTR(Base3DDetector):
    """UVTR / UVTR-DN (the head's ``with_dn``).

    Inputs: ``inputs['imgs']`` ``(B, N_cam, 3, H, W)`` from ``MultiViewDataPreprocessor`` (any number of cameras,
    any batch size); metainfo ``lidar2img`` ``(N_cam, 4, 4)`` (image augmentation and ``BEVAug`` folded in) and
    ``img_shape``.

    Args:
        img_backbone (dict): image backbone (``MaskConvNeXt`` of MIM4D / ImageNet ConvNeXt, GeoMIM Swin,
            Mask3D ViT, ResNet).
        img_neck (dict): neck (official: mmdet ``FPN`` with 4 levels for vs0.1, ``CustomFPN`` with one level for
            vs0.075).
        view_transform (dict): :class:`UVTRViewTransform` config.
        depth_net (dict): :class:`UVTRDepthNet` config (``in_channels``/``depth_channels`` filled in).
        pts_bbox_head (dict): :class:`UVTRHead` config.
        neck_channels (int): output channels of the neck (``input_proj`` input).
        grid_mask (dict, optional): :class:`ImageGridMask` in training (official: on, prob 0.7).
        data_preprocessor (dict, optional): data preprocessor config.
    """

    def __init__(self,
                 img_backbone: dict,
                 img_neck: dict,
                 view_transform: dict,
                 depth_net: dict,
                 pts_bbox_head: dict,
                 neck_channels: int,
                 grid_mask: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg=None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.img_backbone = MODELS.build(img_backbone)
        self.img_neck = MODELS.build(img_neck)
        self.view_trans = MODELS.build(view_transform)
        self.pts_bbox_head = MODELS.build(pts_bbox_head)
        embed = self.view_trans.embed_dims
        if self.pts_bbox_head.embed_dims != embed:
            raise ValueError(f'UVTR: the head has {self.pts_bbox_head.embed_dims} channels, the volume {embed}')
        self.input_proj = nn.Conv2d(neck_channels, embed, kernel_size=1)
        self.depth_net = MODELS.build(
            dict(dict(depth_net), type='UVTRDepthNet', in_channels=embed, depth_channels=self.view_trans.depth_dim))
        self.grid_mask = MODELS.build(grid_mask) if grid_mask is not None else None

    # ------------------------------------------------------------------ features
    def extract_img_feat(self, imgs: Tensor, apply_grid_mask: bool = False) -> List[Tensor]:
        """``(B, N_cam, 3, H, W)`` -> per level ``(B, N_cam, C, h_l, w_l)`` after ``input_proj``."""
        if imgs.dim() != 5:
            raise ValueError(f'UVTR: imgs must be (B, N_cam, 3, H, W), got {tuple(imgs.shape)}')
        b, n = imgs.shape[:2]
        x = imgs.flatten(0, 1)
        if apply_grid_mask and self.grid_mask is not None:
            x = self.grid_mask(x)
        feats = self.img_backbone(x)
        feats = self.img_neck(list(feats) if isinstance(feats, (list, tuple)) else [feats])
        if isinstance(feats, Tensor):
            feats = [feats]
        return [self.input_proj(f).view((b, n, -1) + f.shape[-2:]) for f in feats]

    def predict_depth(self, mlvl_feats: List[Tensor]) -> List[Tensor]:
        """Per level ``(B, N_cam, D, h_l, w_l)`` depth probabilities (softmax over the D bins)."""
        return [
            self.depth_net(f.flatten(0, 1)).softmax(dim=1).view(f.shape[:2] + (-1, ) + f.shape[-2:]) for f in mlvl_feats
        ]

    def _lift_size(self, imgs: Tensor, data_samples: Sequence[Det3DDataSample]) -> Tuple[int, int]:
        """``(H, W)`` the view transform normalises pixels by: the padded input for the voxel_pool lift; the
        unpadded ``img_shape`` for the grid_sample lift (official ``Uni3DViewTrans``)."""
        if self.view_trans.lift == 'voxel_pool':
            return tuple(imgs.shape[-2:])
        shapes = set()
        for s in data_samples:
            shape = s.metainfo.get('img_shape', tuple(imgs.shape[-2:]))
            shape = shape[0] if isinstance(shape[0], (list, tuple)) else shape
            shapes.add((int(shape[0]), int(shape[1])))
        if len(shapes) != 1:
            raise ValueError(f'UVTR: samples of a batch have different img_shape {sorted(shapes)}')
        return shapes.pop()

    def extract_volume(self, inputs: dict, data_samples: Sequence[Det3DDataSample], training: bool) -> Tensor:
        """``(B, C, Z, Y, X)`` voxel features of the batch."""
        imgs = inputs['imgs']
        feats = self.extract_img_feat(imgs, apply_grid_mask=training)
        depth = self.predict_depth(feats)
        lidar2img = stack_meta(data_samples, 'lidar2img', imgs.device)
        if lidar2img.shape[1] != imgs.shape[1]:
            raise ValueError(f'UVTR: metainfo lidar2img has {lidar2img.shape[1]} views, images {imgs.shape[1]} '
                             f'(frames {[s.metainfo.get("token") for s in data_samples]})')
        return self.view_trans(feats, depth, lidar2img, self._lift_size(imgs, data_samples))

    # ------------------------------------------------------------------ modes
    def loss(self, inputs: dict, data_samples: List[Det3DDataSample], **kwargs) -> Dict[str, Tensor]:
        """Training losses; ``data_samples[i].gt_instances_3d`` holds ``bboxes_3d`` and ``labels_3d``."""
        volume = self.extract_volume(inputs, data_samples, training=True)
        gts = [s.gt_instances_3d for s in data_samples]
        outs = self.pts_bbox_head(volume, gts)
        return self.pts_bbox_head.loss_by_feat(outs, gts)

    def predict(self, inputs: dict, data_samples: List[Det3DDataSample], **kwargs) -> List[Det3DDataSample]:
        """Detections as ``pred_instances_3d`` (LiDAR frame) for ``NuScenesMetric``."""
        volume = self.extract_volume(inputs, data_samples, training=False)
        outs = self.pts_bbox_head(volume)
        results = self.pts_bbox_head.predict_by_feat(outs['all_cls_scores'], outs['all_bbox_preds'])
        return self.add_pred_to_datasample(data_samples, results)

    def _forward(self, inputs: dict, data_samples: Optional[List[Det3DDataSample]] = None, **kwargs):
        """Raw head outputs (dict) of the test-mode forward."""
        return self.pts_bbox_head(self.extract_volume(inputs, data_samples, training=False))

    def extract_feat(self, inputs: dict) -> List[Tensor]:
        """Image features ``[(B, N_cam, C, h_l, w_l)]``."""
        return self.extract_img_feat(inputs['imgs'])
