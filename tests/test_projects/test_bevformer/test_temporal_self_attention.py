"""Temporal self-attention and the ego-motion alignment of the previous BEV."""
import torch
from bevformer_tiny import EMBED, make_batch, tiny_model_cfg
from mmdet3d.registry import MODELS

import mim3d_plugin  # noqa: F401
import projects.BEVFormer.bevformer  # noqa: F401


def _tsa():
    tsa = MODELS.build(dict(type='TemporalSelfAttention', embed_dims=EMBED, num_heads=2, num_points=2, dropout=0.0))
    tsa.init_weights()
    return tsa


def _ref(b, y, x):
    ys, xs = torch.meshgrid((torch.arange(y) + 0.5) / y, (torch.arange(x) + 0.5) / x, indexing='ij')
    return torch.stack([xs, ys], -1).view(1, -1, 1, 2).expand(b, -1, 1, -1)


def test_tsa_without_prev_equals_prev_is_query():
    tsa = _tsa()
    q = torch.randn(2, 30, EMBED)
    shapes, start = torch.tensor([[5, 6]]), torch.tensor([0])
    a = tsa(q, None, _ref(2, 5, 6), shapes, start)
    b = tsa(q, q.clone(), _ref(2, 5, 6), shapes, start)
    assert a.shape == (2, 30, EMBED) and torch.allclose(a, b)


def test_tsa_prev_mask_selects_query_per_cell():
    tsa = _tsa()
    q, prev = torch.randn(1, 30, EMBED), torch.randn(1, 30, EMBED)
    mask = torch.zeros(1, 30, dtype=torch.bool)
    shapes, start = torch.tensor([[5, 6]]), torch.tensor([0])
    masked = tsa(q, prev, _ref(1, 5, 6), shapes, start, prev_mask=mask)
    assert torch.allclose(masked, tsa(q, None, _ref(1, 5, 6), shapes, start))


def test_tsa_uses_prev_and_gets_gradients():
    tsa = _tsa()
    for p in tsa.parameters():
        p.data.add_(0.05 * torch.randn_like(p))
    q = torch.randn(1, 30, EMBED)
    prev = torch.randn(1, 30, EMBED, requires_grad=True)
    shapes, start = torch.tensor([[5, 6]]), torch.tensor([0])
    out = tsa(q, prev, _ref(1, 5, 6), shapes, start)
    assert not torch.allclose(out, tsa(q, None, _ref(1, 5, 6), shapes, start))
    out.sum().backward()
    assert prev.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in tsa.parameters())


def test_prev_bev_aligned_by_ego_motion():
    model = MODELS.build(tiny_model_cfg())
    model.init_weights()
    model.eval()
    inputs, samples = make_batch(1, num_frames=2)
    head = model.pts_bbox_head
    with torch.no_grad():
        frames = model._frames(inputs, samples)
        assert frames['imgs'].shape == (2, 1, 2, 3, 64, 176)
        feats = model.extract_img_feat(inputs['imgs'][:, :2])  # the earlier frame's views come first
        lidar2img = torch.from_numpy(samples[0].metainfo['lidar2img'][:2])[None]
        prev = head.get_bev_features(feats, lidar2img, inputs['imgs'].shape[-2:])
        prev = prev.view(1, 20, 20, EMBED)
        # make_batch: the car moved +2 m along x (1 m cells): current cell x <- previous cell x + 2
        aligned, valid = model.obtain_prev_bev(frames)
    aligned, valid = aligned.view(1, 20, 20, EMBED), valid.view(1, 20, 20)
    assert torch.allclose(aligned[:, :, :-2], prev[:, :, 2:], atol=1e-5)
    # the 2 columns ahead have no previous observation: marked invalid (TSA uses the current queries there)
    assert valid[:, :, :-2].all() and not valid[:, :, -2:].any()


def test_three_frame_queue_and_scene_start():
    model = MODELS.build(tiny_model_cfg())
    model.init_weights()
    model.eval()
    inputs, samples = make_batch(2, num_frames=3)
    with torch.no_grad():
        prev, valid = model.obtain_prev_bev(model._frames(inputs, samples))
    assert prev.shape == (2, 400, EMBED)
    assert valid[0].sum() == 18 * 20 and not valid[1].any()  # sample 1 is at a scene start
    samples = samples[1:]
    inputs = dict(imgs=inputs['imgs'][1:])
    with torch.no_grad():
        assert model.obtain_prev_bev(model._frames(inputs, samples)) == (None, None)
