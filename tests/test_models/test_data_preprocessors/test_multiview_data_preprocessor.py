"""MultiViewDataPreprocessor: normalised (B, N, 3, H, W) images, stacked (B, N, H, W) depth, points untouched."""
import pytest
import torch
from mmdet3d.structures import Det3DDataSample

from mim3d_plugin.models.data_preprocessors import MultiViewDataPreprocessor

MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


def _batch(n_views=3, h=16, w=24, b=2):
    gen = torch.Generator().manual_seed(0)
    return dict(
        inputs=dict(
            img=[torch.randint(0, 256, (n_views, 3, h, w), generator=gen, dtype=torch.uint8) for _ in range(b)],
            depth=[torch.rand(n_views, h, w, generator=gen) * 50 for _ in range(b)],
            points=[torch.rand(100 + i, 5, generator=gen) for i in range(b)]),
        data_samples=[Det3DDataSample() for _ in range(b)])


def test_outputs():
    pre = MultiViewDataPreprocessor(mean=MEAN, std=STD, bgr_to_rgb=True)
    batch = _batch()
    out = pre(batch, training=True)
    imgs, depth, points = out['inputs']['imgs'], out['inputs']['depth'], out['inputs']['points']
    assert imgs.shape == (2, 3, 3, 16, 24) and imgs.dtype == torch.float32
    rgb = batch['inputs']['img'][1].float()[:, [2, 1, 0]]
    expect = (rgb - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None]
    torch.testing.assert_close(imgs[1], expect)
    assert depth.shape == (2, 3, 16, 24)
    torch.testing.assert_close(depth[0], batch['inputs']['depth'][0])
    assert isinstance(points, list) and len(points) == 2 and points[1].shape == (101, 5)
    torch.testing.assert_close(points[0], batch['inputs']['points'][0])
    assert 'voxels' not in out['inputs']


def test_padding_and_errors():
    pre = MultiViewDataPreprocessor(mean=MEAN, std=STD, pad_size_divisor=32)
    out = pre(_batch(), training=False)
    assert out['inputs']['imgs'].shape[-2:] == (32, 32) and out['inputs']['depth'].shape[-2:] == (32, 32)
    assert out['inputs']['depth'][..., 16:, :].abs().sum() == 0
    bad = _batch()
    bad['inputs']['depth'][1] = bad['inputs']['depth'][1][:2]
    with pytest.raises(ValueError, match='depth of sample 1'):
        pre(bad)
