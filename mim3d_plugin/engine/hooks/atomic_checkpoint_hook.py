"""Checkpoints that survive a kill during saving, and resumes that continue exactly.

* :class:`AtomicCheckpointHook` - mmengine's ``CheckpointHook`` writes ``epoch_N.pth`` in place, and with
  ``max_keep_ckpts`` it deletes the oldest checkpoint *before* writing the new one, then rewrites
  ``last_checkpoint``: a job killed during the save (preemption, OOM, wall-time limit) can be left with a
  truncated newest file, the previous one already gone, or an empty ``last_checkpoint``. This hook writes the
  checkpoint to ``<name>.tmp`` and renames it into place (``os.replace``: atomic on a local file system), then
  replaces ``last_checkpoint`` the same way, and only then deletes checkpoints beyond ``max_keep_ckpts``. At
  every instant ``last_checkpoint`` names a whole file. Non-local backends fall back to mmengine's behaviour.
* RNG state - mmengine restores model, optimizer, schedulers, epoch and iteration on ``--resume`` but not the
  random number generators, so augmentation, masking and sampling draws after a resume differ from an
  uninterrupted run. :class:`AtomicCheckpointHook` (``save_rng_state=True``) stores the states of Python's
  ``random``, numpy, torch (CPU) and, when present, every
  CUDA device in each checkpoint (``checkpoint['rng_state']``) and restore them on resume (not on
  ``load_from``). Data-loader worker processes are re-seeded by mmengine from the seed, rank and worker id.
"""
import os
import os.path as osp
import random
from collections import deque

import numpy as np
import torch
from mmdet3d.registry import HOOKS
from mmengine.dist import is_main_process
from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import CheckpointHook


def _atomic_write_text(path: str, text: str) -> None:
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_rng_state(checkpoint: dict) -> None:
    """Put the Python / numpy / torch (CPU and CUDA) RNG states into ``checkpoint['rng_state']``."""
    state = dict(python=random.getstate(), numpy=np.random.get_state(), torch=torch.get_rng_state())
    if torch.cuda.is_available():
        state['cuda'] = torch.cuda.get_rng_state_all()
    checkpoint['rng_state'] = state


def load_rng_state(runner, checkpoint: dict) -> None:
    """Restore the RNG states of a checkpoint when the runner resumes (not for ``load_from``)."""
    state = checkpoint.get('rng_state')
    if state is None or not getattr(runner, '_resume', False):
        return
    random.setstate(state['python'])
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available() and len(state['cuda']) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state['cuda'])


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine ``CheckpointHook`` with atomic writes and (by default) the RNG state in every checkpoint.

    Args:
        save_rng_state (bool): store / restore the RNG states (module docstring). Default: True.
        Other args: see mmengine ``CheckpointHook``.
    """

    def __init__(self, *args, save_rng_state: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.save_rng_state = save_rng_state

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.save_rng_state:
            save_rng_state(checkpoint)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.save_rng_state:
            load_rng_state(runner, checkpoint)

    def _save_checkpoint_with_step(self, runner, step, meta):
        if not isinstance(self.file_backend, LocalBackend):
            return super()._save_checkpoint_with_step(runner, step, meta)
        # the kept ids go into this checkpoint's message hub (as mmengine), but old files are removed only after
        # the new one is whole; keep_ckpt_ids is a deque with maxlen=max_keep_ckpts, so pop explicitly
        to_remove = []
        if self.max_keep_ckpts > 0 and (not self.keep_ckpt_ids or self.keep_ckpt_ids[-1] != step):
            ids = list(self.keep_ckpt_ids) + [step]
            to_remove, ids = ids[:-self.max_keep_ckpts], ids[-self.max_keep_ckpts:]
            self.keep_ckpt_ids = deque(ids, self.max_keep_ckpts)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        ckpt_filename = self.filename_tmpl.format(step)
        final = self.file_backend.join_path(self.out_dir, ckpt_filename)
        self.last_ckpt = final
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename + '.tmp',
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        os.replace(final + '.tmp', final)
        _atomic_write_text(osp.join(runner.work_dir, 'last_checkpoint'), final)
        for old_step in to_remove:
            old = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(old_step))
            if old != final and self.file_backend.isfile(old):
                self.file_backend.remove(old)
