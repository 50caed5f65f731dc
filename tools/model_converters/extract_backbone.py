"""Extract the pretrained camera backbone of any pretraining checkpoint into a backbone checkpoint (``backbone.*``).

Every pretraining of this project (GeoMIM, MIM4D, Mask3D, the hybrids: ``MaskedPretrainer``) keeps its backbone under
``encoder.backbone.*``; checkpoints of the pre-0.2 classes keep it under ``backbone.*`` (GeoMIM, Mask3D) or
``img_backbone.*`` (MIM4D). This tool finds it (or takes ``--prefix``) and writes it as ``backbone.*``, the layout of
an mmpretrain classifier checkpoint, so every detector config loads any pretraining the same way::

    img_backbone=dict(..., init_cfg=dict(type='Pretrained', checkpoint='<out>.pth', prefix='backbone.'))

Optionally the keys are checked against the backbone of a detector config (``--config``): missing / unexpected keys
and shape mismatches are reported (and make the tool fail with ``--strict``). Keys the detector's backbone declares
pretraining-only (e.g. Mask3DViT's depth encoder) are dropped by that backbone when it loads and are not counted.

Usage::

    # a work dir (its last checkpoint) -> <work dir>/backbone.pth
    python tools/model_converters/extract_backbone.py work_dirs/geomim_swin-w64-d1121_1xb1-8e_nus-mini \
        --config projects/BEVDet/configs/bevdet-swin-w64-d1121-geomim_1xb1-4e_nus-mini.py --strict
    # a checkpoint file -> a named output
    python tools/model_converters/extract_backbone.py PRETRAIN.pth OUT.pth
"""
import argparse
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Tuple

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))  # repo root, for `projects.*`


def resolve_source(src: str) -> str:
    """A checkpoint file, or a work dir whose ``last_checkpoint`` (written by mmengine) names one.

    Raises:
        FileNotFoundError: no such file, or a work dir without ``last_checkpoint``.
    """
    if osp.isdir(src):
        last = osp.join(src, 'last_checkpoint')
        if not osp.isfile(last):
            raise FileNotFoundError(f'extract_backbone: work dir {src!r} has no last_checkpoint file (mmengine writes '
                                    'it after the first saved checkpoint); give the checkpoint file instead')
        with open(last) as f:
            path = f.read().strip()
        return path if osp.isabs(path) or osp.isfile(path) else osp.join(src, osp.basename(path))
    if not osp.isfile(src):
        raise FileNotFoundError(f'extract_backbone: no checkpoint file {src!r}')
    return src


def load_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """``state_dict`` of an mmengine checkpoint (or a bare state dict) at ``path``, loaded with
    ``weights_only=True``.

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


def find_backbone_prefix(state: Dict[str, torch.Tensor]) -> Tuple[str, str]:
    """``(prefix, layout)`` of the pretrained backbone in a pretraining checkpoint: ``encoder.backbone.`` (today's
    layout), ``backbone.`` (old GeoMIM / Mask3D, or an mmpretrain classifier) or ``img_backbone.`` (old MIM4D).

    Raises:
        KeyError: none of them (the checkpoint's key groups are named).
    """
    from mim3d_plugin.models.pretrainers import BACKBONE_PREFIXES, detect_layout
    try:
        layout = detect_layout(list(state)) or 'MaskedPretrainer'
    except ValueError:
        layout = 'unknown'
    for prefix in BACKBONE_PREFIXES:
        if any(k.startswith(prefix) for k in state):
            return prefix, layout
    groups = sorted({k.split('.')[0] + '.' for k in state})
    raise KeyError(f'extract_backbone: no pretrained backbone found: no key starts with {list(BACKBONE_PREFIXES)}; '
                   f'key groups in the checkpoint: {groups}; give --prefix')


def extract(state: Dict[str, torch.Tensor], prefix: str) -> Dict[str, torch.Tensor]:
    """Keys starting with ``prefix``, with the prefix removed (e.g. ``encoder.backbone.layers.0...`` ->
    ``layers.0...``).

    Raises:
        KeyError: no key starts with ``prefix`` (the top-level key groups are named).
    """
    out = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not out:
        groups = sorted({k.split('.')[0] + '.' for k in state})
        raise KeyError(f'extract_backbone: no key starts with {prefix!r}; key groups in the checkpoint: {groups}')
    return out


def compare_keys(backbone_state: Dict[str, torch.Tensor], backbone) -> Tuple[List[str], List[str], List[str]]:
    """``(missing, unexpected, shape_mismatch)`` when ``backbone`` loads ``backbone_state``, as mmengine's
    ``load_state_dict`` loads it (module by module, through each module's load-time adaptations: position-embedding
    resizing, pretraining-only keys dropped...). ``backbone`` gets the weights."""
    state = dict(backbone_state)
    missing, unexpected, errors = [], [], []

    def load(module, prefix=''):
        try:
            module._load_from_state_dict(state, prefix, {}, True, missing, unexpected, errors)
        except (ValueError, RuntimeError) as e:  # a load-time adaptation refusing the checkpoint: a mismatch
            errors.append(f'size mismatch ({type(module).__name__}): {e}')
        for name, child in module._modules.items():
            if child is not None:
                load(child, prefix + name + '.')

    load(backbone)
    missing = [k for k in missing if 'num_batches_tracked' not in k]
    return sorted(missing), sorted(unexpected), sorted(e for e in errors if 'size mismatch' in e)


def build_backbone(config: str, backbone_key: str):
    """The backbone ``model.<backbone_key>`` of ``config`` (built with its init_cfg cleared: nothing is loaded)."""
    from mmdet3d.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import mim3d_plugin  # noqa: F401
    cfg = Config.fromfile(config)
    if cfg.get('custom_imports'):
        from mmengine.utils import import_modules_from_strings
        import_modules_from_strings(**cfg.custom_imports)
    init_default_scope(cfg.get('default_scope', 'mmdet3d'))
    if backbone_key not in cfg.model:
        raise KeyError(f'extract_backbone: {config} has no model.{backbone_key}')
    backbone_cfg = dict(cfg.model[backbone_key])
    backbone_cfg['init_cfg'] = None
    return MODELS.build(backbone_cfg)


def report(missing: List[str], unexpected: List[str], mismatch: List[str], limit: int = 20) -> str:
    lines = []
    for name, keys in (('missing (in the model, not in the checkpoint)', missing),
                       ('unexpected (in the checkpoint, not in the model)', unexpected), ('shape mismatch', mismatch)):
        lines.append(f'{len(keys)} {name}' + (':' if keys else ''))
        lines += [f'    {k}' for k in keys[:limit]]
        if len(keys) > limit:
            lines.append(f'    ... and {len(keys) - limit} more')
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description='Pretraining checkpoint -> backbone checkpoint (backbone.* keys)')
    parser.add_argument('src', help='pretraining checkpoint (mmengine .pth), or its work dir (last_checkpoint)')
    parser.add_argument('dst', nargs='?', help='output backbone checkpoint (default: <work dir>/backbone.pth)')
    parser.add_argument(
        '--prefix',
        help='key prefix of the backbone in src (default: found: encoder.backbone., '
        'backbone. or img_backbone.)')
    parser.add_argument('--config', help='detector config whose backbone the keys are checked against')
    parser.add_argument('--backbone-key', default='img_backbone', help='model.<key> of the backbone in --config')
    parser.add_argument('--strict', action='store_true', help='fail on missing/unexpected/mismatched keys')
    args = parser.parse_args(argv)

    src = resolve_source(args.src)
    dst = args.dst or osp.join(args.src if osp.isdir(args.src) else osp.dirname(src), 'backbone.pth')
    state = load_state_dict(src)
    if args.prefix is None:
        prefix, layout = find_backbone_prefix(state)
    else:
        prefix, layout = args.prefix, 'given prefix'
    backbone = extract(state, prefix)
    print(f'extract_backbone: {len(backbone)} tensors under {prefix!r} in {src} ({layout} layout)')
    if args.config:
        missing, unexpected, mismatch = compare_keys(backbone, build_backbone(args.config, args.backbone_key))
        print(report(missing, unexpected, mismatch))
        if args.strict and (missing or unexpected or mismatch):
            print('extract_backbone: --strict and the keys differ; nothing written')
            return 1
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    out = {'backbone.' + k: v for k, v in backbone.items()}
    torch.save(dict(state_dict=out, meta=dict(source=src, source_prefix=prefix, source_layout=layout)), dst)
    print(f'extract_backbone: wrote {dst} (keys backbone.*; load with prefix=\'backbone.\')')
    return 0


if __name__ == '__main__':
    sys.exit(main())
