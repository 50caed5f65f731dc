"""Share of BEVFormer's time spent in deformable attention, on real batches of a config.

Times (wall clock, forward hooks) every deformable-attention module of a BEVFormer model,
grouped as: spatial cross-attention sampling (``MSDeformableAttention3D``), the rest of
spatial cross-attention (projection, gather / scatter-mean), temporal self-attention,
decoder cross-attention (mmcv ``MultiScaleDeformableAttention``), image backbone + neck;
and, with ``torch.profiler``, the self time of the bilinear sampling kernels
(``grid_sampler_2d`` forward and backward: the core of mmcv's PyTorch deformable
attention on CPU) against the whole step. Batches come from the config's own dataloader
(real data), are loaded once and reused, so disk I/O is not timed. On CPU the figures
are for mmcv's PyTorch path; on CUDA mmcv's kernel is used.

Usage::

    python projects/BEVFormer/tools/profile_deformable_attention.py CONFIG [--mode train|test]
        [--iters 3] [--warmup 1] [--cfg-options k=v ...] [--out result.json]

Prints one JSON object: ``step_s`` (median seconds per step), ``forward_s`` per group
(seconds per step; hooks nest, so groups are disjoint by construction as listed),
``forward_share`` (group / step), ``grid_sample_s`` and ``grid_sample_share`` (profiler
self time of the sampling kernels / total profiled time).
"""
import argparse
import importlib
import json
import os.path as osp
import statistics
import sys
import time
from collections import defaultdict

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))))

import torch  # noqa: E402
from mmcv.ops import MultiScaleDeformableAttention  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.runner import Runner  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description='Time share of deformable attention in a BEVFormer config')
    p.add_argument('config')
    p.add_argument('--mode', choices=['train', 'test'], default='train')
    p.add_argument('--iters', type=int, default=3)
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    p.add_argument('--out')
    return p.parse_args()


def group_of(name: str, module: torch.nn.Module):
    from projects.BEVFormer.bevformer import MSDeformableAttention3D, SpatialCrossAttention, TemporalSelfAttention
    if isinstance(module, MSDeformableAttention3D):
        return 'sca.deformable_attention'
    if isinstance(module, SpatialCrossAttention):
        return 'sca.total'
    if isinstance(module, TemporalSelfAttention):
        return 'temporal_self_attention'
    if isinstance(module, MultiScaleDeformableAttention):
        return 'decoder.cross_attention'
    if name in ('img_backbone', 'img_neck'):
        return name
    return None


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    for mod in cfg.get('custom_imports', {}).get('imports', []):
        importlib.import_module(mod)
    init_default_scope(cfg.get('default_scope', 'mmdet3d'))
    from mmdet3d.registry import MODELS
    model = MODELS.build(cfg.model)
    model.init_weights()
    loader_cfg = cfg.train_dataloader if args.mode == 'train' else cfg.test_dataloader
    loader = Runner.build_dataloader(loader_cfg)
    batch = next(iter(loader))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)

    times = defaultdict(float)
    starts = {}

    def pre(mod, _inp, key):
        starts[id(mod)] = time.perf_counter()

    def post(mod, _inp, _out, key):
        times[key] += time.perf_counter() - starts.pop(id(mod))

    for name, module in model.named_modules():
        key = group_of(name, module)
        if key is not None:
            module.register_forward_pre_hook(lambda m, i, k=key: pre(m, i, k))
            module.register_forward_hook(lambda m, i, o, k=key: post(m, i, o, k))

    def step():
        data = model.data_preprocessor(batch, args.mode == 'train')
        if args.mode == 'train':
            model.train()
            losses = model(**data, mode='loss')
            loss = sum(v for k, v in losses.items() if 'loss' in k)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        else:
            model.eval()
            with torch.no_grad():
                model(**data, mode='predict')

    for _ in range(args.warmup):
        step()
    times.clear()
    step_times = []
    for _ in range(args.iters):
        t = time.perf_counter()
        step()
        step_times.append(time.perf_counter() - t)
    per_step = {k: v / args.iters for k, v in times.items()}
    if 'sca.total' in per_step:
        per_step['sca.gather_scatter_proj'] = per_step.pop('sca.total') - per_step.get('sca.deformable_attention', 0)
    step_s = statistics.median(step_times)

    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        step()
    events = prof.key_averages()
    total_us = sum(e.self_cpu_time_total for e in events)
    grid_us = sum(e.self_cpu_time_total for e in events if 'grid_sampler' in e.key)
    deform_keys = ('sca.deformable_attention', 'temporal_self_attention', 'decoder.cross_attention')
    deform = sum(v for k, v in per_step.items() if k in deform_keys)
    result = dict(
        config=osp.basename(args.config),
        mode=args.mode,
        device='cpu',
        threads=torch.get_num_threads(),
        batch_size=loader_cfg['batch_size'],
        step_s=round(step_s, 4),
        forward_s={
            k: round(v, 4)
            for k, v in sorted(per_step.items())
        },
        forward_share={
            k: round(v / step_s, 4)
            for k, v in sorted(per_step.items())
        },
        deformable_attention_forward_share=round(deform / step_s, 4),
        grid_sample_s=round(grid_us / 1e6, 4),
        grid_sample_share=round(grid_us / max(total_us, 1), 4))
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text)


if __name__ == '__main__':
    main()
