"""BEVDet / BEVDet4D detectors and BEV encoder on a tiny synthetic setup (2 cameras, 64x176)."""
import pytest
import torch
from bevdet_tiny import make_batch, make_sample, tiny_bevdet_cfg
from mmdet3d.registry import MODELS

import mim3d_plugin  # noqa: F401
import projects.BEVDet.bevdet  # noqa: F401


def _trainable_without_grad(model):
    return [n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.abs().sum())]


def test_bev_encoder_shapes():
    backbone = MODELS.build(dict(type='BEVResNet', in_channels=8, num_channels=[16, 32, 64]))
    neck = MODELS.build(dict(type='LSSFPN', in_channels=16 + 64, out_channels=32))
    feats = backbone(torch.randn(2, 8, 32, 32))
    assert [tuple(f.shape) for f in feats] == [(2, 16, 16, 16), (2, 32, 8, 8), (2, 64, 4, 4)]
    assert neck(feats).shape == (2, 32, 32, 32)
    bottleneck = MODELS.build(dict(type='BEVResNet', in_channels=8, num_channels=[16, 32, 64], block_type='BottleNeck'))
    assert bottleneck(torch.randn(1, 8, 32, 32))[-1].shape == (1, 64, 4, 4)
    with pytest.raises(ValueError, match='same length'):
        MODELS.build(dict(type='BEVResNet', in_channels=8, num_layers=[2, 2], num_channels=[16, 32, 64]))


def test_bevdet_loss_gradients_and_predict():
    torch.manual_seed(0)
    model = MODELS.build(tiny_bevdet_cfg())
    # batch 1: one object per task, so no L1 sign gradients can cancel in the regression biases
    inputs, samples = make_batch(batch=1)
    losses = model.loss(inputs, samples)
    assert any(k.startswith('task0.loss_heatmap') for k in losses)
    total = sum(v for v in losses.values())
    assert torch.isfinite(total)
    total.backward()
    assert _trainable_without_grad(model) == []
    model.eval()
    with torch.no_grad():
        preds = model.predict(*make_batch(batch=2))
    assert len(preds) == 2
    pred = preds[1].pred_instances_3d
    assert pred.bboxes_3d.tensor.shape[1] == 9
    assert len(pred.scores_3d) == len(pred.labels_3d) > 0
    assert 'pred_instances' in preds[0]


def test_init_weights_sets_centerhead_heatmap_prior():
    """The SeparateHeads sit in a plain nn.ModuleList that mmengine's init skips; BEVDet initialises them."""
    torch.manual_seed(0)
    model = MODELS.build(tiny_bevdet_cfg())
    model.init_weights()
    for task_head in model.pts_bbox_head.task_heads:
        assert torch.allclose(task_head.heatmap[-1].bias, torch.full_like(task_head.heatmap[-1].bias, -2.19))
    assert all(m.is_init for m in model.pts_bbox_head.modules() if hasattr(m, 'is_init'))


def test_bevdet_overfits_fixed_batch():
    torch.manual_seed(0)
    model = MODELS.build(tiny_bevdet_cfg())
    inputs, samples = make_batch(batch=1)
    optim = torch.optim.AdamW(model.parameters(), lr=2e-3)
    history = []
    for _ in range(8):
        losses = model.loss(inputs, samples)
        loss = sum(losses.values())
        optim.zero_grad()
        loss.backward()
        optim.step()
        history.append(loss.item())
    assert history[-1] < 0.7 * history[0], history


def test_bevdet_depth_loss_needs_depth():
    model = MODELS.build(tiny_bevdet_cfg(depth_loss_weight=1.0))
    inputs, samples = make_batch()
    with pytest.raises(KeyError, match='depth'):
        model.loss(inputs, samples)
    inputs['depth'] = torch.zeros(1, 2, 64, 176)
    inputs['depth'][:, :, 40, 80] = 10.0
    losses = model.loss(inputs, samples)
    assert losses['loss_depth'] > 0


def test_bevdet4d_gradients_and_adjacent_no_grad():
    torch.manual_seed(0)
    model = MODELS.build(tiny_bevdet_cfg('BEVDet4D', bev_in=16))
    inputs, samples = make_batch(batch=1, n_adjacent=1)
    inputs['imgs'].requires_grad_(True)
    losses = model.loss(inputs, samples)
    sum(losses.values()).backward()
    assert _trainable_without_grad(model) == []
    # the adjacent frame (views 2, 3) is encoded without gradient, as the official BEVDet4D
    assert inputs['imgs'].grad[:, :2].abs().sum() > 0
    assert inputs['imgs'].grad[:, 2:].abs().sum() == 0
    with pytest.raises(ValueError, match='num_adjacent'):
        model.loss(dict(imgs=inputs['imgs'][:, :3]), samples)


def test_bevdet4d_alignment_follows_ego_motion():
    """A pure forward ego translation of 4 m shifts the aligned previous BEV by 4 cells along -x."""
    model = MODELS.build(tiny_bevdet_cfg('BEVDet4D', bev_in=16)).eval()
    sample = make_sample(n_adjacent=1, ego_shift=4.0)  # previous ego was 4 m behind (global x = -4)
    cur2adj = model.cur2adj([sample], torch.device('cpu'))
    expected = torch.eye(4, dtype=torch.float64)
    expected[0, 3] = 4.0  # a point at x in the current frame is at x + 4 in the previous frame
    assert torch.allclose(cur2adj[0, 0], expected)

    bev_prev = torch.zeros(1, 8, 32, 32)
    bev_prev[0, :, 10, 20] = 1.0  # cell (y=10, x=20) of the previous frame: x = 4.5 m
    lifted = iter([torch.zeros(1, 8, 32, 32), bev_prev])
    model.lift = lambda imgs, lidar2img: (next(lifted), torch.zeros(1, 2, 16, 4, 11))
    captured = []
    model.bev_encoder = lambda bev: captured.append(bev)
    model.extract_feat(dict(imgs=torch.zeros(1, 4, 3, 64, 176)), [sample])
    warped = captured[0][0, 8:]
    # x = 4.5 m in the previous frame is x = 0.5 m (index 16) in the current one
    assert warped[:, 10, 16] == pytest.approx(torch.ones(8))
    assert warped.sum() == pytest.approx(8.0)


def test_bevdet4d_pre_process_runs_on_every_frame_before_the_alignment():
    """Official BEVDet4D ``pre_process_net`` (2 BasicBlocks, stride 1) on each frame's BEV, then the warp."""
    torch.manual_seed(0)
    pre = dict(type='BEVResNet', in_channels=8, num_layers=[2], num_channels=[8], strides=[1])
    model = MODELS.build(tiny_bevdet_cfg('BEVDet4D', bev_in=16, pre_process=pre)).eval()
    assert len(model.pre_process_net.layers[0]) == 2
    seen = []
    net_forward = model.pre_process_net.forward
    model.pre_process_net.forward = lambda x: seen.append(x.clone()) or net_forward(x)
    sample = make_sample(n_adjacent=1, ego_shift=4.0)
    captured = []
    model.bev_encoder = lambda bev: captured.append(bev)
    model.extract_feat(dict(imgs=torch.randn(1, 4, 3, 64, 176)), [sample])
    assert len(seen) == 2  # current and adjacent frame
    cur = net_forward(seen[0])[0]
    assert torch.allclose(captured[0][0, :8], cur[0], atol=1e-6)  # the current frame: pre-processed, not warped
    fresh = MODELS.build(tiny_bevdet_cfg('BEVDet4D', bev_in=16, pre_process=pre))
    inputs, samples = make_batch(batch=1, n_adjacent=1)
    sum(fresh.loss(inputs, samples).values()).backward()
    assert all(p.grad is not None for p in fresh.pre_process_net.parameters())
