"""Convert an official UVTR checkpoint (hustvl/MIM4D or Nightmare-n/UniPAD fine-tune: ``UVTR`` / ``UVTRDN``; or their
pretraining, ``UVTRSSL``, for the image branch) to projects/UVTR.

=======================================================  ========================================================
official key                                             mim3d key
=======================================================  ========================================================
``img_backbone.*`` (facebookresearch ConvNeXt names)     ``img_backbone.*`` (mmpretrain names, as
                                                         ``mim4d_official_to_mim3d.py``: ``dwconv`` ->
                                                         ``depthwise_conv``, ``pwconv{1,2}`` -> ``pointwise_conv{1,2}``)
``img_neck.*`` (mmdet ``FPN`` / ``CustomFPN``)           same
``input_proj.*``                                         same
``depth_net.weight/bias`` (``SimpleDepth``)              ``depth_net.conv.weight/bias``
``depth_net.{reduce_conv,depth_conv}.*`` (``DepthNet``)  same
``view_trans.conv_layer.*``                              same
``pts_bbox_head.*`` (queries, ``transformer.*`` with     same, except the output layers below
mmcv ``BaseTransformerLayer`` names, ``iou_branches``)
=======================================================  ========================================================

Changes of meaning (as ``bevformer_official_to_mim3d.py``, whose mapping this reuses): the output rows of the last
``Linear`` of every ``cls_branches.{i}`` are permuted from the official class order (``OFFICIAL_CLASSES``, the
official configs' ``class_names``) to the config's, and those of every ``reg_branches.{i}`` from the official
mmdet3d-0.x box code ``(cx, cy, log w, log l, cz, log h, sin yaw0, cos yaw0, vx, vy)`` (``core/bbox/util.py``
``normalize_bbox``, mmdet3d 0.17.3) to ours (:func:`normalize_bbox3d`), which also moves the official reference
refinement by outputs 0, 1, 4 onto ours by 0, 1, 2. ``pts_bbox_head.code_weights`` (a parameter there, a
non-persistent buffer here) is checked against the config's, in our box order, and dropped.

Keys of a pretraining checkpoint that UVTR has no counterpart for (the NeuS render head, the temporal decoder:
``pts_bbox_head.*`` of ``UVTRSSL`` is the render head) are reported and left out; ``--config`` then reports the
detection head as missing (trained from scratch, as the official fine-tune does).

Usage::

    python tools/model_converters/uvtr_official_to_mim3d.py uvtrs_mim4d_vs0.075_finetune.pth ckpt.pth \
        --config projects/UVTR/configs/uvtr-dn_convnext-s-mim4d_8xb1-amp-12e_nus-vs0.075.py
    python tools/test.py projects/UVTR/configs/uvtr-dn_convnext-s-mim4d_8xb1-amp-12e_nus-vs0.075.py ckpt.pth
"""
import argparse
import importlib.util
import os.path as osp
import re
import sys
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)
from mim3d_plugin.models.utils.state_dict_check import compare_state_dicts  # noqa: E402
from mim3d_plugin.models.utils.state_dict_check import load_checkpoint_state  # noqa: E402
from mim3d_plugin.models.utils.state_dict_check import model_state_of_config, save_converted  # noqa: E402


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, osp.join(ROOT, 'tools/model_converters', name + '.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bevformer_conv = _load('bevformer_official_to_mim3d')
mim4d_conv = _load('mim4d_official_to_mim3d')

H = 'pts_bbox_head.'
OFFICIAL_CLASSES = bevformer_conv.OFFICIAL_CLASSES
NUSCENES_CLASSES = bevformer_conv.NUSCENES_CLASSES
BOX_ROWS = bevformer_conv.BOX_ROWS
#: the official UVTR-DN code_weights (vs0.075 configs) in our box order
DEFAULT_CODE_WEIGHTS = (2., 2., 1., 1., 1., 1., 1., 1., 0.2, 0.2)
#: detection-head parts of a fine-tune checkpoint (anything else under pts_bbox_head. belongs to another head)
HEAD_KEY = re.compile(r'^pts_bbox_head\.(query_embedding|reference_points|transformer|cls_branches|reg_branches|'
                      r'iou_branches)\.')
KEPT = re.compile(r'^(img_neck\.|input_proj\.|depth_net\.(reduce_conv|depth_conv)\.|view_trans\.conv_layer\.)')


def rename(key: str) -> Optional[str]:
    """One official key -> the mim3d key, or None when UVTR has no counterpart."""
    if key.startswith('img_backbone.'):
        return 'img_backbone.' + mim4d_conv.convert_backbone_key(key[len('img_backbone.'):])
    if key in ('depth_net.weight', 'depth_net.bias'):
        return 'depth_net.conv.' + key.split('.')[-1]
    if KEPT.match(key) or HEAD_KEY.match(key):
        return key
    return None


def convert(state: Dict[str, torch.Tensor],
            classes: Sequence[str] = NUSCENES_CLASSES,
            code_weights: Sequence[float] = DEFAULT_CODE_WEIGHTS) -> Tuple[Dict[str, torch.Tensor], Dict[str, List]]:
    """Official state dict -> (mim3d state dict, report with ``renamed``, ``kept``, ``transformed``, ``dropped``,
    ``not_converted``).

    Raises:
        ValueError: no ``img_backbone.`` key (not an official UVTR / UVTRSSL checkpoint), a backbone key that is not
            ConvNeXt's, official ``code_weights`` other than ``code_weights``, or classes that are not the official
            ones.
    """
    state = OrderedDict((k[len('module.'):] if k.startswith('module.') else k, v) for k, v in state.items())
    if not any(k.startswith('img_backbone.') for k in state):
        raise ValueError(f'uvtr_official_to_mim3d: no img_backbone.* key: not an official UVTR / UniPAD / MIM4D '
                         f'checkpoint; first keys: {list(state)[:5]}')
    report = dict(renamed=[], kept=[], transformed=[], dropped=[], not_converted=[])
    official_cw = state.pop(H + 'code_weights', None)
    if official_cw is not None:
        ours = official_cw.float()[list(BOX_ROWS)]
        if not torch.allclose(ours, ours.new_tensor(code_weights)):
            raise ValueError(f'uvtr_official_to_mim3d: {H}code_weights of the checkpoint, in our box order '
                             f'{ours.tolist()}, differ from the config\'s code_weights {list(code_weights)}')
        report['dropped'].append(f'{H}code_weights (equal to the config\'s code_weights in our box order)')
    out = OrderedDict()
    for key, value in state.items():
        try:
            new = rename(key)
        except KeyError as err:
            raise ValueError(f'uvtr_official_to_mim3d: {err}') from err
        if new is None:
            report['not_converted'].append(key)
            continue
        out[new] = value
        (report['renamed'] if new != key else report['kept']).append(key if new == key else f'{key} -> {new}')
    if any(k.startswith(H + 'cls_branches.') for k in out):
        out = bevformer_conv.convert_prediction_branches(out, classes)
        for branches in ('cls_branches', 'reg_branches'):
            report['transformed'] += [k for pair in bevformer_conv.last_linear_keys(out, branches) for k in pair]
    return out, report


def config_classes_and_code_weights(config: str) -> Tuple[List[str], List[float]]:
    """``class_names`` and the head's ``code_weights`` of a config."""
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    classes = cfg.get('class_names') or cfg.val_dataloader.dataset.metainfo.classes
    return list(classes), [float(v) for v in cfg.model.pts_bbox_head.get('code_weights', DEFAULT_CODE_WEIGHTS)]


def main(argv=None):
    p = argparse.ArgumentParser(description='official UVTR / UVTR-DN (UniPAD, MIM4D) checkpoint -> projects/UVTR')
    p.add_argument('src')
    p.add_argument('dst')
    p.add_argument('--config', help='mim3d config to check keys and shapes against (and read classes from)')
    args = p.parse_args(argv)
    state = load_checkpoint_state(args.src)
    classes, code_weights = NUSCENES_CLASSES, DEFAULT_CODE_WEIGHTS
    if args.config:
        classes, code_weights = config_classes_and_code_weights(args.config)
    out, report = convert(state, classes, code_weights)
    groups = OrderedDict()
    for key in report['not_converted']:
        groups.setdefault('.'.join(key.split('.')[:2]), []).append(key)
    for group, keys in groups.items():
        print(f'  no counterpart in UVTR: {group}.* ({len(keys)} keys)')
    for key in report['dropped']:
        print('  dropped:', key)
    pretrain = not any(k.startswith(H) for k in out)
    if not (pretrain and args.config):
        save_converted(out, report, args.src, args.dst, args.config, 'uvtr_official_to_mim3d')
        return out, report
    # a pretraining checkpoint: every key must fit; the detection head is missing by design
    save_converted(out, report, args.src, args.dst, None, 'uvtr_official_to_mim3d')
    check = compare_state_dicts(out, model_state_of_config(args.config))
    head_missing = [k for k in check['missing'] if k.startswith(H)]
    check['missing'] = [k for k in check['missing'] if not k.startswith(H)]
    print(f'  detection head not in a pretraining checkpoint (trained from scratch): {len(head_missing)} keys')
    for name, keys in check.items():
        print(f'  {name}: {len(keys)}' + ''.join(f'\n    {k}' for k in keys[:20]))
    if any(check.values()):
        raise SystemExit(f'uvtr_official_to_mim3d: the checkpoint does not fit {args.config} (see above)')
    return out, report


if __name__ == '__main__':
    main()
