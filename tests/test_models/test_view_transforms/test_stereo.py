"""BEVStereo4D's temporal stereo (``mim3d_plugin.models.view_transforms.stereo``): a known answer on a fronto-parallel
plane seen from a camera that moved sideways by a known ego motion, and equality with the official
``DepthNet.gen_grid`` + ``calculate_cost_volumn`` (BEVDet dev2.x, Sense-X/GeoMIM bevdet/mmdet3d/models/necks/
view_transformer.py) re-derived here from their equations, on the same features and geometry."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mim3d_plugin.geometry import create_frustum
from mim3d_plugin.models.view_transforms import stereo_cost_volume, stereo_sampling_grid

# a camera looking along +x of the ego frame (x forward, y left, z up -> camera x right, y down, z forward)
CAM2EGO = torch.tensor([[0., 0., 1., 0.], [-1., 0., 0., 0.], [0., -1., 0., 1.5], [0., 0., 0., 1.]], dtype=torch.float64)


def _k(fx, cx, cy):
    k = torch.eye(4, dtype=torch.float64)
    k[0, 0] = k[1, 1] = fx
    k[0, 2], k[1, 2] = cx, cy
    return k


def test_cost_peaks_at_the_plane_depth_for_every_pixel_that_sees_it():
    """A plane 8 m in front of the camera (fronto-parallel); the previous frame's ego stood 1 m to the left
    (cur2adj: y - 1), so the plane moves 128 px * 1 m / 8 m = 16 px = 4 stride-4 cells between the frames. The
    previous features are rendered from the current ones through the plane (ray - plane intersection, reprojection),
    independently of the module. The matching probability peaks at the 8 m bin at every cell whose match lies inside
    the previous image; a wrong ego motion (no motion) moves the peak elsewhere."""
    img_h, img_w, s = 64, 128, 4
    h, w = img_h // s, img_w // s
    fx, depth_plane = 128.0, 8.0
    k = _k(fx, img_w / 2, img_h / 2)
    ego2img = (k @ torch.linalg.inv(CAM2EGO))[None, None]  # same camera, same intrinsics in both frames
    cur2adj = torch.eye(4, dtype=torch.float64)[None]
    cur2adj[0, 1, 3] = -1.0  # a point's y in the previous ego frame (that ego stood 1 m further left)
    depths = torch.arange(1.0, 45.0, 0.5, dtype=torch.float64)
    frustum = create_frustum((img_h, img_w), (h, w), depths, 'center')
    gen = torch.Generator().manual_seed(0)
    cur = torch.rand(1, 16, h, w, generator=gen, dtype=torch.float64)
    # render the previous frame: each previous cell's ray hits the plane (camera z = 8 m) at a point whose
    # current-frame pixel is read (nearest cell; the motion is a whole number of cells)
    adj = torch.zeros_like(cur)
    sees = torch.zeros(h, w, dtype=torch.bool)  # current cells seen by some previous cell (their match is inside)
    for i in range(h):
        for j in range(w):
            u, v = (j + 0.5) * s, (i + 0.5) * s
            p_cam = torch.tensor([(u - img_w / 2) / fx * depth_plane,
                                  (v - img_h / 2) / fx * depth_plane, depth_plane, 1.0],
                                 dtype=torch.float64)
            p_cur = torch.linalg.inv(cur2adj[0]) @ CAM2EGO @ p_cam  # previous camera -> previous ego -> current ego
            q = k @ torch.linalg.inv(CAM2EGO) @ p_cur
            uc, vc = q[0] / q[2], q[1] / q[2]
            jc, ic = int(np.floor(float(uc) / s)), int(np.floor(float(vc) / s))
            if 0 <= jc < w and 0 <= ic < h:
                adj[0, :, i, j] = cur[0, :, ic, jc]
                sees[ic, jc] = True
    grid, behind = stereo_sampling_grid(frustum, ego2img, ego2img, cur2adj, (img_h, img_w), 'center')
    prob = stereo_cost_volume(cur, adj, grid, len(depths), 'center', invalid_bias=5.0, behind=behind)
    true_bin = int((depths == depth_plane).nonzero())
    peak = prob[0].argmax(0)
    assert sees.sum() == h * (w - 4) and not sees[:, -4:].any()  # the previous camera stood left: 4 cells lost
    assert bool((peak[sees] == true_bin).all()), peak[sees].unique()
    assert float(prob[0, true_bin][sees].min()) > 10.0 / len(depths)  # well above uniform (neighbours share it)
    # without the ego motion the cost cannot find the plane
    still, behind0 = stereo_sampling_grid(frustum, ego2img, ego2img,
                                          torch.eye(4, dtype=torch.float64)[None], (img_h, img_w), 'center')
    prob0 = stereo_cost_volume(cur, adj, still, len(depths), 'center', invalid_bias=5.0, behind=behind0)
    assert float((prob0[0].argmax(0)[sees] == true_bin).float().mean()) < 0.2


# ---------------------------------------------------------------- official computation, re-derived
def _official_gen_grid(frustum, post_rots, post_trans, k2s, intrins, hi, wi):
    b, n = post_trans.shape[:2]
    d, h, w, _ = frustum.shape
    points = frustum - post_trans.view(b, n, 1, 1, 1, 3)
    points = torch.inverse(post_rots).view(b, n, 1, 1, 1, 3, 3).matmul(points.unsqueeze(-1))
    points = torch.cat((points[..., :2, :] * points[..., 2:3, :], points[..., 2:3, :]), 5)
    rots, trans = k2s[:, :, :3, :3], k2s[:, :, :3, 3]
    combine = rots.matmul(torch.inverse(intrins))
    points = combine.view(b, n, 1, 1, 1, 3, 3).matmul(points)
    points += trans.view(b, n, 1, 1, 1, 3, 1)
    neg_mask = points[..., 2, 0] < 1e-3
    points = intrins.view(b, n, 1, 1, 1, 3, 3).matmul(points)
    points = points[..., :2, :] / points[..., 2:3, :]
    points = post_rots[..., :2, :2].view(b, n, 1, 1, 1, 2, 2).matmul(points).squeeze(-1)
    points += post_trans[..., :2].view(b, n, 1, 1, 1, 2)
    px = points[..., 0] / (wi - 1.0) * 2.0 - 1.0
    py = points[..., 1] / (hi - 1.0) * 2.0 - 1.0
    px[neg_mask] = -2
    py[neg_mask] = -2
    return torch.stack([px, py], dim=-1).view(b * n, d * h, w, 2)


def _official_cost(prev, curr, grid, d, bias, group_size=4):
    bn, c, h, w = curr.shape
    cost = 0
    for fid in range(c // group_size):
        wrap_prev = F.grid_sample(
            prev[:, fid * group_size:(fid + 1) * group_size], grid, align_corners=True, padding_mode='zeros')
        cost = cost + (curr[:, fid * group_size:(fid + 1) * group_size].unsqueeze(2)
                       - wrap_prev.view(bn, -1, d, h, w)).abs().sum(dim=1)
    if bias != 0:
        invalid = wrap_prev[:, 0, ...].view(bn, d, h, w) == 0
        cost[invalid] = cost[invalid] + bias
    return (-cost).softmax(dim=1)


@pytest.mark.parametrize('channels', [16, 18])
def test_equals_the_official_cost_volume(channels):
    """Two cameras, batch 2, a rotated and translated ego motion, the same image augmentation in both frames
    (official ``sequential=True``: resize, crop, flip), ReLU-like features with exact zeros, the configs' bias 5 with
    the official invalid rule: max abs difference of the matching probabilities < 1e-5 (18 channels: the official
    loop's dropped remainder channels dropped too)."""
    gen = torch.Generator().manual_seed(1)
    b, n, img_h, img_w, s = 2, 2, 64, 176, 4
    h, w = img_h // s, img_w // s
    depths = torch.arange(1.0, 45.0, 0.5, dtype=torch.float64)
    frustum = create_frustum((img_h, img_w), (h, w), depths, 'linspace')
    yaw = torch.tensor([0.0, np.pi / 2])
    cam2ego = torch.stack([
        torch.tensor([[np.cos(a), -np.sin(a), 0, 0], [np.sin(a), np.cos(a), 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]],
                     dtype=torch.float64) @ CAM2EGO for a in yaw
    ])
    intrins = torch.tensor([[300.0, 0, 90.0], [0, 300.0, 30.0], [0, 0, 1]], dtype=torch.float64).expand(b, n, 3, 3)
    # image augmentation: resize 0.44, crop, horizontal flip (u' = W - 1 - u): the same in both frames
    post_rots = torch.tensor([[-0.44, 0, 0], [0, 0.44, 0], [0, 0, 1]], dtype=torch.float64).expand(b, n, 3, 3)
    post_trans = torch.tensor([img_w - 1 + 3.0, -5.0, 0.0], dtype=torch.float64).expand(b, n, 3)
    ego_motion = []
    for k in range(b):  # current ego -> previous ego: a turn of 3 deg and 1.5 m forward (per sample)
        a = np.deg2rad(3.0 * (k + 1))
        ego_motion.append(
            torch.tensor(
                [[np.cos(a), -np.sin(a), 0, 1.5], [np.sin(a), np.cos(a), 0, 0.2 * k], [0, 0, 1, 0], [0, 0, 0, 1]],
                dtype=torch.float64))
    cur2adj = torch.stack(ego_motion)
    k2s = torch.linalg.inv(cam2ego)[None] @ cur2adj[:, None] @ cam2ego[None]  # current camera -> previous camera
    aug = torch.eye(4, dtype=torch.float64).repeat(b, n, 1, 1)
    aug[..., :2, :2] = post_rots[..., :2, :2]
    aug[..., :2, 2] = post_trans[..., :2]  # acts on (u z, v z, z, 1)
    k4 = torch.eye(4, dtype=torch.float64).repeat(b, n, 1, 1)
    k4[..., :3, :3] = intrins
    ego2img = aug @ k4 @ torch.linalg.inv(cam2ego)[None]
    cur = torch.relu(torch.randn(b * n, channels, h, w, generator=gen, dtype=torch.float64))
    prev = torch.relu(torch.randn(b * n, channels, h, w, generator=gen, dtype=torch.float64))
    grid, behind = stereo_sampling_grid(frustum, ego2img, ego2img, cur2adj, (img_h, img_w), 'linspace')
    ref_grid = _official_gen_grid(frustum, post_rots, post_trans, k2s, intrins, img_h, img_w)
    valid = (ref_grid != -2).all(-1)
    assert valid.float().mean() > 0.5
    assert (grid - ref_grid)[valid].abs().max() < 1e-9
    ours = stereo_cost_volume(cur, prev, grid, len(depths), 'linspace', invalid_bias=5.0, invalid='official')
    ref = _official_cost(prev, cur, ref_grid, len(depths), 5.0)
    assert (ours - ref).abs().max() < 1e-5
