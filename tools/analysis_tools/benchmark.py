"""Measure the speed, memory and FLOP efficiency of a training step of a mim3d config.

One training step = data preprocessor + forward (``mode='loss'``) + backward + optimizer step
(``model.train_step``) on batches of the config's own ``train_dataloader`` (real data),
loaded once and reused so that disk I/O is not timed.

Prints one JSON object::

    iter_time_s             median seconds per training step
    samples_per_s           batch size / iter_time_s
    peak_mem_mb             peak CUDA memory allocated (GPU) or peak process RSS (CPU), MiB
    model_gflops_per_sample training FLOPs per sample: forward FLOPs + 2 x the forward FLOPs of the
                            ops that take part in the backward (backward counted as twice the
                            forward), 2 FLOPs per multiply-add. An op takes part in the backward
                            when grad mode is on and one of its inputs requires grad: frozen
                            modules (a LiDAR teacher, frozen backbone stages) and work under
                            ``torch.no_grad`` (BEVFormer's previous-frame BEV) count once.
    forward_gflops_per_sample, backward_gflops_per_sample   the two parts of it
    matmul_gflops           dense fp32 4096x4096 matmul throughput of this machine, GFLOP/s
    matmul_ratio            achieved model FLOP/s / matmul FLOP/s
    breakdown               seconds per step: forward time of each stage (top-level child
                            modules, or --stages; a ModuleDict child, e.g. MaskedPretrainer's
                            ``heads``, counts as its entries ``heads.<name>``), 'forward.other' (glue),
                            'backward+step' (backward pass and optimizer update)
    flops_breakdown_gflops  forward GFLOPs per sample of each stage

FLOPs are counted with ``torch.utils.flop_counter.FlopCounterMode`` (dispatcher level: every
matmul, conv, attention op, wherever it is called). mmengine's ``FlopAnalyzer`` needs
``torch.jit.trace`` through the model, which cannot follow data samples or spconv, so it is
not used. Ops outside aten (spconv sparse convs, sparse-dense ``torch.sparse.mm`` of the LSS
splat) are not counted: the figure is a lower bound.

Usage::

    python tools/analysis_tools/benchmark.py CONFIG [--iters 10] [--warmup 2] [--stages a b]
        [--cfg-options k=v ...] [--out result.json]
"""
import argparse
import json
import os.path as osp
import resource
import statistics
import sys
import time
from collections import defaultdict

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import torch  # noqa: E402
from mmdet3d.registry import MODELS  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.optim import build_optim_wrapper  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.runner import Runner  # noqa: E402
from torch.utils._pytree import tree_flatten  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

import mim3d_plugin  # noqa: F401,E402


def parse_args():
    parser = argparse.ArgumentParser(description='Benchmark a training step of a config')
    parser.add_argument('config')
    parser.add_argument('--iters', type=int, default=10, help='timed steps')
    parser.add_argument('--warmup', type=int, default=2, help='untimed steps first')
    parser.add_argument('--num-batches', type=int, default=2, help='distinct real batches cycled through')
    parser.add_argument('--stages', nargs='+', help='module names to time (default: top-level children)')
    parser.add_argument('--matmul-size', type=int, default=4096)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    parser.add_argument('--out', help='also write the JSON here')
    return parser.parse_args()


def _sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


class GradAwareFlopCounter(FlopCounterMode):
    """``FlopCounterMode`` that also sums the forward FLOPs of ops that have a backward.

    ``grad_flops``: FLOPs of the ops run with grad mode on and at least one input that
    requires grad, i.e. the ops whose backward the training step computes.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.grad_flops = 0

    def _count_flops(self, func_packet, out, args, kwargs):
        if func_packet in self.flop_registry and torch.is_grad_enabled() and any(
                isinstance(t, torch.Tensor) and t.requires_grad for t in tree_flatten((args, kwargs))[0]):
            self.grad_flops += self.flop_registry[func_packet](*args, **kwargs, out_val=out)
        return super()._count_flops(func_packet, out, args, kwargs)


def matmul_gflops(size: int, device: torch.device, reps: int = 5) -> float:
    """Dense fp32 ``size x size`` matmul throughput (GFLOP/s, 2 FLOPs per multiply-add), best of ``reps``."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    torch.mm(a, b)
    best = float('inf')
    for _ in range(reps):
        _sync(device)
        t0 = time.perf_counter()
        torch.mm(a, b)
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * size**3 / best / 1e9


class StageTimer:
    """Forward wall time of named submodules, through forward pre/post hooks."""

    def __init__(self, model, names, device):
        self.device, self.times, self.handles, self._start = device, defaultdict(float), [], {}
        modules = dict(model.named_modules())
        missing = [n for n in names if n not in modules]
        if missing:
            raise KeyError(f'--stages: no module named {missing}; top-level children: '
                           f'{[n for n, _ in model.named_children()]}')
        for name in names:
            mod = modules[name]
            self.handles.append(mod.register_forward_pre_hook(self._pre(name)))
            self.handles.append(mod.register_forward_hook(self._post(name)))

    def _pre(self, name):

        def hook(module, args):
            _sync(self.device)
            self._start[name] = time.perf_counter()

        return hook

    def _post(self, name):

        def hook(module, args, output):
            _sync(self.device)
            self.times[name] += time.perf_counter() - self._start.pop(name)

        return hook

    def reset(self):
        self.times.clear()


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet3d'))
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')

    loader = Runner.build_dataloader(cfg.train_dataloader)
    batches = []
    for batch in loader:
        batches.append(batch)
        if len(batches) >= args.num_batches:
            break
    batch_size = cfg.train_dataloader.batch_size

    model = MODELS.build(cfg.model).to(device)
    if hasattr(model, 'init_weights'):
        model.init_weights()
    model.train()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)

    stage_names = args.stages or [
        n if not isinstance(m, torch.nn.ModuleDict) else f'{n}.{k}'
        for n, m in model.named_children() if n != 'data_preprocessor'
        for k in (m.keys() if isinstance(m, torch.nn.ModuleDict) else [None])
    ]
    timer = StageTimer(model, stage_names, device)
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)

    step_times, fwd_times, stage_sum = [], [], defaultdict(float)
    for i in range(args.warmup + args.iters):
        batch = batches[i % len(batches)]
        timer.reset()
        _sync(device)
        t0 = time.perf_counter()
        with optim_wrapper.optim_context(model):
            data = model.data_preprocessor(batch, True)
            losses = model._run_forward(data, mode='loss')
        parsed, _ = model.parse_losses(losses)
        _sync(device)
        t1 = time.perf_counter()
        optim_wrapper.update_params(parsed)
        _sync(device)
        t2 = time.perf_counter()
        if i >= args.warmup:
            step_times.append(t2 - t0)
            fwd_times.append((t1 - t0, t2 - t1))
            for k, v in timer.times.items():
                stage_sum[k] += v
    n = args.iters
    iter_time = statistics.median(step_times)

    # FLOPs of one forward pass, per module
    data = model.data_preprocessor(batches[0], True)
    counter = GradAwareFlopCounter(display=False, depth=None)
    with counter:
        model._run_forward(data, mode='loss')
    per_module = counter.get_flop_counts()
    total_fwd = counter.get_total_flops()
    frozen = [
        name for name, mod in model.named_children()
        if name != 'data_preprocessor' and not any(p.requires_grad
                                                   for p in mod.parameters()) and any(True for _ in mod.parameters())
    ]
    train_flops = total_fwd + 2 * counter.grad_flops
    gflops_per_sample = train_flops / batch_size / 1e9
    mm = matmul_gflops(args.matmul_size, device)
    achieved = gflops_per_sample * batch_size / iter_time

    if device.type == 'cuda':
        peak_mb = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    breakdown = {f'forward.{k}': v / n for k, v in stage_sum.items()}
    fwd_mean = sum(f for f, _ in fwd_times) / n
    breakdown['forward.other'] = fwd_mean - sum(breakdown.values())
    breakdown['backward+step'] = sum(b for _, b in fwd_times) / n
    result = dict(
        config=args.config,
        device=str(device) if device.type == 'cpu' else torch.cuda.get_device_name(device),
        threads=torch.get_num_threads(),
        batch_size=batch_size,
        iters=n,
        iter_time_s=round(iter_time, 4),
        samples_per_s=round(batch_size / iter_time, 4),
        peak_mem_mb=round(peak_mb, 1),
        model_gflops_per_sample=round(gflops_per_sample, 3),
        forward_gflops_per_sample=round(total_fwd / batch_size / 1e9, 3),
        backward_gflops_per_sample=round(2 * counter.grad_flops / batch_size / 1e9, 3),
        frozen_stages=frozen,
        matmul_gflops=round(mm, 2),
        matmul_ratio=round(achieved / mm, 4),
        breakdown={
            k: round(v, 4)
            for k, v in breakdown.items()
        },
        flops_breakdown_gflops={
            k.split('.', 1)[1]: round(sum(v.values()) / batch_size / 1e9, 3)
            for k, v in per_module.items() if k.count('.') == 1
        })
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text + '\n')


if __name__ == '__main__':
    main()
