import pytest
import torch
from mmdet3d.registry import MODELS
from mmengine.runner import save_checkpoint
from mmpretrain.models.backbones import ConvNeXt, SparseConvNeXt
from mmpretrain.models.utils.sparse_modules import SparseHelper

import mim3d_plugin  # noqa: F401

ARCH = dict(depths=[1, 1, 1, 1], channels=[8, 16, 24, 32])


def _build(**kw):
    cfg = dict(type='MaskConvNeXt', arch=ARCH, out_indices=(2, 3), gap_before_final_norm=False, mask_ratio=0.5)
    cfg.update(kw)
    return MODELS.build(cfg)


def test_masked_positions_stay_zero_and_mask_ratio():
    torch.manual_seed(0)
    model = _build()
    x = torch.randn(2, 3, 64, 96)
    mask = model.random_mask(2, (64, 96))
    assert mask.shape == (2, 2, 3) and mask.sum(dim=(1, 2)).tolist() == [3, 3]
    outs = model(x, mask)
    assert [o.shape for o in outs] == [(2, 24, 4, 6), (2, 32, 2, 3)]
    masked4 = (~mask).repeat_interleave(2, 1).repeat_interleave(2, 2)
    assert (outs[0].permute(0, 2, 3, 1)[masked4] == 0).all()
    assert (outs[1].permute(0, 2, 3, 1)[~mask] == 0).all()
    assert (outs[1].permute(0, 2, 3, 1)[mask].abs().sum(-1) > 0).all()
    # visible outputs do not depend on masked pixels
    x2 = x.clone()
    x2[:, :, :32, :32] += 5 * (~mask[:, 0, 0]).float().view(2, 1, 1, 1)
    assert torch.allclose(model(x2, mask)[1], outs[1], atol=1e-5)


def test_equivalent_to_mmpretrain_sparse_convnext():
    torch.manual_seed(0)
    ours = _build(out_indices=(3, ))
    ref = SparseConvNeXt(arch=ARCH, out_indices=3, gap_before_output=False)
    missing = ref.load_state_dict(ours.state_dict(), strict=False)
    assert not missing.missing_keys
    x = torch.randn(2, 3, 64, 64)
    mask = ours.random_mask(2, (64, 64))
    SparseHelper._cur_active = mask.unsqueeze(1).float()  # the reference's global state, test only
    try:
        expected = ref(x * mask.float().repeat_interleave(32, 1).repeat_interleave(32, 2).unsqueeze(1))[0]
    finally:
        SparseHelper._cur_active = None
    expected = ours.norm3(expected) * mask.unsqueeze(1).float()
    assert torch.allclose(ours(x, mask)[0], expected, atol=1e-5)


def test_unmasked_is_plain_convnext_and_loads_checkpoints_by_init_cfg(tmp_path):
    torch.manual_seed(0)
    dense = ConvNeXt(arch=ARCH, out_indices=(2, 3), gap_before_final_norm=False)
    ckpt = tmp_path / 'convnext.pth'
    save_checkpoint({'backbone.' + k: v for k, v in dense.state_dict().items()}, str(ckpt))
    model = _build(init_cfg=dict(type='Pretrained', checkpoint=str(ckpt), prefix='backbone.'))
    model.init_weights()
    x = torch.randn(1, 3, 64, 64)
    for a, b in zip(model(x), dense(x)):
        assert torch.allclose(a, b, atol=1e-6)
    # a MIM4D checkpoint (img_backbone.* keys) loads the same way
    mim_ckpt = tmp_path / 'mim4d.pth'
    save_checkpoint({'state_dict': {'img_backbone.' + k: v for k, v in model.state_dict().items()}}, str(mim_ckpt))
    down = _build(mask_ratio=0.0, init_cfg=dict(type='Pretrained', checkpoint=str(mim_ckpt), prefix='img_backbone.'))
    down.init_weights()
    assert torch.allclose(down(x)[1], dense(x)[1], atol=1e-6)


def test_gradients_and_bad_mask():
    model = _build()
    x = torch.randn(1, 3, 64, 64)
    out = model(x, model.random_mask(1, (64, 64)))
    sum(o.sum() for o in out).backward()
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not [n for n in no_grad if not n.startswith('norm0') and not n.startswith('norm1')]
    with pytest.raises(ValueError, match='mask must be'):
        model(x, torch.ones(1, 3, 3, dtype=torch.bool))


def test_mim4d_checkpoint_loads_into_bevdet_config(tmp_path):
    """The BEVDet config of the small MIM4D run builds and its backbone loads the backbone extracted from a MIM4D
    checkpoint (encoder.backbone.* -> backbone.*) by init_cfg."""
    pytest.importorskip('projects.BEVDet.bevdet')
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import projects.BEVDet.bevdet  # noqa: F401
    init_default_scope('mmdet3d')
    cfg = Config.fromfile('projects/BEVDet/configs/bevdet-mask-convnext-mini-mim4d_1xb1-4e_nus-mini.py')
    mim4d_cfg = Config.fromfile('configs/mim4d/mim4d_convnext-mini-mask_1xb2-300i_nus-mini.py')
    torch.manual_seed(0)
    pretrained = MODELS.build(mim4d_cfg.model.encoder.backbone)
    ckpt = tmp_path / 'iter_300.pth'
    save_checkpoint({'state_dict': {'encoder.backbone.' + k: v for k, v in pretrained.state_dict().items()}}, str(ckpt))
    import sys
    sys.path.insert(0, 'tools/model_converters')
    import extract_backbone
    assert extract_backbone.main([str(ckpt), str(tmp_path / 'backbone.pth')]) == 0
    cfg.model.img_backbone.init_cfg.checkpoint = str(tmp_path / 'backbone.pth')
    det_backbone = MODELS.build(cfg.model.img_backbone)
    det_backbone.init_weights()
    for k, v in pretrained.state_dict().items():
        assert torch.equal(det_backbone.state_dict()[k], v), k
    x = torch.randn(1, 3, 128, 352)
    feats = det_backbone(x)  # no mask: dense finetuning backbone
    assert [f.shape for f in feats] == [(1, 64, 8, 22), (1, 128, 4, 11)]
    neck = MODELS.build(cfg.model.img_neck)
    assert neck(feats)[0].shape == (1, 256, 8, 22)
