"""BEVStereo4D: BEVDet4D whose depth also comes from temporal stereo with the previous frame.

Reproduces ``BEVStereo4D`` of BEVDet dev2.x (``mmdet3d/models/detectors/bevdet.py``; the detector of GeoMIM's best
rows, Sense-X/GeoMIM ``bevdet/configs/bevdet_geomim/bevdet-swinb-4d-stereo-*``): every frame's depth net
(:class:`LSSViewTransformerBEVStereo`, BEVDepth's camera-aware ``DepthNet`` with the stereo branch) gets the cost
volume between this frame's stride-4 backbone features and those of the frame before it; so the dataset loads one
more earlier frame than the BEV fusion uses (the official ``extra_ref_frames = 1``), only for its stereo features.
Frames run from the oldest to the current one, the earlier ones without gradient; each earlier frame is lifted
straight into the current BEV frame (``adjacent_alignment='lift'``, official ``align_after_view_transfromation=
False``); the BEV maps are concatenated oldest first, the current frame last (the official channel order, which its
BEV encoder weights expect).
"""
from typing import List, Tuple

import torch
from mmdet3d.registry import MODELS
from mmdet3d.structures import Det3DDataSample
from torch import Tensor

from mim3d_plugin.models.utils import stack_meta
from mim3d_plugin.models.view_transforms import LSSViewTransformerBEVStereo, camera_mlp_input
from .bevdet4d import BEVDet4D


@MODELS.register_module()
class BEVStereo4D(BEVDet4D):
    """BEVDet4D with temporal stereo depth.

    Inputs: ``imgs`` ``(B, (2 + A) * N_cam, 3, H, W)``: the current frame, its ``A`` fused earlier frames and one
    more earlier frame (stereo reference only), as :class:`BEVDet4DDataset` with ``num_adjacent=A + 1`` builds them.

    Args:
        stereo_feat_index (int): which backbone output is the stride-4 stereo feature (official: the first, e.g.
            ResNet ``out_indices=(0, 2, 3)``); the others go to the neck. Default: 0.
        **kwargs: :class:`BEVDet4D`; ``img_view_transformer`` must be a :class:`LSSViewTransformerBEVStereo` with
            ``depthnet_cfg.stereo=True`` and ``adjacent_alignment`` ``'lift'``.

    Raises:
        ValueError: another view transformer, no stereo branch, or ``adjacent_alignment='warp'``.
    """

    def __init__(self, stereo_feat_index: int = 0, **kwargs) -> None:
        kwargs.setdefault('adjacent_alignment', 'lift')
        super().__init__(**kwargs)
        if not isinstance(self.img_view_transformer, LSSViewTransformerBEVStereo) or \
                not self.img_view_transformer.stereo:
            raise ValueError('BEVStereo4D: img_view_transformer must be LSSViewTransformerBEVStereo with '
                             'depthnet_cfg.stereo=True')
        if self.adjacent_alignment != 'lift':
            raise ValueError("BEVStereo4D: adjacent_alignment must be 'lift' (official "
                             'align_after_view_transfromation=False)')
        self.stereo_feat_index = int(stereo_feat_index)

    @property
    def num_loaded_adjacent(self) -> int:
        return self.num_adjacent + 1

    def encode(self, imgs: Tensor) -> Tuple[Tensor, Tensor]:
        """``(B, N, 3, H, W)`` -> the view transformer's ``(B, N, C, H / 16, W / 16)`` features and the
        ``(B, N, C_s, H / 4, W / 4)`` stereo features (official ``image_encoder(img, stereo=True)``)."""
        b, n = imgs.shape[:2]
        feats = list(self.img_backbone(imgs.flatten(0, 1)))
        stereo = feats.pop(self.stereo_feat_index)
        if self.img_neck is not None:
            feats = self.img_neck(feats)
        feat = feats[self.img_neck_out_index] if isinstance(feats, (list, tuple)) else feats
        return feat.unflatten(0, (b, n)), stereo.unflatten(0, (b, n))

    def camera_inputs(self, samples: List[Det3DDataSample], n_cam: int, n_frames: int, ref: Tensor) -> Tensor:
        """``(B, n_frames, N, 27)`` camera parameters: each frame's intrinsics and image augmentation, the current
        frame's BEV augmentation and camera -> key BEV frame poses (official ``get_mlp_input(sensor2keyegos[0],
        ..., intrin, post_rot, post_tran, bda)``)."""
        kw = dict(device=ref.device, dtype=torch.float64)
        cam2img = stack_meta(samples, 'cam2img', **kw)
        img_aug = stack_meta(samples, 'img_aug_matrix', **kw)
        lidar2cam = stack_meta(samples, 'lidar2cam', **kw)
        b = cam2img.shape[0]
        bda = stack_meta(samples, 'bev_aug_matrix', **kw) if 'bev_aug_matrix' in samples[0].metainfo else \
            torch.eye(4, **kw).expand(b, 4, 4)
        intrinsics = torch.linalg.inv(img_aug) @ cam2img  # before the image augmentation
        cam2bev = torch.linalg.inv(bda)[:, None] @ torch.linalg.inv(lidar2cam[:, :n_cam])  # key frame cameras
        out = [
            camera_mlp_input(intrinsics[:, f * n_cam:(f + 1) * n_cam], img_aug[:, f * n_cam:(f + 1) * n_cam], bda,
                             cam2bev) for f in range(n_frames)
        ]
        return torch.stack(out, 1).to(ref.dtype)

    def extract_feat(self, batch_inputs_dict: dict,
                     batch_data_samples: List[Det3DDataSample]) -> Tuple[List[Tensor], Tensor]:
        """Frames oldest -> current with stereo depth, earlier frames lifted into the current BEV frame, BEV maps
        concatenated oldest first -> BEV encoder.

        Returns:
            tuple: ``[(B, C, Y, X)]`` (or the voxel volume) and the current frame's ``(B, N_cam, D, h, w)`` depth.
        """
        imgs = batch_inputs_dict['imgs']
        n_frames = 2 + self.num_adjacent
        if imgs.dim() != 5 or imgs.shape[1] % n_frames:
            raise ValueError(f'BEVStereo4D: inputs["imgs"] must be (B, {n_frames} * N_cam, 3, H, W) for '
                             f'num_adjacent={self.num_adjacent} (+1 stereo reference frame), got {tuple(imgs.shape)}')
        n_cam = imgs.shape[1] // n_frames
        lidar2img = stack_meta(batch_data_samples, 'lidar2img', device=imgs.device, dtype=torch.float32)
        if lidar2img.shape[1] != imgs.shape[1]:
            raise ValueError(f'BEVStereo4D: metainfo lidar2img has {lidar2img.shape[1]} views, inputs["imgs"] '
                             f'{imgs.shape[1]}')
        views = [slice(f * n_cam, (f + 1) * n_cam) for f in range(n_frames)]
        cur2adj = self.cur2adj(batch_data_samples, imgs.device).float()  # (B, A + 1, 4, 4)
        # every frame's cameras seen from the current BEV frame (official sensor2keyego of each frame)
        proj = [lidar2img[:, views[0]]] + [lidar2img[:, views[f]] @ cur2adj[:, f - 1, None] for f in range(1, n_frames)]
        mlp = self.camera_inputs(batch_data_samples, n_cam, n_frames, imgs)
        if not self.with_prev:  # official with_prev=False: the current frame alone, zero cost volume
            feat, _ = self.encode(imgs[:, views[0]])
            bev, depth = self.img_view_transformer(feat, proj[0], mlp[:, 0], None)
            bev = self._pre_process(bev)
            return [self.bev_encoder(torch.cat([torch.zeros_like(bev)] * self.num_adjacent + [bev], 1))], depth
        with torch.no_grad():
            _, stereo_next = self.encode(imgs[:, views[-1]])  # the extra reference frame: stereo features only
        bevs, depth_cur = [], None
        for f in range(n_frames - 2, -1, -1):
            with torch.set_grad_enabled((f == 0 or self.adjacent_with_grad) and torch.is_grad_enabled()):
                feat, stereo_cur = self.encode(imgs[:, views[f]])
                stereo = dict(cur_feat=stereo_cur, adj_feat=stereo_next, adj2img=proj[f + 1])
                bev, depth = self.img_view_transformer(feat, proj[f], mlp[:, f], stereo)
                bevs.append(self._pre_process(bev))
            stereo_next = stereo_cur
            depth_cur = depth
        return [self.bev_encoder(torch.cat(bevs, dim=1))], depth_cur

    def _pre_process(self, bev: Tensor) -> Tensor:
        if self.pre_process_net is None:
            return bev
        out = self.pre_process_net(bev)
        out = out[0] if isinstance(out, (tuple, list)) else out
        if out.shape != bev.shape:
            raise ValueError(f'BEVStereo4D: pre_process must keep the BEV shape {tuple(bev.shape)}, got '
                             f'{tuple(out.shape)}')
        return out
