"""MultiViewImageAug: a 3D point keeps its image content through resize/crop/flip/rotate, matrices agree."""
import cv2
import numpy as np
import pytest
import torch

from mim3d_plugin.datasets.transforms import MultiViewImageAug
from mim3d_plugin.geometry import project_points, unproject_depth

CASES = {
    'resize': dict(resize_lim=(0.05, 0.05), bot_pct_lim=(0.0, 0.0), rot_lim=(0.0, 0.0), rand_flip=False),
    'crop': dict(resize_lim=(0.2, 0.2), bot_pct_lim=(0.1, 0.25), rot_lim=(0.0, 0.0), rand_flip=False),
    'flip': dict(resize_lim=(0.0, 0.0), bot_pct_lim=(0.0, 0.0), rot_lim=(0.0, 0.0), rand_flip=True),
    'rotate': dict(resize_lim=(0.0, 0.0), bot_pct_lim=(0.0, 0.0), rot_lim=(9.0, 9.0), rand_flip=False),
    'all': dict(resize_lim=(-0.06, 0.11), bot_pct_lim=(0.0, 0.22), rot_lim=(-5.4, 5.4), rand_flip=True),
}
FINAL_DIM = (112, 256)


def _points_in_views(results, n_per_view=300, seed=0):
    """LiDAR points seen by each view: random pixels at random depths (3-30 m), lifted with unproject_depth."""
    rng = np.random.RandomState(seed)
    h, w = results['img_shape']
    pts = []
    for l2i in results['lidar2img']:
        uv = torch.as_tensor(np.stack([rng.uniform(0, w, n_per_view), rng.uniform(0, h, n_per_view)], -1))
        depth = torch.as_tensor(rng.uniform(3, 30, n_per_view))
        pts.append(unproject_depth(uv, depth, torch.as_tensor(l2i)))
    return torch.cat(pts)


def _bilinear(img, uv):
    """Sample (H, W, 3) at px (u, v) of the mmdet3d convention (pixel centres at +0.5)."""
    maps = uv.astype(np.float32) - 0.5
    return cv2.remap(img.astype(np.float32), maps[:, None, 0].copy(), maps[:, None, 1].copy(), cv2.INTER_LINEAR)[:, 0]


@pytest.mark.parametrize('case', list(CASES))
def test_point_keeps_pixel_content(case, synthetic_results, monkeypatch):
    if case == 'flip':
        monkeypatch.setattr(np.random, 'choice', lambda *a, **k: 1)  # force the flip
    np.random.seed(3)
    before = {k: (list(v) if isinstance(v, list) else v) for k, v in synthetic_results.items()}
    points = _points_in_views(before)
    after = MultiViewImageAug(final_dim=FINAL_DIM, **CASES[case])(dict(synthetic_results))
    assert after['img_shape'] == FINAL_DIM and all(im.shape == FINAL_DIM + (3, ) for im in after['img'])
    if case == 'flip':
        assert all(p['flip'] for p in after['img_aug_params'])
    n_checked = 0
    for i in range(len(before['img'])):
        uv0, d0, valid0 = project_points(points, torch.as_tensor(before['lidar2img'][i]), before['img_shape'])
        uv1, d1, valid1 = project_points(points, torch.as_tensor(after['lidar2img'][i]), FINAL_DIM)
        # the augmented projection is the original pixel mapped by img_aug_matrix, depth unchanged
        mapped = torch.cat([uv0, d0[:, None], torch.ones_like(d0)[:, None]], -1) @ \
            torch.as_tensor(after['img_aug_matrix'][i]).T
        sel = valid0
        torch.testing.assert_close(uv1[sel], mapped[sel, :2], atol=1e-6, rtol=0)
        torch.testing.assert_close(d1, d0)
        # cam2img and lidar2img agree
        np.testing.assert_allclose(after['lidar2img'][i], after['cam2img'][i] @ before['lidar2cam'][i], atol=1e-9)
        # same image content at both pixels (away from the borders)
        h, w = FINAL_DIM
        inner = (valid0 & valid1 & (uv1[:, 0] > 2) & (uv1[:, 0] < w - 2) & (uv1[:, 1] > 2) & (uv1[:, 1] < h - 2) &
                 (uv0[:, 0] > 2) & (uv0[:, 1] > 2)).numpy()
        c0 = _bilinear(before['img'][i], uv0.numpy()[inner])
        c1 = _bilinear(after['img'][i], uv1.numpy()[inner])
        c_off = _bilinear(after['img'][i], uv1.numpy()[inner] + np.array([4.0, 0.0]))
        err, err_off = np.abs(c0 - c1).mean(), np.abs(c0 - c_off).mean()
        assert err < 6.0, (case, i, err)
        assert err_off > 3 * err, (case, i, err, err_off)  # the check can tell a 4 px error
        n_checked += inner.sum()
    assert n_checked > 200


def test_matrix_matches_bevdet_formula():
    """Naive re-statement of BEVDet's img_transform (post_rot, post_tran) for an exact integer resize."""
    aug = MultiViewImageAug(final_dim=(128, 352))
    height, width = 900, 1600
    resize = 0.25  # 400 x 225: the integer size is exact, so BEVDet's scalar resize is the true scale
    crop = (20, 60, 372, 188)
    for flip in (False, True):
        for rotate in (0.0, 5.0, -4.0):
            ours = aug.pixel_map(height, width, (400, 225), crop, flip, rotate)
            rot, tran = np.eye(2) * resize, -np.asarray(crop[:2], dtype=np.float64)
            if flip:
                a, b = np.array([[-1.0, 0.0], [0.0, 1.0]]), np.array([crop[2] - crop[0], 0.0])
                rot, tran = a @ rot, a @ tran + b
            t = rotate / 180 * np.pi
            a = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
            b = np.array([crop[2] - crop[0], crop[3] - crop[1]]) / 2
            b = a @ -b + b
            rot, tran = a @ rot, a @ tran + b
            np.testing.assert_allclose(ours[:2, :2], rot, atol=1e-12)
            np.testing.assert_allclose(ours[:2, 2], tran, atol=1e-9)


def test_test_mode_is_deterministic_and_centred(synthetic_results):
    aug = MultiViewImageAug(final_dim=FINAL_DIM, bot_pct_lim=(0.0, 0.2), resize_test=0.04, test_mode=True)
    r1 = aug(dict(synthetic_results))
    r2 = aug(dict(synthetic_results))
    for a, b in zip(r1['img'], r2['img']):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.stack(r1['img_aug_matrix']), np.stack(r2['img_aug_matrix']))
    h0, w0 = synthetic_results['img_shape']
    resize = FINAL_DIM[1] / w0 + 0.04
    new_w, new_h = int(w0 * resize), int(h0 * resize)
    for p in r1['img_aug_params']:
        assert not p['flip'] and p['rotate'] == 0.0
        assert p['crop'] == (int(
            (new_w - FINAL_DIM[1]) / 2), int(0.9 * new_h) - FINAL_DIM[0], int(
                (new_w - FINAL_DIM[1]) / 2) + FINAL_DIM[1], int(0.9 * new_h))


def test_training_is_random_per_view(synthetic_results):
    np.random.seed(0)
    out = MultiViewImageAug(final_dim=FINAL_DIM)(dict(synthetic_results))
    params = out['img_aug_params']
    assert len({p['rotate'] for p in params}) == len(params)
    assert len({p['resize'] for p in params}) == len(params)


def test_composes_onto_earlier_aug_and_checks_inputs(synthetic_results):
    np.random.seed(1)
    first = MultiViewImageAug(final_dim=(150, 300), rot_lim=(0, 0), rand_flip=False)(dict(synthetic_results))
    np.random.seed(2)
    second = MultiViewImageAug(final_dim=FINAL_DIM)(dict(first))
    for i in range(3):
        np.testing.assert_allclose(second['lidar2img'][i], second['cam2img'][i] @ second['lidar2cam'][i])
        pre = second['img_aug_matrix'][i]  # total map: (u, v, d, 1) -> augmented; cam2img = pre-division form
        k0 = synthetic_results['cam2img'][i]
        k_expect = np.eye(4)
        k_expect[:2, :2], k_expect[:2, 2] = pre[:2, :2], pre[:2, 3]
        np.testing.assert_allclose(second['cam2img'][i], k_expect @ k0, atol=1e-9)
    bad = dict(synthetic_results)
    bad['cam2img'] = bad['cam2img'][:2]
    with pytest.raises(KeyError, match='cam2img'):
        MultiViewImageAug(final_dim=FINAL_DIM)(bad)
    with pytest.raises(ValueError, match='final_dim'):
        MultiViewImageAug(final_dim=(0, 10))
