"""BEVFormer detector end to end on a tiny synthetic setup (2 cameras, 64x176, BEV 20x20)."""
import pytest
import torch
from bevformer_tiny import make_batch, tiny_model_cfg
from mmdet3d.registry import MODELS
from mmdet3d.structures import LiDARInstance3DBoxes

import mim3d_plugin  # noqa: F401
import projects.BEVFormer.bevformer  # noqa: F401


def _model(**kw):
    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg(**kw))
    model.init_weights()
    return model


def test_loss_and_gradients_reach_every_parameter():
    model = _model()
    # move off the exact initialisation, where zero-initialised offset/weight projections (Deformable DETR) and
    # residual BNs (ResNet zero_init_residual) block some gradients by design
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.02 * torch.randn_like(p))
    inputs, samples = make_batch(2)
    losses = model.loss(inputs, samples)
    assert set(losses) == {'loss_cls', 'loss_bbox', 'd0.loss_cls', 'd0.loss_bbox'}
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    sum(losses.values()).backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.any())]
    assert not missing, missing


def test_loss_decreases_on_fixed_batch():
    model = _model()
    model.grid_mask = None
    inputs, samples = make_batch(1)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    first = None
    for _ in range(25):
        loss = sum(model.loss(inputs, samples).values())
        first = float(loss) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss) < 0.7 * first


def test_predict_returns_mmdet3d_instances():
    model = _model().eval()
    inputs, samples = make_batch(2)
    with torch.no_grad():
        out = model.predict(inputs, samples)
    pred = out[0].pred_instances_3d
    assert isinstance(pred.bboxes_3d, LiDARInstance3DBoxes) and pred.bboxes_3d.tensor.shape == (20, 9)
    assert pred.scores_3d.shape == (20, ) and pred.labels_3d.max() < 10
    assert (pred.scores_3d[:-1] >= pred.scores_3d[1:]).all()
    assert (pred.bboxes_3d.tensor[:, 3:6] > 0).all()


def test_scene_start_equals_no_previous_frame():
    model = _model().eval()
    inputs, samples = make_batch(2)  # sample 1 is at a scene start (its earlier frame is invalid)
    with torch.no_grad():
        cls_t, box_t, _ = model._forward(inputs, samples)
        # the same current frames alone (num_frames=1)
        single = dict(imgs=inputs['imgs'][:, 2:])
        for s in samples:
            m = s.metainfo
            s.set_metainfo(
                dict(
                    num_frames=1,
                    lidar2img=m['lidar2img'][2:],
                    ego2global=m['ego2global'][-1],
                    lidar2ego=m['lidar2ego'][-1]))
        cls_n, box_n, _ = model._forward(single, samples)
    assert torch.allclose(cls_t[:, 1], cls_n[:, 1], atol=1e-5)
    assert not torch.allclose(cls_t[:, 0], cls_n[:, 0], atol=1e-5)


def test_boxes_without_velocity_are_rejected():
    model = _model()
    inputs, samples = make_batch(1)
    gt = samples[0].gt_instances_3d
    gt.bboxes_3d = LiDARInstance3DBoxes(gt.bboxes_3d.tensor[:, :7], box_dim=7)
    with pytest.raises(ValueError, match='velocity'):
        model.loss(inputs, samples)


def _spy(module, calls):
    forward = module.forward

    def spy(*args, **kwargs):
        calls.append((args, kwargs))
        return forward(*args, **kwargs)

    module.forward = spy


def test_every_layer_attends_to_prev_bev_and_the_initial_queries_and_sca_gets_no_pos():
    """Official encoder: TSA value = [prev_bev, initial BEV queries] for every layer (built once before the
    layer loop); SCA called with query_pos=None."""
    model = _model().eval()
    encoder = model.pts_bbox_head.encoder
    assert len(encoder.layers) == 2
    tsa, sca = [], []
    for layer in encoder.layers:
        _spy(layer.temporal_self_attention, tsa)
        _spy(layer.spatial_cross_attention, sca)
    inputs, samples = make_batch(2)
    with torch.no_grad():
        model._forward(inputs, samples)
    # the calls of the current frame (the earlier frame's BEV, built first, has no prev_bev)
    cur_tsa, cur_sca = tsa[-2:], sca[-2:]
    q0 = cur_tsa[0][0][0]  # layer 1's input query = the initial BEV queries
    assert cur_tsa[0][0][1] is not None  # prev_bev given
    for args, kwargs in cur_tsa:
        assert torch.equal(kwargs['value_query'], q0)
    assert not torch.equal(cur_tsa[1][0][0], q0)  # layer 2's own input differs from what it attends to
    assert all(kwargs['query_pos'] is None for _, kwargs in cur_sca)
    assert all(kwargs['value_query'] is None for _, kwargs in tsa[:2])  # no prev_bev: the layer's own input


def test_history_bev_is_encoded_in_eval_mode_and_moves_no_statistics():
    model = _model()
    model.train()
    with torch.no_grad():  # random dropout / BN state that a train-mode history pass would expose
        for layer in model.pts_bbox_head.encoder.layers:
            layer.temporal_self_attention.dropout.p = 0.5
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    before = [m.running_mean.clone() for m in bns]
    inputs, samples = make_batch(2)
    frames = model._frames(inputs, samples)
    a, _ = model.obtain_prev_bev(frames)
    b, _ = model.obtain_prev_bev(frames)
    assert torch.equal(a, b)
    assert all(torch.equal(x, m.running_mean) for x, m in zip(before, bns))
    assert model.training and model.pts_bbox_head.training  # train mode restored


def test_can_bus_deltas_follow_the_official_union2one():
    """official_can_bus: translation (0:3) and yaw in degrees (17) relative to the previous frame of the clip, 0 for
    the first frame and after an invalid one (official: scene change); the rest absolute. Re-derived with the
    official loop."""
    import copy

    import numpy as np

    from projects.BEVFormer.bevformer.bevformer_head import official_can_bus
    rng = np.random.default_rng(0)
    can = rng.normal(size=(2, 4, 18)) * 10
    valid = np.array([[True, True, True, True], [False, True, True, True]])  # sample 1: a repeat at scene start
    scenes = [['a', 'a', 'a', 'a'], ['a0', 'b', 'b', 'b']]  # the official sees a scene change instead
    expect = can.copy()
    for b in range(2):
        prev_scene, prev_pos, prev_angle = None, None, None
        for i in range(4):
            m = expect[b, i]
            if scenes[b][i] != prev_scene:
                prev_scene = scenes[b][i]
                prev_pos, prev_angle = copy.deepcopy(m[:3]), copy.deepcopy(m[-1])
                m[:3] = 0
                m[-1] = 0
            else:
                tmp_pos, tmp_angle = copy.deepcopy(m[:3]), copy.deepcopy(m[-1])
                m[:3] -= prev_pos
                m[-1] -= prev_angle
                prev_pos, prev_angle = tmp_pos, tmp_angle
    out = official_can_bus(torch.as_tensor(can), torch.as_tensor(valid))
    # sample 1 frame 1: official resets (scene change); ours: the previous frame is invalid -> reset too
    assert torch.allclose(out, torch.as_tensor(expect), atol=1e-12)


def test_can_bus_mlp_shifts_every_bev_query_with_official_keys():
    """use_can_bus: each frame's BEV queries (history and current) are the embedding plus can_bus_mlp of that
    frame's official vector; official key names; frames without can_bus metainfo are refused by name."""
    import numpy as np

    from projects.BEVFormer.bevformer.bevformer_head import official_can_bus
    cfg = tiny_model_cfg()
    cfg['pts_bbox_head']['use_can_bus'] = True
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    model.eval()
    head = model.pts_bbox_head
    assert {k
            for k in head.state_dict() if k.startswith('can_bus_mlp.')} == {
                'can_bus_mlp.0.weight', 'can_bus_mlp.0.bias', 'can_bus_mlp.2.weight', 'can_bus_mlp.2.bias',
                'can_bus_mlp.norm.weight', 'can_bus_mlp.norm.bias'
            }
    inputs, samples = make_batch(1)
    can = np.random.default_rng(0).normal(size=(2, 18)) * 5
    samples[0].set_metainfo(dict(can_bus=can))
    queries = []
    head.encoder.register_forward_pre_hook(lambda m, a: queries.append(a[0].clone()))
    with torch.no_grad():
        model.predict(inputs, samples)
        expect = official_can_bus(torch.as_tensor(can)[None], torch.ones(1, 2, dtype=torch.bool))[0].float()
        assert len(queries) == 2  # history frame, then the current one
        for q, vec in zip(queries, expect):
            assert torch.allclose(
                q - head.bev_embedding.weight[None], head.can_bus_mlp(vec[None])[:, None].expand_as(q), atol=1e-5)
    assert not torch.allclose(expect[1, :3], torch.as_tensor(can[1, :3]).float())  # the current frame is relative
    inputs, samples = make_batch(1)
    with pytest.raises(ValueError, match='no metainfo "can_bus"'):
        model.predict(inputs, samples)


def test_zero_can_bus_values_are_reported_once(monkeypatch):
    """Info files written without the CAN bus expansion hold zeros in can_bus[7:16]: a use_can_bus model says so
    (once), and stays silent on measured values (issue 22, item 6)."""
    import numpy as np

    import projects.BEVFormer.bevformer.bevformer as bevformer_module
    logged = []
    monkeypatch.setattr(bevformer_module, 'print_log', lambda msg, **kw: logged.append(msg))
    cfg = tiny_model_cfg()
    cfg['pts_bbox_head']['use_can_bus'] = True
    model = _model_from(cfg)
    can = np.random.default_rng(0).normal(size=(2, 18))
    inputs, samples = make_batch(1)
    samples[0].set_metainfo(dict(can_bus=can))
    with torch.no_grad():
        model.predict(inputs, samples)
    assert logged == []
    can[:, 7:16] = 0
    for _ in range(2):
        inputs, samples = make_batch(1)
        samples[0].set_metainfo(dict(can_bus=can))
        with torch.no_grad():
            model.predict(inputs, samples)
    assert len(logged) == 1 and 'without the nuScenes CAN bus expansion' in logged[0]


def test_loss_divides_by_the_positives_averaged_over_gpus(monkeypatch):
    """Official sync_cls_avg_factor / reduce_mean(num_total_pos): with 2 GPUs where the other one has 3x our
    positives, the average is 2x ours and both losses halve (issue 22, item 7)."""
    import projects.BEVFormer.bevformer.bevformer_head as head_module
    model = _model()
    inputs, samples = make_batch(1)
    torch.manual_seed(1)
    single = model.loss(inputs, samples)
    monkeypatch.setattr(head_module, 'reduce_mean', lambda t: t * 2)  # mean over GPUs = 2x the local count
    torch.manual_seed(1)
    synced = model.loss(inputs, samples)
    for key in ('loss_cls', 'loss_bbox', 'd0.loss_cls'):
        assert torch.allclose(synced[key] * 2, single[key], rtol=1e-3), key


def _model_from(cfg):
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    return model.eval()


def test_official_bev_shift_is_the_official_formula():
    """official_bev_shift re-derived with the official get_bev_features statements (numpy, per sample)."""
    import numpy as np

    from projects.BEVFormer.bevformer.bevformer_encoder import official_bev_shift
    rng = np.random.default_rng(0)
    can = rng.normal(size=(5, 18))
    can[:, 16] = rng.uniform(0, 2 * np.pi, 5)
    pc_range, bev_h, bev_w = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0], 50, 40
    grid_length = [(pc_range[4] - pc_range[1]) / bev_h, (pc_range[3] - pc_range[0]) / bev_w]
    delta_x, delta_y = can[:, 0], can[:, 1]
    ego_angle = can[:, -2] / np.pi * 180
    translation_length = np.sqrt(delta_x**2 + delta_y**2)
    translation_angle = np.arctan2(delta_y, delta_x) / np.pi * 180
    bev_angle = ego_angle - translation_angle
    shift_y = translation_length * np.cos(bev_angle / 180 * np.pi) / grid_length[0] / bev_h
    shift_x = translation_length * np.sin(bev_angle / 180 * np.pi) / grid_length[1] / bev_w
    got = official_bev_shift(torch.as_tensor(can), pc_range, (bev_h, bev_w))
    assert np.allclose(got.numpy(), np.stack([shift_x, shift_y], -1), atol=1e-12)


def test_official_alignment_rotates_the_previous_bev_and_shifts_the_tsa_reference_points():
    """prev_bev_align='official': the history BEV reaches the TSA rotated by the yaw change (torchvision rotate,
    nearest, about rotate_center) instead of warped, and the TSA samples it at ref_2d + shift (hybrid reference
    points, the current half unshifted); without use_can_bus the option is refused."""
    import numpy as np
    from torchvision.transforms.functional import InterpolationMode, rotate

    from projects.BEVFormer.bevformer.bevformer_encoder import official_bev_shift
    from projects.BEVFormer.bevformer.bevformer_head import official_can_bus
    cfg = tiny_model_cfg()
    cfg['pts_bbox_head']['use_can_bus'] = True
    cfg.update(prev_bev_align='official', rotate_center=(10, 10))
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    model.eval()
    inputs, samples = make_batch(1)
    can = np.zeros((2, 18))
    can[:, 16] = 0.3
    can[:, 17] = [10.0, 40.0]  # 30 deg of yaw change
    can[1, :2] = [2.0, 1.0]
    samples[0].set_metainfo(dict(can_bus=can))
    tsa = model.pts_bbox_head.encoder.layers[0].temporal_self_attention
    seen = {}
    tsa.register_forward_pre_hook(lambda m, a: seen.setdefault('calls', []).append((a[1], a[2])))
    history = {}
    orig = model.pts_bbox_head.get_bev_features

    def spy(*a, **k):
        out = orig(*a, **k)
        history.setdefault('bev', out)
        return out

    model.pts_bbox_head.get_bev_features = spy
    with torch.no_grad():
        model.predict(inputs, samples)
    prev_bev, ref = seen['calls'][-1]  # the current frame's first layer
    y, x = model.pts_bbox_head.bev_shape
    expected_prev = rotate(
        history['bev'][0].reshape(y, x, -1).permute(2, 0, 1),
        30.0,
        interpolation=InterpolationMode.NEAREST,
        center=[10.0, 10.0]).permute(1, 2, 0).reshape(y * x, -1)
    assert torch.allclose(prev_bev[0], expected_prev, atol=1e-6)
    vec = official_can_bus(torch.as_tensor(can)[None], torch.ones(1, 2, dtype=torch.bool))[0]
    shift = official_bev_shift(vec[1:2], model.pts_bbox_head.pc_range, (y, x)).float()
    assert ref.shape[0] == 2  # [prev half, current half]
    assert torch.allclose(ref[0] - ref[1], shift[0].expand_as(ref[0]), atol=1e-6) and shift.abs().sum() > 0
    bad = tiny_model_cfg()
    bad.update(prev_bev_align='official')
    with pytest.raises(ValueError, match='use_can_bus'):
        MODELS.build(bad)


def test_clamping_the_camera_reference_points_leaves_the_float32_result_unchanged(monkeypatch):
    """``finite_reference_points`` (fp16 safety) clamps points behind a camera to 10 image sizes away: they sample
    only padding either way, so the float32 predictions are identical with and without the clamp."""
    from projects.BEVFormer.bevformer import bevformer_encoder
    model = _model().eval()
    inputs, samples = make_batch(1)
    clamp = bevformer_encoder.finite_reference_points
    outside = []

    def record(x):
        outside.append(bool(((x < -10) | (x > 11) | x.isnan()).any()))
        return clamp(x)

    results = []
    for fn in (record, lambda x: x):
        monkeypatch.setattr(bevformer_encoder, 'finite_reference_points', fn)
        with torch.no_grad():
            pred = model.predict(inputs, samples)[0].pred_instances_3d
        results.append((pred.scores_3d, pred.bboxes_3d.tensor))
    assert any(outside)  # the rig has points the clamp moves
    assert torch.equal(results[0][0], results[1][0]) and torch.equal(results[0][1], results[1][1])
