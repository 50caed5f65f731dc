"""3D-awareness probes of frozen camera backbones: dense metric depth and multi-view BEV occupancy.

The protocol follows El Banani et al., "Probing the 3D Awareness of Visual Foundation Models" (CVPR 2024,
https://arxiv.org/abs/2404.08636, Sec. 3-4): the backbone is frozen, a light dense probe is fitted on its
multi-scale features, and the probe's quality on held-out images measures how much 3D information the features
carry. Depth is predicted as a distribution over log-spaced bins (expected value = metric depth, "scale-aware":
no per-image scale alignment before scoring) and trained with the scale-invariant log loss of Eigen et al.
(NIPS 2014) with variance focus ``lambda = 0.85`` (which keeps a ``0.15`` weight on the absolute log scale).
Metrics: AbsRel, RMSE (m), delta < 1.25 over the pixels with a LiDAR return.

The multi-view probe asks for what the camera-BEV methods claim: the frozen per-view features are lifted by a
trainable :class:`LSSViewTransformer` (BEVDet's lift-splat with its own depth net) into the LiDAR-frame BEV grid
and a small head predicts BEV occupancy, the target being the BEV cells that hold a LiDAR return between
``z_range`` (m, LiDAR frame; default -1.5..1.0 m, i.e. about 0.3..2.8 m above the road for the nuScenes LiDAR at
1.84 m). Metric: IoU of the occupied class at probability 0.5.

Everything here is plain PyTorch on cached features, so a probe costs seconds to minutes on 2 CPU cores; the
backbone runs once per image (``tools/analysis_tools/probe_3d.py``).
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mim3d_plugin.geometry import VoxelGrid
from .metrics.depth_metric import depth_metrics


def _conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class DenseDepthProbe(nn.Module):
    """Light dense depth probe on frozen multi-scale features.

    Each level gets a 1x1 projection to ``channels``; the levels are resized to the finest one and summed
    (a one-step DPT/FPN fusion), then a 3x3 conv-BN-ReLU and a 1x1 conv give ``num_bins`` logits per cell. The
    depth is the softmax-expected bin centre (log-spaced over ``depth_range``), bilinearly upsampled to the image.

    Args:
        in_channels (Sequence[int]): channels of each feature level.
        channels (int): probe width. Default: 64.
        num_bins (int): depth bins. Default: 64.
        depth_range (tuple[float, float]): ``(min, max)`` metres of the bin centres. Default: ``(1.0, 60.0)``.

    Shapes: ``forward(feats, out_size)`` with ``feats`` a list of ``(B, C_l, h_l, w_l)`` -> ``(B, H, W)`` metres.
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 channels: int = 64,
                 num_bins: int = 64,
                 depth_range: Tuple[float, float] = (1.0, 60.0)) -> None:
        super().__init__()
        if depth_range[0] <= 0 or depth_range[1] <= depth_range[0]:
            raise ValueError(f'DenseDepthProbe: depth_range must be 0 < min < max metres, got {depth_range}')
        self.lateral = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in in_channels)
        self.head = nn.Sequential(_conv_bn_relu(channels, channels), nn.Conv2d(channels, num_bins, 1))
        log_centres = torch.linspace(math.log(depth_range[0]), math.log(depth_range[1]), num_bins)
        self.register_buffer('bin_centres', log_centres.exp(), persistent=False)

    def forward(self, feats: Sequence[Tensor], out_size: Tuple[int, int]) -> Tensor:
        if len(feats) != len(self.lateral):
            raise ValueError(f'DenseDepthProbe: built for {len(self.lateral)} feature levels, got {len(feats)}')
        finest = max((f.shape[-2:] for f in feats), key=lambda s: s[0] * s[1])
        x = sum(
            F.interpolate(lat(f.float()), size=finest, mode='bilinear', align_corners=False)
            for lat, f in zip(self.lateral, feats))
        prob = self.head(x).softmax(dim=1)
        depth = (prob * self.bin_centres.view(1, -1, 1, 1)).sum(dim=1, keepdim=True)
        return F.interpolate(depth, size=out_size, mode='bilinear', align_corners=False)[:, 0]


def silog_loss(pred: Tensor, gt: Tensor, variance_focus: float = 0.85) -> Tensor:
    """Scale-invariant log loss (Eigen et al., NIPS 2014; BTS/AdaBins form ``10 sqrt(E[d^2] - l E[d]^2)``).

    Args:
        pred (Tensor): ``(..., H, W)`` predicted depth, metres (> 0).
        gt (Tensor): same shape, metres, 0 = no LiDAR return.
        variance_focus (float): ``l``; 1 = fully scale invariant, 0.85 keeps 0.15 on the absolute scale.

    Raises:
        ValueError: if no pixel has a depth.
    """
    valid = gt > 0
    if not bool(valid.any()):
        raise ValueError('silog_loss: no pixel with a LiDAR depth in the batch')
    d = pred[valid].clamp(min=1e-3).log() - gt[valid].log()
    return 10.0 * (d.pow(2).mean() - variance_focus * d.mean().pow(2)).clamp(min=1e-8).sqrt()


class BEVOccupancyProbe(nn.Module):
    """Frozen multi-view features -> LSS (trainable depth net) -> BEV occupancy logits.

    Args:
        in_channels (int): channels of the per-view features fed to the view transformer.
        grid_config (dict): BEVDet ``grid_config`` (x, y, z ``[min, max, step]`` m, LiDAR frame; depth bins).
        input_size (tuple[int, int]): ``(H, W)`` px of the images the features come from.
        downsample (int): stride of the features.
        bev_channels (int): LSS context channels. Default: 32.

    Shapes: ``forward(feats (B, N, C, h, w), lidar2img (B, N, 4, 4))`` -> ``(B, Y, X)`` logits (rows = y).
    """

    def __init__(self,
                 in_channels: int,
                 grid_config: dict,
                 input_size: Tuple[int, int],
                 downsample: int,
                 bev_channels: int = 32) -> None:
        super().__init__()
        from mmdet3d.registry import MODELS
        self.view_transformer = MODELS.build(
            dict(
                type='LSSViewTransformer',
                grid_config=grid_config,
                input_size=tuple(input_size),
                downsample=downsample,
                in_channels=in_channels,
                out_channels=bev_channels))
        c = self.view_transformer.bev_channels
        self.head = nn.Sequential(_conv_bn_relu(c, c), nn.Conv2d(c, 1, 1))

    def forward(self, feats: Tensor, lidar2img: Tensor) -> Tensor:
        bev, _ = self.view_transformer(feats.float(), lidar2img.float())
        return self.head(bev)[:, 0]


def bev_occupancy(points: Sequence[Tensor], grid: VoxelGrid, z_range: Tuple[float, float]) -> Tensor:
    """BEV cells holding at least one LiDAR return with ``z_range[0] <= z < z_range[1]`` (m, LiDAR frame).

    Args:
        points (Sequence[Tensor]): B tensors ``(P, >=3)`` x, y, z metres in the grid's frame.
        grid (VoxelGrid): the BEV grid (its x/y cells; z is given by ``z_range``).
        z_range (tuple[float, float]): height band of the returns that mark a cell occupied.

    Returns:
        Tensor: ``(B, Y, X)`` float 0/1, rows = y (index 0 at ``y_min``), columns = x.
    """
    x_min, y_min = grid.pc_min[0], grid.pc_min[1]
    sx, sy = grid.voxel_size[0], grid.voxel_size[1]
    ny, nx = grid.shape_zyx[1], grid.shape_zyx[2]
    out = torch.zeros(len(points), ny, nx)
    for b, p in enumerate(points):
        p = p[:, :3].float().cpu()
        keep = (p[:, 2] >= z_range[0]) & (p[:, 2] < z_range[1])
        ix = torch.floor((p[keep, 0] - x_min) / sx).long()
        iy = torch.floor((p[keep, 1] - y_min) / sy).long()
        inside = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
        out[b, iy[inside], ix[inside]] = 1.0
    return out


def depth_scores(preds: Sequence[Tensor], gts: Sequence[Tensor], cameras: Sequence[Sequence[str]]) -> Dict:
    """AbsRel, RMSE (m), delta < 1.25 over all LiDAR pixels, overall and per camera.

    Args:
        preds, gts: per frame ``(N, H, W)`` metres (gt 0 = no return).
        cameras: per frame the N camera names.
    """
    sums: Dict[str, Dict[str, float]] = {}
    for pred, gt, names in zip(preds, gts, cameras):
        for v, name in enumerate(names):
            s = depth_metrics(pred[v], gt[v])
            for key in (name, 'overall'):
                acc = sums.setdefault(key, dict(n=0, abs_rel_sum=0.0, sq_err_sum=0.0, delta1_sum=0.0))
                for k in acc:
                    acc[k] += s[k]
    out = {}
    for key, s in sums.items():
        n = max(s['n'], 1)
        out[key] = dict(
            abs_rel=s['abs_rel_sum'] / n,
            rmse=math.sqrt(s['sq_err_sum'] / n),
            delta1=s['delta1_sum'] / n,
            pixels=int(s['n']))
    return out


def occupancy_iou(logits: Sequence[Tensor], targets: Sequence[Tensor]) -> Dict[str, float]:
    """IoU (and precision / recall) of the occupied class at probability 0.5, pooled over all frames."""
    tp = fp = fn = 0.0
    for lg, t in zip(logits, targets):
        p = lg > 0
        t = t > 0.5
        tp += float((p & t).sum())
        fp += float((p & ~t).sum())
        fn += float((~p & t).sum())
    return dict(
        iou=tp / max(tp + fp + fn, 1.0),
        precision=tp / max(tp + fp, 1.0),
        recall=tp / max(tp + fn, 1.0),
        occupied_fraction=(tp + fn) / max(sum(t.numel() for t in targets), 1))


def fit_depth_probe(train: List[dict],
                    in_channels: Sequence[int],
                    iters: int,
                    seed: int,
                    batch_views: int = 12,
                    lr: float = 1e-3,
                    progress=None,
                    **probe_kwargs) -> DenseDepthProbe:
    """Fit a :class:`DenseDepthProbe` on cached frames (``feats``: list of ``(N, C_l, h, w)``, ``depth``
    ``(N, H, W)``) with AdamW and a cosine schedule; views are sampled uniformly. Deterministic for a seed."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    probe = DenseDepthProbe(in_channels, **probe_kwargs)
    opt = torch.optim.AdamW(probe.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=iters)
    views = [(f, v) for f, frame in enumerate(train) for v in range(frame['depth'].shape[0])
             if bool((frame['depth'][v] > 0).any())]
    probe.train()
    for _ in range(iters):
        pick = torch.randint(len(views), (min(batch_views, len(views)), ), generator=g).tolist()
        feats = [
            torch.stack([train[views[i][0]]['feats'][lvl][views[i][1]] for i in pick])
            for lvl in range(len(in_channels))
        ]
        gt = torch.stack([train[views[i][0]]['depth'][views[i][1]] for i in pick])
        loss = silog_loss(probe(feats, tuple(gt.shape[-2:])), gt)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if progress is not None:
            progress.update()
    return probe.eval()


@torch.no_grad()
def predict_depth(probe: DenseDepthProbe, frames: List[dict]) -> List[Tensor]:
    """``(N, H, W)`` metres per frame."""
    return [probe(list(f['feats']), tuple(f['depth'].shape[-2:])) for f in frames]


def fit_bev_probe(train: List[dict],
                  in_channels: int,
                  grid_config: dict,
                  input_size: Tuple[int, int],
                  downsample: int,
                  z_range: Tuple[float, float],
                  iters: int,
                  seed: int,
                  batch_frames: int = 2,
                  lr: float = 2e-3,
                  progress=None,
                  **probe_kwargs) -> BEVOccupancyProbe:
    """Fit a :class:`BEVOccupancyProbe` on cached frames (``lss_feat`` ``(N, C, h, w)``, ``lidar2img``
    ``(N, 4, 4)``, ``points``) with BCE (positives weighted by the negative/positive ratio of the train set)."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    probe = BEVOccupancyProbe(in_channels, grid_config, input_size, downsample, **probe_kwargs)
    grid = probe.view_transformer.grid
    targets = [bev_occupancy([f['points']], grid, z_range)[0] for f in train]
    pos = sum(float(t.sum()) for t in targets)
    pos_weight = torch.tensor((sum(t.numel() for t in targets) - pos) / max(pos, 1.0))
    opt = torch.optim.AdamW(probe.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=iters)
    probe.train()
    for _ in range(iters):
        pick = torch.randint(len(train), (min(batch_frames, len(train)), ), generator=g).tolist()
        feats = torch.stack([train[i]['lss_feat'] for i in pick])
        lidar2img = torch.stack([train[i]['lidar2img'] for i in pick])
        target = torch.stack([targets[i] for i in pick])
        loss = F.binary_cross_entropy_with_logits(probe(feats, lidar2img), target, pos_weight=pos_weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if progress is not None:
            progress.update()
    return probe.eval()


@torch.no_grad()
def predict_bev(probe: BEVOccupancyProbe, frames: List[dict],
                z_range: Tuple[float, float]) -> Tuple[List[Tensor], List[Tensor]]:
    """Per frame ``(Y, X)`` logits and occupancy targets."""
    grid = probe.view_transformer.grid
    logits = [probe(f['lss_feat'][None], f['lidar2img'][None])[0] for f in frames]
    targets = [bev_occupancy([f['points']], grid, z_range)[0] for f in frames]
    return logits, targets


def mean_std(values: Sequence[float]) -> Tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    n = len(values)
    m = sum(values) / n
    s = math.sqrt(sum((v - m)**2 for v in values) / (n - 1)) if n > 1 else 0.0
    return m, s


def summarise_seeds(runs: Sequence[Dict[str, float]], keys: Optional[Sequence[str]] = None) -> Dict[str, Dict]:
    """``{key: {mean, std, values}}`` over seeds for flat metric dicts."""
    keys = keys or list(runs[0])
    out = {}
    for k in keys:
        vals = [float(r[k]) for r in runs]
        m, s = mean_std(vals)
        out[k] = dict(mean=m, std=s, values=vals)
    return out
