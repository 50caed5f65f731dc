"""MEGVIIEMA re-derived against the official BEVDet dev2.1 ModelEMA (MEGVIIEMAHook): the model is copied at the
start, ``updates`` starts at ``init_updates``, each iteration ``updates += 1; d = 0.999 * (1 - exp(-updates / 2000));
ema = d * ema + (1 - d) * model`` on every floating-point state-dict entry (parameters and buffers)."""
import copy
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS as ENGINE_MODELS
from mmengine.registry import init_default_scope

import mim3d_plugin  # noqa: F401
from mim3d_plugin.engine import MEGVIIEMA

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def _official(model, init_updates, steps_fn, n):
    ema = copy.deepcopy(model).eval()
    updates = init_updates
    for step in range(1, n + 1):
        steps_fn(model, step)
        updates += 1
        d = 0.999 * (1 - math.exp(-updates / 2000))
        msd = model.state_dict()
        for k, v in ema.state_dict().items():
            if v.dtype.is_floating_point:
                v *= d
                v += (1.0 - d) * msd[k].detach()
    return ema


def _train_step(model, step):
    with torch.no_grad():
        model[0].weight.add_(math.sin(step * 0.01))
        model[1].running_mean.fill_(math.cos(step * 0.02))
        model[1].num_batches_tracked += 1


@pytest.mark.parametrize('init_updates', [0, 10560])
def test_megvii_ema_equals_the_official_model_ema(init_updates):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.BatchNorm1d(3))
    official = _official(copy.deepcopy(model), init_updates, _train_step, 500)
    ema = MEGVIIEMA(model, init_updates=init_updates)
    for step in range(1, 501):
        _train_step(model, step)
        ema.update_parameters(model)
    for k, v in official.state_dict().items():
        if v.dtype.is_floating_point:
            assert torch.allclose(ema.module.state_dict()[k], v, atol=1e-6), k
    # mmengine's base behaviour (copy at the first update) would keep none of the initial weights: the official
    # first update with init_updates=10560 keeps 99.4 % of them
    assert ema.decay_at(0) == pytest.approx(0.999 * (1 - math.exp(-(init_updates + 1) / 2000)))


def test_bevdet_paper_configs_use_the_official_ema():
    init_default_scope('mmdet3d')
    for name in ('bevdet-r50_8xb8-cbgs-20e_nus.py', 'bevdet4d-swin-b-geomim_8xb8-cbgs-20e_nus.py',
                 'bevdet-r50-official_8xb8-cbgs-20e_nus.py'):
        cfg = Config.fromfile(osp.join(ROOT, 'projects/BEVDet/configs', name))
        hook = next(h for h in cfg.custom_hooks if h['type'] == 'EMAHook')
        assert hook['ema_type'] == 'MEGVIIEMA' and hook['init_updates'] == 10560, name
        kwargs = {k: v for k, v in hook.items() if k not in ('type', 'ema_type', 'priority')}
        ema = ENGINE_MODELS.build(dict(type=hook['ema_type'], model=torch.nn.Linear(2, 2), **kwargs))
        assert isinstance(ema, MEGVIIEMA)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match='decay'):
        MEGVIIEMA(torch.nn.Linear(1, 1), decay=1.5)
