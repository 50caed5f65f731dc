"""Skipped fp16 steps are counted and logged; runs without a loss scaler are untouched."""
import os.path as osp
import sys
from types import SimpleNamespace

from mmengine.config import Config
from mmengine.logging import MessageHub

from mim3d_plugin.engine.hooks import LossScaleSkipHook

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


class _Scaler:

    def __init__(self):
        self.scale = 65536.0

    def is_enabled(self):
        return True

    def get_scale(self):
        return self.scale


def _runner(scaler, warnings):
    return SimpleNamespace(
        optim_wrapper=SimpleNamespace(loss_scaler=scaler),
        iter=0,
        message_hub=MessageHub.get_instance('test_loss_scale_skip_hook'),
        logger=SimpleNamespace(warning=warnings.append))


def test_a_lowered_scale_is_a_skipped_step():
    scaler, warnings = _Scaler(), []
    runner, hook = _runner(scaler, warnings), LossScaleSkipHook()
    for it, skip in enumerate([False, True, False, True]):
        runner.iter = it
        hook.before_train_iter(runner, it)
        if skip:  # what torch's GradScaler.update does after inf/NaN gradients
            scaler.scale /= 2
        hook.after_train_iter(runner, it)
    assert hook.skipped == 2
    assert runner.message_hub.get_scalar('train/amp_skipped_steps').current() == 2
    assert len(warnings) == 2 and 'iteration 2' in warnings[0] and '65536 -> 32768' in warnings[0]


def test_no_scaler_no_work():
    hook, warnings = LossScaleSkipHook(), []
    runner = _runner(None, warnings)
    hook.before_train_iter(runner, 0)
    hook.after_train_iter(runner, 0)
    assert hook.skipped == 0 and not warnings


def test_train_py_adds_the_hook_to_amp_runs():
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    import train
    cfg = Config(dict(optim_wrapper=dict(type='AmpOptimWrapper', optimizer=dict(type='AdamW', lr=1e-4))))
    train.add_loss_scale_skip_hook(cfg)
    train.add_loss_scale_skip_hook(cfg)
    assert [h['type'] for h in cfg.custom_hooks] == ['LossScaleSkipHook']
    plain = Config(dict(optim_wrapper=dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-4))))
    train.add_loss_scale_skip_hook(plain)
    assert not plain.get('custom_hooks')
