"""Every config of the repo parses and its model builds (paper-scale ones included)."""
import glob
import importlib
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import PARAM_SCHEDULERS, init_default_scope

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
    + glob.glob(osp.join(ROOT, 'projects', '*', 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in p.split(osp.sep))


def test_there_are_configs():
    assert len(CONFIGS) >= 2, CONFIGS


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, ROOT))
def test_config_builds(path):
    cfg = Config.fromfile(path)
    # detection / pretraining configs run in mmdet3d's scope; the 2D segmentation ones (configs/seg2d) in mmseg's
    scope = 'mmseg' if osp.join('configs', 'seg2d') in path else 'mmdet3d'
    assert cfg.get('default_scope') == scope, f'{path}: default_scope must be {scope}'
    for mod in cfg.get('custom_imports', {}).get('imports', []):
        importlib.import_module(mod)
    init_default_scope(scope)
    for key in ('train_dataloader', 'optim_wrapper', 'train_cfg'):
        assert key in cfg, f'{path}: no {key}'
    # the architecture only: the teacher weights (a model-zoo URL, a trained run's checkpoint) are loaded and checked
    # key for key in test_teacher_configs.py
    for head in cfg.model.get('heads', {}).values():
        if head is not None and head.get('type') == 'LiDARBEVDistillHead':
            head.teacher.checkpoint = None
            head.allow_untrained_teacher = True
    model = ROOT_MODELS.build(cfg.model)  # the registry of the default scope
    assert sum(p.numel() for p in model.parameters()) > 0
    # the lr / momentum schedules build (a list-valued key is replaced, not merged: a leftover `_delete_` in a list
    # item reaches the scheduler's constructor)
    schedulers = cfg.get('param_scheduler') or []
    for sched in (schedulers if isinstance(schedulers, (list, tuple)) else [schedulers]):
        args = dict(optimizer=OptimWrapper(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)))
        if sched.get('convert_to_iter_based'):
            args['epoch_length'] = 10
        PARAM_SCHEDULERS.build(sched, default_args=args)


def test_mim4d_ema_is_the_official_ema_hook():
    """The paper MIM4D config's EMA re-derived against the official vs0.1 ``dict(type='EMAHook')``, mmcv 1.x's
    EMAHook (mmcv/runner/hooks/ema.py): after iteration ``it`` (0-based), ``m = min(0.0002, (1 + it) / (100 + it))``
    and ``ema = (1 - m) * ema + m * w`` for every parameter; buffers are the current ones. mmengine starts the average
    at the weights after the first update, mmcv at the weights before it (compared from the second update on)."""
    import mmdet.models  # noqa: F401
    import torch
    from mmengine.config import Config
    from mmengine.registry import MODELS as ENGINE_MODELS
    cfg = Config.fromfile(osp.join(ROOT, 'configs/mim4d/mim4d_convnext-s-mask_8xb1-amp-12e_nus-pretrain.py'))
    hook = next(h for h in cfg.custom_hooks if h['type'] == 'EMAHook')
    model = torch.nn.BatchNorm1d(1)  # a parameter (weight) and a buffer (running_mean)
    kwargs = {k: v for k, v in hook.items() if k not in ('type', 'ema_type', 'priority')}
    ema = ENGINE_MODELS.build(dict(type=hook['ema_type'], model=model, **kwargs))
    with torch.no_grad():
        model.weight.fill_(math.sin(0.0))
        model.running_mean.fill_(5.0)
    ema.update_parameters(model)  # it = 0: both copy / start from the current weights
    ref = model.weight.detach().clone()
    for it in range(1, 3001):
        with torch.no_grad():
            model.weight.fill_(math.sin(it * 0.01))
            model.running_mean.fill_(float(it))
        ema.update_parameters(model)
        m = min(0.0002, (1 + it) / (100 + it))
        ref = (1 - m) * ref + m * model.weight.detach()
    assert torch.allclose(ema.module.weight, ref, atol=1e-6, rtol=0)
    # buffers are not averaged: the current ones, as mmcv's hook swaps only parameters into the model
    assert float(ema.module.running_mean) == 3000.0
    assert abs(float(ema.module.weight) - math.sin(30.0)) > 0.1  # a slow average, not the current weight


def test_mim4d_rays_per_image_follow_the_official_configs():
    """Official ray_sampler_cfg: vs0.1 point_nsample = merged_nsample = 2048, vs0.075 512 (uvtr_convnext_s_vs0.*)."""
    paper = Config.fromfile(osp.join(ROOT, 'configs/mim4d/mim4d_convnext-s-mask_8xb1-amp-12e_nus-pretrain.py'))
    vs0075 = Config.fromfile(
        osp.join(ROOT, 'configs/mim4d/mim4d_convnext-s-mask-vs0.075_8xb1-amp-12e_nus-pretrain-450x800.py'))
    assert paper.model.heads.render.render_head.num_rays == 2048
    assert vs0075.model.heads.render.render_head.num_rays == 512


@pytest.mark.parametrize('name', [
    'bevformer-base_r101-dcn_8xb1-24e_nus.py', 'bevformer-small_r101-dcn_8xb1-24e_nus.py',
    'bevformer-tiny_r50_8xb1-24e_nus.py', 'bevformer-tiny_r18_1xb1-4e_nus-mini.py'
])
def test_bevformer_configs_follow_the_official_recipe(name):
    """Official pipeline and model pieces at their configured values: photometric distortion on training frames
    only, images padded to /32, the CAN-bus MLP, queue_length - 1 of the queue_length previous frames in training."""
    cfg = Config.fromfile(osp.join(ROOT, 'projects/BEVFormer/configs', name))
    train, test = cfg.train_dataloader.dataset, cfg.val_dataloader.dataset
    frames = [s for s in train.pipeline if s['type'] == 'MultiFrameMultiView'][0]['frame_pipeline']
    assert [s['type'] for s in frames] == ['LoadMultiViewImages', 'MultiViewPhotoMetricDistortion', 'MultiViewImageAug']
    test_frames = [s for s in test.pipeline if s['type'] == 'MultiFrameMultiView'][0]['frame_pipeline']
    assert 'MultiViewPhotoMetricDistortion' not in [s['type'] for s in test_frames]
    assert cfg.model.data_preprocessor.pad_size_divisor == 32
    assert cfg.model.pts_bbox_head.use_can_bus and 'can_bus' in cfg.meta_keys
    assert train.prev_frame_pool == cfg.queue_length == train.num_prev_frames + 1
    assert cfg.model.get('prev_bev_align', 'rigid') == 'rigid'  # the official alignment is an option, not default


def test_geomim_and_bevdet_paper_configs_use_the_official_lss_index_and_decoder_table():
    geomim = Config.fromfile(osp.join(ROOT, 'configs/geomim/geomim_swin-b_16xb2-50e_nus.py'))
    assert geomim.model.heads.bev.view_transformer.coord_rounding == 'trunc'  # BEVFusion bev_pool .long()
    assert tuple(geomim.model.heads.bev.decoder.pos_table_size) == (7, 7)  # MixMIM's 224 / 32 table
    for name in ('bevdet-r50_8xb8-cbgs-20e_nus.py', 'bevdet4d-swin-b-geomim_8xb8-cbgs-20e_nus.py',
                 'bevdet-r50-official_8xb8-cbgs-20e_nus.py'):
        cfg = Config.fromfile(osp.join(ROOT, 'projects/BEVDet/configs', name))
        assert cfg.model.img_view_transformer.coord_rounding == 'trunc', name
    finetune = Config.fromfile(osp.join(ROOT, 'projects/BEVDet/configs/bevdet4d-swin-b-geomim_8xb8-cbgs-20e_nus.py'))
    assert finetune.model.img_backbone.window_padding == 'official'
