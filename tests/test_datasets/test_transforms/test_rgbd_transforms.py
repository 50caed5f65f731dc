"""RGB-D augmentations keep colour/depth aligned, update cam2img and never invent depth."""
import numpy as np
import pytest
import torch

from mim3d_plugin.datasets.transforms.rgbd_transforms import PackRGBDInputs, RGBDRandomCrop, RGBDRandomFlip, RGBDResize


def _frame(h=24, w=32, seed=0):
    rng = np.random.default_rng(seed)
    depth = rng.uniform(0.5, 4.0, (h, w)).astype(np.float32)
    depth[rng.random((h, w)) < 0.3] = 0.  # 30 % invalid
    img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    k = np.array([[20., 0, 15.5], [0, 20., 11.5], [0, 0, 1]])
    return dict(img=img, depth=depth, cam2img=k, img_shape=(h, w))


def _project(k, p):
    uvw = k @ p
    return uvw[:2] / uvw[2]


@pytest.mark.parametrize('scale', [(16, 12), (48, 40), (20, 30)])
def test_resize_nearest_keeps_invalid_and_values(scale):
    res = _frame()
    src = res['depth'].copy()
    out = RGBDResize(scale)(dict(res, cam2img=res['cam2img'].copy()))
    d = out['depth']
    assert d.shape == (scale[1], scale[0]) and out['img'].shape[:2] == d.shape
    # every output depth is a copy of an input value (0 stays 0, no blending)
    assert set(np.unique(d)) <= set(np.unique(src))
    # each output pixel copies its nearest source pixel (OpenCV INTER_NEAREST: floor(i * s))
    h, w = src.shape
    ys = np.minimum(np.floor(np.arange(scale[1]) * h / scale[1]).astype(int), h - 1)
    xs = np.minimum(np.floor(np.arange(scale[0]) * w / scale[0]).astype(int), w - 1)
    np.testing.assert_array_equal(d, src[ys][:, xs])
    # intrinsics scale with the image: a 3D point lands at the scaled pixel
    p = np.array([0.3, -0.2, 2.0])
    np.testing.assert_allclose(_project(out['cam2img'], p), _project(res['cam2img'], p) * [scale[0] / w, scale[1] / h])


def test_flip_mirrors_depth_and_intrinsics():
    res = _frame()
    src, k = res['depth'].copy(), res['cam2img'].copy()
    out = RGBDRandomFlip(prob=1.0)(res)
    w = src.shape[1]
    np.testing.assert_array_equal(out['depth'], src[:, ::-1])
    assert out['flip'] is True
    p = np.array([0.3, -0.2, 2.0])
    u0, v0 = _project(k, p)
    u1, v1 = _project(out['cam2img'], p)
    assert u1 == pytest.approx(w - 1 - u0) and v1 == pytest.approx(v0)
    same = RGBDRandomFlip(prob=0.0)(_frame())
    np.testing.assert_array_equal(same['depth'], _frame()['depth'])


def test_crop_shifts_principal_point_and_rejects_oversize():
    np.random.seed(3)
    res = _frame()
    src, k = res['depth'].copy(), res['cam2img'].copy()
    out = RGBDRandomCrop((20, 16))(res)
    x0, y0 = out['crop_offset']
    np.testing.assert_array_equal(out['depth'], src[y0:y0 + 16, x0:x0 + 20])
    p = np.array([0.1, 0.05, 1.5])
    np.testing.assert_allclose(_project(out['cam2img'], p), _project(k, p) - [x0, y0])
    with pytest.raises(ValueError, match='larger'):
        RGBDRandomCrop((64, 16))(_frame())


def test_pack_layout_and_errors():
    res = _frame()
    res['img_path'] = 'a.jpg'
    packed = PackRGBDInputs()(res)
    assert packed['inputs']['img'].shape == (3, 24, 32)
    assert packed['inputs']['img'].dtype == torch.uint8
    assert packed['inputs']['depth'].shape == (24, 32)
    k4 = packed['data_samples'].metainfo['cam2img']
    assert k4.shape == (4, 4) and k4[3, 3] == 1 and k4[0, 0] == 20.
    bad = _frame()
    bad['depth'] = bad['depth'][:10]
    with pytest.raises(ValueError, match='sizes differ'):
        PackRGBDInputs()(bad)
    with pytest.raises(KeyError, match='LoadRGBDFrame'):
        RGBDResize((8, 8))(dict(img=np.zeros((4, 4, 3))))
