"""Mask3D -> mmsegmentation: the converted ViT computes what Mask3D's ViT computes; the indoor datasets' label maps;
and (slow) the small UperNet config on the bundled Cityscapes frame (ground truth as prediction = 100 mIoU; a short
overfit is scored by mmseg's IoUMetric)."""
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import init_default_scope

import mim3d_plugin  # noqa: F401
import mim3d_plugin.seg2d  # noqa: F401

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools', 'model_converters'))
from mask3d_to_mmseg import convert  # noqa: E402

SMALL = osp.join(ROOT, 'configs/seg2d/upernet_vit-tiny-p16_1xb2-200i_cityscapes-frame-128x256.py')
TINY = dict(embed_dims=192, num_layers=4, num_heads=3)


def _mask3d_pretraining_state():
    """The state dict of the small Mask3D pretraining (MaskedPretrainer: backbone under encoder.backbone., depth
    encoder, decoder) with random weights, pretraining grid 15 x 20 (240x320 px)."""
    from mim3d_plugin.testing import build_model, load_config
    cfg = load_config('configs/mask3d/mask3d_vit-tiny-p16_1xb2-400i_redwood.py')
    model = build_model(cfg, seed=3)
    with torch.no_grad():  # a non-trivial position table and biases
        for name, p in model.named_parameters():
            if name.startswith('encoder.backbone.') and (name.endswith('bias') or 'pos_embed' in name):
                p.add_(0.02 * torch.randn_like(p))
    return model.state_dict(), model.encoder.backbone


def _mmseg_vit(img_size, out_indices=(3, )):
    init_default_scope('mmseg')
    vit = ROOT_MODELS.build(
        dict(
            type='VisionTransformer',
            img_size=img_size,
            patch_size=16,
            **TINY,
            mlp_ratio=4,
            out_indices=out_indices,
            qkv_bias=True,
            with_cls_token=True,
            norm_cfg=dict(type='LN', eps=1e-6),
            act_cfg=dict(type='GELU'),
            patch_bias=True,
            final_norm=True,
            interpolate_mode='bicubic'))
    vit.eval()  # mmseg's VisionTransformer.train() returns None: not chainable
    return vit


def test_converted_mask3d_vit_computes_the_mask3d_features():
    """A Mask3D pretraining checkpoint -> converter -> mmseg ViT: 0 missing / 0 unexpected keys (the depth encoder
    and mask tokens dropped), and on the pretraining grid the last layer's normalised features equal those of
    Mask3DViT's own downstream forward (max abs diff < 1e-4)."""
    state, mask3d = _mask3d_pretraining_state()
    out, report = convert(state, dst_grid=(15, 20), src_grid=(15, 20))
    assert report['dropped'] and all(k.startswith(('depth_', 'rgb_mask', 'depth_mask')) for k in report['dropped'])
    vit = _mmseg_vit((240, 320))
    res = vit.load_state_dict(out, strict=True)
    assert not res.missing_keys and not res.unexpected_keys
    mask3d.eval()
    mask3d.out_indices, mask3d.pyramid_strides = [3], None
    img = torch.randn(2, 3, 240, 320, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = mask3d(img)[-1]
        ours = vit(img)[-1]
    assert ours.shape == ref.shape == (2, 192, 15, 20)
    assert (ours - ref).abs().max() < 1e-4


def test_position_table_is_resized_to_the_fine_tuning_grid():
    """15 x 20 -> 32 x 64: the table mmpretrain's bicubic resize gives (cls entry kept); a non-square table without
    --src-grid is refused."""
    from mmpretrain.models.utils import resize_pos_embed
    state, _ = _mask3d_pretraining_state()
    pos = state['encoder.backbone.pos_embed']
    out, report = convert(state, dst_grid=(32, 64), src_grid=(15, 20))
    assert out['pos_embed'].shape == (1, 1 + 32 * 64, 192)
    assert torch.equal(out['pos_embed'][:, 0], pos[:, 0])
    assert torch.allclose(out['pos_embed'], resize_pos_embed(pos, (15, 20), (32, 64), 'bicubic', 1))
    assert any('resized (15, 20) -> (32, 64)' in r for r in report['renamed'])
    with pytest.raises(ValueError, match='--src-grid'):
        convert(state, dst_grid=(32, 64))
    res = _mmseg_vit((512, 1024)).load_state_dict(out, strict=True)
    assert not res.missing_keys and not res.unexpected_keys


def _write_pair(folder, name, label):
    import mmcv
    (folder / 'images' / 'val').mkdir(parents=True, exist_ok=True)
    (folder / 'labels' / 'val').mkdir(parents=True, exist_ok=True)
    mmcv.imwrite(np.full(label.shape + (3, ), 128, np.uint8), str(folder / 'images' / 'val' / f'{name}.jpg'))
    mmcv.imwrite(label, str(folder / 'labels' / 'val' / f'{name}.png'))


@pytest.mark.parametrize('dataset', ['ScanNetSeg20Dataset', 'NYUv2Seg40Dataset'])
def test_indoor_label_maps(tmp_path, dataset):
    """A label PNG holding every NYU40 id 0..40 loads as the benchmark's train ids: ScanNet-20 keeps the 20
    benchmark ids (1..12, 14, 16, 24, 28, 33, 34, 36, 39 -> 0..19), everything else 255; NYUv2-40 shifts 1..40 ->
    0..39, 0 -> 255."""
    from mmseg.registry import DATASETS

    from mim3d_plugin.seg2d import SCANNET_20_NYU40_IDS
    init_default_scope('mmseg')
    label = np.tile(np.arange(41, dtype=np.uint8), (4, 1))
    _write_pair(tmp_path, 'frame0', label)
    ds = DATASETS.build(
        dict(
            type=dataset,
            data_root=str(tmp_path),
            data_prefix=dict(img_path='images/val', seg_map_path='labels/val'),
            pipeline=[dict(type='LoadImageFromFile'),
                      dict(type='LoadAnnotations'),
                      dict(type='PackSegInputs')]))
    gt = ds[0]['data_samples'].gt_sem_seg.data[0, 0].numpy()
    if dataset == 'ScanNetSeg20Dataset':
        expected = [SCANNET_20_NYU40_IDS.index(i) if i in SCANNET_20_NYU40_IDS else 255 for i in range(41)]
        assert len(ds.metainfo['classes']) == 20
    else:
        expected = [255] + list(range(40))
        assert len(ds.metainfo['classes']) == 40
    assert gt.tolist() == expected


@pytest.mark.slow
def test_small_config_on_the_cityscapes_frame(tmp_path, monkeypatch):
    """The bundled frame through the small config's test pipeline with its own labels as the prediction scores 100
    mIoU in mmseg's IoUMetric; 60 training iterations overfit it (loss falls, mIoU > 20)."""
    from mmengine.config import Config
    from mmengine.runner import Runner
    from mmseg.evaluation import IoUMetric
    from mmseg.registry import DATASETS
    monkeypatch.chdir(ROOT)
    if not osp.isdir(osp.join(ROOT, '..', 'shared', 'data', 'seg2d')):
        pytest.skip('../shared/data/seg2d is not there')
    cfg = Config.fromfile(SMALL)
    init_default_scope('mmseg')
    sample = DATASETS.build(cfg.test_dataloader.dataset)[0]['data_samples']
    metric = IoUMetric(iou_metrics=['mIoU'])
    metric.dataset_meta = dict(classes=tuple(range(19)))
    gt = sample.gt_sem_seg.data
    metric.process({}, [dict(pred_sem_seg=dict(data=gt[0] if gt.dim() == 3 else gt), gt_sem_seg=dict(data=gt))])
    assert metric.compute_metrics(metric.results)['mIoU'] == 100.0

    cfg.work_dir = str(tmp_path)
    cfg.train_cfg.max_iters = 60
    cfg.param_scheduler = [dict(type='PolyLR', eta_min=0.0, power=1.0, begin=0, end=60, by_epoch=False)]
    cfg.train_cfg.val_interval = 60
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.test()
    assert metrics['mIoU'] > 20.0, metrics
