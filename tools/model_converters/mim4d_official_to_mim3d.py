"""Convert an official MIM4D checkpoint (hustvl/MIM4D, ``UVTRSSL`` pretraining or its UVTR fine-tune) to mim3d.

The official ``MaskConvNeXt`` (``projects/mmdet3d_plugin/models/backbones/mask_convnext.py``, facebookresearch
ConvNeXt layout) and mmpretrain's ``ConvNeXt`` (which our :class:`MaskConvNeXt` subclasses) differ only in the
block's layer names; the output is in the one checkpoint layout of every mim3d pretraining (``MaskedPretrainer`` of
``configs/mim4d/``: the backbone under ``encoder.backbone.*``, the FPN under ``encoder.neck.*``)::

    img_backbone.downsample_layers.{i}.{0,1}.*   ->  encoder.backbone.downsample_layers.{i}.{0,1}.*   (same)
    img_backbone.stages.{i}.{j}.dwconv.*         ->  encoder.backbone.stages.{i}.{j}.depthwise_conv.*
    img_backbone.stages.{i}.{j}.pwconv1.*        ->  encoder.backbone.stages.{i}.{j}.pointwise_conv1.*
    img_backbone.stages.{i}.{j}.pwconv2.*        ->  encoder.backbone.stages.{i}.{j}.pointwise_conv2.*
    img_backbone.stages.{i}.{j}.{norm,gamma}     ->  (same names)
    img_backbone.norm{i}.*  (norm_out=True)      ->  encoder.backbone.norm{i}.*   (mmpretrain's out-index norms)
    img_neck.{lateral,fpn}_convs.{i}.conv.*      ->  encoder.neck.{lateral,fpn}_convs.{i}.conv.*

(the official ``SparseLayerNorm`` is a ``nn.LayerNorm`` subclass, so its ``weight``/``bias`` load as they are;
learnable mask tokens ``mtoken{i}`` exist only with ``mae_cfg.learnable=True`` and have no counterpart: SparK
keeps masked positions at zero). The image neck (mmdet ``FPN`` in vs0.1, BEVDet's ``CustomFPN`` in vs0.075: both
``lateral_convs.{i}.conv`` / ``fpn_convs.{i}.conv``) maps 1:1 onto ``mmdet.FPN`` with the same in/out channels.
Everything else - ``input_proj``, ``depth_net``, ``view_trans``, ``render_conv``, ``pts_bbox_head`` (the NeuS render
head, or the UVTR detection head in a fine-tune checkpoint), ``history_decoder`` - has a different architecture here
(``VoxelLifting``, ``SceneFlowPseudo3DBuilder``, ``VolumeRenderingHead``) and is reported as not converted, grouped
by module.

SparK's released self-supervised ConvNeXt weights (keyu-tian/SparK, ``convnext{S,B}_1kpretrained_official_style.pth``,
the initial weights of the official MIM4D pretraining) are a bare facebookresearch ConvNeXt (no prefix, no
``norm{i}``, plus the classifier's ``norm`` / ``fc`` or ``head``, reported as not converted): the same command with
``--backbone-only`` writes them as ``backbone.*`` for ``MaskConvNeXt``'s ``init_cfg``.

Usage::

    python tools/model_converters/mim4d_official_to_mim3d.py mim4d_convnext_s_vs0.075_pretrain.pth \
        checkpoints/mim4d_convnext-s_mim3d.pth [--backbone-only] [--no-neck]

The output (``state_dict`` + ``meta.conversion`` with the key report) loads into our MIM4D configs
(``load_from=...``, non-strict for the modules that are not converted) or, with ``--backbone-only`` (``backbone.*``,
what ``tools/model_converters/extract_backbone.py`` writes), into any ``MaskConvNeXt`` / mmpretrain ``ConvNeXt`` with
``init_cfg=dict(type='Pretrained', checkpoint=OUT, prefix='backbone.')``.
"""
import argparse
import os
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, List, Tuple

import torch

BACKBONE_RENAMES = (('.dwconv.', '.depthwise_conv.'), ('.pwconv1.', '.pointwise_conv1.'), ('.pwconv2.',
                                                                                           '.pointwise_conv2.'))
BACKBONE_KEY = re.compile(r'^(downsample_layers\.\d+\.\d+|stages\.\d+\.\d+\.(dwconv|norm|pwconv1|pwconv2)|'
                          r'stages\.\d+\.\d+\.gamma$|norm\d+)')
NECK_KEY = re.compile(r'^(lateral_convs|fpn_convs)\.\d+\.conv\.(weight|bias)$')


def convert_backbone_key(key: str) -> str:
    """Official ConvNeXt key (without prefix) -> mmpretrain ConvNeXt key; raises KeyError if not a backbone key."""
    if not BACKBONE_KEY.match(key):
        raise KeyError(f'mim4d_official_to_mim3d: {key!r} is not an official ConvNeXt key')
    for old, new in BACKBONE_RENAMES:
        key = key.replace(old, new)
    return key


def convert(state: Dict[str, torch.Tensor],
            backbone_prefix: str = 'img_backbone.',
            neck_prefix: str = 'img_neck.',
            with_neck: bool = True,
            out_prefix: str = 'encoder.backbone.',
            neck_out_prefix: str = 'encoder.neck.') -> Tuple['OrderedDict[str, torch.Tensor]', dict]:
    """Convert an official state dict.

    Args:
        state (dict): official ``state_dict`` (``UVTRSSL`` / ``UVTR``, or a bare official ConvNeXt with
            ``backbone_prefix=''``).
        backbone_prefix (str): prefix of the backbone keys in ``state``. Default: ``'img_backbone.'``.
        neck_prefix (str): prefix of the neck keys in ``state``. Default: ``'img_neck.'``.
        with_neck (bool): also copy the FPN (as ``neck_out_prefix``). Default: True.
        out_prefix (str): prefix of the backbone keys in the output (``'backbone.'`` for a backbone checkpoint).
            Default: ``'encoder.backbone.'``.
        neck_out_prefix (str): prefix of the neck keys in the output. Default: ``'encoder.neck.'``.

    Returns:
        tuple: the converted state dict and a report ``dict(converted=[(old, new), ...],
        not_converted={module: [keys]}, num_converted, num_not_converted)``.

    Raises:
        KeyError: no official backbone key is found (the key groups present are named).
    """
    out: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    converted: List[Tuple[str, str]] = []
    skipped: Dict[str, List[str]] = {}
    for key, value in state.items():
        new = None
        if key.startswith(backbone_prefix) and BACKBONE_KEY.match(key[len(backbone_prefix):]):
            new = out_prefix + convert_backbone_key(key[len(backbone_prefix):])
        elif with_neck and key.startswith(neck_prefix) and NECK_KEY.match(key[len(neck_prefix):]):
            new = neck_out_prefix + key[len(neck_prefix):]
        if new is None:
            skipped.setdefault(key.split('.')[0], []).append(key)
            continue
        out[new] = value
        converted.append((key, new))
    if not any(old.startswith(backbone_prefix) for old, _ in converted):
        groups = sorted({k.split('.')[0] for k in state})
        raise KeyError(f'mim4d_official_to_mim3d: no official ConvNeXt key under {backbone_prefix!r} '
                       f'(key groups: {groups})')
    report = dict(
        converted=converted,
        not_converted=skipped,
        num_converted=len(converted),
        num_not_converted=sum(len(v) for v in skipped.values()))
    return out, report


def format_report(report: dict) -> str:
    """Human-readable summary of a :func:`convert` report."""
    lines = [f'converted {report["num_converted"]} tensors']
    for group, keys in sorted(report['not_converted'].items()):
        lines.append(f'not converted ({group}, no counterpart here): {len(keys)} tensors, e.g. {keys[0]}')
    return '\n'.join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='official MIM4D checkpoint (.pth)')
    parser.add_argument('dst', help='output checkpoint')
    parser.add_argument(
        '--backbone-only',
        action='store_true',
        help='only the backbone, as backbone.* (what extract_backbone.py writes), no neck')
    parser.add_argument('--no-neck', action='store_true', help='do not copy the FPN')
    args = parser.parse_args(argv)
    if not osp.isfile(args.src):
        raise FileNotFoundError(f'mim4d_official_to_mim3d: no checkpoint file {args.src!r}')
    import mim3d_plugin  # noqa: F401  (allow-lists mmengine's checkpoint types for weights_only loading)
    ckpt = torch.load(args.src, map_location='cpu', weights_only=True)
    state = None
    if isinstance(ckpt, dict):  # mmcv / mmengine checkpoints: 'state_dict'; SparK / timm style: 'model' or bare
        state = next((ckpt[k] for k in ('state_dict', 'model', 'module') if isinstance(ckpt.get(k), dict)), ckpt)
    if not isinstance(state, dict):
        raise ValueError(f'mim4d_official_to_mim3d: {args.src!r} holds no state dict')
    prefix = 'img_backbone.' if any(k.startswith('img_backbone.') for k in state) else ''
    out, report = convert(
        state,
        backbone_prefix=prefix,
        with_neck=not (args.no_neck or args.backbone_only),
        out_prefix='backbone.' if args.backbone_only else 'encoder.backbone.')
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    meta = dict(
        conversion=dict(
            source=osp.basename(args.src),
            tool='mim4d_official_to_mim3d',
            num_converted=report['num_converted'],
            not_converted={
                g: len(k)
                for g, k in report['not_converted'].items()
            }))
    tmp = args.dst + '.tmp'
    torch.save(dict(state_dict=out, meta=meta), tmp)
    os.replace(tmp, args.dst)
    print(format_report(report))
    print(f'wrote {args.dst}')
    return report


if __name__ == '__main__':
    main()
