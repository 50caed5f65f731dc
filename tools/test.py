"""Test (evaluate) a trained mim3d model with the mmengine Runner.

Usage (mmdet3d style)::

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--cfg-options k=v ...]
    # leaderboard submission (nuScenes): write results_nusc.json without evaluating
    python tools/test.py CONFIG CHECKPOINT --format-only --out-dir work_dirs/submission
    bash tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCS [args]
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # for `projects.*` imports

import torch  # noqa: E402
from mmengine.config import Config, ConfigDict, DictAction  # noqa: E402
from mmengine.registry import RUNNERS  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import mim3d_plugin  # noqa: F401,E402


def parse_args():
    parser = argparse.ArgumentParser(description='Test (and evaluate) a mim3d model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the directory to save the file containing evaluation metrics')
    parser.add_argument(
        '--format-only',
        action='store_true',
        help='only format the results for submission (test_evaluator.format_only=True)')
    parser.add_argument('--out-dir', help='where formatted results go (test_evaluator.jsonfile_prefix)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, help='override settings of the config, key=value')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def _set_on_evaluators(evaluator, **kwargs):
    for ev in (evaluator if isinstance(evaluator, (list, tuple)) else [evaluator]):
        ev.update(kwargs)


def main():
    args = parse_args()
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'tools/test.py: no checkpoint file {args.checkpoint!r}')
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    if args.format_only:
        _set_on_evaluators(cfg.test_evaluator, format_only=True)
    if args.out_dir:
        os.makedirs(args.out_dir, exist_ok=True)
        _set_on_evaluators(cfg.test_evaluator, jsonfile_prefix=args.out_dir)
    if cfg.launcher != 'none' and not torch.cuda.is_available():
        cfg.setdefault('env_cfg', ConfigDict()).setdefault('dist_cfg', ConfigDict())['backend'] = 'gloo'
        if not torch.distributed.is_initialized():
            torch.distributed.init_process_group(backend='gloo')
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    runner.test()


if __name__ == '__main__':
    main()
