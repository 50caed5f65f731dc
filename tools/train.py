"""Train a model of mim3d (pretraining or detection) with the mmengine Runner.

Usage (mmdet3d style)::

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] [--cfg-options k=v ...]
    bash tools/dist_train.sh CONFIG NUM_PROCS [args]      # torchrun, nccl on GPU / gloo on CPU
"""
import argparse
import logging
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # for `projects.*` imports

import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.logging import print_log  # noqa: E402
from mmengine.registry import RUNNERS  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import mim3d_plugin  # noqa: F401,E402  registers modules, makes checkpoints loadable


def parse_args():
    parser = argparse.ArgumentParser(description='Train a mim3d model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='mixed precision: fp16 AmpOptimWrapper on GPU, bf16 autocast on CPU')
    parser.add_argument(
        '--sync_bn',
        choices=['none', 'torch', 'mmcv'],
        default='none',
        help='convert BatchNorm layers to SyncBatchNorm (torch) or MMSyncBN (mmcv)')
    parser.add_argument('--auto-scale-lr', action='store_true', help='enable automatically scaling LR')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from CKPT, or without a value from the latest checkpoint in the work dir')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value (e.g. train_dataloader.batch_size=2)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def setup_cpu_distributed(cfg: Config) -> None:
    """Without CUDA, run distributed training on the gloo backend with DDP on CPU modules."""
    if cfg.launcher == 'none' or torch.cuda.is_available():
        return
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
    cfg.model_wrapper_cfg = dict(
        type='MMDistributedDataParallel',
        device_ids=None,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    if not torch.distributed.is_initialized():  # mmengine's init_dist calls torch.cuda.set_device
        torch.distributed.init_process_group(backend='gloo')


def add_loss_scale_skip_hook(cfg: Config) -> None:
    """Every run with a loss scaler (``AmpOptimWrapper``) logs the steps it skips (``LossScaleSkipHook``)."""
    if cfg.get('optim_wrapper', {}).get('type') != 'AmpOptimWrapper':
        return
    hooks = list(cfg.get('custom_hooks', []) or [])
    if not any(h.get('type') == 'LossScaleSkipHook' for h in hooks):
        hooks.append(dict(type='LossScaleSkipHook'))
    cfg.custom_hooks = hooks


def setup_amp(cfg: Config) -> None:
    optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if optim_wrapper in ('AmpOptimWrapper', 'CPUAutocastOptimWrapper'):
        print_log('Mixed precision is already enabled in the config.', logger='current', level=logging.WARNING)
        return
    if optim_wrapper != 'OptimWrapper':
        raise ValueError(f'--amp needs optim_wrapper.type == "OptimWrapper", got {optim_wrapper!r}')
    if torch.cuda.is_available():
        # bf16 where the GPU has it (Ampere and later): fp32's exponent range, no loss scaling to skip steps;
        # fp16 with a dynamic loss scale otherwise
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
        cfg.optim_wrapper.dtype = 'bfloat16' if torch.cuda.is_bf16_supported() else 'float16'
        print_log(f'--amp: {cfg.optim_wrapper.dtype} autocast on CUDA', logger='current')
    else:
        print_log(
            '--amp without CUDA: using bfloat16 autocast on CPU (CPUAutocastOptimWrapper).',
            logger='current',
            level=logging.WARNING)
        cfg.optim_wrapper.type = 'CPUAutocastOptimWrapper'


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        setup_amp(cfg)
    add_loss_scale_skip_hook(cfg)
    if args.sync_bn != 'none':
        cfg.sync_bn = args.sync_bn
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise RuntimeError('--auto-scale-lr needs `auto_scale_lr = dict(base_batch_size=...)` in the config')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise FileNotFoundError(f'--resume: no checkpoint file {args.resume!r}')
        cfg.resume = True
        cfg.load_from = args.resume
    setup_cpu_distributed(cfg)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    runner.train()


if __name__ == '__main__':
    main()
