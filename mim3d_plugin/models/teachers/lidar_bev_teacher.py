"""Frozen LiDAR detector that provides BEV feature targets (GeoMIM's teacher).

GeoMIM (Liu et al., ICCV 2023, https://arxiv.org/abs/2303.11325, Sec. 3.2)
distils the BEV feature of a pretrained LiDAR detector (BEVFusion LiDAR-only:
VoxelNet sparse encoder + TransFusion-L head, 69.28 NDS) into the camera
model; the target is the sparse-encoder output (256 x 180 x 180 on nuScenes at
0.075 m voxels). This wrapper builds any mmdet3d voxel-based LiDAR detector
from its config, runs the detector's own voxelization and its stages up to
the requested one, and never trains it.

BEV layout of the outputs: mmdet3d's middle encoders scatter voxel
coordinates ``(batch, z, y, x)`` into ``(B, C, Y, X)`` maps (``PointPillarsScatter``:
``canvas[:, y * nx + x]``; ``SparseEncoder``: ``dense()`` of ``(z, y, x)``
sparse shape with z folded into channels), so rows are LiDAR y (index 0 at
``y_min``) and columns are LiDAR x (index 0 at ``x_min``): the ``(Y, X)``
layout of :class:`mim3d_plugin.geometry.VoxelGrid` over the detector's
``point_cloud_range``, coarsened by the stage's stride. BEVFusion's
``BEVFusionSparseEncoder`` (mmdet3d ``projects/BEVFusion``; GeoMIM's teacher)
works in ``(x, y, z)`` order and returns ``(B, C, X, Y)``; such maps are
transposed to ``(Y, X)`` (``transpose_xy``).
"""
from typing import List, Optional, Sequence, Tuple

import torch
from mmdet3d.models.data_preprocessors.voxelize import VoxelizationByGridShape
from mmdet3d.registry import MODELS
from mmengine.config import ConfigDict
from mmengine.model import BaseModule
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint
from torch import Tensor, nn

from mim3d_plugin.ops import PortableVoxelization, check_sparse_conv

_STAGES = ('voxel_encoder', 'middle_encoder', 'backbone', 'neck')


@MODELS.register_module()
class LiDARBEVTeacher(BaseModule):
    """Frozen, always-eval LiDAR detector returning the BEV feature of one stage.

    Args:
        detector (dict): config of an mmdet3d voxel-based LiDAR detector with
            its ``data_preprocessor`` (e.g. the ``model`` of mmdet3d's
            ``centerpoint_voxel0075_second_secfpn_8xb4-cyclic-20e_nus-3d.py``).
            Supported layouts: two-stage MVX (``CenterPoint``,
            ``MVXFasterRCNN``: ``pts_voxel_encoder``, ``pts_middle_encoder``,
            ``pts_backbone``, ``pts_neck``, voxelized by
            ``data_preprocessor.voxelize``), single-stage ``VoxelNet``-style
            (``voxel_encoder``, ``middle_encoder``, ``backbone``, ``neck``) and
            BEVFusion-L (the detector's own ``voxelize``).
        stage (str): the stage whose output is returned: ``'pts_middle_encoder'``
            (default; the BEV map after scatter / sparse encoder; GeoMIM's
            target),
            ``'pts_backbone'`` or ``'pts_neck'`` (the ``pts_`` prefix is
            optional).
        out_level (int): which element to return when the stage outputs a
            sequence (backbone levels, neck outputs). Default: 0.
        transpose_xy (bool, optional): transpose the output's last two dims
            to get rows = y, columns = x. None: automatic, True exactly when
            the middle encoder is a ``BEVFusionSparseEncoder``. Default: None.
        checkpoint (str, optional): detector checkpoint, loaded with mmengine's
            ``load_checkpoint`` (``map_location='cpu'``): a local path or an
            ``https://`` URL (mmdet3d model zoo; downloaded once into the torch
            hub cache). Every parameter and buffer of the stages that are run
            must be in it with the detector's size. Default: None.
        init_cfg (dict, optional): unused (the detector is initialised by its
            own ``init_cfg`` or by ``checkpoint``).

    Raises:
        ValueError: if the detector is not a voxel-based LiDAR detector, or
            ``stage`` is not one of its stages (the message lists them), or the
            checkpoint misses weights of the used stages or holds them with
            another size (a config that is not the checkpoint's).
    """

    def __init__(self,
                 detector: dict,
                 stage: str = 'pts_middle_encoder',
                 out_level: int = 0,
                 transpose_xy: Optional[bool] = None,
                 checkpoint: Optional[str] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        # the detector's BaseModel builds its data_preprocessor from the default scope
        scope = None if DefaultScope.get_current_instance() is not None else 'mmdet3d'
        with DefaultScope.overwrite_default_scope(scope):
            self.detector = MODELS.build(ConfigDict(detector))  # attribute access (train_cfg.pts)
        self.prefix = self._stage_prefix(self.detector, detector.get('type'))
        preprocessor = getattr(self.detector, 'data_preprocessor', None)
        if isinstance(getattr(preprocessor, 'voxel_layer', None), VoxelizationByGridShape):
            # mmcv's voxelization kernel where it runs on the points' device, else its PyTorch equal
            preprocessor.voxel_layer = PortableVoxelization.from_layer(preprocessor.voxel_layer)
        available = [self.prefix + s for s in _STAGES[1:] if getattr(self.detector, self.prefix + s, None) is not None]
        name = stage if stage.startswith(self.prefix) or not self.prefix else self.prefix + stage
        if name not in available:
            raise ValueError(f'LiDARBEVTeacher: stage {stage!r} is not available in detector '
                             f'{detector.get("type")!r}; available stages: {available}')
        self.stage = name
        self.out_level = out_level
        if transpose_xy is None:
            middle = getattr(self.detector, self.prefix + 'middle_encoder')
            transpose_xy = type(middle).__name__ == 'BEVFusionSparseEncoder'
        self.transpose_xy = transpose_xy
        self.checkpoint = checkpoint
        self.detector.requires_grad_(False)
        self.detector.eval()
        if checkpoint is not None:
            self._load_checkpoint()
            self._is_init = True  # a parent's init_weights must not re-initialise loaded weights

    @staticmethod
    def _stage_prefix(det: nn.Module, det_type) -> str:
        for prefix in ('pts_', ''):
            if getattr(det, prefix + 'middle_encoder', None) is not None:
                return prefix
        raise ValueError(f'LiDARBEVTeacher: detector {det_type!r} ({type(det).__name__}) is not a voxel-based LiDAR '
                         f'detector: it needs a pts_middle_encoder (CenterPoint, BEVFusion-L) or a middle_encoder '
                         f'(VoxelNet)')

    def _used_modules(self) -> List[str]:
        names = [self.prefix + s for s in _STAGES]
        return names[:names.index(self.stage) + 1]

    def _load_checkpoint(self) -> None:
        ckpt = load_checkpoint(self.detector, self.checkpoint, map_location='cpu', strict=False)
        state = ckpt.get('state_dict', ckpt)
        state = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}
        own = self.detector.state_dict()
        needed = [k for k in own if k.split('.')[0] in self._used_modules()]
        missing = [k for k in needed if k not in state]
        if missing:
            raise ValueError(f'LiDARBEVTeacher: checkpoint {self.checkpoint} lacks {len(missing)} weights of the '
                             f'stages {self._used_modules()}, e.g. {missing[:5]}; is it a checkpoint of this detector?')
        # mmengine's non-strict loading only logs a size mismatch and keeps the random weights: refuse it here
        # (sizes, not shapes: sparse-conv weights of mmdet3d v1.0 checkpoints are stored in mmcv's (k, k, k, in, out)
        # layout and transposed on load by mmdet3d's spconv-2 state-dict hook)
        wrong = [
            f'{k}: checkpoint {tuple(state[k].shape)} vs detector {tuple(own[k].shape)}' for k in needed
            if hasattr(state[k], 'shape') and state[k].numel() != own[k].numel()
        ]
        if wrong:
            raise ValueError(f'LiDARBEVTeacher: checkpoint {self.checkpoint} does not fit the detector config: '
                             f'{len(wrong)} weights of the stages {self._used_modules()} differ in size, e.g. '
                             f'{wrong[:3]}; the teacher config must be the config the checkpoint was trained with')
        self.detector.requires_grad_(False)

    def init_weights(self) -> None:
        """Load ``checkpoint`` if given, else initialise the detector by its own ``init_cfg``."""
        if self.checkpoint is not None:
            self._load_checkpoint()
        else:
            self.detector.init_weights()
        self._is_init = True

    def train(self, mode: bool = True) -> 'LiDARBEVTeacher':
        """Keep the teacher in eval mode whatever ``mode`` is (frozen BN statistics, no dropout)."""
        return super().train(False)

    def _voxelize(self, points: List[Tensor]) -> Tuple[Tensor, Optional[Tensor], Tensor]:
        det = self.detector
        if callable(getattr(det, 'voxelize', None)):  # BEVFusion: (mean) feats, coords (b, x, y, z), sizes
            feats, coors, sizes = det.voxelize(points)
            return feats, sizes, coors
        preprocessor = getattr(det, 'data_preprocessor', None)
        if not callable(getattr(preprocessor, 'voxelize', None)) or not getattr(preprocessor, 'voxel', False):
            raise ValueError(f'LiDARBEVTeacher: the data_preprocessor of {type(det).__name__} does not voxelize '
                             f'(set voxel=True and voxel_layer in its config)')
        voxel_dict = preprocessor.voxelize(points, [])
        return voxel_dict['voxels'], voxel_dict.get('num_points'), voxel_dict['coors']

    @torch.no_grad()
    def forward(self, points: Sequence[Tensor]) -> Tensor:
        """BEV feature of the configured stage.

        Args:
            points (Sequence[Tensor]): B tensors ``(P_b, C_pts)``: x, y, z (m,
                LiDAR frame) then the extra features the detector expects
                (nuScenes: intensity, time lag; ``C_pts = 5``).

        Returns:
            Tensor: ``(B, C, Y, X)`` detached features; rows = LiDAR y,
            columns = LiDAR x (see the module docstring). CenterPoint
            voxel0075 middle encoder: ``(B, 256, 180, 180)``; pillar02:
            ``(B, 64, 512, 512)``.
        """
        if len(points) == 0:
            raise ValueError('LiDARBEVTeacher: got an empty list of point clouds')
        points = [p.float() for p in points]  # the teacher runs in float32 even under autocast
        with torch.autocast(device_type=points[0].device.type, enabled=False):
            return self._forward_fp32(points)

    def _forward_fp32(self, points: List[Tensor]) -> Tensor:
        """The stages up to ``self.stage`` on float32 points (see :meth:`forward`)."""
        det, prefix = self.detector, self.prefix
        voxels, num_points, coors = self._voxelize(points)
        encoder = getattr(det, prefix + 'voxel_encoder', None)
        if encoder is None:  # BEVFusion-L: voxelize already averaged the points of each voxel
            voxel_feats = voxels
        elif num_points is not None:
            voxel_feats = encoder(voxels, num_points, coors)
        else:  # dynamic voxelization: the encoder also returns the voxel coordinates
            voxel_feats, coors = encoder(voxels, coors)
        middle = getattr(det, prefix + 'middle_encoder')
        if 'Sparse' in type(middle).__name__:
            check_sparse_conv(voxel_feats.device, f'LiDARBEVTeacher ({type(middle).__name__})')
        x = middle(voxel_feats, coors, len(points))
        if isinstance(x, (tuple, list)):
            x = x[0]  # SparseEncoder with return_middle_feats: (BEV map, per-level sparse features)
        for name in ('backbone', 'neck'):
            if self.stage == prefix + 'middle_encoder':
                break
            x = getattr(det, prefix + name)(x)
            if self.stage == prefix + name:
                break
        if isinstance(x, (tuple, list)):
            x = x[self.out_level]
        if self.transpose_xy:
            x = x.transpose(-1, -2).contiguous()
        return x.detach()
