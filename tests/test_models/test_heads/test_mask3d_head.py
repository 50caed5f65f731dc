"""Mask3DHead: patchify round trip, depth normalisation, masked L1 on valid pixels."""
import math

import pytest
import torch

import mim3d_plugin  # noqa: F401
from mim3d_plugin.models.heads import Mask3DHead
from mim3d_plugin.models.utils import patchify, unpatchify

DEC = dict(patch_resolution=(2, 3), embed_dim=64, decoder_embed_dim=32, decoder_depth=1, decoder_num_heads=2)


def _head(**kw):
    h = Mask3DHead(decoder=DEC, patch_size=16, **kw)
    h.init_weights()
    return h


def test_patchify_roundtrip_non_square():
    x = torch.randn(2, 3, 32, 48)
    p = patchify(x, 16)
    assert p.shape == (2, 6, 16 * 16 * 3)
    torch.testing.assert_close(unpatchify(p, (2, 3), 16, 3), x)
    # patch index r * w + c holds the pixels of row r, column c
    torch.testing.assert_close(p[0, 1 * 3 + 2].reshape(16, 16, 3).permute(2, 0, 1), x[0, :, 16:32, 32:48])
    with pytest.raises(ValueError):
        patchify(torch.randn(1, 1, 30, 48), 16)


@pytest.mark.parametrize('norm,scale', [('log', 1.), ('linear', 10.)])
def test_normalisation_roundtrip_and_invalid(norm, scale):
    h = _head(depth_norm=norm, depth_norm_scale=scale)
    d = torch.tensor([[0., 0.5, 2.0, 30.]])
    n, valid = h.normalize_depth(d)
    assert valid.tolist() == [[False, True, True, True]] and n[0, 0] == 0
    torch.testing.assert_close(h.denormalize_depth(n)[valid], d[valid])
    if norm == 'log':
        assert n[0, 2] == pytest.approx(math.log(2.0))
    enc = h.encode_depth_input(d[None].expand(1, 1, 4).reshape(1, 1, 4))
    assert enc.shape == (1, 2, 1, 4) and enc[0, 1].tolist() == [[0, 1, 1, 1]]


def test_depth_loss_known_answer_ignores_invalid_and_masks():
    h = _head(depth_norm='linear', depth_norm_scale=1., loss_region='all')
    assert _head().loss_region == 'masked'  # default: no loss from depth the model can see
    depth = torch.full((1, 32, 48), 2.0)
    depth[:, :16, :16] = 0.  # patch 0 fully invalid
    target = patchify(depth[:, None], 16)
    pred = target.clone()
    pred[:, 0] = 100.  # error only where there is no valid depth -> ignored
    mask = torch.zeros(1, 6)
    assert h.depth_loss(pred, depth, mask) == 0
    pred[:, 1] += 0.5  # error 0.5 on the 256 valid pixels of patch 1
    assert h.depth_loss(pred, depth, mask).item() == pytest.approx(0.5 * 256 / (5 * 256))
    hm = _head(depth_norm='linear', loss_region='masked')
    mask[0, 1] = 1.
    assert hm.depth_loss(pred, depth, mask).item() == pytest.approx(0.5)
    mask[0, 1] = 0.
    mask[0, 2] = 1.
    assert hm.depth_loss(pred, depth, mask).item() == 0.0


def test_predict_depth_shape_and_positive():
    h = _head()
    out = dict(latent=torch.randn(2, 7, 64), hw=(2, 3), depth_mask=torch.ones(2, 6))
    d = h.predict_depth(out)
    assert d.shape == (2, 32, 48) and (d > 0).all()
    loss = h.loss(out, None, torch.rand(2, 32, 48) + 0.5)['loss_depth']
    loss.backward()
    assert all(p.grad is not None for p in h.parameters() if p.requires_grad)


def test_bad_config():
    with pytest.raises(ValueError, match='depth_norm'):
        _head(depth_norm='inverse')
    with pytest.raises(ValueError, match='loss_region'):
        _head(loss_region='visible')


def test_standardize_is_multimae_robust_standardisation_and_inverts():
    """MultiMAE ``standardize_depth_map`` re-derived: sort the valid depths, drop 10 % at each end, mean and
    unbiased variance of the rest, (d - mean) / sqrt(var + 1e-6); invalid pixels stay 0."""
    torch.manual_seed(0)
    h = _head(depth_norm='standardize')
    depth = torch.rand(2, 32, 48) * 8 + 0.5
    depth[0, :4] = 0.0  # invalid rows
    depth[1, 0, 0] = 500.0  # an outlier the truncation removes
    n, valid = h.normalize_depth(depth)
    for i in range(2):
        v = torch.sort(depth[i][depth[i] > 0])[0]
        v = v[int(0.1 * len(v)):int(0.9 * len(v))]
        ref = (depth[i] - v.mean()) / torch.sqrt(v.var() + 1e-6)
        assert torch.allclose(n[i][valid[i]], ref[valid[i]], atol=1e-5)
    assert (n[0, :4] == 0).all()
    assert torch.allclose(h.denormalize_depth(n, depth)[valid], depth[valid], atol=1e-4)
    with pytest.raises(ValueError, match='standardize'):
        h.denormalize_depth(n)
