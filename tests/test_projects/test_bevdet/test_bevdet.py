"""BEVDet / BEVDet4D detectors and BEV encoder on a tiny synthetic setup (2 cameras, 64x176)."""
import numpy as np
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


def _bev_matrix(angle, flip_x=False):
    c, s = np.cos(angle), np.sin(angle)
    m = np.eye(4)
    m[:3, :3] = np.diag([-1.0 if flip_x else 1.0, 1.0, 1.0]) @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    return m


def test_bevdet4d_lift_alignment_is_the_official_order():
    """adjacent_alignment='lift' (official align_after_view_transfromation=False): the adjacent cameras, re-derived
    as the official sensor2keyego (inv(key ego2global) @ adj ego2global @ cam2ego) with the *current* frame's BEV
    augmentation, lift the adjacent images straight into the current BEV, then pre_process; 'warp' differs."""
    from bevdet_tiny import camera_rig
    torch.manual_seed(0)
    pre = dict(type='BEVResNet', in_channels=8, num_layers=[2], num_channels=[8], strides=[1])
    model = MODELS.build(tiny_bevdet_cfg('BEVDet4D', bev_in=16, pre_process=pre, adjacent_alignment='lift')).eval()
    raw = camera_rig(2).astype(np.float64)  # K @ lidar2cam of both frames, before any BEV augmentation
    bda_cur, bda_adj = _bev_matrix(0.3, flip_x=True), _bev_matrix(-0.2)
    adj_e2g = np.eye(4)
    adj_e2g[:3, :3] = _bev_matrix(0.1)[:3, :3]
    adj_e2g[:3, 3] = [-4.0, 1.0, 0.0]
    sample = make_sample(n_adjacent=1)
    sample.set_metainfo(
        dict(
            lidar2img=np.concatenate([raw @ np.linalg.inv(bda_cur), raw @ np.linalg.inv(bda_adj)]),
            bev_aug_matrix=bda_cur,
            adj_bev_aug_matrix=bda_adj[None],
            adj_ego2global=adj_e2g[None]))
    imgs = torch.randn(1, 4, 3, 64, 176)
    captured = []
    model.bev_encoder = lambda bev: captured.append(bev)
    with torch.no_grad():
        model.extract_feat(dict(imgs=imgs), [sample])
        cur_e2g = np.eye(4)
        # official: the adjacent cameras in the key ego frame, then the key frame's BEV augmentation
        cam_in_key = raw @ np.linalg.inv(np.linalg.inv(cur_e2g) @ adj_e2g) @ np.linalg.inv(bda_cur)
        feats = model.image_encoder(imgs[:, 2:])
        bev, _ = model.img_view_transformer(feats, torch.as_tensor(cam_in_key, dtype=torch.float32)[None])
        expected = model.pre_process_net(bev)[0]
    assert (captured[0][:, 8:] - expected).abs().max() < 1e-4 * expected.abs().max()
    model.adjacent_alignment = 'warp'
    with torch.no_grad():
        model.extract_feat(dict(imgs=imgs), [sample])
    rel = (captured[1][:, 8:] - expected).norm() / expected.norm()
    assert rel > 0.1  # the two orders are not the same computation


def test_bevdet4d_without_prev_feeds_zeros_and_lifts_one_frame():
    model = MODELS.build(tiny_bevdet_cfg('BEVDet4D', bev_in=16)).eval()
    model.with_prev = False
    calls, captured = [], []
    lift = model.lift
    model.lift = lambda imgs, m: calls.append(imgs.shape) or lift(imgs, m)
    model.bev_encoder = lambda bev: captured.append(bev)
    inputs, samples = make_batch(batch=1, n_adjacent=1)
    with torch.no_grad():
        model.extract_feat(inputs, samples)
    assert len(calls) == 1 and captured[0][:, 8:].abs().sum() == 0 and captured[0][:, :8].abs().sum() > 0


def test_sequential_control_hook_follows_the_official_epochs():
    """runner.epoch > temporal_start_epoch switches the adjacent frames on (official: epochs 0-2 without them for
    temporal_start_epoch=2); validation runs with them and restores the training flag."""
    from types import SimpleNamespace

    from projects.BEVDet.bevdet import SequentialControlHook
    model = MODELS.build(tiny_bevdet_cfg('BEVDet4D', bev_in=16))
    runner = SimpleNamespace(model=model, epoch=0)
    hook = SequentialControlHook(temporal_start_epoch=2)
    hook.before_train(runner)
    flags = []
    for epoch in range(5):
        runner.epoch = epoch
        hook.before_train_epoch(runner)
        flags.append(model.with_prev)
        hook.before_val_epoch(runner)
        assert model.with_prev is True
        hook.after_val_epoch(runner)
    assert flags == [False, False, False, True, True]
    runner.epoch = 1
    hook.before_train(runner)
    hook.before_train_epoch(runner)
    hook.before_val_epoch(runner)
    hook.after_val_epoch(runner)
    assert model.with_prev is False
    with pytest.raises(TypeError, match='no with_prev'):
        hook.before_train(SimpleNamespace(model=MODELS.build(tiny_bevdet_cfg('BEVDet'))))
