"""Spatial cross-attention: reference-point projection / visibility and the gather-attend-scatter."""
import numpy as np
import torch
from bevformer_tiny import EMBED, IMG_SHAPE, PC_RANGE, camera_rig, tiny_model_cfg
from mmdet3d.registry import MODELS

import mim3d_plugin  # noqa: F401
import projects.BEVFormer.bevformer  # noqa: F401
from projects.BEVFormer.bevformer import point_sampling


def _encoder():
    cfg = tiny_model_cfg()['pts_bbox_head']
    enc = dict(
        cfg['encoder'],
        type='BEVFormerEncoder',
        bev_shape=cfg['bev_shape'],
        point_cloud_range=PC_RANGE,
        embed_dims=EMBED)
    return MODELS.build(enc)


def test_reference_points_pillars():
    ref_3d, ref_2d = _encoder().reference_points()
    assert ref_3d.shape == (400, 4, 3) and ref_2d.shape == (400, 2)
    # query 0 is the cell at (x_min, y_min); x is the fastest axis
    assert torch.allclose(ref_3d[0, :, :2], torch.tensor([-9.5, -9.5]).expand(4, 2))
    assert torch.allclose(ref_3d[1, 0, :2], torch.tensor([-8.5, -9.5]))
    assert torch.allclose(ref_3d[20, 0, :2], torch.tensor([-9.5, -8.5]))
    # heights as the official get_reference_points: z_min + linspace(0.5, Z - 0.5, P) with Z = z_max - z_min
    z_min, z_max = PC_RANGE[2], PC_RANGE[5]
    official = z_min + torch.linspace(0.5, (z_max - z_min) - 0.5, 4)
    assert torch.allclose(ref_3d[0, :, 2], official) and torch.allclose(ref_3d[399, :, 2], official)
    assert torch.allclose(ref_2d[0], torch.tensor([0.025, 0.025]))
    assert torch.allclose(ref_2d[-1], torch.tensor([0.975, 0.975]))
    enc = _encoder()
    enc.pillar_heights = 'centers'
    assert torch.allclose(enc.reference_points()[0][0, :, 2], torch.tensor([-2.375, -1.125, 0.125, 1.375]))


def test_official_pillar_heights_of_the_paper_range():
    cfg = tiny_model_cfg()['pts_bbox_head']
    enc = MODELS.build(
        dict(
            cfg['encoder'],
            type='BEVFormerEncoder',
            bev_shape=cfg['bev_shape'],
            point_cloud_range=[-51.2, -51.2, -5.0, 51.2, 51.2, 3.0],
            embed_dims=EMBED))
    heights = enc.reference_points()[0][0, :, 2]
    assert torch.allclose(heights, torch.tensor([-4.5, -2.1667, 0.1667, 2.5]), atol=1e-4)


def test_point_sampling_matches_direct_projection():
    ref_3d, _ = _encoder().reference_points()
    lidar2img = camera_rig(2)['lidar2img']  # (N, 4, 4)
    ref_cam, mask = point_sampling(ref_3d, torch.from_numpy(lidar2img)[None], IMG_SHAPE)
    assert ref_cam.shape == (1, 2, 400, 4, 2) and mask.shape == (1, 2, 400, 4)
    pts = ref_3d.reshape(-1, 3).double().numpy()
    h, w = IMG_SHAPE
    for cam in range(2):
        hom = np.concatenate([pts, np.ones((len(pts), 1))], 1) @ lidar2img[cam].astype(np.float64).T
        z = hom[:, 2]
        u, v = hom[:, 0] / z, hom[:, 1] / z
        vis = (z > 1e-3) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
        got_mask = mask[0, cam].reshape(-1).numpy()
        np.testing.assert_array_equal(got_mask, vis)
        got = ref_cam[0, cam].reshape(-1, 2).double().numpy()
        np.testing.assert_allclose(got[vis, 0], u[vis] / w, atol=1e-5)
        np.testing.assert_allclose(got[vis, 1], v[vis] / h, atol=1e-5)
    # the front camera (cam 0 looks along +x) sees pillars ahead, the back camera those behind
    x = ref_3d[:, 0, 0]
    assert mask[0, 0].any(-1)[x > 3].any() and not mask[0, 0].any(-1)[x < 0].any()
    assert mask[0, 1].any(-1)[x < -3].any() and not mask[0, 1].any(-1)[x > 0].any()


def test_sca_equals_per_query_reference():
    torch.manual_seed(0)
    sca = MODELS.build(
        dict(
            type='SpatialCrossAttention',
            embed_dims=EMBED,
            dropout=0.0,
            deformable_attention=dict(
                type='MSDeformableAttention3D', embed_dims=EMBED, num_heads=2, num_levels=2, num_points=4)))
    sca.init_weights()
    for p in sca.parameters():  # non-trivial weights
        p.data.add_(0.05 * torch.randn_like(p))
    b, n, q, z = 2, 2, 10, 2
    shapes = torch.tensor([[4, 6], [2, 3]])
    start = torch.tensor([0, 24])
    query = torch.randn(b, q, EMBED)
    value = torch.randn(b, n, 30, EMBED)
    ref = torch.rand(b, n, q, z, 2)
    mask = torch.rand(b, n, q, z) > 0.6
    mask[0, :, 3] = False  # a query no camera sees
    out = sca(query, value, ref, mask, shapes, start)
    attn = sca.deformable_attention
    expected = query.clone()
    for bi in range(b):
        for qi in range(q):
            acc, cnt = torch.zeros(EMBED), 0
            for ci in range(n):
                if mask[bi, ci, qi].any():
                    acc += attn(query[bi, qi][None, None], value[bi, ci][None], ref[bi, ci, qi][None, None], shapes,
                                start)[0, 0]
                    cnt += 1
            # official: slots / count (count clamped to 1), then output_proj, then the residual
            expected[bi, qi] += sca.output_proj(acc / max(cnt, 1))
    assert torch.allclose(out, expected, atol=1e-5)
    # a query no camera sees gets the projection's bias, as the official (the old per-camera projection gave 0)
    assert torch.allclose(out[0, 3], query[0, 3] + sca.output_proj.bias, atol=1e-6)
    assert sca.output_proj.bias.abs().max() > 0


def test_checkpoints_with_the_projection_in_the_deformable_attention_still_load():
    sca = MODELS.build(
        dict(
            type='SpatialCrossAttention',
            embed_dims=EMBED,
            dropout=0.0,
            deformable_attention=dict(
                type='MSDeformableAttention3D', embed_dims=EMBED, num_heads=2, num_levels=2, num_points=4)))
    state = {k: v.clone() for k, v in sca.state_dict().items()}
    w = torch.randn(EMBED, EMBED)
    state['deformable_attention.output_proj.weight'] = w
    state['deformable_attention.output_proj.bias'] = state.pop('output_proj.bias')
    del state['output_proj.weight']
    sca.load_state_dict(state, strict=True)
    assert torch.equal(sca.output_proj.weight, w)
