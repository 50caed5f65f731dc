"""GeoMIM pretraining algorithm: masked multi-view images -> LiDAR-BEV-guided reconstruction."""
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from mmdet3d.registry import MODELS
from .masked_pretrainer import SingleHeadPretrainer


@MODELS.register_module()
class GeoMIM(SingleHeadPretrainer):
    """Geometry-enhanced masked image modeling (Liu et al., ICCV 2023, https://arxiv.org/abs/2303.11325).

    A :class:`MaskedPretrainer` with :class:`UnitMaskSwinEncoder` and one :class:`LiDARBEVDistillHead`, whose
    modules keep their root names (``backbone``, ``decoder``, ``view_transformer``, ``bev_head``, ``teacher``):
    checkpoints, converters and configs of the GeoMIM class stay valid.

    One training step (paper Sec. 3, official ``pretrain/mmdet3d/models/fusion_models/
    bevfusion_geomim.py``):

    1. ``backbone`` (:class:`GeoMIMSwin` with ``use_mask=True``) encodes the N views with a
       random 32x32-px unit mask, MixMIM style: the two complementary token groups are encoded
       side by side, each attending only to itself, into one stride-16 map.
    2. For each group g in {visible = unmasked units, visible = masked units}, ``decoder``
       (:class:`GeoMIMDecoder`) replaces the other group by its mask token and predicts the
       dense semantic features and camera-aware depth logits of every view.
    3. ``view_transformer`` (:class:`LSSViewTransformer`, ``with_depth_net=False``) lifts them
       into BEV in the LiDAR frame; ``bev_head`` (1x1 conv) maps them to the teacher's channels.
    4. ``teacher`` (:class:`LiDARBEVTeacher`, frozen) gives the target BEV feature of the same
       sample's LiDAR sweep. Losses, averaged over the groups: ``loss_bev`` (MSE to the
       patch-normalised target, :class:`PatchNormMSELoss`) and ``loss_depth`` (BEVDepth BCE on
       LiDAR depth bins, weight ``depth_loss_weight``, paper 0.01).

    Args:
        backbone (dict): masked encoder config.
        decoder (dict): decoder config (input width = backbone's fused width).
        view_transformer (dict): LSS config with ``with_depth_net=False`` and
            ``out_channels`` = the decoder's semantic channels.
        teacher (dict): :class:`LiDARBEVTeacher` config; its ``checkpoint`` (a trained LiDAR
            detector: a local path or the mmdet3d model-zoo URL) is required.
        teacher_channels (int): channels of the teacher BEV (256 for the VoxelNet sparse encoder).
        loss_bev (dict): Default: ``PatchNormMSELoss(patch_size=18)``.
        depth_loss_weight (float): Default: 0.01.
        allow_untrained_teacher (bool): build with a teacher that has no ``checkpoint`` (random
            weights: its BEV targets carry no scene knowledge). Only for unit tests and shape
            checks. Default: False.
        data_preprocessor (dict): Default: :class:`MultiViewDataPreprocessor`.
        init_cfg (dict, optional): mmengine init config.

    Raises:
        ValueError: if ``teacher.checkpoint`` is not set and ``allow_untrained_teacher`` is False.

    Inputs (after the data preprocessor): ``imgs`` ``(B, N, 3, H, W)``, ``points`` list of B
    ``(P, C)`` LiDAR points (LiDAR frame, m), ``depth`` ``(B, N, H, W)`` m (0 = no point); metainfo
    ``lidar2img``, ``cam2img``, ``img_aug_matrix``, ``cam2ego`` ``(N, 4, 4)`` per sample.
    """

    def __init__(self,
                 backbone: dict,
                 decoder: dict,
                 view_transformer: dict,
                 teacher: dict,
                 teacher_channels: int = 256,
                 loss_bev: dict = dict(type='PatchNormMSELoss', patch_size=18),
                 depth_loss_weight: float = 0.01,
                 allow_untrained_teacher: bool = False,
                 data_preprocessor: dict = dict(type='MultiViewDataPreprocessor'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        encoder = MODELS.build(dict(type='UnitMaskSwinEncoder', backbone=backbone))
        head = MODELS.build(dict(type='LiDARBEVDistillHead', decoder=decoder, view_transformer=view_transformer,
                                 teacher=teacher, teacher_channels=teacher_channels, loss_bev=loss_bev,
                                 depth_loss_weight=depth_loss_weight,
                                 allow_untrained_teacher=allow_untrained_teacher))
        self._mount(encoder, head, 'bev', num_frames=1)
        self.depth_loss_weight = depth_loss_weight

    def forward(self, inputs: dict, data_samples: Optional[List] = None, mode: str = 'loss'):
        """``mode='loss'``: dict of losses; ``mode='tensor'``: the per-group predictions."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'tensor':
            return self.predict_bev(inputs, data_samples)
        raise ValueError(f'GeoMIM is a pretraining model: mode must be "loss" or "tensor", got {mode!r}')

    def predict_bev(self, inputs: dict, data_samples: Sequence) -> List[Dict[str, Tensor]]:
        """Run encoder, decoder (once per mask group) and view transform.

        Returns:
            list[dict]: one dict per mask group with ``bev`` ``(B, C_teacher, Y, X)``,
            ``depth_prob`` ``(B, N, D, h, w)`` and ``mask`` ``(B, N, H/u, W/u)`` (mask units of
            ``u`` px, True = the units the decoder had to predict).
        """
        return self.pretext_heads['bev'].predict(self.encode(inputs, data_samples), inputs, data_samples)

    @torch.no_grad()
    def visual_panels(self, inputs: dict, data_samples: Sequence, max_views: int = 3) -> Dict[str, np.ndarray]:
        """Pictures of the first sample (for :class:`PretrainVisualizationHook`): see
        :meth:`LiDARBEVDistillHead.visual_panels` (``geomim_masked_views``, ``geomim_bev_student_vs_teacher``,
        ``geomim_depth_pred_vs_lidar``)."""
        return self.pretext_heads['bev'].visual_panels(self.encode(inputs, data_samples), inputs, data_samples,
                                                       self.data_preprocessor, max_views)
