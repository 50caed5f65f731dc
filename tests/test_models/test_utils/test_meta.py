"""stack_meta: batched tensors from metainfo, named errors."""
import numpy as np
import pytest
import torch
from mmdet3d.structures import Det3DDataSample

from mim3d_plugin.models.utils import stack_meta


def _sample(i):
    s = Det3DDataSample()
    s.set_metainfo(dict(lidar2img=np.full((6, 4, 4), float(i)), ego2global=np.eye(4) * (i + 1), timestamp=0.5 * i))
    return s


def test_stack_meta():
    samples = [_sample(i) for i in range(3)]
    l2i = stack_meta(samples, 'lidar2img')
    assert l2i.shape == (3, 6, 4, 4) and l2i.dtype == torch.float32
    assert l2i[2, 5, 3, 3] == 2.0
    e2g = stack_meta(samples, 'ego2global', dtype=torch.float64)
    assert e2g.dtype == torch.float64 and e2g[1, 0, 0] == 2.0
    torch.testing.assert_close(
        stack_meta(samples, 'timestamp', dtype=torch.float64), torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64))
    assert stack_meta([s.metainfo for s in samples], 'lidar2img').shape == (3, 6, 4, 4)  # dicts too


def test_errors():
    samples = [_sample(0), Det3DDataSample()]
    with pytest.raises(KeyError, match=r"data sample 1 has no metainfo 'lidar2img'"):
        stack_meta(samples, 'lidar2img')
    odd = _sample(1)
    odd.set_metainfo(dict(lidar2img=np.zeros((5, 4, 4))))
    with pytest.raises(ValueError, match='different shapes'):
        stack_meta([_sample(0), odd], 'lidar2img')
    with pytest.raises(ValueError, match='empty batch'):
        stack_meta([], 'lidar2img')
