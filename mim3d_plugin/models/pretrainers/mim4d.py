"""MIM4D pretraining algorithm: dual (spatial + temporal) masked multi-view video modeling with
volume rendering (Zou et al., 2024, https://arxiv.org/abs/2403.08760; official hustvl/MIM4D)."""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from mmdet3d.registry import MODELS
from ..pretext_heads.temporal_rendering_head import TEMPORAL_TARGETS
from .masked_pretrainer import SingleHeadPretrainer


@MODELS.register_module()
class MIM4D(SingleHeadPretrainer):
    """MIM4D pretraining of a camera backbone.

    A :class:`MaskedPretrainer` with :class:`SparseMaskEncoder` and one :class:`TemporalRenderingHead`, whose
    modules keep their root names (``img_backbone``, ``img_neck``, ``view_transform``, ``temporal_builder``,
    ``render_head``): checkpoints, converters and configs of the MIM4D class stay valid.

    One step on a clip of ``F = T + 1`` frames (oldest first, the current key
    frame last):

    1. spatial masking: every view of every frame is masked by ``img_backbone``
       (:class:`MaskConvNeXt`, 32x32-px patches, ratio 0.3), encoded and passed
       through ``img_neck`` (FPN); level ``neck_level`` is lifted;
    2. ``view_transform`` (:class:`VoxelLifting`) lifts each frame with its own
       projection into a voxel volume in that frame's ``volume_frame``
       coordinates (official: LiDAR);
    3. temporal masking, per target frame ``k`` of ``temporal_targets``: frame
       ``k`` is dropped and ``temporal_builder`` (:class:`SceneFlowPseudo3DBuilder`)
       warps the other ``F - 1`` volumes (time order) into frame ``k`` and
       predicts its pseudo-3D volume;
    4. ``render_head`` (:class:`VolumeRenderingHead`) casts rays through
       LiDAR-target pixels of frame ``k``'s cameras and renders RGB and depth from
       the pseudo-3D volume (``*_pseudo``) and from frame ``k``'s own masked-image
       volume (``*_cur``). Each loss is the mean over the targets.

    Temporal targets (official ``UVTRSSL.get_batchrays`` / ``get_adj_loss_hop``,
    ``uvtr_ssl_hop.py``): ``'current'`` predicts the current frame from the past;
    ``'random'`` predicts a randomly chosen earlier frame (drawn per sample) from
    all the other frames, the future ones included (their "bi-temporal"
    predictor). The official configs train both, averaged; that is the default.
    ``'random'`` needs depth maps of the earlier frames
    (``MultiFrameMultiView(depth_all_frames=True)``, metainfo ``depth_frames``).
    A target whose frame only repeats another one at a scene start
    (``frame_valid`` False), or with no valid other frame, contributes no
    ``*_pseudo`` loss; a repeated target frame contributes no ``*_cur`` loss.

    Any number of cameras and any batch size work (the official code fixes 6 and 1).

    Args:
        img_backbone (dict): :class:`MaskConvNeXt` config.
        img_neck (dict): e.g. ``mmdet.FPN``.
        view_transform (dict): :class:`VoxelLifting` config (its grid is in ``volume_frame``).
        temporal_builder (dict): :class:`SceneFlowPseudo3DBuilder` config with
            ``num_frames = F - 1``.
        render_head (dict): :class:`VolumeRenderingHead` config.
        num_frames (int): ``F`` frames per sample. Default: 3.
        neck_level (int): index of the neck output that is lifted (its stride
            must be ``view_transform.downsample``). Default: 0.
        use_mask (bool): spatial masking on (pretraining). Default: True.
        volume_frame (str): ``'lidar'`` (official: grid, warps and rays in each
            frame's LiDAR frame; on nuScenes the ground is at z ~ -1.84 m) or
            ``'ego'``. Default: ``'lidar'``.
        temporal_targets (Sequence[str]): any of ``'current'``, ``'random'``.
            Default: both (official).
        data_preprocessor (dict): :class:`MultiViewDataPreprocessor` with
            ``mean``/``std`` (used to recover the RGB targets in [0, 1]).

    Inputs (after the data preprocessor): ``imgs`` ``(B, F * N, 3, H, W)``
    (frame-major, see :class:`MultiFrameMultiView`), ``depth`` ``(B, F * N, H, W)``
    camera z in m (0 = no point); metainfo ``lidar2img`` ``(F * N, 4, 4)``,
    ``lidar2ego``/``ego2global`` ``(F, 4, 4)``, ``frame_valid`` ``(F,)`` and,
    optionally, ``depth_frames`` ``(F,)`` bool (frames whose depth maps are filled;
    default: the current one only).

    Raises:
        ValueError: inconsistent ``num_frames``, unknown ``volume_frame`` or
        target, a clip that is not ``F`` frames, or ``'random'`` without
        earlier-frame depth maps.
    """

    def __init__(self, img_backbone: dict, img_neck: dict, view_transform: dict, temporal_builder: dict,
                 render_head: dict, num_frames: int = 3, neck_level: int = 0, use_mask: bool = True,
                 volume_frame: str = 'lidar', temporal_targets: Sequence[str] = TEMPORAL_TARGETS,
                 data_preprocessor: dict = dict(type='MultiViewDataPreprocessor'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        encoder = MODELS.build(dict(type='SparseMaskEncoder', backbone=img_backbone, neck=img_neck,
                                    neck_level=neck_level, use_mask=use_mask))
        head = MODELS.build(dict(type='TemporalRenderingHead', view_transform=view_transform,
                                 temporal_builder=temporal_builder, render_head=render_head, num_frames=num_frames,
                                 volume_frame=volume_frame, temporal_targets=temporal_targets))
        self._mount(encoder, head, 'render', num_frames=num_frames,
                    renames=dict(backbone='img_backbone', neck='img_neck'))
        self.neck_level = neck_level
        self.use_mask = use_mask
        self.volume_frame = volume_frame
        self.temporal_targets = head.temporal_targets

    @property
    def _head(self):
        return self.pretext_heads['render']

    def extract_volumes(self, imgs: Tensor, src2img: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
        """Masked encoding and lifting of every frame.

        Args:
            imgs (Tensor): ``(B, F, N, 3, H, W)`` normalised images.
            src2img (Tensor): ``(B, F, N, 4, 4)`` each frame's volume frame -> augmented px.

        Returns:
            tuple: volumes ``(B, F, C, Z, Y, X)`` (each in its own frame's
            ``volume_frame`` coordinates) and the patch mask ``(B * F * N, H / 32, W / 32)`` (or None).
        """
        enc = self.pretext_encoder(dict(imgs=imgs.flatten(1, 2)), None, self.num_frames)
        return self._head.lift(enc.feats, src2img), enc.extras['visible']

    def _rgb_targets(self, imgs: Tensor) -> Tensor:
        """Undo the preprocessor normalisation: ``(..., 3, H, W)`` -> RGB in [0, 1]."""
        return self._head.rgb_targets(imgs)

    def _unpack(self, inputs: dict, data_samples: Sequence) -> Dict[str, Tensor]:
        return self._head.unpack(inputs, data_samples)

    def _targets(self, d: Dict[str, Tensor]) -> List[Tensor]:
        """One ``(B,)`` long tensor of target frame indices per entry of ``temporal_targets``."""
        return self._head.targets(d)

    def _target_losses(self, volumes: Tensor, d: Dict[str, Tensor], target: Tensor) -> Dict[str, Tensor]:
        """Pseudo-3D and own-volume rendering losses of target frames ``(B,)``."""
        return self._head.target_losses(volumes, d, target)

    @torch.no_grad()
    def predict(self, inputs: dict, data_samples: Sequence) -> List[dict]:
        """Render the current frame's views from both volumes on a pixel lattice (``render_head.image_stride``).

        Returns:
            list[dict]: per sample ``depth_pseudo``/``depth_cur`` ``(N, h, w)``
            camera z in m, ``rgb_pseudo``/``rgb_cur`` ``(N, h, w, 3)``,
            ``rgb_target`` ``(N, h, w, 3)`` and ``depth_target`` ``(N, h, w)`` m at the render stride.
        """
        return self._head.predict(self.encode(inputs, data_samples), inputs, data_samples)

    @torch.no_grad()
    def visual_panels(self, inputs: dict, data_samples: Sequence, max_views: int = 3) -> Dict[str, np.ndarray]:
        """Pictures of the first sample's current frame (for :class:`PretrainVisualizationHook`): see
        :meth:`TemporalRenderingHead.visual_panels`."""
        return self._head.visual_panels(self.encode(inputs, data_samples), inputs, data_samples,
                                        self.data_preprocessor, max_views)

    def forward(self, inputs: dict, data_samples: Optional[Sequence] = None, mode: str = 'loss'):
        """mmengine entry: ``mode='loss'`` (training) or ``'predict'`` (renderings for inspection)."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        raise ValueError(f'MIM4D: unsupported mode {mode!r} (use "loss" or "predict")')
