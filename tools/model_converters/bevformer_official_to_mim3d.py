"""Convert an official BEVFormer checkpoint (fundamentalvision/BEVFormer: tiny / small / base) to projects/BEVFormer.

======================================================  ==================================================
official key (``pts_bbox_head.transformer.`` = ``T.``)  mim3d key (``pts_bbox_head.`` = ``H.``)
======================================================  ==================================================
``T.level_embeds``, ``T.cams_embeds``                   ``H.encoder.level_embeds``, ``.cams_embeds``
``T.reference_points.*``, ``T.can_bus_mlp.*``           ``H.reference_points.*``, ``H.can_bus_mlp.*``
``T.encoder.layers.{i}.attentions.0.*`` (TSA)           ``H.encoder.layers.{i}.temporal_self_attention.*``
``T.encoder.layers.{i}.attentions.1.*`` (SCA:           ``H.encoder.layers.{i}.spatial_cross_attention.*``
``deformable_attention.*``, ``output_proj``)
``T.encoder.layers.{i}.ffns.0.*``, ``norms.{k}``        ``H.encoder.layers.{i}.ffn.*``, ``norms.{k}``
``T.decoder.layers.{i}.attentions.0.*`` (MHA)           ``H.decoder.layers.{i}.self_attn.*``
``T.decoder.layers.{i}.attentions.1.*`` (deformable)    ``H.decoder.layers.{i}.cross_attn.*``
``T.decoder.layers.{i}.ffns.0.*``, ``norms.{k}``        ``H.decoder.layers.{i}.ffn.*``, ``norms.{k}``
======================================================  ==================================================

Everything else keeps its name (mmdet ResNet / FPN, ``bev_embedding``, ``query_embedding``, ``positional_encoding``,
``cls_branches``, ``reg_branches``); ``module.`` is stripped. ``--config`` builds the mim3d detector and reports
missing / unexpected keys and shape mismatches (exit status 1 on any). Configs of the released models:
``projects/BEVFormer/configs/bevformer-{tiny_r50,small_r101-dcn,base_r101-dcn}_*_nus.py``.

The official aligns the previous BEV by a shift of the reference points + a rotation of the BEV image, ours by
default by the rigid ego motion: evaluate official weights with ``--cfg-options model.prev_bev_align=official``
(``projects/BEVFormer/README.md``).

Usage::

    python tools/model_converters/bevformer_official_to_mim3d.py bevformer_tiny_epoch_24.pth \
        checkpoints/bevformer_tiny_mim3d.pth --config projects/BEVFormer/configs/bevformer-tiny_r50_8xb1-24e_nus.py
    python tools/test.py projects/BEVFormer/configs/bevformer-tiny_r50_8xb1-24e_nus.py \
        checkpoints/bevformer_tiny_mim3d.pth \
        --cfg-options model.prev_bev_align=official
"""
import argparse
import os.path as osp
import re
import sys
from collections import OrderedDict
from typing import Dict, List, Tuple

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))  # for projects.*
from mim3d_plugin.models.utils.state_dict_check import load_checkpoint_state, save_converted  # noqa: E402

T = 'pts_bbox_head.transformer.'
H = 'pts_bbox_head.'
ENCODER_ATTN = {'0': 'temporal_self_attention', '1': 'spatial_cross_attention'}
DECODER_ATTN = {'0': 'self_attn', '1': 'cross_attn'}


def rename(key: str) -> str:
    """One official key -> the mim3d key (unchanged where the names agree).

    Raises:
        ValueError: a transformer key of no known part (named).
    """
    if not key.startswith(T):
        return key
    rest = key[len(T):]
    if rest in ('level_embeds', 'cams_embeds'):
        return H + 'encoder.' + rest
    if rest.startswith(('reference_points.', 'can_bus_mlp.')):
        return H + rest
    m = re.match(r'^(encoder|decoder)\.layers\.(\d+)\.(attentions|ffns|norms)\.(\d+)\.(.*)$', rest)
    if m is None:
        raise ValueError(f'bevformer_official_to_mim3d: {key}: no counterpart in projects/BEVFormer')
    part, idx, kind, k, tail = m.groups()
    base = f'{H}{part}.layers.{idx}.'
    if kind == 'norms':
        return f'{base}norms.{k}.{tail}'
    if kind == 'ffns':
        if k != '0':
            raise ValueError(f'bevformer_official_to_mim3d: {key}: only one FFN per layer is supported')
        return f'{base}ffn.{tail}'
    table = ENCODER_ATTN if part == 'encoder' else DECODER_ATTN
    if k not in table:
        raise ValueError(f'bevformer_official_to_mim3d: {key}: attention {k} of a {part} layer has no counterpart')
    return f'{base}{table[k]}.{tail}'


def convert(state: Dict[str, torch.Tensor]) -> Tuple[Dict[str, torch.Tensor], Dict[str, List[str]]]:
    """Official state dict -> (mim3d state dict, report with ``renamed`` and ``kept``).

    Raises:
        ValueError: not a BEVFormer checkpoint (no ``pts_bbox_head.transformer.`` key), or an unknown key.
    """
    state = OrderedDict((k[len('module.'):] if k.startswith('module.') else k, v) for k, v in state.items())
    if not any(k.startswith(T) for k in state):
        raise ValueError(f'bevformer_official_to_mim3d: no {T}* key: not an official BEVFormer checkpoint; first '
                         f'keys: {list(state)[:5]}')
    out, report = OrderedDict(), dict(renamed=[], kept=[])
    for key, value in state.items():
        new = rename(key)
        out[new] = value
        (report['renamed'] if new != key else report['kept']).append(key if new == key else f'{key} -> {new}')
    return out, report


def main(argv=None):
    p = argparse.ArgumentParser(description='official BEVFormer checkpoint -> mim3d projects/BEVFormer')
    p.add_argument('src')
    p.add_argument('dst')
    p.add_argument('--config', help='mim3d config to check keys and shapes against')
    args = p.parse_args(argv)
    state = load_checkpoint_state(args.src)
    out, report = convert(state)
    save_converted(out, report, args.src, args.dst, args.config, 'bevformer_official_to_mim3d')
    return out, report


if __name__ == '__main__':
    main()
