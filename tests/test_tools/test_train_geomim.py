"""tools/train.py, --resume, --amp and tools/dist_train.sh (2 processes, gloo on CPU) run the small GeoMIM
config on the bundled nuScenes frames."""
import glob
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = 'configs/geomim/geomim_swin-w64-d1121_1xb1-8e_nus-mini.py'

pytestmark = pytest.mark.slow

_TEACHER = {}


@pytest.fixture(autouse=True)
def _teacher(small_teacher_ckpt):
    _TEACHER['ckpt'] = small_teacher_ckpt


def _run(args, env_extra=None):
    # every run distils a checkpoint of the small teacher written by tools/train.py (GeoMIM refuses a random one)
    args = args + ([] if '--cfg-options' in args else ['--cfg-options'
                                                       ]) + [f'model.heads.bev.teacher.checkpoint={_TEACHER["ckpt"]}']
    env = dict(os.environ, OMP_NUM_THREADS='1', **(env_extra or {}))
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def _log(work_dir):
    logs = sorted(glob.glob(osp.join(work_dir, '*', '*.log')))
    with open(logs[-1]) as f:
        return f.read()


def test_train_then_resume(nus_infos, tmp_path):
    work = str(tmp_path / 'geomim')
    opts = ['--cfg-options', 'train_dataloader.dataset.indices=2', 'train_cfg.max_epochs=1']
    _run([sys.executable, 'tools/train.py', CONFIG, '--work-dir', work] + opts)
    assert osp.isfile(osp.join(work, 'epoch_1.pth'))
    assert 'loss_bev' in _log(work) and 'loss_depth' in _log(work)
    _run([
        sys.executable, 'tools/train.py', CONFIG, '--work-dir', work, '--resume', '--cfg-options',
        'train_dataloader.dataset.indices=2', 'train_cfg.max_epochs=2'
    ])
    log = _log(work)
    assert 'resumed epoch: 1, iter: 2' in log
    assert 'Epoch(train) [2][2/2]' in log
    ckpt = torch.load(osp.join(work, 'epoch_2.pth'), weights_only=True)
    assert ckpt['meta']['epoch'] == 2 and ckpt['meta']['iter'] == 4


def _losses(work_dir):
    import json
    rows = []
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            rows += [json.loads(line) for line in f if '"loss"' in line]
    return {r['step']: (r['loss'], r['bev.loss_bev'], r['bev.loss_depth']) for r in rows}


def test_resume_continues_exactly_like_an_uninterrupted_run(nus_infos, tmp_path):
    """2 epochs uninterrupted vs 1 epoch + --resume to 2: the RNG states (python, numpy, torch) travel in the
    checkpoint (AtomicCheckpointHook), so masking and augmentation draws, hence the losses, are identical."""
    opts = ['train_dataloader.dataset.indices=2', 'default_hooks.logger.interval=1']
    full, part = str(tmp_path / 'full'), str(tmp_path / 'part')
    train = [sys.executable, 'tools/train.py', CONFIG, '--work-dir']
    _run(train + [full, '--cfg-options', *opts, 'train_cfg.max_epochs=2'])
    _run(train + [part, '--cfg-options', *opts, 'train_cfg.max_epochs=1'])
    assert 'rng_state' in torch.load(osp.join(part, 'epoch_1.pth'), weights_only=True)
    _run([
        sys.executable, 'tools/train.py', CONFIG, '--work-dir', part, '--resume', '--cfg-options', *opts,
        'train_cfg.max_epochs=2'
    ])
    a, b = _losses(full), _losses(part)
    assert sorted(a) == sorted(b) == [1, 2, 3, 4]
    assert a[3] == b[3] and a[4] == b[4], (a, b)  # the resumed epoch, exactly


def test_amp_on_cpu(nus_infos, tmp_path):
    work = str(tmp_path / 'amp')
    _run([
        sys.executable, 'tools/train.py', CONFIG, '--work-dir', work, '--amp', '--cfg-options',
        'train_dataloader.dataset.indices=1', 'train_cfg.max_epochs=1'
    ])
    assert 'CPUAutocastOptimWrapper' in _log(work)
    assert osp.isfile(osp.join(work, 'epoch_1.pth'))


def test_dist_train_two_processes_gloo(nus_infos, tmp_path):
    work = str(tmp_path / 'dist')
    _run([
        'bash', 'tools/dist_train.sh', CONFIG, '2', '--work-dir', work, '--cfg-options',
        'train_dataloader.dataset.indices=2', 'train_cfg.max_epochs=1'
    ],
         env_extra=dict(PORT='29617'))
    log = _log(work)
    assert 'Distributed training: True' in log
    assert 'Epoch(train) [1][1/1]' in log  # 2 samples shared by 2 processes: one step each
    assert osp.isfile(osp.join(work, 'epoch_1.pth'))
