"""BEVDet4D: BEVDet with the previous key frames' BEV maps aligned by ego motion.

Huang & Huang, "BEVDet4D: Exploit Temporal Cues in Multi-camera 3D Object
Detection", https://arxiv.org/abs/2203.17054, Sec. 3 (official code:
HuangJunJie2017/BEVDet ``mmdet3d/models/detectors/bevdet4d.py`` ``BEVDet4D``):
each adjacent frame's BEV map is brought into the current frame and
concatenated with the current BEV map along channels before the BEV encoder.
Two alignments (``adjacent_alignment``): ``'warp'`` lifts the adjacent frame in
its own frame, runs the per-frame ``pre_process`` net, then resamples the map
into the current frame (official ``align_after_view_transfromation=True``:
``shift_feature``; here :func:`mim3d_plugin.geometry.warp_bev`); ``'lift'``
lifts the adjacent frame's cameras directly into the current frame and then
runs ``pre_process`` (official ``align_after_view_transfromation=False``, the
setting of the released dev2.1 BEVDet4D configs). As the official default,
adjacent frames are encoded without gradient, and ``with_prev=False`` replaces
them by zeros (official ``SequentialControlHook``: the first epochs of
training, :class:`SequentialControlHook`). The optional ``pre_process`` net is
official ``pre_process=dict(type='CustomResNet', num_layer=[2],
num_channels=[C], stride=[1])``: two BasicBlocks at stride 1.
"""
from typing import List, Optional, Tuple

import torch
from mmdet3d.registry import MODELS
from mmdet3d.structures import Det3DDataSample
from torch import Tensor

from mim3d_plugin.geometry import VoxelGrid, relative_transform, warp_bev
from mim3d_plugin.models.utils import stack_meta
from .bevdet import BEVDet


@MODELS.register_module()
class BEVDet4D(BEVDet):
    """BEVDet with ``num_adjacent`` earlier key frames (BEVDet4D uses 1).

    Inputs (built by :class:`BEVDet4DDataset`): ``imgs`` ``(B, (1 + A) * N_cam,
    3, H, W)``, the current frame's views first, then each adjacent frame's;
    metainfo ``lidar2img`` ``((1 + A) * N_cam, 4, 4)`` (each frame's own
    LiDAR/BEV frame -> its augmented pixels), ``lidar2ego`` and ``ego2global``
    ``(4, 4)`` of the current frame, ``adj_lidar2ego`` and ``adj_ego2global``
    ``(A, 4, 4)`` of the adjacent ones and, when a BEV augmentation is used,
    ``bev_aug_matrix`` ``(4, 4)`` / ``adj_bev_aug_matrix`` ``(A, 4, 4)``
    (LiDAR -> augmented BEV frame; identity when absent). At the first frame of
    a scene the adjacent frame is the frame itself, so the warp is the identity.

    Frames built in the ego frame (``LiDARToEgoFrame``: metainfo ``lidar2keyego`` / ``adj_lidar2keyego``) are
    aligned with their ego poses (``lidar2global @ inv(lidar2keyego)``).

    Args:
        num_adjacent (int): adjacent frames A (official master: 1; dev2.1: 1, 8 for the long-term configs).
            Default: 1.
        adjacent_with_grad (bool): back-propagate through the adjacent frames
            (official ``with_prev_grad``). Default: False.
        adjacent_alignment (str): ``'warp'`` (default; lift, pre_process, then warp into the current frame) or
            ``'lift'`` (lift the adjacent cameras into the current frame, then pre_process: the official
            ``align_after_view_transfromation=False``; use it with official dev2.1 weights).
        with_prev (bool): use the adjacent frames; False feeds zeros in their place (set by
            :class:`SequentialControlHook` during the first training epochs). Default: True.
        pre_process (dict, optional): per-frame BEV net applied to every
            frame's ``(B, C_bev, Y, X)`` map before the alignment, e.g.
            ``dict(type='BEVResNet', in_channels=C, num_layers=[2],
            num_channels=[C], strides=[1])`` (its first output is used; it
            must keep ``C_bev`` channels and the BEV size). Default: None.
        **kwargs: see :class:`BEVDet`; ``img_bev_encoder_backbone.in_channels``
            must be ``(1 + A) * C_bev``.
    """

    def __init__(self,
                 num_adjacent: int = 1,
                 adjacent_with_grad: bool = False,
                 pre_process: Optional[dict] = None,
                 adjacent_alignment: str = 'warp',
                 with_prev: bool = True,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if num_adjacent < 1:
            raise ValueError(f'BEVDet4D: num_adjacent must be >= 1, got {num_adjacent}')
        if adjacent_alignment not in ('warp', 'lift'):
            raise ValueError(f"BEVDet4D: adjacent_alignment must be 'warp' or 'lift', got {adjacent_alignment!r}")
        self.num_adjacent = int(num_adjacent)
        self.adjacent_with_grad = adjacent_with_grad
        self.adjacent_alignment = adjacent_alignment
        self.with_prev = bool(with_prev)
        self.pre_process_net = MODELS.build(pre_process) if pre_process is not None else None
        if adjacent_alignment == 'warp' and not getattr(self.img_view_transformer, 'collapse_z', True):
            raise ValueError("BEVDet4D: a voxel volume (collapse_z=False, BEVDet-Occ) needs adjacent_alignment='lift' "
                             '(the official align_after_view_transfromation=False); the warp resamples 2D BEV maps')

    def lift_frame(self, imgs: Tensor, lidar2img: Tensor) -> Tuple[Tensor, Tensor]:
        """One frame's BEV map (``lift`` + ``pre_process``) and depth distribution."""
        bev, depth = self.lift(imgs, lidar2img)
        if self.pre_process_net is not None:
            out = self.pre_process_net(bev)
            out = out[0] if isinstance(out, (tuple, list)) else out
            if out.shape != bev.shape:
                raise ValueError(f'BEVDet4D: pre_process must keep the BEV shape {tuple(bev.shape)}, got '
                                 f'{tuple(out.shape)}')
            bev = out
        return bev, depth

    @property
    def num_loaded_adjacent(self) -> int:
        """Earlier frames the dataset loads per sample (BEVStereo4D: one more than it fuses)."""
        return self.num_adjacent

    def _bev_grid(self, bev: Tensor) -> VoxelGrid:
        """The metric grid of a ``(B, C, Y, X)`` BEV map over the view transformer's x/y range."""
        grid = self.img_view_transformer.grid
        lo, hi = grid.pc_min, grid.pc_max
        size_x, size_y = (hi[0] - lo[0]) / bev.shape[-1], (hi[1] - lo[1]) / bev.shape[-2]
        return VoxelGrid(lo + hi, [size_x, size_y, hi[2] - lo[2]])

    def lidar_poses(self, samples: List[Det3DDataSample], adjacent: bool, device,
                    dtype) -> Tuple[Tensor, Optional[Tensor]]:
        """BEV source frame (LiDAR, or the ego frame with ``lidar2keyego``) -> global poses ``(B, F, 4, 4)`` and BEV
        augmentations ``(B, F, 4, 4)`` (None if absent).

        ``F = A`` for the adjacent frames (``adj_*`` keys), else 1.
        """
        prefix = 'adj_' if adjacent else ''
        lidar2ego = stack_meta(samples, prefix + 'lidar2ego', device=device, dtype=dtype)
        ego2global = stack_meta(samples, prefix + 'ego2global', device=device, dtype=dtype)
        if not adjacent:
            lidar2ego, ego2global = lidar2ego.unsqueeze(1), ego2global.unsqueeze(1)
        lidar2global = ego2global @ lidar2ego
        if prefix + 'lidar2keyego' in samples[0].metainfo:  # frames built in the ego frame (LiDARToEgoFrame)
            lidar2keyego = stack_meta(samples, prefix + 'lidar2keyego', device=device, dtype=dtype)
            lidar2global = lidar2global @ torch.linalg.inv(lidar2keyego.view(lidar2global.shape))
        key = prefix + 'bev_aug_matrix'
        bda = None
        if key in samples[0].metainfo:
            bda = stack_meta(samples, key, device=device, dtype=dtype).view(lidar2global.shape)
        return lidar2global, bda

    def cur2adj(self, samples: List[Det3DDataSample], device) -> Tensor:
        """``(B, A, 4, 4)`` current (augmented) BEV frame -> each adjacent (augmented) BEV frame, in m.

        ``bda_adj @ relative_transform(lidar2global_cur, lidar2global_adj) @ inv(bda_cur)``;
        the BEV augmentation may scale or flip, so it is inverted generally.
        """
        pose_cur, bda_cur = self.lidar_poses(samples, False, device, torch.float64)
        pose_adj, bda_adj = self.lidar_poses(samples, True, device, torch.float64)
        if pose_adj.shape[1] != self.num_loaded_adjacent:
            raise ValueError(f'{type(self).__name__}: metainfo adj_ego2global holds {pose_adj.shape[1]} frames, '
                             f'expected {self.num_loaded_adjacent} (the dataset\'s num_adjacent)')
        transform = relative_transform(pose_cur, pose_adj)
        if bda_cur is not None:
            transform = transform @ torch.linalg.inv(bda_cur)
        if bda_adj is not None:
            transform = bda_adj @ transform
        return transform

    def extract_feat(self, batch_inputs_dict: dict,
                     batch_data_samples: List[Det3DDataSample]) -> Tuple[List[Tensor], Tensor]:
        """Current + ego-aligned adjacent BEV maps -> BEV encoder.

        Returns:
            tuple: ``[(B, C, Y, X)]`` BEV features and the current frame's
            ``(B, N_cam, D, h, w)`` depth distribution.
        """
        imgs = batch_inputs_dict['imgs']
        n_frames = 1 + self.num_adjacent
        if imgs.dim() != 5 or imgs.shape[1] % n_frames:
            raise ValueError(f'BEVDet4D: inputs["imgs"] must be (B, {n_frames} * N_cam, 3, H, W) for '
                             f'num_adjacent={self.num_adjacent}, got {tuple(imgs.shape)}')
        n_cam = imgs.shape[1] // n_frames
        lidar2img = stack_meta(batch_data_samples, 'lidar2img', device=imgs.device, dtype=imgs.dtype)
        if lidar2img.shape[1] != imgs.shape[1]:
            raise ValueError(f'BEVDet4D: metainfo lidar2img has {lidar2img.shape[1]} views, inputs["imgs"] '
                             f'{imgs.shape[1]}')
        bev, depth = self.lift_frame(imgs[:, :n_cam], lidar2img[:, :n_cam])
        if not self.with_prev:  # official with_prev=False: zeros for the adjacent frames, nothing computed
            return [self.bev_encoder(torch.cat([bev] + [torch.zeros_like(bev)] * self.num_adjacent, 1))], depth
        cur2adj = self.cur2adj(batch_data_samples, imgs.device)
        bevs = [bev]
        for k in range(self.num_adjacent):
            views = slice((k + 1) * n_cam, (k + 2) * n_cam)
            with torch.set_grad_enabled(self.adjacent_with_grad and torch.is_grad_enabled()):
                if self.adjacent_alignment == 'lift':
                    # current BEV frame -> adjacent BEV frame -> adjacent pixels: the BEV is built in the current
                    # frame (official sensor2keyego of the adjacent cameras), then pre_process
                    cur2img = lidar2img[:, views] @ cur2adj[:, k, None].to(lidar2img.dtype)
                    bev_adj, _ = self.lift_frame(imgs[:, views], cur2img)
                    bevs.append(bev_adj)
                    continue
                bev_adj, _ = self.lift_frame(imgs[:, views], lidar2img[:, views])
            # warp_bev samples the source (adjacent) map at dst2src = current -> adjacent
            warped, _ = warp_bev(bev_adj, cur2adj[:, k].to(bev_adj.dtype), self._bev_grid(bev_adj))
            bevs.append(warped)
        return [self.bev_encoder(torch.cat(bevs, dim=1))], depth
