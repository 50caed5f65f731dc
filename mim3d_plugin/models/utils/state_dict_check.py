"""Check a converted state dict against the model a config builds (official-checkpoint converters)."""
from typing import Dict, List

import torch


def model_state_of_config(config: str) -> Dict[str, torch.Tensor]:
    """``state_dict`` of the detector of ``config``, built without any pretrained weights (nothing downloaded).

    The config's ``custom_imports`` are imported; ``img_backbone.init_cfg`` / ``pretrained`` are dropped.
    """
    import importlib

    from mmdet3d.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    cfg = Config.fromfile(config)
    for mod in cfg.get('custom_imports', {}).get('imports', []):
        importlib.import_module(mod)
    init_default_scope(cfg.get('default_scope', 'mmdet3d'))
    if 'img_backbone' in cfg.model:
        cfg.model.img_backbone.init_cfg = None
        cfg.model.img_backbone.pop('pretrained', None)
    return MODELS.build(cfg.model).state_dict()


def compare_state_dicts(state: Dict[str, torch.Tensor], own: Dict[str, torch.Tensor]) -> Dict[str, List[str]]:
    """``missing`` (in ``own`` only), ``unexpected`` (in ``state`` only) and ``shape_mismatch`` keys."""
    return dict(
        missing=[k for k in own if k not in state],
        unexpected=[k for k in state if k not in own],
        shape_mismatch=[
            f'{k}: {tuple(state[k].shape)} vs {tuple(v.shape)}' for k, v in own.items()
            if k in state and tuple(state[k].shape) != tuple(v.shape)
        ])


def load_checkpoint_state(path: str) -> Dict[str, torch.Tensor]:
    """The state dict of a checkpoint file (its ``state_dict`` entry, or the file itself), loaded with
    ``weights_only=True``."""
    ckpt = torch.load(path, map_location='cpu', weights_only=True)
    return ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else ckpt


def save_converted(out: Dict[str, torch.Tensor],
                   report: Dict[str, List[str]],
                   src: str,
                   dst: str,
                   config: str = None,
                   tool: str = 'converter') -> Dict[str, List[str]]:
    """Write a converted state dict (``{'state_dict': out}``), print the renames, and with ``config`` check
    keys and shapes against the model it builds.

    Returns:
        dict: the check (:func:`compare_state_dicts`), empty lists without ``config``.

    Raises:
        SystemExit: a missing / unexpected key or a shape mismatch against ``config`` (listed first).
    """
    torch.save(dict(state_dict=out, meta=dict(converted_from=src)), dst)
    print(f'{len(out)} tensors -> {dst}: {len(report["renamed"])} renamed, {len(report["kept"])} kept')
    for line in report['renamed']:
        print('  renamed:', line)
    check = dict(missing=[], unexpected=[], shape_mismatch=[])
    if config:
        check = compare_state_dicts(out, model_state_of_config(config))
        for name, keys in check.items():
            print(f'  {name}: {len(keys)}' + ''.join(f'\n    {k}' for k in keys[:20]))
        if any(check.values()):
            raise SystemExit(f'{tool}: the checkpoint does not fit {config} (see above)')
    return check
