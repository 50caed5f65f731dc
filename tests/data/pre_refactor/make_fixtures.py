"""Write the pre-refactor fixtures: checkpoints, batches, losses and gradients of the pretraining classes as they
were before the one-pretrainer / one-layout refactor (issue 21).

Runs only on the tree it was written for (commit 3e9a02c, where ``GeoMIM``, ``MIM4D`` and ``Mask3D`` are classes of
their own); the refactored tree compares against what it wrote
(``tests/test_models/test_pretrainers/test_pre_refactor_equality.py``). Kept in the git history at the commit that
added ``tests/data/pre_refactor/``:

    git show <that commit>:tests/data/pre_refactor/make_fixtures.py

Per case it saves (``<case>.pt``, ``torch.save``, loadable with ``weights_only=True``):
- ``state_dict``: the model's weights in its own (old) key layout, as mmengine writes them in a checkpoint. To keep
  the files small the initial parameters are rounded to float16 *before* the loss is computed and stored as float16
  (exact: the fp32 model that produced the losses holds exactly these values); buffers keep their dtype;
- ``batch``: what the dataloader gives the model (``inputs`` before the data preprocessor, which is part of what is
  compared) or, for MIM4D (no preprocessing in its tests), the model inputs; ``metainfo``: every data sample's
  metainfo (numpy arrays stored as tensors of the same dtype under ``{'__ndarray__': tensor}``);
- ``seed``: the torch seed set right before the loss call; ``losses``: the loss dict; ``grads``: per parameter the
  SHA-256 of the gradient's bytes (bitwise comparison without storing it) and its float64 sum of absolute values.
"""
import copy
import hashlib
import importlib.util
import os.path as osp
import sys

import numpy as np
import torch
from mmengine.registry import init_default_scope

import mim3d_plugin  # noqa: F401
from mmdet3d.registry import MODELS

HERE = osp.dirname(osp.abspath(__file__))
TESTS = osp.dirname(osp.dirname(HERE))
sys.path.insert(0, osp.join(TESTS, 'test_models', 'test_pretrainers'))
init_default_scope('mmdet3d')

from test_geomim import fake_batch, tiny_geomim_cfg  # noqa: E402
from test_masked_pretrainer import hybrid_batch, hybrid_cfg  # noqa: E402
from test_mim4d import _batch as mim4d_batch  # noqa: E402
from test_mim4d import _cfg as mim4d_cfg  # noqa: E402


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


mask3d_helpers = _load('mask3d_helpers', osp.join(TESTS, 'test_models', 'test_selfsup', 'test_mask3d.py'))


def _plain(value):
    if isinstance(value, np.ndarray):
        return {'__ndarray__': torch.from_numpy(value.copy())}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def _metas(samples):
    if samples is None:
        return None
    return [{k: _plain(v) for k, v in (s.metainfo if hasattr(s, 'metainfo') else s).items()} for s in samples]


def grad_digest(grad: torch.Tensor) -> dict:
    """SHA-256 of the gradient's bytes (dtype, shape and values) and its float64 sum of absolute values."""
    g = grad.detach().contiguous().cpu()
    h = hashlib.sha256(f'{g.dtype}{tuple(g.shape)}'.encode())
    h.update(g.reshape(-1).numpy().tobytes())
    return dict(sha256=h.hexdigest(), abs_sum=float(g.double().abs().sum()))


def _run(name, cfg, make_batch, preprocess, seed=3):
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.half().float())
    state = {
        k: (v.half() if k in dict(model.named_parameters()) else v)
        for k, v in copy.deepcopy(model.state_dict()).items()
    }
    if preprocess:
        batch = make_batch()
        data = model.data_preprocessor(batch, True)
        inputs, samples = data['inputs'], data['data_samples']
        stored, stored_meta = batch['inputs'], _metas(batch['data_samples'])
    else:
        inputs, samples = make_batch()
        stored, stored_meta = inputs, _metas(samples)
    model.train()
    model.zero_grad()
    torch.manual_seed(seed)
    losses = model(inputs, samples, mode='loss')
    sum(losses.values()).backward()
    grads = {n: grad_digest(p.grad) for n, p in model.named_parameters() if p.grad is not None}
    out = dict(
        case=name,
        type=cfg['type'],
        state_dict=state,
        batch=stored,
        metainfo=stored_meta,
        preprocess=preprocess,
        seed=seed,
        losses={
            k: v.detach()
            for k, v in losses.items()
        },
        grads=grads,
        meta=dict(source='tests/data/pre_refactor/make_fixtures.py at commit 3e9a02c (pre-refactor main)'))
    path = osp.join(HERE, f'{name}.pt')
    torch.save(out, path)
    print(f'{name}: {len(state)} tensors, losses {[(k, float(v)) for k, v in losses.items()]} -> {path}')


def main():
    _run('geomim', tiny_geomim_cfg(), lambda: fake_batch(2), True)
    for f in (2, 3):
        _run(f'mim4d_f{f}', mim4d_cfg(f), lambda f=f: mim4d_batch(2, 2, f), False)
    for head in ('Mask3DHead', 'RGBDReconstructionHead'):
        _run(f'mask3d_{head}', mask3d_helpers._cfg(head), lambda: mask3d_helpers._batch(), True)
    _run('hybrid_swin', hybrid_cfg(encoder='swin'), lambda: hybrid_batch(), True)
    _run('hybrid_convnext', hybrid_cfg(encoder='convnext'), lambda: hybrid_batch(), True)


if __name__ == '__main__':
    main()
