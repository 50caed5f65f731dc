"""MultiViewPhotoMetricDistortion: mmdet's PhotoMetricDistortion on each view with its own random draws (official
BEVFormer PhotoMetricDistortionMultiViewImage loops the single-image transform over the views)."""
import numpy as np
import pytest
from mmdet.datasets.transforms import PhotoMetricDistortion

from mim3d_plugin.datasets.transforms import MultiViewPhotoMetricDistortion


def test_each_view_is_the_single_image_transform_with_its_own_draws():
    rng = np.random.default_rng(0)
    views = [rng.integers(0, 256, (24, 40, 3)).astype(np.uint8) for _ in range(3)]
    np.random.seed(3)
    ours = MultiViewPhotoMetricDistortion().transform(dict(img=[v.copy() for v in views], cam2img=['kept']))
    np.random.seed(3)
    single = PhotoMetricDistortion()
    ref = [single.transform(dict(img=v.astype(np.float32)))['img'] for v in views]
    assert ours['cam2img'] == ['kept']
    for a, b in zip(ours['img'], ref):
        assert a.dtype == np.float32 and a.shape == (24, 40, 3)
        np.testing.assert_array_equal(a, b)
    # identical views get different distortions (independent draws), and the images do change
    np.random.seed(0)
    same = MultiViewPhotoMetricDistortion().transform(dict(img=[views[0].copy()] * 4))['img']
    assert any(not np.array_equal(same[0], s) for s in same[1:])
    assert any(np.abs(s - views[0]).max() > 1 for s in same)


def test_missing_images_are_named():
    with pytest.raises(KeyError, match='no "img"'):
        MultiViewPhotoMetricDistortion().transform(dict(token='abc'))
