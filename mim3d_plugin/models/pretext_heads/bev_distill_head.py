"""LiDAR-BEV distillation pretext head (GeoMIM, Liu et al., ICCV 2023, Sec. 3.2-3.3)."""
from typing import Dict, List

import numpy as np
import torch
from mmdet3d.registry import MODELS
from torch import Tensor, nn

from ..utils import camera_aware_vector
from .base import BasePretextHead, EncoderOutput


@MODELS.register_module()
class LiDARBEVDistillHead(BasePretextHead):
    """GeoMIM's decoder + LSS projection regressing a frozen LiDAR BEV teacher, and the camera-aware depth loss.

    For each hidden unit group of the encoder (``complementary``: the two groups in turn, as official
    ``bevfusion_geomim.py``; ``sparse``: the units the encoder did not see) ``decoder`` (:class:`GeoMIMDecoder`)
    replaces the hidden units by its mask token and predicts every view's semantic features and depth logits;
    ``view_transformer`` (:class:`LSSViewTransformer`, ``with_depth_net=False``) lifts them into BEV (LiDAR
    frame); ``bev_head`` (1x1 conv) maps them to the teacher's channels. Losses, averaged over the passes:
    ``loss_bev`` (:class:`PatchNormMSELoss` to the ``teacher``'s BEV of the sample's LiDAR points) and
    ``loss_depth`` (BEVDepth BCE on LiDAR depth bins, times ``depth_loss_weight``; paper 0.01).

    On clips (``num_frames > 1``) only the current (last) frame's ``N`` views are decoded (the teacher sees the
    current LiDAR sweep).

    Args:
        decoder (dict): :class:`GeoMIMDecoder` (input width = the encoder's map width).
        view_transformer (dict): :class:`LSSViewTransformer` with ``with_depth_net=False``.
        teacher (dict): :class:`LiDARBEVTeacher`; its ``checkpoint`` (a trained LiDAR detector) is required.
        teacher_channels (int): channels of the teacher BEV. Default 256.
        loss_bev (dict): Default ``PatchNormMSELoss(patch_size=18)``.
        depth_loss_weight (float): Default 0.01.
        allow_untrained_teacher (bool): accept a teacher without ``checkpoint`` (unit tests only). Default False.

    Inputs: ``points`` list of B ``(P, C)`` (LiDAR frame, m), ``depth`` ``(B, V, H, W)`` m; geometry
    ``lidar2img``, ``cam2img``, ``img_aug_matrix``, ``cam2ego`` ``(B, V, 4, 4)``.

    Raises:
        ValueError: no teacher checkpoint (unless allowed); metainfo of another number of views.
    """

    accepted_masks = ('complementary', 'sparse')
    meta_keys = ('lidar2img', 'cam2img', 'img_aug_matrix', 'cam2ego')

    def __init__(self,
                 decoder: dict,
                 view_transformer: dict,
                 teacher: dict,
                 teacher_channels: int = 256,
                 loss_bev: dict = dict(type='PatchNormMSELoss', patch_size=18),
                 depth_loss_weight: float = 0.01,
                 allow_untrained_teacher: bool = False,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not teacher.get('checkpoint') and not allow_untrained_teacher:
            raise ValueError(
                'LiDARBEVDistillHead: teacher.checkpoint is not set: a randomly initialised LiDAR teacher gives BEV '
                'targets without any scene knowledge. Train one (e.g. python tools/train.py '
                'configs/teachers/centerpoint_pillar08_second_secfpn_1xb2-20e_nus-mini.py) or use the released '
                'mmdet3d weights of the teacher detector, and set it (GeoMIM and hybrid configs: --cfg-options '
                'model.heads.bev.teacher.checkpoint=PATH_OR_URL); model.heads.bev.allow_untrained_teacher=True skips '
                'this check (unit tests only)')
        self.decoder = MODELS.build(decoder)
        self.view_transformer = MODELS.build(view_transformer)
        self.bev_head = nn.Conv2d(self.view_transformer.bev_channels, teacher_channels, kernel_size=1)
        self.teacher = MODELS.build(teacher)
        self.loss_bev = MODELS.build(loss_bev)
        self.depth_loss_weight = depth_loss_weight

    def camera_tensors(self, enc: EncoderOutput, geometry: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """The current frame's ``lidar2img``, ``cam2img``, ``img_aug_matrix``, ``cam2ego`` ``(B, N, 4, 4)``."""
        out = {}
        for key in self.meta_keys:
            value = geometry[key]
            if value.shape[1] != enc.num_frames * enc.num_views:
                raise ValueError(f'LiDARBEVDistillHead: {enc.num_frames * enc.num_views} views but {key} is '
                                 f'{tuple(value.shape)}')
            out[key] = enc.current(value)
        return out

    def decode(self, enc: EncoderOutput, geometry: Dict[str, Tensor]) -> List[Dict[str, Tensor]]:
        """One dict per decoder pass: ``bev`` ``(B, C_teacher, Y, X)``, ``depth_prob`` ``(B, N, D, h, w)``,
        ``hidden`` ``(B, N, H/u, W/u)`` (True = the units the decoder had to predict)."""
        cams = self.camera_tensors(enc, geometry)
        cam_params = camera_aware_vector(cams['cam2img'], cams['img_aug_matrix'], cams['cam2ego'])
        feats = enc.current(enc.feats)
        outputs = []
        for hidden in enc.hidden_groups():
            dec = self.decoder(feats, hidden, cam_params)
            bev, depth_prob = self.view_transformer(
                dec['semantic'], cams['lidar2img'], depth_logits=dec['depth_logits'])
            outputs.append(dict(bev=self.bev_head(bev), depth_prob=depth_prob, hidden=hidden))
        return outputs

    def predict(self, enc: EncoderOutput, inputs: dict, geometry: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """The ``P`` decoder passes stacked: ``bev`` ``(B, P, C_teacher, Y, X)``, ``depth_prob``
        ``(B, P, N, D, h, w)``, ``hidden`` ``(B, P, N, H/u, W/u)``; and the teacher's ``target``
        ``(B, C_teacher, Y, X)``."""
        outputs = self.decode(enc, geometry)
        out = {key: torch.stack([o[key] for o in outputs], 1) for key in ('bev', 'depth_prob', 'hidden')}
        out['target'] = self.teacher(inputs['points'])
        return out

    def loss(self, enc: EncoderOutput, inputs: dict, geometry: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """``loss_bev`` and ``loss_depth`` averaged over the decoder passes."""
        outputs = self.decode(enc, geometry)
        target = self.teacher(inputs['points'])
        depth = enc.current(inputs['depth'])
        loss_bev = sum(self.loss_bev(o['bev'], target) for o in outputs) / len(outputs)
        loss_depth = sum(self.view_transformer.depth_loss(o['depth_prob'], depth) for o in outputs)
        return dict(loss_bev=loss_bev, loss_depth=self.depth_loss_weight * loss_depth / len(outputs))

    @torch.no_grad()
    def visual_panels(self,
                      enc: EncoderOutput,
                      inputs: dict,
                      geometry: Dict[str, Tensor],
                      data_preprocessor,
                      max_views: int = 3) -> Dict[str, np.ndarray]:
        """Pictures of the first sample's current frame, ``(H, W, 3)`` uint8 each.

        - ``masked_views``: the first ``max_views`` views with the units the decoder must predict
          darkened (group 0);
        - ``student_vs_teacher``: student BEV (group 0, after ``bev_head``) and teacher target side
          by side, one joint 3-component PCA (equal colours = equal features); rows = LiDAR y (top = y_min),
          columns = LiDAR x;
        - ``depth_pred_vs_lidar``: expected depth of the depth branch (top row) and the LiDAR depth-bin
          target at the feature stride (bottom row), one colour scale up to the last depth bin (m).
        """
        from mim3d_plugin.geometry import depth_bin_centers
        from mim3d_plugin.visualization import colorize_depth, denormalize, hstack, mask_overlay, pca_rgb, vstack
        outputs = self.decode(enc, geometry)
        target = self.teacher(inputs['points'])
        pre = data_preprocessor
        mean, std = pre.mean.flatten().tolist(), pre.std.flatten().tolist()
        imgs = enc.current(inputs['imgs'])[0, :max_views]
        views = [mask_overlay(denormalize(imgs[v], mean, std), outputs[0]['hidden'][0, v]) for v in range(len(imgs))]
        size = (4 * target.shape[-2], 4 * target.shape[-1])
        student, teacher = pca_rgb([outputs[0]['bev'][0], target[0]], size=size)
        vt = self.view_transformer
        centres = depth_bin_centers(vt.depth_bound, device=imgs.device)
        prob = outputs[0]['depth_prob'][0, :max_views].float()
        pred = (prob * centres.view(-1, 1, 1)).sum(1)
        onehot, valid = vt.get_depth_target(enc.current(inputs['depth'])[:1, :max_views])
        lidar = (onehot[0].float() * centres).sum(-1) * valid[0]
        top = vt.depth_bound[1]
        hw = tuple(imgs.shape[-2:])
        depth = vstack([
            hstack([colorize_depth(pred[v], top, hw) for v in range(len(imgs))]),
            hstack([colorize_depth(lidar[v], top, hw) for v in range(len(imgs))])
        ])
        return {
            'masked_views': hstack(views),
            'student_vs_teacher': hstack([student, teacher]),
            'depth_pred_vs_lidar': depth
        }
