"""Convert a Mask3D pretraining checkpoint (or any mmpretrain ViT: an ImageNet ``VisionTransformer`` classifier, an
``MAEViT``) to mmsegmentation's ``VisionTransformer`` layout, for UperNet fine-tuning (``configs/seg2d/``).

Key mapping (mmpretrain -> mmseg, the two ViTs otherwise share names and shapes):

==========================================  =============================================================
mmpretrain / Mask3DViT                      mmsegmentation VisionTransformer
==========================================  =============================================================
``layers.{i}.attn.qkv.{weight,bias}``       ``layers.{i}.attn.attn.in_proj_{weight,bias}`` (``nn.MultiheadAttention``:
                                            the same ``[q; k; v]`` row blocks)
``layers.{i}.attn.proj.*``                  ``layers.{i}.attn.attn.out_proj.*``
``pos_embed`` ``(1, 1 + h*w, C)``           resized (bicubic, cls token kept) from the pretraining grid to the
                                            fine-tuning grid ``img_size / patch_size``
depth encoder, mask tokens (pretraining)    dropped
everything else                             kept
==========================================  =============================================================

mmseg's own loader resizes a position table only when it is square; Mask3D's are not (ScanNet 240x320 -> 15x20,
nuScenes crops), so the table is resized here, once, to the target grid (``--config``: its backbone ``img_size`` /
``patch_size``; or ``--img-size``). The pretraining grid is the square root of the table size or ``--src-grid``.

Usage::

    python tools/model_converters/mask3d_to_mmseg.py work_dirs/mask3d_vit-b-p16_scannet/epoch_100.pth \
        checkpoints/mask3d_vit-b-p16_mmseg.pth --src-grid 15 20 \
        --config configs/seg2d/upernet_vit-b-p16-mask3d_8xb2-40k_scannet-seg20-240x320.py

then ``model.backbone.init_cfg=dict(type='Pretrained', checkpoint=<out>)`` (the configs' default path).
"""
import argparse
import math
import os.path as osp
import re
import sys
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from extract_backbone import extract, find_backbone_prefix  # noqa: E402

from mim3d_plugin.models.utils.state_dict_check import load_checkpoint_state  # noqa: E402

PRETRAINING_ONLY = ('depth_patch_embed.', 'depth_pos_embed', 'depth_layers.', 'depth_norm.', 'depth_proj.',
                    'rgb_mask_token', 'depth_mask_token', 'mask_token')


def resize_pos_embed(pos_embed: torch.Tensor, src_grid: Sequence[int], dst_grid: Sequence[int]) -> torch.Tensor:
    """``(1, 1 + h*w, C)`` table on ``src_grid`` ``(h, w)`` -> ``(1, 1 + H*W, C)`` on ``dst_grid`` (bicubic, the cls
    token's entry kept), row-major as both ViTs flatten patches.

    Raises:
        ValueError: the table does not hold ``1 + h*w`` entries.
    """
    from mmpretrain.models.utils import resize_pos_embed as mmpretrain_resize
    if pos_embed.shape[1] != 1 + src_grid[0] * src_grid[1]:
        raise ValueError(f'mask3d_to_mmseg: pos_embed has {pos_embed.shape[1]} entries, expected 1 + '
                         f'{src_grid[0]}*{src_grid[1]} for the pretraining grid {tuple(src_grid)} (set --src-grid)')
    if tuple(src_grid) == tuple(dst_grid):
        return pos_embed
    return mmpretrain_resize(pos_embed, tuple(src_grid), tuple(dst_grid), mode='bicubic', num_extra_tokens=1)


def convert(state: Dict[str, torch.Tensor],
            dst_grid: Optional[Sequence[int]] = None,
            src_grid: Optional[Sequence[int]] = None) -> Tuple[Dict[str, torch.Tensor], Dict[str, List[str]]]:
    """Checkpoint state dict (any backbone prefix of the project, or bare backbone keys) -> mmseg ViT state dict.

    Returns:
        tuple: the converted state dict (bare backbone keys) and a report (``renamed``, ``kept``, ``dropped``).

    Raises:
        KeyError: no ViT backbone in the checkpoint.
        ValueError: a non-square pretraining grid without ``src_grid``.
    """
    if 'pos_embed' not in state:
        prefix, _ = find_backbone_prefix(state)
        state = extract(state, prefix)
    if 'pos_embed' not in state or not any(k.startswith('layers.') for k in state):
        raise KeyError(f'mask3d_to_mmseg: no ViT backbone (pos_embed, layers.*) in the checkpoint; keys start with '
                       f'{sorted({k.split(".")[0] for k in state})[:10]}')
    out, report = OrderedDict(), dict(renamed=[], kept=[], dropped=[])
    for key, value in state.items():
        if key.startswith(PRETRAINING_ONLY):
            report['dropped'].append(key)
            continue
        new = re.sub(r'^layers\.(\d+)\.attn\.qkv\.(weight|bias)$', r'layers.\1.attn.attn.in_proj_\2', key)
        new = re.sub(r'^layers\.(\d+)\.attn\.proj\.', r'layers.\1.attn.attn.out_proj.', new)
        if key == 'pos_embed' and dst_grid is not None:
            n = value.shape[1] - 1
            grid = tuple(src_grid) if src_grid is not None else (math.isqrt(n), math.isqrt(n))
            if grid[0] * grid[1] != n:
                raise ValueError(f'mask3d_to_mmseg: pos_embed holds {n} patch positions, not a square grid; give the '
                                 'pretraining grid (img_size / patch_size) with --src-grid H W')
            value = resize_pos_embed(value, grid, dst_grid)
            if grid != tuple(dst_grid):
                report['renamed'].append(f'pos_embed resized {grid} -> {tuple(dst_grid)}')
        out[new] = value
        if new != key:
            report['renamed'].append(f'{key} -> {new}')
        elif key != 'pos_embed' or dst_grid is None:
            report['kept'].append(key)
    return out, report


def backbone_of_config(config: str) -> torch.nn.Module:
    """The (randomly initialised) ``model.backbone`` of an mmseg config, its ``init_cfg`` dropped."""
    import importlib

    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope
    cfg = Config.fromfile(config)
    for mod in cfg.get('custom_imports', {}).get('imports', []):
        importlib.import_module(mod)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    backbone = dict(cfg.model.backbone, init_cfg=None)
    return MODELS.build(backbone)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('src', help='Mask3D pretraining (or mmpretrain ViT) checkpoint')
    p.add_argument('dst')
    p.add_argument('--config', help='mmseg fine-tuning config: target grid from its backbone, keys checked against it')
    p.add_argument('--img-size', type=int, nargs=2, help='fine-tuning (H, W) px when no --config')
    p.add_argument('--patch-size', type=int, default=16)
    p.add_argument('--src-grid', type=int, nargs=2, help='pretraining patch grid (h, w) when not square')
    args = p.parse_args(argv)
    backbone = backbone_of_config(args.config) if args.config else None
    dst_grid = None
    if backbone is not None:
        dst_grid = tuple(backbone.patch_embed.init_out_size)
    elif args.img_size:
        dst_grid = (args.img_size[0] // args.patch_size, args.img_size[1] // args.patch_size)
    out, report = convert(load_checkpoint_state(args.src), dst_grid, args.src_grid)
    torch.save(dict(state_dict=out, meta=dict(converted_from=args.src)), args.dst)
    print(f'mask3d_to_mmseg: {len(out)} tensors -> {args.dst}: {len(report["renamed"])} renamed, '
          f'{len(report["kept"])} kept, {len(report["dropped"])} pretraining-only dropped')
    if backbone is not None:
        own = backbone.state_dict()
        missing = [k for k in own if k not in out]
        unexpected = [k for k in out if k not in own]
        mismatch = [k for k in out if k in own and own[k].shape != out[k].shape]
        for name, keys in (('missing', missing), ('unexpected', unexpected), ('shape_mismatch', mismatch)):
            print(f'  {name}: {len(keys)}' + ''.join(f'\n    {k}' for k in keys[:20]))
        if missing or unexpected or mismatch:
            raise SystemExit(f'mask3d_to_mmseg: the checkpoint does not fit the backbone of {args.config}')
    return out, report


if __name__ == '__main__':
    main()
