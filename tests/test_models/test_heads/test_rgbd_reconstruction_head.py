"""RGBDReconstructionHead: MAE norm-pix RGB target on masked patches + depth loss."""
import pytest
import torch
from mmengine.registry import init_default_scope

import mim3d_plugin  # noqa: F401
from mim3d_plugin.models.heads.rgbd_reconstruction_head import RGBDReconstructionHead
from mim3d_plugin.models.utils import patchify

DEC = dict(patch_resolution=(2, 3), embed_dim=64, decoder_embed_dim=32, decoder_depth=1, decoder_num_heads=2)


def test_losses_targets_and_gradients():
    init_default_scope('mmdet3d')
    h = RGBDReconstructionHead(decoder=DEC, patch_size=16)
    h.init_weights()
    img = torch.randn(2, 3, 32, 48)
    t = h.rgb_target(img)
    assert t.shape == (2, 6, 768)
    torch.testing.assert_close(t.mean(-1), torch.zeros(2, 6), atol=1e-5, rtol=0)
    raw = RGBDReconstructionHead(decoder=DEC, patch_size=16, norm_pix=False)
    torch.testing.assert_close(raw.rgb_target(img), patchify(img, 16))
    out = dict(
        latent=torch.randn(2, 7, 64, requires_grad=True),
        hw=(2, 3),
        rgb_mask=torch.tensor([[1., 0, 1, 0, 1, 0]] * 2),
        depth_mask=torch.ones(2, 6))
    losses = h.loss(out, img, torch.rand(2, 32, 48) + 0.5)
    assert set(losses) == {'loss_depth', 'loss_rgb'}
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    for name, p in h.named_parameters():
        assert p.grad is not None or not p.requires_grad, name
    assert h.rgb_decoder.decoder_pred.out_features == 16 * 16 * 3
    assert h.depth_decoder.decoder_pred.out_features == 16 * 16


def test_rgb_loss_only_on_masked_patches():
    init_default_scope('mmdet3d')
    h = RGBDReconstructionHead(decoder=DEC, patch_size=16)
    img = torch.randn(1, 3, 32, 48)
    out = dict(
        latent=torch.randn(1, 7, 64),
        hw=(2, 3),
        depth_mask=torch.ones(1, 6),
        rgb_mask=torch.tensor([[1., 0, 0, 0, 0, 0]]))
    pred = h.rgb_decoder(out['latent'], out['hw'])
    expect = ((pred[0, 0] - h.rgb_target(img)[0, 0])**2).mean()
    got = h.loss(out, img, torch.rand(1, 32, 48) + 0.5)['loss_rgb']
    assert got.item() == pytest.approx(expect.item(), rel=1e-5)
