"""AtomicCheckpointHook: a run killed while saving leaves a whole previous checkpoint behind."""
import os.path as osp
import uuid

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

import mim3d_plugin  # noqa: F401


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.linear(inputs if torch.is_tensor(inputs) else torch.stack(inputs))
        return dict(loss=(out - torch.rand_like(out)).abs().mean()) if mode == 'loss' else out


class ToyData(Dataset):

    def __len__(self):
        return 4

    def __getitem__(self, i):
        return dict(inputs=torch.rand(2))


def _runner(work_dir, max_epochs, hook_type='AtomicCheckpointHook', resume=False):
    # a unique experiment name: mmengine's MessageHub / logger instances are global per name (timestamp)
    return Runner(
        model=ToyModel(),
        work_dir=work_dir,
        resume=resume,
        experiment_name=f'atomic_{uuid.uuid4().hex}',
        train_dataloader=dict(
            dataset=ToyData(),
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=2,
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(checkpoint=dict(type=hook_type, interval=1, max_keep_ckpts=1)),
        default_scope='mmdet3d',
        randomness=dict(seed=0))


class Killed(RuntimeError):
    pass


@pytest.mark.parametrize('hook_type', ['AtomicCheckpointHook', 'CheckpointHook'])
def test_kill_during_save_keeps_the_previous_checkpoint_loadable(tmp_path, monkeypatch, hook_type):
    work = str(tmp_path / hook_type)
    runner = _runner(work, 3, hook_type)
    save = Runner.save_checkpoint

    def dying_save(self, out_dir, filename, *args, **kwargs):
        if filename.startswith('epoch_3'):
            with open(osp.join(out_dir, filename), 'wb') as f:
                f.write(b'PK\x03\x04 half a zip')  # the job dies in the middle of writing
            raise Killed('SIGKILL during torch.save')
        return save(self, out_dir, filename, *args, **kwargs)

    monkeypatch.setattr(Runner, 'save_checkpoint', dying_save)
    with pytest.raises(Killed):
        runner.train()
    with open(osp.join(work, 'last_checkpoint')) as f:
        last = f.read().strip()
    if hook_type == 'CheckpointHook':  # mmengine deletes epoch_2.pth before writing epoch_3.pth
        assert not osp.isfile(osp.join(work, 'epoch_2.pth'))
        return
    assert last.endswith('epoch_2.pth') and osp.isfile(last)
    ckpt = torch.load(last, map_location='cpu', weights_only=True)
    assert ckpt['meta']['epoch'] == 2 and 'rng_state' in ckpt
    assert not osp.isfile(osp.join(work, 'epoch_3.pth'))  # only the .tmp of the interrupted save exists
    assert not osp.isfile(osp.join(work, 'epoch_1.pth'))  # max_keep_ckpts=1: removed once epoch_2 was whole
    monkeypatch.setattr(Runner, 'save_checkpoint', save)
    _runner(work, 3, resume=True).train()  # --resume picks up the whole epoch_2 and finishes
    assert torch.load(osp.join(work, 'epoch_3.pth'), weights_only=True)['meta']['epoch'] == 3
    assert not osp.isfile(osp.join(work, 'epoch_2.pth'))  # max_keep_ckpts=1, deleted after epoch 3 was whole
