"""BEVFormer detection head: BEV queries + encoder (BEV features) and a DETR-style 3D set
prediction decoder with Hungarian assignment, focal + L1 losses (BEVFormer, Li et al., ECCV 2022,
Sec. 3.5; official ``dense_heads/bevformer_head.py``)."""
import copy
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmdet3d.registry import MODELS, TASK_UTILS
from mmdet3d.structures import LiDARInstance3DBoxes
from mmdet.models.layers import LearnedPositionalEncoding
from mmdet.models.utils import multi_apply
from mmdet.utils import reduce_mean
from mmengine.model import BaseModule, bias_init_with_prob
from mmengine.structures import InstanceData
from torch import Tensor, nn

from mim3d_plugin.models.task_modules import normalize_bbox3d
from .deformable_attn import inverse_sigmoid

CAN_BUS_DIMS = 18


def official_can_bus(can_bus: Tensor, valid: Tensor) -> Tensor:
    """The CAN-bus vectors BEVFormer feeds its MLP for a clip (official ``NuScenesDataset.union2one``).

    Frame ``t`` keeps its absolute quaternion (3:7), CAN values (7:16) and yaw in radians (16), and gets its ego
    translation (0:3, m) and yaw in degrees (17) relative to frame ``t - 1`` of the clip (no wrap of the yaw
    difference, as the official); both are 0 for the first frame and where the previous frame is not valid
    (official: a scene change; here a repeated frame at a scene start).

    Args:
        can_bus (Tensor): ``(B, F, 18)`` absolute vectors of the info files (``can_bus``), oldest frame first.
        valid (Tensor): ``(B, F)`` bool ``frame_valid``.

    Returns:
        Tensor: ``(B, F, 18)``.
    """
    out = can_bus.clone()
    prev_ok = torch.zeros_like(valid)
    prev_ok[:, 1:] = valid[:, :-1] & valid[:, 1:]
    delta_pos = torch.zeros_like(can_bus[..., :3])
    delta_pos[:, 1:] = can_bus[:, 1:, :3] - can_bus[:, :-1, :3]
    delta_yaw = torch.zeros_like(can_bus[..., 17])
    delta_yaw[:, 1:] = can_bus[:, 1:, 17] - can_bus[:, :-1, 17]
    out[..., :3] = torch.where(prev_ok[..., None], delta_pos, torch.zeros_like(delta_pos))
    out[..., 17] = torch.where(prev_ok, delta_yaw, torch.zeros_like(delta_yaw))
    return out


def _reg_branch(dims: int, out: int, num_fcs: int) -> nn.Sequential:
    layers = []
    for _ in range(num_fcs):
        layers += [nn.Linear(dims, dims), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers, nn.Linear(dims, out))


def _cls_branch(dims: int, out: int, num_fcs: int) -> nn.Sequential:
    layers = []
    for _ in range(num_fcs):
        layers += [nn.Linear(dims, dims), nn.LayerNorm(dims), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers, nn.Linear(dims, out))


@MODELS.register_module()
class BEVFormerHead(BaseModule):
    """BEV encoder + 3D DETR decoder + set-prediction losses.

    Box parametrisation (:func:`normalize_bbox3d`): ``(x, y, z, log dx, log dy,
    log dz, sin yaw, cos yaw, vx, vy)`` in the LiDAR frame, centre at the
    gravity centre; the centre is predicted as a sigmoid over
    ``point_cloud_range`` (refined per decoder layer), the rest directly.

    Args:
        num_classes (int): classes. Default: 10.
        embed_dims (int): channels C. Default: 256.
        bev_shape (Sequence[int]): ``(Y, X)`` BEV cells (200x200 in BEVFormer-base).
        point_cloud_range (Sequence[float]): BEV range (m), LiDAR frame.
        num_query (int): object queries. Default: 900.
        encoder (dict): :class:`BEVFormerEncoder` config (its ``bev_shape`` and
            ``point_cloud_range`` are set from this head).
        decoder (dict): :class:`BEVFormerDecoder` config.
        bbox_coder (dict): :class:`NMSFreeBBox3DCoder` config.
        assigner (dict): :class:`HungarianBBox3DAssigner` config.
        loss_cls (dict): classification loss (mmdet ``FocalLoss``).
        loss_bbox (dict): box loss (mmdet ``L1Loss``).
        code_weights (Sequence[float]): per-entry box loss weights (10).
        num_reg_fcs (int): hidden layers of the branches. Default: 2.
        use_can_bus (bool): add the official CAN-bus MLP (``can_bus_mlp``: Linear(18, C/2)-ReLU-Linear(C/2, C)-
            ReLU[-LayerNorm]) of the frame's 18-d CAN-bus vector to every BEV query (official
            ``PerceptionTransformer.get_bev_features``; the vector: :func:`official_can_bus`). Default: False.
        can_bus_norm (bool): the MLP ends with a LayerNorm (``can_bus_mlp.norm``, official default). Default: True.
    """

    def __init__(self,
                 bev_shape: Sequence[int],
                 point_cloud_range: Sequence[float],
                 encoder: dict,
                 decoder: dict,
                 bbox_coder: dict,
                 assigner: dict = dict(
                     type='HungarianBBox3DAssigner',
                     match_costs=[
                         dict(type='mmdet.FocalLossCost', weight=2.0),
                         dict(type='BBox3DL1MatchCost', weight=0.25)
                     ]),
                 loss_cls: dict = dict(
                     type='PortableFocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0),
                 loss_bbox: dict = dict(type='mmdet.L1Loss', loss_weight=0.25),
                 num_classes: int = 10,
                 embed_dims: int = 256,
                 num_query: int = 900,
                 code_weights: Sequence[float] = (1., 1., 1., 1., 1., 1., 1., 1., 0.2, 0.2),
                 num_reg_fcs: int = 2,
                 use_can_bus: bool = False,
                 can_bus_norm: bool = True,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_classes, self.embed_dims, self.num_query = num_classes, embed_dims, num_query
        self.bev_shape = (int(bev_shape[0]), int(bev_shape[1]))
        self.pc_range = [float(v) for v in point_cloud_range]
        encoder = dict(
            copy.deepcopy(encoder),
            type='BEVFormerEncoder',
            bev_shape=self.bev_shape,
            point_cloud_range=self.pc_range,
            embed_dims=embed_dims)
        self.encoder = MODELS.build(encoder)
        self.decoder = MODELS.build(dict(copy.deepcopy(decoder), type='BEVFormerDecoder'))
        self.bev_embedding = nn.Embedding(self.bev_shape[0] * self.bev_shape[1], embed_dims)
        self.positional_encoding = LearnedPositionalEncoding(
            embed_dims // 2, row_num_embed=self.bev_shape[0], col_num_embed=self.bev_shape[1])
        self.query_embedding = nn.Embedding(num_query, embed_dims * 2)
        self.reference_points = nn.Linear(embed_dims, 3)
        self.use_can_bus = use_can_bus
        self.can_bus_mlp = None
        if use_can_bus:  # official key names: can_bus_mlp.0 / .2 / .norm
            self.can_bus_mlp = nn.Sequential(
                nn.Linear(CAN_BUS_DIMS, embed_dims // 2), nn.ReLU(inplace=True), nn.Linear(embed_dims // 2, embed_dims),
                nn.ReLU(inplace=True))
            if can_bus_norm:
                self.can_bus_mlp.add_module('norm', nn.LayerNorm(embed_dims))
        n_layers = len(self.decoder.layers)
        self.code_size = len(code_weights)
        self.cls_branches = nn.ModuleList([_cls_branch(embed_dims, num_classes, num_reg_fcs) for _ in range(n_layers)])
        self.reg_branches = nn.ModuleList(
            [_reg_branch(embed_dims, self.code_size, num_reg_fcs) for _ in range(n_layers)])
        self.register_buffer('code_weights', torch.tensor(code_weights, dtype=torch.float32), persistent=False)
        self.bbox_coder = TASK_UTILS.build(bbox_coder)
        self.assigner = TASK_UTILS.build(assigner)
        self.loss_cls = MODELS.build(loss_cls)
        self.loss_bbox = MODELS.build(loss_bbox)

    def init_weights(self) -> None:
        super().init_weights()  # recurses into the attention modules' own init_weights
        nn.init.xavier_uniform_(self.reference_points.weight)
        nn.init.zeros_(self.reference_points.bias)
        if self.can_bus_mlp is not None:  # official: xavier_uniform_ on every >1-d transformer parameter
            for m in self.can_bus_mlp:
                if isinstance(m, nn.Linear):
                    nn.init.xavier_uniform_(m.weight)
        bias = bias_init_with_prob(0.01)
        for branch in self.cls_branches:
            nn.init.constant_(branch[-1].bias, bias)

    # ------------------------------------------------------------------ forward
    def get_bev_features(self,
                         mlvl_feats: List[Tensor],
                         lidar2img: Tensor,
                         img_shape: Sequence[int],
                         prev_bev: Optional[Tensor] = None,
                         prev_mask: Optional[Tensor] = None,
                         can_bus: Optional[Tensor] = None,
                         bev_shift: Optional[Tensor] = None) -> Tensor:
        """BEV features of one frame.

        Args:
            mlvl_feats (list[Tensor]): per level ``(B, N_cam, C, H_l, W_l)``.
            lidar2img (Tensor): ``(B, N_cam, 4, 4)``.
            img_shape (tuple[int, int]): ``(H, W)`` px of the network input.
            prev_bev (Tensor, optional): ``(B, Y*X, C)`` previous BEV aligned to this frame.
            prev_mask (Tensor, optional): ``(B, Y*X)`` bool validity of ``prev_bev``.
            can_bus (Tensor, optional): ``(B, 18)`` CAN-bus vectors (:func:`official_can_bus`); required with
                ``use_can_bus``.
            bev_shift (Tensor, optional): ``(B, 2)`` official TSA reference-point shift for ``prev_bev``
                (:func:`official_bev_shift`; None when ``prev_bev`` is already aligned).

        Returns:
            Tensor: ``(B, Y*X, C)``.

        Raises:
            ValueError: ``use_can_bus`` without a ``(B, 18)`` ``can_bus``.
        """
        b = mlvl_feats[0].shape[0]
        dtype = mlvl_feats[0].dtype
        # a copy, not a view: a view of the parameter made under no_grad (earlier frames) would still claim
        # requires_grad without a grad_fn, which autograd hooks (e.g. FlopCounterMode's module tracker) reject
        bev_query = self.bev_embedding.weight.to(dtype).unsqueeze(0).repeat(b, 1, 1)
        if self.use_can_bus:
            if can_bus is None or tuple(can_bus.shape) != (b, CAN_BUS_DIMS):
                raise ValueError(f'BEVFormerHead: use_can_bus needs can_bus of shape ({b}, {CAN_BUS_DIMS}), got '
                                 f'{None if can_bus is None else tuple(can_bus.shape)} (metainfo "can_bus" from '
                                 'the info files: tools/create_data.py writes it)')
            bev_query = bev_query + self.can_bus_mlp(can_bus.to(dtype))[:, None, :]
        mask = bev_query.new_zeros((b, ) + self.bev_shape)
        bev_pos = self.positional_encoding(mask).to(dtype).flatten(2).transpose(1, 2)
        return self.encoder(bev_query, bev_pos, mlvl_feats, lidar2img, img_shape, prev_bev, prev_mask, bev_shift)

    def forward(self,
                mlvl_feats: List[Tensor],
                lidar2img: Tensor,
                img_shape: Sequence[int],
                prev_bev: Optional[Tensor] = None,
                prev_mask: Optional[Tensor] = None,
                can_bus: Optional[Tensor] = None,
                bev_shift: Optional[Tensor] = None) -> Tuple[Tensor, Tensor, Tensor]:
        """Arguments as :meth:`get_bev_features`.

        Returns:
            tuple[Tensor, Tensor, Tensor]: ``all_cls_scores`` ``(L, B, Q_obj,
            num_classes)`` logits, ``all_bbox_preds`` ``(L, B, Q_obj, 10)``
            normalised boxes in metres (LiDAR frame), and the BEV ``(B, Y*X, C)``.
        """
        bev = self.get_bev_features(mlvl_feats, lidar2img, img_shape, prev_bev, prev_mask, can_bus, bev_shift)
        b = bev.shape[0]
        query_pos, query = self.query_embedding.weight.to(bev.dtype).split(self.embed_dims, dim=1)
        query_pos = query_pos.unsqueeze(0).expand(b, -1, -1)
        query = query.unsqueeze(0).expand(b, -1, -1)
        reference_points = self.reference_points(query_pos).sigmoid()
        hs, refs = self.decoder(query, query_pos, bev, self.bev_shape, reference_points, self.reg_branches)
        cls_list, box_list = [], []
        for lvl in range(hs.shape[0]):
            cls_list.append(self.cls_branches[lvl](hs[lvl]))
            box_list.append(self.regression_to_boxes(self.reg_branches[lvl](hs[lvl]), refs[lvl]))
        return torch.stack(cls_list), torch.stack(box_list), bev

    def regression_to_boxes(self, reg: Tensor, reference_points: Tensor) -> Tensor:
        """One decoder layer's regression output -> normalised boxes in metres.

        Args:
            reg (Tensor): ``(..., 10)`` output of a ``reg_branches`` entry: centre offsets in inverse-sigmoid space
                (0:3), then ``log dx, log dy, log dz, sin yaw, cos yaw, vx, vy``.
            reference_points (Tensor): ``(..., 3)`` in ``[0, 1]`` over ``point_cloud_range``, the layer's start.

        Returns:
            Tensor: ``(..., 10)``: centre ``sigmoid(reg + inverse_sigmoid(ref))`` scaled to ``point_cloud_range``
            (m, LiDAR frame), the rest unchanged (:func:`normalize_bbox3d` layout).
        """
        lo = reg.new_tensor(self.pc_range[:3])
        hi = reg.new_tensor(self.pc_range[3:])
        center = (reg[..., :3] + inverse_sigmoid(reference_points)).sigmoid() * (hi - lo) + lo
        return torch.cat([center, reg[..., 3:]], -1)

    # ------------------------------------------------------------------ loss
    def _targets_single(self, cls_score: Tensor, bbox_pred: Tensor,
                        gt: InstanceData) -> Tuple[Tensor, Tensor, Tensor, int]:
        q = cls_score.shape[0]
        gt_boxes = gt.bboxes_3d
        gt_raw = torch.cat([gt_boxes.gravity_center, gt_boxes.tensor[:, 3:]], -1).to(bbox_pred)
        if gt_raw.shape[-1] != 9:
            raise ValueError(f'BEVFormerHead: gt bboxes_3d need 9 values (with velocity), got {gt_raw.shape[-1]}; '
                             'load the annotations with velocity (mmdet3d NuScenesDataset with_velocity=True)')
        gt_norm = normalize_bbox3d(gt_raw)
        pred = InstanceData(scores=cls_score, bboxes=bbox_pred)
        gt_inst = InstanceData(labels=gt.labels_3d, bboxes=gt_norm)
        assign = self.assigner.assign(pred, gt_inst)
        pos = torch.nonzero(assign.gt_inds > 0, as_tuple=False).squeeze(-1)
        labels = torch.full((q, ), self.num_classes, dtype=torch.long, device=cls_score.device)
        labels[pos] = gt.labels_3d[assign.gt_inds[pos] - 1]
        bbox_targets = torch.zeros_like(bbox_pred)
        bbox_weights = torch.zeros_like(bbox_pred)
        bbox_targets[pos] = gt_norm[assign.gt_inds[pos] - 1]
        bbox_weights[pos] = 1.0
        return labels, bbox_targets, bbox_weights, pos.numel()

    def _loss_single_layer(self, cls_scores: Tensor, bbox_preds: Tensor,
                           gts: List[InstanceData]) -> Tuple[Tensor, Tensor]:
        labels, targets, weights, num_pos = multi_apply(self._targets_single, list(cls_scores.detach()),
                                                        list(bbox_preds.detach()), gts)
        labels, targets, weights = torch.cat(labels), torch.cat(targets), torch.cat(weights)
        # the positives averaged over all GPUs (official sync_cls_avg_factor=True and reduce_mean(num_total_pos),
        # mmdet 2.x DETRHead.loss_single): every GPU divides by the same number, as a single-GPU run of the
        # whole batch would
        avg = max(float(reduce_mean(cls_scores.new_tensor(float(sum(num_pos))))), 1.0)
        cls = cls_scores.flatten(0, 1)
        loss_cls = self.loss_cls(cls, labels, avg_factor=avg)
        preds = bbox_preds.flatten(0, 1)
        weights = weights * self.code_weights.to(weights)
        finite = torch.isfinite(targets).all(-1)
        loss_bbox = self.loss_bbox(preds[finite], targets[finite], weights[finite], avg_factor=avg)
        return torch.nan_to_num(loss_cls), torch.nan_to_num(loss_bbox)

    def loss_by_feat(self, all_cls_scores: Tensor, all_bbox_preds: Tensor,
                     batch_gt_instances_3d: List[InstanceData]) -> Dict[str, Tensor]:
        """Losses of every decoder layer (the last unprefixed, the others ``d{i}.``).

        Args:
            all_cls_scores (Tensor): ``(L, B, Q_obj, num_classes)``.
            all_bbox_preds (Tensor): ``(L, B, Q_obj, 10)``.
            batch_gt_instances_3d (list[InstanceData]): ``bboxes_3d``
                (LiDARInstance3DBoxes with velocity) and ``labels_3d`` per sample.
        """
        losses = dict()
        n = all_cls_scores.shape[0]
        for lvl in range(n):
            loss_cls, loss_bbox = self._loss_single_layer(all_cls_scores[lvl], all_bbox_preds[lvl],
                                                          batch_gt_instances_3d)
            prefix = '' if lvl == n - 1 else f'd{lvl}.'
            losses[f'{prefix}loss_cls'] = loss_cls
            losses[f'{prefix}loss_bbox'] = loss_bbox
        return losses

    # ------------------------------------------------------------------ predict
    def predict_by_feat(self, all_cls_scores: Tensor, all_bbox_preds: Tensor) -> List[InstanceData]:
        """Decode the last layer into mmdet3d results: ``bboxes_3d`` (LiDARInstance3DBoxes, bottom
        centre, 9 values), ``scores_3d``, ``labels_3d`` per sample."""
        results = []
        for cls, box in zip(all_cls_scores[-1], all_bbox_preds[-1]):
            dec = self.bbox_coder.decode(cls, box)
            boxes = LiDARInstance3DBoxes(dec['bboxes'], box_dim=dec['bboxes'].shape[-1], origin=(0.5, 0.5, 0.5))
            results.append(InstanceData(bboxes_3d=boxes, scores_3d=dec['scores'], labels_3d=dec['labels']))
        return results
