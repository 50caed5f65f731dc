"""mmengine checkpoints load under torch's weights_only default, resume continues a run, and
crafted checkpoints that would run code are refused."""
import os
import pickle

import pytest
import torch
import torch.nn as nn
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner

import mim3d_plugin  # noqa: F401  registers the allow-list


class _ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='loss'):
        return dict(loss=self.linear(inputs).pow(2).mean())


def _runner(work_dir, max_epochs, resume=False, load_from=None):
    data = [dict(inputs=torch.full((2, ), float(i))) for i in range(8)]
    torch.manual_seed(0)  # same initial weights for every runner
    return Runner(
        model=_ToyModel(),
        work_dir=str(work_dir),
        resume=resume,
        load_from=load_from,
        train_dataloader=dict(
            dataset=data,
            batch_size=2,
            sampler=dict(type='DefaultSampler', shuffle=True),
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-2)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        param_scheduler=[dict(type='CosineAnnealingLR', T_max=4, begin=0, end=4, by_epoch=True)],
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
        randomness=dict(seed=0),
        default_scope='mmdet3d')


def test_checkpoint_loads_with_weights_only(tmp_path):
    _runner(tmp_path, 1).train()
    ckpt = torch.load(tmp_path / 'epoch_1.pth', weights_only=True)
    buf = ckpt['message_hub']['log_scalars']['train/loss']
    assert isinstance(buf, HistoryBuffer)
    assert len(buf.data[0]) == 4 and buf.statistics('mean') == pytest.approx(buf.mean())


def test_resume_continues_the_run(tmp_path):
    _runner(tmp_path, 2).train()
    full = _runner(tmp_path / 'full', 4)
    full.train()
    resumed = _runner(tmp_path, 4, resume=True, load_from=str(tmp_path / 'epoch_2.pth'))
    resumed.train()
    assert resumed.iter == 16 and resumed.epoch == 4
    # the resumed run restored the optimizer state and scheduler: same weights as an uninterrupted run
    for a, b in zip(resumed.model.parameters(), full.model.parameters()):
        torch.testing.assert_close(a, b)
    assert len(resumed.message_hub.get_scalar('train/loss').data[0]) > 4


class _CallsSystem:

    def __reduce__(self):
        return (os.system, ('echo should-not-run', ))


class _GetattrEscape:
    """getattr(HistoryBuffer, '__init__'): the first step to __globals__ and code execution."""

    def __reduce__(self):
        return (getattr, (HistoryBuffer, '__init__'))


@pytest.mark.parametrize('payload', [_CallsSystem(), _GetattrEscape()])
def test_crafted_checkpoint_is_refused(tmp_path, payload):
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'x': payload}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
