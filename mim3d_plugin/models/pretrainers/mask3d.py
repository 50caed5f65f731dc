"""Mask3D pretraining algorithm (Hou et al., "Mask3D: Pre-training 2D Vision Transformers by
Learning Masked 3D Priors", CVPR 2023; https://arxiv.org/abs/2302.14746).

Single RGB-D frames -> masked RGB + masked depth -> ``Mask3DViT`` (fused bottleneck) ->
``Mask3DHead`` (dense depth, masked L1). Multi-view inputs (nuScenes: ``imgs`` (B, N, 3, H, W),
LiDAR-projected ``depth`` (B, N, H, W)) are flattened so that every camera view is one RGB-D frame.
"""
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from torch import Tensor

from mmdet3d.models.data_preprocessors import Det3DDataPreprocessor
from mmdet3d.registry import MODELS
from .encoders import rgbd_frames


@MODELS.register_module()
class RGBDDataPreprocessor(Det3DDataPreprocessor):
    """``Det3DDataPreprocessor`` that also batches the depth maps of single RGB-D frames.

    Output ``inputs``: ``imgs`` (B, 3, H, W) normalised (mean/std, optional BGR->RGB, padding to
    ``pad_size_divisor``) and ``depth`` (B, H, W) metres, zero-padded like the image (padding is
    invalid depth).

    Raises:
        KeyError: the packed inputs hold no ``depth``.
    """

    def simple_process(self, data: dict, training: bool = False) -> dict:
        if 'depth' not in data['inputs']:
            raise KeyError("RGBDDataPreprocessor: inputs have no 'depth' (use PackRGBDInputs)")
        depth = data['inputs']['depth']
        out = super().simple_process(data, training)
        imgs = out['inputs']['imgs']
        H, W = imgs.shape[-2:]
        depth = [d.to(imgs.device, torch.float32) for d in depth]
        out['inputs']['depth'] = torch.stack(
            [F.pad(d, (0, W - d.shape[-1], 0, H - d.shape[-2])) for d in depth])
        return out


@MODELS.register_module()
class Mask3D(BaseSelfSupervisor):
    """Mask3D: masked RGB-D pretraining of a ViT by dense depth reconstruction.

    Its loss equals ``MaskedPretrainer(encoder=RGBDTokenEncoder(backbone), heads=dict(depth=DepthPriorHead(head)))``
    on the same weights and batch (``tests/test_models/test_pretrainers/test_masked_pretrainer.py``); this class
    keeps mmpretrain's self-supervisor API (``extract_feat``) and the depth evaluation (``predict`` with the
    reproducible ``test_cfg`` masks).

    Args:
        backbone (dict): ``Mask3DViT`` config.
        head (dict): ``Mask3DHead`` or ``RGBDReconstructionHead`` config.
        data_preprocessor (dict): ``RGBDDataPreprocessor`` (single frames) or
            ``MultiViewDataPreprocessor`` (nuScenes) config.
        test_cfg (dict, optional): evaluation masking: ``mask_ratio`` (RGB, default 0),
            ``depth_mask_ratio`` (default 1: monocular depth), ``seed`` (default 0),
            ``eval_region`` (``'all'`` valid pixels or ``'masked'``: valid pixels of dropped depth
            patches).
        init_cfg (dict, optional): initialisation config.
    """

    def __init__(self, backbone: dict, head: dict, data_preprocessor: Optional[dict] = None,
                 test_cfg: Optional[dict] = None, init_cfg: Optional[dict] = None) -> None:
        super().__init__(backbone=backbone, head=head,
                         data_preprocessor=data_preprocessor or dict(type='RGBDDataPreprocessor'),
                         init_cfg=init_cfg)
        self.test_cfg = dict(mask_ratio=0., depth_mask_ratio=1., seed=0, eval_region='all')
        self.test_cfg.update(test_cfg or {})
        if self.test_cfg['eval_region'] not in ('all', 'masked'):
            raise ValueError(f"test_cfg.eval_region must be 'all' or 'masked', got "
                             f"{self.test_cfg['eval_region']!r}")

    @staticmethod
    def frames(inputs: Dict[str, Tensor]) -> Tuple[Tensor, Tensor, Tuple[int, ...]]:
        """``imgs`` (B, [N,] 3, H, W), ``depth`` (B, [N,] [1,] H, W) -> flat frames (:func:`rgbd_frames`).

        Returns:
            tuple: imgs (B*N, 3, H, W), depth (B*N, H, W) metres, leading shape (B,) or (B, N).
        """
        return rgbd_frames(inputs, 'Mask3D')

    def extract_feat(self, inputs):
        """Downstream features of the RGB encoder (no masking, no depth)."""
        imgs = inputs['imgs'] if isinstance(inputs, dict) else inputs
        return self.backbone(imgs.flatten(0, imgs.dim() - 4))

    def loss(self, inputs: Dict[str, Tensor], data_samples: Optional[List] = None,
             **kwargs) -> Dict[str, Tensor]:
        """Masked RGB-D forward and the head's losses."""
        imgs, depth, _ = self.frames(inputs)
        out = self.backbone(imgs, self.head.encode_depth_input(depth))
        return self.head.loss(out, imgs, depth)

    def predict(self, inputs: Dict[str, Tensor], data_samples: Optional[List] = None) -> List:
        """Depth prediction with the reproducible ``test_cfg`` masking.

        Returns:
            list: the data samples with ``pred_depth``, ``gt_depth`` ([N,] H, W metres) and
            ``eval_mask`` ([N,] H, W bool: pixels the metrics use).
        """
        imgs, depth, lead = self.frames(inputs)
        cfg = self.test_cfg
        gen = torch.Generator(device=imgs.device).manual_seed(int(cfg['seed']))
        out = self.backbone(imgs, self.head.encode_depth_input(depth),
                            mask_ratio=cfg['mask_ratio'],
                            depth_mask_ratio=cfg['depth_mask_ratio'], generator=gen)
        pred = self.head.predict_depth(out, depth)
        eval_mask = depth > 0
        if cfg['eval_region'] == 'masked':
            h, w = out['hw']
            p = self.head.patch_size
            dropped = out['depth_mask'].reshape(-1, 1, h, w)
            dropped = F.interpolate(dropped, scale_factor=p, mode='nearest')[:, 0] > 0
            eval_mask = eval_mask & dropped
        shape = lead + tuple(depth.shape[-2:])
        pred, depth, eval_mask = (t.reshape(shape) for t in (pred, depth, eval_mask))
        if data_samples is None:
            from mmdet3d.structures import Det3DDataSample
            data_samples = [Det3DDataSample() for _ in range(lead[0])]
        for i, sample in enumerate(data_samples):
            sample.pred_depth = pred[i].detach()
            sample.gt_depth = depth[i]
            sample.eval_mask = eval_mask[i]
        return data_samples

    @torch.no_grad()
    def visual_panels(self, inputs: Dict[str, Tensor], data_samples: Optional[List] = None,
                      max_views: int = 3) -> Dict[str, np.ndarray]:
        """Pictures of the first sample (for :class:`PretrainVisualizationHook`), ``(H, W, 3)`` uint8: the
        RGB input(s), the true depth and the depth decoded with the ``test_cfg`` masking (``predict``), one
        colour scale (m); multi-view samples show their first ``max_views`` views side by side.
        """
        from mim3d_plugin.visualization import colorize_depth, denormalize, hstack, vstack
        samples = self.predict(inputs, None)
        pred, gt = samples[0].pred_depth, samples[0].gt_depth
        imgs = inputs['imgs'][0]
        if pred.dim() == 2:
            pred, gt, imgs = pred[None], gt[None], imgs[None]
        n = min(max_views, pred.shape[0])
        pre = self.data_preprocessor
        mean, std = pre.mean.flatten().tolist(), pre.std.flatten().tolist()
        top = max(float(gt[:n].max()), 1e-3)
        rows = [hstack([denormalize(imgs[v], mean, std) for v in range(n)]),
                hstack([colorize_depth(gt[v], top) for v in range(n)]),
                hstack([colorize_depth(pred[v], top) for v in range(n)])]
        return {'mask3d_rgb_gt_pred_depth': vstack(rows)}

    def forward(self, inputs, data_samples=None, mode: str = 'tensor'):
        """``mode``: ``'tensor'`` (features), ``'loss'`` or ``'predict'``."""
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        return super().forward(inputs, data_samples, mode)
