"""FLOP accounting of tools/analysis_tools/benchmark.py: backward = 2 x forward only where a backward runs."""
import importlib.util
import os.path as osp

import torch

_PATH = osp.join(osp.dirname(__file__), '..', '..', 'tools', 'analysis_tools', 'benchmark.py')


def _load_benchmark():
    spec = importlib.util.spec_from_file_location('mim3d_benchmark', _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_grad_aware_flop_counter_known_answer():
    bench = _load_benchmark()
    trainable, frozen = torch.nn.Linear(64, 64), torch.nn.Linear(64, 64).requires_grad_(False)
    x = torch.randn(8, 64)
    one = 2 * 8 * 64 * 64  # 2 FLOPs per multiply-add
    counter = bench.GradAwareFlopCounter(display=False)
    with counter:
        trainable(x)  # has a backward
        frozen(x)  # frozen module, input needs no grad: forward only
        with torch.no_grad():
            trainable(x)  # no_grad (e.g. a previous frame's BEV): forward only
        frozen(trainable(x))  # frozen layer on a trainable output: its input grad is computed
    assert counter.get_total_flops() == 5 * one
    assert counter.grad_flops == 3 * one
