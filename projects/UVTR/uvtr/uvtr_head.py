"""UVTR detection head: object queries decoded against the voxel volume, set-prediction losses, and UVTR-DN's
denoising queries (official ``dense_heads/uvtr_head.py`` ``UVTRHead`` and ``dense_heads/uvtr_dn_head.py``
``UVTRDNHead`` of hustvl/MIM4D and Nightmare-n/UniPAD; UVTR: Li et al., NeurIPS 2022; the denoising queries follow
DN-DETR, Li et al., CVPR 2022).

Box code (:func:`normalize_bbox3d`, shared with projects/BEVFormer): ``(x, y, z, log dx, log dy, log dz, sin yaw,
cos yaw, vx, vy)`` in the LiDAR frame (mmdet3d 1.x boxes, gravity centre); the centre is
``sigmoid(reg + reference)`` scaled to ``point_cloud_range``. The official regresses mmdet3d-0.x boxes in another
order (``tools/model_converters/uvtr_official_to_mim3d.py`` maps the output rows exactly).
"""
import copy
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmdet3d.registry import MODELS, TASK_UTILS
from mmdet3d.structures import LiDARInstance3DBoxes
from mmdet.models.layers.transformer import inverse_sigmoid
from mmdet.utils import reduce_mean
from mmengine.model import BaseModule, bias_init_with_prob
from mmengine.structures import InstanceData
from torch import Tensor, nn

from mim3d_plugin.models.task_modules import denormalize_bbox3d, normalize_bbox3d
from mim3d_plugin.ops import box_intersection_rotated_aligned
from .uvtr_transformer import UVTRTransformer, dn_attention_mask


def paired_iou_3d(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """3D IoU of box ``i`` of ``boxes1`` with box ``i`` of ``boxes2`` (official ``PairedBboxOverlaps3D('lidar')``).

    Args:
        boxes1, boxes2 (Tensor): ``(N, 7)`` ``(x, y, z_bottom, dx, dy, dz, yaw)`` m / rad (mmdet3d LiDAR boxes).

    Returns:
        Tensor: ``(N,)`` in ``[0, 1]`` (rotated BEV intersection, :func:`box_intersection_rotated_aligned`, times
        the height overlap, over the union of the volumes).
    """
    if boxes1.shape != boxes2.shape or boxes1.shape[-1] < 7:
        raise ValueError(f'paired_iou_3d: boxes must be (N, 7) each, got {tuple(boxes1.shape)}, {tuple(boxes2.shape)}')
    if boxes1.shape[0] == 0:
        return boxes1.new_zeros(0)
    boxes1, boxes2 = boxes1.float(), boxes2.float()
    bev1, bev2 = boxes1[:, [0, 1, 3, 4, 6]], boxes2[:, [0, 1, 3, 4, 6]]
    area1 = boxes1[:, 3] * boxes1[:, 4]
    # mmcv's kernel where it runs (mmdet3d's orientation convention for LiDAR boxes), else the PyTorch path
    inter_bev = box_intersection_rotated_aligned(bev1, bev2)
    top = torch.minimum(boxes1[:, 2] + boxes1[:, 5], boxes2[:, 2] + boxes2[:, 5])
    bottom = torch.maximum(boxes1[:, 2], boxes2[:, 2])
    inter = inter_bev * (top - bottom).clamp(min=0)
    vol1 = area1 * boxes1[:, 5]
    vol2 = boxes2[:, 3] * boxes2[:, 4] * boxes2[:, 5]
    return inter / (vol1 + vol2 - inter).clamp(min=1e-6)


def _fc_branch(dims: int, out: int, num_fcs: int, norm: bool) -> nn.Sequential:
    layers = []
    for _ in range(num_fcs):
        layers += [nn.Linear(dims, dims)] + ([nn.LayerNorm(dims)] if norm else []) + [nn.ReLU(inplace=True)]
    return nn.Sequential(*layers, nn.Linear(dims, out))


def _gravity_boxes(gt: InstanceData, ref: Tensor) -> Tensor:
    boxes = gt.bboxes_3d
    raw = torch.cat([boxes.gravity_center, boxes.tensor[:, 3:]], -1).to(ref)
    if raw.shape[-1] != 9:
        raise ValueError(f'UVTRHead: gt bboxes_3d need 9 values (with velocity), got {raw.shape[-1]}; load the '
                         'annotations with velocity (mmdet3d NuScenesDataset with_velocity=True)')
    return raw


@MODELS.register_module()
class UVTRHead(BaseModule):
    """UVTR / UVTR-DN head on a ``(B, C, Z, Y, X)`` voxel volume.

    Queries: ``with_dn=False`` (official ``UVTRHead``): ``query_embedding`` ``(Q, 2C)`` split into position and
    content, reference points ``transformer.reference_points(query_pos)``. ``with_dn=True`` (official
    ``UVTRDNHead``): learned reference points ``reference_points`` ``(Q, 3)`` in ``[0, 1]``, query position
    ``query_embedding`` MLP of their inverse sigmoid, content zero; an IoU branch per layer (trained on the 3D IoU
    of the predicted box with its target, ``2 IoU - 1``, weight ``iou_weight``; not used at test, as the official);
    in training ``min(scalar, num_query // max #GT)`` groups of denoising queries at the GT centres moved by
    uniform noise of up to half the box size (``bbox_noise_scale``), those moved further than ``split`` (in
    units of half sizes) labelled background, reconstructing their GT box behind the attention mask of
    :func:`dn_attention_mask`.

    Args:
        point_cloud_range (Sequence[float]): ``[x_min, y_min, z_min, x_max, y_max, z_max]`` m (the box centre's
            sigmoid range; official ``bbox_coder.pc_range``).
        transformer (dict): :class:`UVTRTransformer` arguments (``decoder``).
        bbox_coder (dict): :class:`NMSFreeBBox3DCoder` config.
        num_classes (int): Default: 10.
        embed_dims (int): C. Default: 256.
        num_query (int): Default: 900.
        with_dn (bool): UVTR-DN (above). Default: False.
        with_box_refine (bool): per-layer reference refinement and per-layer branches. Default: True.
        assigner, loss_cls, loss_bbox (dict): Hungarian assigner, focal loss, L1 loss (official weights 2.0 /
            0.25).
        code_weights (Sequence[float]): per-entry L1 weights in our box order.
        num_reg_fcs (int): hidden layers of the branches. Default: 2.
        scalar (int): max denoising groups. Default: 10.
        bbox_noise_scale (float), bbox_noise_trans (float): centre noise ``U(-1, 1) * (size / 2 + trans) * scale``.
        split (float): noise radius beyond which a denoising query is background. Default: 0.75.
        dn_weight (float): weight of the denoising losses. Default: 1.0.
        iou_weight (float): weight of the IoU-branch loss. Default: 0.5.
    """

    def __init__(self,
                 point_cloud_range: Sequence[float],
                 transformer: dict,
                 bbox_coder: dict,
                 num_classes: int = 10,
                 embed_dims: int = 256,
                 num_query: int = 900,
                 with_dn: bool = False,
                 with_box_refine: bool = True,
                 assigner: dict = dict(
                     type='HungarianBBox3DAssigner',
                     match_costs=[
                         dict(type='mmdet.FocalLossCost', weight=2.0),
                         dict(type='BBox3DL1MatchCost', weight=0.25)
                     ]),
                 loss_cls: dict = dict(
                     type='PortableFocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0),
                 loss_bbox: dict = dict(type='mmdet.L1Loss', loss_weight=0.25),
                 code_weights: Sequence[float] = (1., 1., 1., 1., 1., 1., 1., 1., 0.2, 0.2),
                 num_reg_fcs: int = 2,
                 scalar: int = 10,
                 bbox_noise_scale: float = 1.0,
                 bbox_noise_trans: float = 0.0,
                 split: float = 0.75,
                 dn_weight: float = 1.0,
                 iou_weight: float = 0.5,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.pc_range = [float(v) for v in point_cloud_range]
        self.num_classes, self.embed_dims, self.num_query = num_classes, embed_dims, num_query
        self.with_dn, self.with_box_refine = with_dn, with_box_refine
        self.scalar, self.bbox_noise_scale, self.bbox_noise_trans = scalar, bbox_noise_scale, bbox_noise_trans
        self.split, self.dn_weight, self.iou_weight = split, dn_weight, iou_weight
        self.transformer = UVTRTransformer(**dict(transformer), with_reference_linear=not with_dn)
        if self.transformer.embed_dims != embed_dims:
            raise ValueError(f'UVTRHead: embed_dims={embed_dims} but the decoder layers have '
                             f'{self.transformer.embed_dims}')
        n_layers = self.transformer.decoder.num_layers
        self.code_size = len(code_weights)
        cls = _fc_branch(embed_dims, num_classes, num_reg_fcs, norm=True)
        reg = _fc_branch(embed_dims, self.code_size, num_reg_fcs, norm=False)
        copies = n_layers if with_box_refine else 1

        def clones(module):
            mods = [copy.deepcopy(module) for _ in range(copies)]
            return nn.ModuleList(mods if with_box_refine else mods * n_layers)

        self.cls_branches, self.reg_branches = clones(cls), clones(reg)
        if with_dn:
            self.iou_branches = clones(_fc_branch(embed_dims, 1, num_reg_fcs, norm=False))
            self.query_embedding = nn.Sequential(
                nn.Linear(3, embed_dims), nn.ReLU(inplace=True), nn.Linear(embed_dims, embed_dims))
            self.reference_points = nn.Embedding(num_query, 3)
        else:
            self.iou_branches = None
            self.query_embedding = nn.Embedding(num_query, embed_dims * 2)
        self.register_buffer('code_weights', torch.tensor(code_weights, dtype=torch.float32), persistent=False)
        self.bbox_coder = TASK_UTILS.build(bbox_coder)
        self.assigner = TASK_UTILS.build(assigner)
        self.loss_cls = MODELS.build(loss_cls)
        self.loss_bbox = MODELS.build(loss_bbox)

    def init_weights(self) -> None:
        """Official: the transformer's init, focal-prior cls bias, DN reference points ``U(0, 1)``."""
        super().init_weights()  # recurses into the transformer's own init_weights
        bias = bias_init_with_prob(0.01)
        for branch in self.cls_branches:
            nn.init.constant_(branch[-1].bias, bias)
        if self.with_dn:
            nn.init.uniform_(self.reference_points.weight, 0, 1)

    # ------------------------------------------------------------------ forward
    def prepare_for_dn(self, batch_size: int, reference_points: Tensor,
                       batch_gt: Optional[List[InstanceData]]) -> Tuple[Tensor, Optional[Tensor], Optional[dict]]:
        """Reference points ``(B, pad + Q, 3)`` in ``[0, 1]``, the self-attention mask and the denoising targets
        (official ``UVTRDNHead.prepare_for_dn``). Without GT (test) or without any GT box in the batch: no
        denoising queries (the official divides by zero there)."""
        plain = reference_points.unsqueeze(0).repeat(batch_size, 1, 1)
        if not (self.training and self.with_dn and batch_gt is not None):
            return plain, None, None
        known_num = [len(g.labels_3d) for g in batch_gt]
        if max(known_num, default=0) == 0 or self.scalar < 1:
            return plain, None, None
        device = reference_points.device
        boxes = torch.cat([_gravity_boxes(g, reference_points) for g in batch_gt])  # (sum N, 9)
        labels = torch.cat([g.labels_3d.to(device) for g in batch_gt]).long()
        batch_idx = torch.cat([torch.full((n, ), i, dtype=torch.long, device=device) for i, n in enumerate(known_num)])
        groups = min(self.scalar, self.num_query // max(known_num))
        if groups < 1:
            return plain, None, None
        known_labels = labels.repeat(groups)
        known_bid = batch_idx.repeat(groups)
        known_boxes = boxes.repeat(groups, 1)
        center = known_boxes[:, :3].clone()
        if self.bbox_noise_scale > 0:
            rand = torch.rand_like(center) * 2 - 1.0
            center = center + rand * (known_boxes[:, 3:6] / 2 + self.bbox_noise_trans) * self.bbox_noise_scale
            far = rand.norm(p=2, dim=1) > self.split  # official: background for the far centres
            known_labels = torch.where(far, torch.full_like(known_labels, self.num_classes), known_labels)
        # normalised also without noise (the official leaves the centres in metres then: inconsistent with [0, 1])
        lo, hi = center.new_tensor(self.pc_range[:3]), center.new_tensor(self.pc_range[3:])
        center = ((center - lo) / (hi - lo)).clamp(0.0, 1.0)
        single_pad = int(max(known_num))
        pad_size = single_pad * groups
        padded = torch.cat([reference_points.new_zeros(pad_size, 3),
                            reference_points]).unsqueeze(0).repeat(batch_size, 1, 1)
        index = torch.cat([torch.arange(n, device=device) for n in known_num])
        index = torch.cat([index + single_pad * i for i in range(groups)]).long()
        padded[known_bid, index] = center.to(padded.dtype)
        mask = dn_attention_mask(pad_size, single_pad, groups, self.num_query, device)
        dn = dict(
            known_bid=known_bid,
            map_known_indice=index,
            known_labels=known_labels,
            known_bboxes=known_boxes,
            pad_size=pad_size)
        return padded, mask, dn

    def forward(self, volume: Tensor, batch_gt: Optional[List[InstanceData]] = None) -> Dict[str, Tensor]:
        """
        Args:
            volume (Tensor): ``(B, C, Z, Y, X)`` voxel features over ``point_cloud_range``.
            batch_gt (list[InstanceData], optional): GT per sample (``bboxes_3d``, ``labels_3d``) for the
                denoising queries (training with ``with_dn``).

        Returns:
            dict: ``all_cls_scores`` ``(L, B, Q, num_classes)`` logits, ``all_bbox_preds`` ``(L, B, Q, 10)``
            (metres, our box code), ``all_iou_preds`` ``(L, B, Q, 1)`` (DN head); with denoising queries also
            ``dn_all_*`` ``(L, B, pad, .)`` and ``dn_meta``.
        """
        b = volume.shape[0]
        if self.with_dn:
            ref, attn_mask, dn = self.prepare_for_dn(b, self.reference_points.weight, batch_gt)
            ref = inverse_sigmoid(ref)
            query_pos = self.query_embedding(ref)
            query = torch.zeros_like(query_pos)
        else:
            query_pos, query = self.query_embedding.weight.split(self.embed_dims, dim=1)
            query_pos = query_pos.unsqueeze(0).expand(b, -1, -1)
            query = query.unsqueeze(0).expand(b, -1, -1)
            ref = self.transformer.reference_points(query_pos)
            attn_mask, dn = None, None
        hs, inter_refs = self.transformer.decoder(
            query.permute(1, 0, 2),
            volume,
            query_pos.permute(1, 0, 2),
            ref,
            reg_branches=self.reg_branches if self.with_box_refine else None,
            attn_masks=[attn_mask, None])
        hs = hs.permute(0, 2, 1, 3)  # (L, B, Q, C)
        starts = torch.cat([ref.unsqueeze(0), inter_refs[:-1]])  # each layer refines its own start
        if not self.with_dn:  # official: the references pass through sigmoid / inverse_sigmoid (clamped)
            starts = inverse_sigmoid(starts.sigmoid())
        cls_list, box_list, iou_list = [], [], []
        for lvl in range(hs.shape[0]):
            box_list.append(self._boxes(self.reg_branches[lvl](hs[lvl]), starts[lvl]))
            cls_list.append(self.cls_branches[lvl](hs[lvl]))
            if self.with_dn:
                iou_list.append(self.iou_branches[lvl](hs[lvl]))
        outs = dict(all_cls_scores=torch.stack(cls_list), all_bbox_preds=torch.stack(box_list))
        if self.with_dn:
            outs['all_iou_preds'] = torch.stack(iou_list)
        if dn is not None:
            pad = dn['pad_size']
            for key in list(outs):
                outs['dn_' + key] = outs[key][:, :, :pad]
                outs[key] = outs[key][:, :, pad:]
            outs['dn_meta'] = dn
        return outs

    def _boxes(self, reg: Tensor, reference_logits: Tensor) -> Tensor:
        lo, hi = reg.new_tensor(self.pc_range[:3]), reg.new_tensor(self.pc_range[3:])
        center = (reg[..., :3] + reference_logits.to(reg.dtype)).sigmoid() * (hi - lo) + lo
        return torch.cat([center, reg[..., 3:]], -1)

    def regression_to_boxes(self, reg: Tensor, reference_points: Tensor) -> Tensor:
        """One decoder layer's regression output -> boxes in metres (as ``BEVFormerHead.regression_to_boxes``).

        Args:
            reg (Tensor): ``(..., 10)`` output of a ``reg_branches`` entry (centre offsets in inverse-sigmoid space,
                then ``log dx, log dy, log dz, sin yaw, cos yaw, vx, vy``).
            reference_points (Tensor): ``(..., 3)`` in ``[0, 1]`` over ``point_cloud_range``.

        Returns:
            Tensor: ``(..., 10)``, the centre ``sigmoid(reg + inverse_sigmoid(ref))`` in m (LiDAR frame).
        """
        return self._boxes(reg, inverse_sigmoid(reference_points))

    # ------------------------------------------------------------------ loss
    def _iou_loss(self, iou_preds: Tensor, bbox_preds: Tensor, targets_raw: Tensor, weights: Tensor) -> Tensor:
        """L1 between ``iou_preds`` and ``2 IoU - 1`` of the (detached) predicted and target boxes, over the
        weighted pairs whose IoU is > 0 (official ``loss_single`` / ``dn_loss_single``)."""
        pred = denormalize_bbox3d(bbox_preds.detach()[:, :8]).float()
        pred[:, 2] = pred[:, 2] - pred[:, 5] * 0.5
        tgt = targets_raw[:, :7].float().clone()
        tgt[:, 2] = tgt[:, 2] - tgt[:, 5] * 0.5
        iou = paired_iou_3d(pred, tgt)
        valid = (iou * weights) != 0
        n = int(valid.sum())
        return F.l1_loss(iou_preds[valid].float(), iou[valid] * 2 - 1, reduction='sum') / max(n, 1)

    def _targets_single(self, cls_score: Tensor, bbox_pred: Tensor, gt: InstanceData):
        q = cls_score.shape[0]
        gt_raw = _gravity_boxes(gt, bbox_pred)
        gt_norm = normalize_bbox3d(gt_raw)
        assign = self.assigner.assign(
            InstanceData(scores=cls_score, bboxes=bbox_pred), InstanceData(labels=gt.labels_3d, bboxes=gt_norm))
        pos = torch.nonzero(assign.gt_inds > 0, as_tuple=False).squeeze(-1)
        labels = torch.full((q, ), self.num_classes, dtype=torch.long, device=cls_score.device)
        labels[pos] = gt.labels_3d[assign.gt_inds[pos] - 1].to(labels.device)
        raw = bbox_pred.new_zeros(q, 9)
        raw[pos] = gt_raw[assign.gt_inds[pos] - 1]
        weights = torch.zeros_like(bbox_pred)
        weights[pos] = 1.0
        return labels, raw, weights, pos.numel()

    def _loss_single_layer(self, cls_scores: Tensor, bbox_preds: Tensor, iou_preds: Optional[Tensor],
                           gts: List[InstanceData]) -> Tuple[Tensor, ...]:
        labels, raws, weights, num_pos = [], [], [], 0
        for cls, box, gt in zip(cls_scores.detach(), bbox_preds.detach(), gts):
            lab, raw, w, n = self._targets_single(cls, box, gt)
            labels.append(lab)
            raws.append(raw)
            weights.append(w)
            num_pos += n
        labels, raws, weights = torch.cat(labels), torch.cat(raws), torch.cat(weights)
        # official sync_cls_avg_factor=True and reduce_mean(num_total_pos): the positives averaged over GPUs
        avg = max(float(reduce_mean(cls_scores.new_tensor(float(num_pos)))), 1.0)
        loss_cls = self.loss_cls(cls_scores.flatten(0, 1), labels, avg_factor=avg)
        targets = normalize_bbox3d(raws)
        preds = bbox_preds.flatten(0, 1)
        finite = torch.isfinite(targets).all(-1)
        cw = weights * self.code_weights.to(weights)
        loss_bbox = self.loss_bbox(preds[finite], targets[finite], cw[finite], avg_factor=avg)
        out = [torch.nan_to_num(loss_cls), torch.nan_to_num(loss_bbox)]
        if iou_preds is not None:
            ious = iou_preds.flatten(0, 1)[finite, 0]
            out.append(self.iou_weight * self._iou_loss(ious, preds[finite], raws[finite], weights[finite, 0]))
        return tuple(out)

    def _dn_loss_single_layer(self, cls_scores: Tensor, bbox_preds: Tensor, iou_preds: Tensor,
                              dn: dict) -> Tuple[Tensor, ...]:
        bid, idx = dn['known_bid'], dn['map_known_indice']
        cls, box, iou = cls_scores[bid, idx], bbox_preds[bid, idx], iou_preds[bid, idx]
        num_tgt = idx.numel()
        # official: the expected number of positives, num_tgt * (volume of the split ball) / (volume of the cube)
        cls_avg = max(num_tgt * 3.14159 / 6 * self.split**3, 1)
        loss_cls = self.loss_cls(cls, dn['known_labels'].long(), avg_factor=cls_avg)
        avg = max(float(reduce_mean(cls_scores.new_tensor(float(num_tgt)))), 1.0)
        targets = normalize_bbox3d(dn['known_bboxes'])
        finite = torch.isfinite(targets).all(-1)
        cw = torch.ones_like(box) * self.code_weights.to(box)
        loss_bbox = self.loss_bbox(box[finite], targets[finite], cw[finite], avg_factor=avg)
        loss_iou = self._iou_loss(iou[finite, 0], box[finite], dn['known_bboxes'][finite],
                                  torch.ones_like(box[finite, 0]))
        return (self.dn_weight * torch.nan_to_num(loss_cls), self.dn_weight * torch.nan_to_num(loss_bbox),
                self.dn_weight * self.iou_weight * loss_iou)

    def loss_by_feat(self, outs: Dict[str, Tensor], batch_gt_instances_3d: List[InstanceData]) -> Dict[str, Tensor]:
        """Losses of every decoder layer (the last unprefixed, the others ``d{i}.``), and with ``with_dn`` the
        denoising losses ``dn_loss_*`` (zero, in the graph, when a batch has no GT box).

        Args:
            outs (dict): :meth:`forward` output.
            batch_gt_instances_3d (list[InstanceData]): ``bboxes_3d`` (LiDARInstance3DBoxes with velocity) and
                ``labels_3d`` per sample.
        """
        losses = dict()
        n = outs['all_cls_scores'].shape[0]
        names = ['loss_cls', 'loss_bbox'] + (['loss_iou'] if self.with_dn else [])
        for lvl in range(n):
            iou = outs['all_iou_preds'][lvl] if self.with_dn else None
            values = self._loss_single_layer(outs['all_cls_scores'][lvl], outs['all_bbox_preds'][lvl], iou,
                                             batch_gt_instances_3d)
            prefix = '' if lvl == n - 1 else f'd{lvl}.'
            losses.update({prefix + k: v for k, v in zip(names, values)})
        if self.with_dn:
            for lvl in range(n):
                prefix = '' if lvl == n - 1 else f'd{lvl}.'
                if 'dn_meta' in outs:
                    values = self._dn_loss_single_layer(outs['dn_all_cls_scores'][lvl], outs['dn_all_bbox_preds'][lvl],
                                                        outs['dn_all_iou_preds'][lvl], outs['dn_meta'])
                else:
                    zero = outs['all_cls_scores'][lvl].sum() * 0
                    values = (zero, zero, zero)
                losses.update({prefix + 'dn_' + k: v for k, v in zip(names, values)})
        return losses

    # ------------------------------------------------------------------ predict
    def predict_by_feat(self, all_cls_scores: Tensor, all_bbox_preds: Tensor) -> List[InstanceData]:
        """The last layer (``(L, B, Q, .)`` inputs, :meth:`forward`'s ``all_cls_scores`` / ``all_bbox_preds``)
        decoded by the NMS-free coder (top ``max_num`` (query, class) pairs): ``bboxes_3d`` (LiDARInstance3DBoxes,
        bottom centre, 9 values), ``scores_3d``, ``labels_3d`` per sample."""
        results = []
        for cls, box in zip(all_cls_scores[-1], all_bbox_preds[-1]):
            dec = self.bbox_coder.decode(cls.float(), box.float())
            boxes = LiDARInstance3DBoxes(dec['bboxes'], box_dim=dec['bboxes'].shape[-1], origin=(0.5, 0.5, 0.5))
            results.append(InstanceData(bboxes_3d=boxes, scores_3d=dec['scores'], labels_3d=dec['labels']))
        return results
