"""Per-term loss values and the gradient each term sends into a module (the loss balance of a pretraining).

For each of ``--num-batches`` real batches of the config's ``train_dataloader`` (or a checkpoint's weights with
``--checkpoint``), runs ``model(mode='loss')`` once and, for every loss term ``loss_*`` (``<head>.loss_*`` of a
``MaskedPretrainer``; ``--group bev. render. depth.`` compares its heads), the L2 norm of its gradient with respect to
the parameters of ``--module`` (default: ``encoder.backbone`` of a pretraining, what it transfers; ``img_backbone`` of
a detector). With grad clipping at ``max_norm``, a term whose gradient norm is a small fraction of the total
barely moves the module. Terms are grouped by ``--group`` substrings (e.g. ``depth`` / ``rgb``) and the ratio
of the group gradients is reported.

Prints (and with ``--out`` writes) one JSON object::

    per_batch: [{loss: {term: value}, grad_norm: {term: norm}, group_grad_norm: {group: norm},
                 group_ratio: {'a/b': ratio}}]
    summary:   mean and [min, max] over the batches of the same fields

Usage::

    python tools/analysis_tools/loss_gradients.py configs/mim4d/mim4d_convnext-mini-mask_1xb2-300i_nus-mini.py \
        --num-batches 4 --group depth rgb [--checkpoint work_dirs/.../iter_300.pth] [--out out.json]
"""
import argparse
import json
import os.path as osp
import sys
from collections import defaultdict

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import torch  # noqa: E402
from mmdet3d.registry import MODELS  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.runner import Runner, load_checkpoint  # noqa: E402

import mim3d_plugin  # noqa: F401,E402


def _is_loss(key: str) -> bool:
    """``loss_*`` terms, also under a head name (``MaskedPretrainer``: ``bev.loss_bev``)."""
    return key.split('.')[-1].startswith('loss')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='loss terms and their gradient norms on one module')
    parser.add_argument('config')
    parser.add_argument('--checkpoint', help='weights to load (default: the config init)')
    parser.add_argument(
        '--module',
        help='module whose parameter gradients are measured (default: encoder.backbone, '
        'else img_backbone)')
    parser.add_argument('--num-batches', type=int, default=4)
    parser.add_argument('--group', nargs='+', default=['depth', 'rgb'], help='substrings grouping loss terms')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    parser.add_argument('--out', help='also write the JSON here')
    return parser.parse_args(argv)


def term_gradients(model, losses: dict, params) -> dict:
    """``{term: ||d term / d params||_2}`` for every tensor loss term (``loss_*``)."""
    norms = {}
    terms = [k for k, v in losses.items() if _is_loss(k) and torch.is_tensor(v) and v.requires_grad]
    for i, key in enumerate(terms):
        grads = torch.autograd.grad(losses[key], params, retain_graph=i < len(terms) - 1, allow_unused=True)
        norms[key] = float(torch.sqrt(sum((g.float()**2).sum() for g in grads if g is not None)))
    return norms


def main(argv=None) -> dict:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet3d'))
    torch.manual_seed(args.seed)
    model = MODELS.build(cfg.model)
    if args.checkpoint:
        load_checkpoint(model, args.checkpoint, map_location='cpu')
    elif hasattr(model, 'init_weights'):
        model.init_weights()
    model.train()
    if args.module is None:
        args.module = 'encoder.backbone' if hasattr(model, 'encoder') else 'img_backbone'
    module = model.get_submodule(args.module)
    params = [p for p in module.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f'loss_gradients: {args.module} of {args.config} has no trainable parameter')
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    loader = Runner.build_dataloader(cfg.train_dataloader, seed=args.seed)
    per_batch = []
    for batch in loader:
        data = model.data_preprocessor(batch, True)
        losses = model(**data, mode='loss')
        grads = term_gradients(model, losses, params)
        group = {g: 0.0 for g in args.group}
        for key, norm in grads.items():
            for g in args.group:
                if g in key:
                    group[g] += norm**2
        group = {g: v**0.5 for g, v in group.items()}
        ratios = {
            f'{a}/{b}': group[a] / max(group[b], 1e-12)
            for i, a in enumerate(args.group)
            for b in args.group[i + 1:]
        }
        per_batch.append(
            dict(
                loss={
                    k: float(v)
                    for k, v in losses.items() if _is_loss(k)
                },
                grad_norm=grads,
                group_grad_norm=group,
                group_ratio=ratios))
        print(json.dumps(per_batch[-1]), flush=True)
        if len(per_batch) >= args.num_batches:
            break
    summary = {}
    for field in ('loss', 'grad_norm', 'group_grad_norm', 'group_ratio'):
        vals = defaultdict(list)
        for row in per_batch:
            for k, v in row[field].items():
                vals[k].append(v)
        summary[field] = {k: dict(mean=sum(v) / len(v), min=min(v), max=max(v)) for k, v in vals.items()}
    result = dict(
        config=args.config, checkpoint=args.checkpoint, module=args.module, per_batch=per_batch, summary=summary)
    print(json.dumps(summary, indent=1))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == '__main__':
    main()
