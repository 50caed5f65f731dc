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
``cls_branches``, ``reg_branches``); ``module.`` is stripped. Three things change their meaning, not their name:

- **Class order.** The official head scores BEVDet's order (``OFFICIAL_CLASSES``, ``projects/configs/bevformer/
  bevformer_*.py`` ``class_names``); ours the config's (mmdet3d's ``NuScenesDataset`` order). The output rows of
  the last ``Linear`` of every ``cls_branches.{i}`` are permuted by class name.
- **Box code.** The official regresses mmdet3d-0.x boxes, ``(cx, cy, log w, log l, cz, log h, sin yaw0, cos yaw0,
  vx, vy)`` with ``(w, l) = (dy, dx)`` and ``yaw0 = -yaw - pi/2`` (``core/bbox/util.py`` ``normalize_bbox``, the
  0.x nuScenes converter), and refines its reference point with outputs 0, 1, 4 (``dense_heads/bevformer_head.py``,
  ``modules/decoder.py``); ours ``(x, y, z, log dx, log dy, log dz, sin yaw, cos yaw, vx, vy)``
  (:func:`normalize_bbox3d`) with the reference refined by outputs 0, 1, 2. Since ``sin yaw = -cos yaw0`` and
  ``cos yaw = -sin yaw0``, the output rows of the last ``Linear`` of every ``reg_branches.{i}`` map exactly:
  ``ours[k] = BOX_SIGNS[k] * official[BOX_ROWS[k]]``.
- ``pts_bbox_head.code_weights`` (an ``nn.Parameter`` of the official head, a non-persistent buffer of ours set by
  the config) is checked against the config's ``code_weights`` (in our box order) and dropped.

``--config`` builds the mim3d detector, reads its class order and ``code_weights``, and reports missing / unexpected
keys and shape mismatches (exit status 1 on any). Configs of the released models:
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
from typing import Dict, List, Sequence, Tuple

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))  # for projects.*
from mim3d_plugin.models.utils.state_dict_check import load_checkpoint_state, save_converted  # noqa: E402

T = 'pts_bbox_head.transformer.'
H = 'pts_bbox_head.'
#: the official head's class order (BEVDet's; ``projects/configs/bevformer/bevformer_{tiny,small,base}.py``)
OFFICIAL_CLASSES = ('car', 'truck', 'construction_vehicle', 'bus', 'trailer', 'barrier', 'motorcycle', 'bicycle',
                    'pedestrian', 'traffic_cone')
#: mmdet3d 1.x ``NuScenesDataset`` order, the default of our configs (``configs/_base_/datasets/nus-mv-det.py``)
NUSCENES_CLASSES = ('car', 'truck', 'trailer', 'bus', 'construction_vehicle', 'bicycle', 'motorcycle', 'pedestrian',
                    'traffic_cone', 'barrier')
#: our box output k is BOX_SIGNS[k] * official output BOX_ROWS[k] (module docstring)
BOX_ROWS = (0, 1, 4, 3, 2, 5, 7, 6, 8, 9)
BOX_SIGNS = (1., 1., 1., 1., 1., 1., -1., -1., 1., 1.)
#: our head's default ``code_weights`` (BEVFormerHead)
DEFAULT_CODE_WEIGHTS = (1., 1., 1., 1., 1., 1., 1., 1., 0.2, 0.2)
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


def class_permutation(classes: Sequence[str], official_classes: Sequence[str] = OFFICIAL_CLASSES) -> List[int]:
    """``perm`` with our class ``k`` = official class ``perm[k]``.

    Raises:
        ValueError: a class of ``classes`` the official head does not score, or a different number of classes.
    """
    classes, official_classes = list(classes), list(official_classes)
    missing = [c for c in classes if c not in official_classes]
    if missing or len(classes) != len(official_classes):
        raise ValueError(f'bevformer_official_to_mim3d: classes {classes} are not a permutation of the official '
                         f'head\'s {official_classes} (not scored: {missing})')
    return [official_classes.index(c) for c in classes]


def last_linear_keys(state: Dict[str, torch.Tensor], branches: str) -> List[Tuple[str, str]]:
    """``(weight key, bias key)`` of the output ``Linear`` of every ``pts_bbox_head.<branches>.{i}`` (the highest
    module index of each branch)."""
    last: Dict[int, int] = {}
    for key in state:
        m = re.match(rf'^{re.escape(H + branches)}\.(\d+)\.(\d+)\.weight$', key)
        if m:
            last[int(m[1])] = max(last.get(int(m[1]), -1), int(m[2]))
    return [(f'{H}{branches}.{i}.{j}.weight', f'{H}{branches}.{i}.{j}.bias') for i, j in sorted(last.items())]


def convert_prediction_branches(state: Dict[str, torch.Tensor],
                                classes: Sequence[str] = NUSCENES_CLASSES) -> Dict[str, torch.Tensor]:
    """Map the output rows of every ``cls_branches`` / ``reg_branches`` output layer from the official class order
    and box code to ours (module docstring); other entries unchanged (a new dict).

    Raises:
        ValueError: an output layer without 10 classes / 10 box values, or classes that are not the official ones.
    """
    out = OrderedDict(state)
    perm = class_permutation(classes)
    rows = list(BOX_ROWS)
    for branches, expected in (('cls_branches', len(perm)), ('reg_branches', len(BOX_ROWS))):
        pairs = last_linear_keys(state, branches)
        if not pairs:
            raise ValueError(f'bevformer_official_to_mim3d: no {H}{branches}.* in the checkpoint')
        for wk, bk in pairs:
            w, b = state[wk], state[bk]
            if w.shape[0] != expected:
                raise ValueError(f'bevformer_official_to_mim3d: {wk} has {w.shape[0]} outputs, expected {expected} '
                                 f'({"classes" if branches == "cls_branches" else "box values with velocity"})')
            if branches == 'cls_branches':
                out[wk], out[bk] = w[perm].clone(), b[perm].clone()
            else:
                signs = w.new_tensor(BOX_SIGNS)
                out[wk], out[bk] = w[rows] * signs[:, None], b[rows] * signs
    return out


def convert(
        state: Dict[str, torch.Tensor],
        classes: Sequence[str] = NUSCENES_CLASSES,
        code_weights: Sequence[float] = DEFAULT_CODE_WEIGHTS) -> Tuple[Dict[str, torch.Tensor], Dict[str, List[str]]]:
    """Official state dict -> (mim3d state dict, report with ``renamed``, ``kept``, ``transformed`` and
    ``dropped``).

    Args:
        state: the official ``state_dict`` (``module.`` prefixes allowed).
        classes: the class order of the mim3d config (its ``class_names``).
        code_weights: the mim3d head's ``code_weights`` (our box order) the official ``code_weights`` must equal.

    Raises:
        ValueError: not a BEVFormer checkpoint (no ``pts_bbox_head.transformer.`` key), an unknown key, classes that
            are not the official ones, or official ``code_weights`` other than ``code_weights``.
    """
    state = OrderedDict((k[len('module.'):] if k.startswith('module.') else k, v) for k, v in state.items())
    if not any(k.startswith(T) for k in state):
        raise ValueError(f'bevformer_official_to_mim3d: no {T}* key: not an official BEVFormer checkpoint; first '
                         f'keys: {list(state)[:5]}')
    report = dict(renamed=[], kept=[], transformed=[], dropped=[])
    official_cw = state.pop(H + 'code_weights', None)
    if official_cw is not None:
        ours = official_cw.float()[list(BOX_ROWS)]
        if not torch.allclose(ours, ours.new_tensor(code_weights)):
            raise ValueError(f'bevformer_official_to_mim3d: {H}code_weights of the checkpoint, in our box order '
                             f'{ours.tolist()}, differ from the config\'s code_weights {list(code_weights)}')
        report['dropped'].append(f'{H}code_weights (equal to the config\'s code_weights in our box order)')
    out = OrderedDict()
    for key, value in state.items():
        new = rename(key)
        out[new] = value
        (report['renamed'] if new != key else report['kept']).append(key if new == key else f'{key} -> {new}')
    out = convert_prediction_branches(out, classes)
    for branches in ('cls_branches', 'reg_branches'):
        report['transformed'] += [k for pair in last_linear_keys(out, branches) for k in pair]
    return out, report


def config_classes_and_code_weights(config: str) -> Tuple[List[str], List[float]]:
    """``class_names`` (or the val dataset's ``metainfo.classes``) and the head's ``code_weights`` of a config."""
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    classes = cfg.get('class_names') or cfg.val_dataloader.dataset.metainfo.classes
    code_weights = cfg.model.pts_bbox_head.get('code_weights', DEFAULT_CODE_WEIGHTS)
    return list(classes), [float(v) for v in code_weights]


def main(argv=None):
    p = argparse.ArgumentParser(description='official BEVFormer checkpoint -> mim3d projects/BEVFormer')
    p.add_argument('src')
    p.add_argument('dst')
    p.add_argument('--config', help='mim3d config to check keys and shapes against')
    args = p.parse_args(argv)
    state = load_checkpoint_state(args.src)
    classes, code_weights = NUSCENES_CLASSES, DEFAULT_CODE_WEIGHTS
    if args.config:
        classes, code_weights = config_classes_and_code_weights(args.config)
    out, report = convert(state, classes, code_weights)
    for key in report['transformed']:
        print('  class order / box code mapped:', key)
    for key in report['dropped']:
        print('  dropped:', key)
    save_converted(out, report, args.src, args.dst, args.config, 'bevformer_official_to_mim3d')
    return out, report


if __name__ == '__main__':
    main()
