"""Focal loss and multi-scale deformable attention: the PyTorch paths against the papers' equations (mmcv builds for
CPU have no kernel of either, so the kernel cannot be the reference here; on CUDA ``op_choices`` names it)."""
import torch
import torch.nn.functional as F
from mmdet3d.registry import MODELS
from mmengine.registry import init_default_scope

from mim3d_plugin.ops import ms_deform_attn, pytorch_ops_only


def test_focal_loss_is_lin_et_al_eq5():
    init_default_scope('mmdet3d')
    loss = MODELS.build(dict(type='PortableFocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0))
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(7, 10, generator=g, requires_grad=True)
    labels = torch.tensor([0, 3, 10, 9, 10, 1, 5])  # 10 = background
    with pytorch_ops_only():
        ours = loss(logits, labels, avg_factor=4.0)
    p = logits.sigmoid()
    y = F.one_hot(labels, 11)[:, :10].float()
    pt = torch.where(y > 0, p, 1 - p)
    at = torch.where(y > 0, torch.full_like(p, 0.25), torch.full_like(p, 0.75))
    expected = 2.0 * (-at * (1 - pt)**2 * torch.log(pt)).sum() / 4.0
    assert abs(float(ours.detach()) - float(expected.detach())) < 1e-5


def test_ms_deform_attn_is_bilinear_sampling_of_each_level():
    g = torch.Generator().manual_seed(0)
    shapes = torch.tensor([[4, 6], [2, 3]])
    start = torch.tensor([0, 24])
    value = torch.randn(1, 30, 2, 3, generator=g)
    loc = torch.rand(1, 5, 2, 2, 4, 2, generator=g)
    weight = torch.rand(1, 5, 2, 2, 4, generator=g)
    with pytorch_ops_only():
        ours = ms_deform_attn(value, shapes, start, loc, weight)
    expected = torch.zeros(1, 5, 2, 3)
    for lvl, (h, w) in enumerate(shapes.tolist()):
        v = value[0, start[lvl]:start[lvl] + h * w].reshape(h, w, 2, 3)
        for q in range(5):
            for head in range(2):
                for pt in range(4):
                    x = float(loc[0, q, head, lvl, pt, 0]) * w - 0.5  # align_corners=False pixel centres
                    y = float(loc[0, q, head, lvl, pt, 1]) * h - 0.5
                    x0, y0 = int(torch.floor(torch.tensor(x))), int(torch.floor(torch.tensor(y)))
                    acc = torch.zeros(3)
                    for dy in (0, 1):
                        for dx in (0, 1):
                            xi, yi = x0 + dx, y0 + dy
                            wgt = (1 - abs(x - xi)) * (1 - abs(y - yi))
                            if 0 <= xi < w and 0 <= yi < h:  # zero padding outside
                                acc += wgt * v[yi, xi, head]
                    expected[0, q, head] += weight[0, q, head, lvl, pt] * acc
    assert (ours.reshape(1, 5, 2, 3) - expected).abs().max() < 1e-5
