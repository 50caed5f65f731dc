"""Extract the image backbone of a pretraining checkpoint (GeoMIM, MIM4D, Mask3D) into a backbone-only checkpoint.

The output holds ``state_dict`` with the backbone's keys at top level (no prefix), so a detector loads it with
``init_cfg=dict(type='Pretrained', checkpoint=OUT)`` on its backbone (equivalently, the original checkpoint with
``prefix='backbone.'``). Optionally the keys are checked against a backbone built from a config, and the
missing / unexpected keys and shape mismatches are reported (and make the tool fail with ``--strict``).

Usage::

    python tools/model_converters/extract_backbone.py work_dirs/geomim_small/epoch_8.pth \
        checkpoints/geomim_swin-s16_backbone.pth --prefix backbone. \
        --config projects/BEVDet/configs/bevdet-swin-s16_1xb1-6e_nus-mini.py --backbone-key img_backbone
"""
import argparse
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Tuple

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))  # repo root, for `projects.*`


def load_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """``state_dict`` of an mmengine checkpoint (or a bare state dict) at ``path``.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file holds no tensor state dict.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'extract_backbone: no checkpoint file {path!r}')
    import mim3d_plugin  # noqa: F401  (allow-lists mmengine's checkpoint types for weights_only loading)
    ckpt = torch.load(path, map_location='cpu', weights_only=True)
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not any(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f'extract_backbone: {path!r} holds no state_dict of tensors (top-level keys: '
                         f'{sorted(ckpt)[:10] if isinstance(ckpt, dict) else type(ckpt).__name__})')
    return state


def extract(state: Dict[str, torch.Tensor], prefix: str) -> Dict[str, torch.Tensor]:
    """Keys starting with ``prefix``, with the prefix removed (e.g. ``backbone.layers.0...`` -> ``layers.0...``).

    Raises:
        KeyError: no key starts with ``prefix`` (the top-level key groups are named).
    """
    out = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not out:
        groups = sorted({k.split('.')[0] + '.' for k in state})
        raise KeyError(f'extract_backbone: no key starts with {prefix!r}; key groups in the checkpoint: {groups}')
    return out


def compare_keys(backbone_state: Dict[str, torch.Tensor],
                 model_state: Dict[str, torch.Tensor]) -> Tuple[List[str], List[str], List[str]]:
    """``(missing, unexpected, shape_mismatch)`` of ``backbone_state`` w.r.t. a model's ``state_dict``."""
    missing = sorted(set(model_state) - set(backbone_state))
    unexpected = sorted(set(backbone_state) - set(model_state))
    mismatch = sorted(f'{k}: checkpoint {tuple(backbone_state[k].shape)} vs model {tuple(model_state[k].shape)}'
                      for k in set(model_state) & set(backbone_state)
                      if backbone_state[k].shape != model_state[k].shape)
    return missing, unexpected, mismatch


def build_backbone_state(config: str, backbone_key: str) -> Dict[str, torch.Tensor]:
    """``state_dict`` of the backbone ``model.<backbone_key>`` of ``config`` (built with its init_cfg cleared)."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import mim3d_plugin  # noqa: F401
    from mmdet3d.registry import MODELS
    cfg = Config.fromfile(config)
    if cfg.get('custom_imports'):
        from mmengine.utils import import_modules_from_strings
        import_modules_from_strings(**cfg.custom_imports)
    init_default_scope(cfg.get('default_scope', 'mmdet3d'))
    if backbone_key not in cfg.model:
        raise KeyError(f'extract_backbone: {config} has no model.{backbone_key}')
    backbone_cfg = dict(cfg.model[backbone_key])
    backbone_cfg['init_cfg'] = None
    return MODELS.build(backbone_cfg).state_dict()


def report(missing: List[str], unexpected: List[str], mismatch: List[str], limit: int = 20) -> str:
    lines = []
    for name, keys in (('missing (in the model, not in the checkpoint)', missing),
                       ('unexpected (in the checkpoint, not in the model)', unexpected),
                       ('shape mismatch', mismatch)):
        lines.append(f'{len(keys)} {name}' + (':' if keys else ''))
        lines += [f'    {k}' for k in keys[:limit]]
        if len(keys) > limit:
            lines.append(f'    ... and {len(keys) - limit} more')
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description='Pretraining checkpoint -> backbone-only checkpoint')
    parser.add_argument('src', help='pretraining checkpoint (mmengine .pth)')
    parser.add_argument('dst', help='output backbone-only checkpoint')
    parser.add_argument('--prefix', default='backbone.', help='key prefix of the backbone in src')
    parser.add_argument('--config', help='detector config whose backbone the keys are checked against')
    parser.add_argument('--backbone-key', default='img_backbone', help='model.<key> of the backbone in --config')
    parser.add_argument('--strict', action='store_true', help='fail on missing/unexpected/mismatched keys')
    args = parser.parse_args(argv)

    backbone = extract(load_state_dict(args.src), args.prefix)
    print(f'extract_backbone: {len(backbone)} tensors under {args.prefix!r} in {args.src}')
    if args.config:
        missing, unexpected, mismatch = compare_keys(backbone, build_backbone_state(args.config, args.backbone_key))
        print(report(missing, unexpected, mismatch))
        if args.strict and (missing or unexpected or mismatch):
            print('extract_backbone: --strict and the keys differ; nothing written')
            return 1
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    torch.save(dict(state_dict=backbone, meta=dict(source=args.src, prefix=args.prefix)), args.dst)
    print(f'extract_backbone: wrote {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
