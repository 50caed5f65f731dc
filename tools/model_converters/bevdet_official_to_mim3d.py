"""Convert an official BEVDet checkpoint (HuangJunJie2017/BEVDet dev2.1 layout: BEVDet, BEVDet4D; also the GeoMIM
fine-tunes, Sense-X/GeoMIM ``bevdet/``) to the mim3d BEVDet project (``projects/BEVDet``).

Most modules keep their official names (mmdet ``ResNet``; ``CustomFPN`` = our ``CustomFPN``;
``img_view_transformer.depth_net``; ``CustomResNet`` = our ``BEVResNet``, also as BEVDet4D's ``pre_process_net``;
mmdet3d ``CenterHead``). What changes:

=================================================  ==========================================================
official key                                       mim3d key
=================================================  ==========================================================
``<FPN_LSS>.conv.{0,1,3,4}.*`` (Conv, BN, Conv,    ``<LSSFPN>.conv.{0,1}.{conv,bn}.*`` (ConvModules)
BN)
``<FPN_LSS>.up2.{1,2,4}.*`` (Conv, BN, Conv1x1)    ``<LSSFPN>.up2.1.{conv,bn}.*``, ``<LSSFPN>.up2.2.*``
``img_neck.fpn_convs.{k}`` (only the ``out_ids``)  ``img_neck.fpn_convs.{out_ids[k]}`` (one per level)
``final_conv.*``, ``predicter.*`` (BEVDet-Occ)     ``occ_head.final_conv.*``, ``occ_head.predicter.*``
``module.`` prefix (DDP)                           stripped
=================================================  ==========================================================

BEVDet-Occ's 3D encoder (``CustomResNet3D`` = our ``BEVResNet3D``, ``LSSFPN3D``, also as ``pre_process_net``) keeps
its keys.

``<FPN_LSS>`` is ``img_bev_encoder_neck`` and, in the Swin configs (GeoMIM fine-tunes), ``img_neck``. An
``FPN_LSS`` with ``input_conv`` or ``lateral`` has no mim3d counterpart and is refused. ``--config`` builds the mim3d
detector the checkpoint is meant for and reports missing / unexpected keys and shape mismatches (exit status 1 on
any); the configs that match the released checkpoints:

- BEVDet-R50-CBGS (dev2.1 ``configs/bevdet/bevdet-r50-cbgs.py``):
  ``projects/BEVDet/configs/bevdet-r50-official_8xb8-cbgs-20e_nus.py``
- BEVDet4D-R50-CBGS (``bevdet-r50-4d-cbgs.py``): ``projects/BEVDet/configs/bevdet4d-r50-official_8xb8-cbgs-20e_nus.py``
- BEVDet4D-Swin-B GeoMIM (``bevdet-swinb-4d-256x704-cbgs-geomim.py``): ``bevdet4d-swin-b-geomim_8xb8-cbgs-20e_nus.py``
- BEVStereo4D-R50-CBGS (``bevdet-r50-4d-stereo-cbgs.py``): ``bevstereo4d-r50-official_8xb8-cbgs-20e_nus.py``; GeoMIM's
  BEVStereo4D Swin-B (``bevdet-swinb-4d-stereo-{256x704,512x1408}-cbgs-geomim.py``):
  ``bevstereo4d-swin-b-geomim_8xb8-cbgs-20e_nus.py`` / ``..._32xb2-cbgs-20e_nus-512x1408.py`` (the stereo
  ``img_view_transformer.depth_net.*`` = our ``CameraAwareDepthNet``, same keys)
- BEVStereo4D-Occ (``bevdet-occ-r50-4d-stereo-24e.py``): ``bevstereo4d-occ-r50_8xb4-24e_occ3d-nus.py``; GeoMIM's
  (``bevdet-occ-swinb-4d-stereo-512x1408-24e-geomim.py``):
  ``bevstereo4d-occ-swin-b-geomim_32xb2-24e_occ3d-nus-512x1408.py``.
  The occupancy configs' frame is the ego frame at the LiDAR timestamp (the labels'); the official code used
  ``CAM_FRONT``'s: set ``ego_cam='CAM_FRONT'`` in their ``LiDARToEgoFrame`` to evaluate official weights exactly as
  trained.

The official weights live in the ego frame at the ``CAM_FRONT`` exposure and BEVDet4D lifts the previous frame
straight into the key frame: these configs build the frame with ``LiDARToEgoFrame`` and the 4D ones use
``adjacent_alignment='lift'``, so ``tools/test.py`` decodes converted weights as the official code does
(``projects/BEVDet/tools/gt_through_head.py --gt official``).

Usage::

    python tools/model_converters/bevdet_official_to_mim3d.py bevdet-r50-cbgs.pth \
        checkpoints/bevdet-r50-cbgs_mim3d.pth \
        --config projects/BEVDet/configs/bevdet-r50-official_8xb8-cbgs-20e_nus.py
    python tools/test.py projects/BEVDet/configs/bevdet-r50-official_8xb8-cbgs-20e_nus.py \
        checkpoints/bevdet-r50-cbgs_mim3d.pth
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

FPN_LSS_CONV = {'0': '0.conv', '1': '0.bn', '3': '1.conv', '4': '1.bn'}
FPN_LSS_UP2 = {'1': '1.conv', '2': '1.bn', '4': '2'}


def is_fpn_lss(state: Dict[str, torch.Tensor], prefix: str) -> bool:
    """Whether ``prefix`` holds an official ``FPN_LSS`` (``conv.0`` a 3x3 conv, no FPN lateral convs)."""
    w = state.get(prefix + 'conv.0.weight')
    return w is not None and w.dim() == 4 and not any(k.startswith(prefix + 'lateral_convs.') for k in state)


def fpn_lss_key(rest: str, key: str) -> str:
    """``rest`` of an official ``FPN_LSS`` key -> our ``LSSFPN`` key."""
    m = re.match(r'^(conv|up2)\.(\d+)\.(.*)$', rest)
    table = {'conv': FPN_LSS_CONV, 'up2': FPN_LSS_UP2}
    if m is None or m[2] not in table[m[1]]:
        raise ValueError(f'bevdet_official_to_mim3d: {key}: FPN_LSS part with no mim3d counterpart (LSSFPN has no '
                         'input_conv / lateral_conv)')
    return f'{m[1]}.{table[m[1]][m[2]]}.{m[3]}'


def convert(
    state: Dict[str, torch.Tensor], neck_out_ids: Sequence[int] = (0, )
) -> Tuple[Dict[str, torch.Tensor], Dict[str, List[str]]]:
    """Official state dict -> (mim3d state dict, report with ``renamed`` and ``kept`` key lists).

    Args:
        state: the official ``state_dict`` (``module.`` prefixes allowed).
        neck_out_ids: ``out_ids`` of the ``CustomFPN`` image neck (official ``fpn_convs`` hold only those levels).

    Raises:
        ValueError: no BEVDet key found, or an ``FPN_LSS`` part with no counterpart.
    """
    state = OrderedDict((k[len('module.'):] if k.startswith('module.') else k, v) for k, v in state.items())
    if not any(k.startswith(('img_view_transformer.', 'img_bev_encoder_backbone.')) for k in state):
        raise ValueError('bevdet_official_to_mim3d: no img_view_transformer.* / img_bev_encoder_backbone.* key: not '
                         f'a BEVDet checkpoint; first keys: {list(state)[:5]}')
    fpn_lss = [p for p in ('img_neck.', 'img_bev_encoder_neck.') if is_fpn_lss(state, p)]
    out, report = OrderedDict(), dict(renamed=[], kept=[])
    for key, value in state.items():
        new = key
        for prefix in fpn_lss:
            if key.startswith(prefix):
                new = prefix + fpn_lss_key(key[len(prefix):], key)
        if key.startswith(('final_conv.', 'predicter.')):  # BEVDet-Occ head
            new = 'occ_head.' + key
        m = re.match(r'^img_neck\.fpn_convs\.(\d+)\.(.*)$', key)
        if m and 'img_neck.' not in fpn_lss:
            new = f'img_neck.fpn_convs.{neck_out_ids[int(m[1])]}.{m[2]}'
        out[new] = value
        (report['renamed'] if new != key else report['kept']).append(key if new == key else f'{key} -> {new}')
    return out, report


def main(argv=None):
    p = argparse.ArgumentParser(description='official BEVDet (dev2.1) checkpoint -> mim3d projects/BEVDet')
    p.add_argument('src')
    p.add_argument('dst')
    p.add_argument('--config', help='mim3d detector config to check the keys and shapes against')
    p.add_argument(
        '--neck-out-ids', type=int, nargs='+', default=None, help='CustomFPN out_ids (default: from --config, else 0)')
    args = p.parse_args(argv)
    state = load_checkpoint_state(args.src)
    out_ids = args.neck_out_ids
    if out_ids is None and args.config:
        from mmengine.config import Config
        out_ids = Config.fromfile(args.config).model.get('img_neck', {}).get('out_ids', (0, ))
    out, report = convert(state, out_ids or (0, ))
    save_converted(out, report, args.src, args.dst, args.config, 'bevdet_official_to_mim3d')
    return out, report


if __name__ == '__main__':
    main()
