"""Convert an official GeoMIM pretraining checkpoint (Sense-X/GeoMIM, ``pretrain/``, bevfusion framework) to mim3d.

The released GeoMIM Swin-B / Swin-L checkpoints hold the whole pretraining model (``BEVFusionGeoMIM``). The output
is in the one checkpoint layout of every mim3d pretraining (``MaskedPretrainer`` of ``configs/geomim/``): the keys
below (those of the pre-0.2 ``GeoMIM`` class) under ``encoder.backbone.*`` (``backbone.*``) and ``heads.bev.*`` (the
rest); with ``--backbone-only``, the backbone as ``tools/model_converters/extract_backbone.py`` writes it
(``backbone.*``, load with ``prefix='backbone.'``).

========================================================  =====================================================
official key (``state_dict``; ``module.`` stripped)       mim3d key (``backbone.*`` -> ``encoder.backbone.*``,
                                                          others -> ``heads.bev.*``)
========================================================  =====================================================
``encoders.camera.backbone.patch_embed.*``                ``backbone.patch_embed.*``
``...backbone.absolute_pos_embed`` (1, C, H, W)           ``backbone.absolute_pos_embed`` (1, H*W, C)
``...backbone.stages.{i}.blocks.{j}.norm1/norm2``         ``backbone.layers.{i}.blocks.{j}.ln1/ln2``
``...backbone.stages.{i}.blocks.{j}.attn.w_msa.*``        ``backbone.layers.{i}.blocks.{j}.attn.*``
``...backbone.stages.{i}.blocks.{j}.ffn.*``               ``backbone.layers.{i}.blocks.{j}.ffn.*``
``...backbone.stages.{i}.downsample.*``                   ``backbone.layers.{i}.downsample.*``
``...backbone.norm2/norm3``                               ``backbone.norm2/norm3``
``...backbone.up_p4_fc / up_smooth_p4 / final_norm``      ``backbone.fusion.lateral / fusion.block / fusion.norm``
``...backbone.decoder_embed_new``, ``mask_token``         ``decoder.embed``, ``decoder.mask_token`` (1,1,1,1,C)
``...backbone.decoder_blocks.{k}`` (timm ``Block``)       ``decoder.blocks.{k}`` (norm1/2 -> ln1/2, mlp.fc1/fc2 ->
                                                          ffn.layers.0.0 / ffn.layers.1)
``...backbone.decoder_cross_module.{0, 1, 2}`` (WBlock)   ``decoder.cva.{0, 1}`` (after blocks 1, 5),
                                                          ``decoder.depth_cva.0``
``...backbone.decoder_norm``, ``decoder_norm_pix``        ``decoder.norm``, ``decoder.depth_norm``
``...backbone.decoder_blocks_pix.{k}``                    ``decoder.depth_blocks.{k}``
``...backbone.cam_pose.bn / depth_mlp.fc1,fc2 /           ``decoder.camera_se.bn / mlp.0, mlp.2 / se.0, se.2``
depth_se.conv_reduce,conv_expand``
``encoders.camera.vtransform.depthnet.{0,1,3,4,6}``       ``decoder.head.{0,1}.conv/bn``, ``decoder.head.2``; the
                                                          conv biases before a BN are folded into the BN's running
                                                          mean (our convs before a BN have no bias)
``encoders.camera.vtransform.downsample.{0,1,3,4,6,7}``   ``view_transformer.bev_downsample.{0,1,2}.conv/bn``, the
                                                          3x3 kernels transposed: the official BEV map is (X, Y),
                                                          ours (Y, X)
``prediction_head``                                       ``bev_head``
========================================================  =====================================================

``...backbone.decoder_pos_embed`` (1, C, 7, 7), the frozen table (MixMIM's) the official decoder interpolates, goes to
``decoder.pos_table`` (``GeoMIMDecoder(pos_table_size=(7, 7))``, as the paper config). Not converted, and reported:
``encoders.lidar.*`` (the frozen LiDAR teacher: ``model.heads.bev.teacher.checkpoint`` loads it from its own
checkpoint). The
``relative_position_index`` buffers are copied (same lookup as the official code). A backbone-only state dict (keys
``stages.*``) is
converted to ``backbone.*`` keys.

The checkpoint's absolute position embedding grid gives the ``img_size`` the mim3d backbone must be built with
(``4 * grid``), printed in the report.

Usage::

    python tools/model_converters/geomim_official_to_mim3d.py geomim_base.pth checkpoints/geomim_base_mim3d.pth \
        [--backbone-only]

then, with ``--backbone-only``, ``init_cfg=dict(type='Pretrained', checkpoint='checkpoints/geomim_base_mim3d.pth',
prefix='backbone.')`` on a ``GeoMIMSwin`` fine-tuning backbone; without it, ``load_from`` for a GeoMIM pretraining run
(``configs/geomim/geomim_swin-b_16xb2-50e_nus.py``).
"""
import argparse
import os.path as osp
import re
import sys
from collections import OrderedDict
from typing import Dict, List, Tuple

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from mim3d_plugin.models.necks.geomim_decoder import timm_block_key  # noqa: E402
from mim3d_plugin.models.pretrainers.checkpoint_layouts import upgrade_keys  # noqa: E402

CAMERA = 'encoders.camera.backbone.'
VTRANSFORM = 'encoders.camera.vtransform.'


def _block(rest: str) -> str:
    """Official Swin block (mmdet ``SwinBlock``) key -> GeoMIM Swin block key."""
    rest = re.sub(r'^norm1\.', 'ln1.', rest)
    rest = re.sub(r'^norm2\.', 'ln2.', rest)
    return rest.replace('attn.w_msa.', 'attn.')


def backbone_key(key: str, cva_after: Tuple[int, ...] = (1, 5)):
    """One official ``SwinTransformerBEV`` key -> (mim3d key, note) or (None, reason)."""
    m = re.match(r'^stages\.(\d+)\.blocks\.(\d+)\.(.*)$', key)
    if m:
        return f'backbone.layers.{m[1]}.blocks.{m[2]}.{_block(m[3])}', None
    m = re.match(r'^stages\.(\d+)\.downsample\.(.*)$', key)
    if m:
        return f'backbone.layers.{m[1]}.downsample.{m[2]}', None
    if key.startswith(('patch_embed.', 'norm2.', 'norm3.')) or key == 'absolute_pos_embed':
        return 'backbone.' + key, None
    if key.startswith('up_p4_fc.'):
        return 'backbone.fusion.lateral.' + key[len('up_p4_fc.'):], None
    if key.startswith('up_smooth_p4.'):
        return 'backbone.fusion.block.' + _block(key[len('up_smooth_p4.'):]), None
    if key.startswith('final_norm.'):
        return 'backbone.fusion.norm.' + key[len('final_norm.'):], None
    if key.startswith('decoder_embed_new.'):
        return 'decoder.embed.' + key[len('decoder_embed_new.'):], None
    if key == 'mask_token':
        return 'decoder.mask_token', None
    m = re.match(r'^decoder_blocks\.(\d+)\.(.*)$', key)
    if m:
        return f'decoder.blocks.{m[1]}.{timm_block_key(m[2])}', None
    m = re.match(r'^decoder_blocks_pix\.(\d+)\.(.*)$', key)
    if m:
        return f'decoder.depth_blocks.{m[1]}.{timm_block_key(m[2])}', None
    m = re.match(r'^decoder_cross_module\.(\d+)\.(.*)$', key)
    if m:
        idx = int(m[1])  # official: modules 0 and 1 after trunk blocks 1 and 5 ([idx // 4]), 2 in the depth branch
        target = f'decoder.cva.{idx}' if idx < len(cva_after) else f'decoder.depth_cva.{idx - len(cva_after)}'
        return f'{target}.{timm_block_key(m[2])}', None
    if key.startswith('decoder_norm_pix.'):
        return 'decoder.depth_norm.' + key[len('decoder_norm_pix.'):], None
    if key.startswith('decoder_norm.'):
        return 'decoder.norm.' + key[len('decoder_norm.'):], None
    for src, dst in (('cam_pose.bn.', 'decoder.camera_se.bn.'), ('cam_pose.depth_mlp.fc1.', 'decoder.camera_se.mlp.0.'),
                     ('cam_pose.depth_mlp.fc2.', 'decoder.camera_se.mlp.2.'),
                     ('cam_pose.depth_se.conv_reduce.', 'decoder.camera_se.se.0.'), ('cam_pose.depth_se.conv_expand.',
                                                                                     'decoder.camera_se.se.2.')):
        if key.startswith(src):
            return dst + key[len(src):], None
    if key == 'decoder_pos_embed':
        return 'decoder.pos_table', None
    return None, 'no counterpart'


# official nn.Sequential index -> (ours, kind): 'conv' (bias folded into the next BN), 'bn', 'conv_out'
DEPTHNET = {
    '0': ('decoder.head.0.conv', 'conv'),
    '1': ('decoder.head.0.bn', 'bn'),
    '3': ('decoder.head.1.conv', 'conv'),
    '4': ('decoder.head.1.bn', 'bn'),
    '6': ('decoder.head.2', 'conv_out')
}
DOWNSAMPLE = {
    '0': 'view_transformer.bev_downsample.0.conv',
    '1': 'view_transformer.bev_downsample.0.bn',
    '3': 'view_transformer.bev_downsample.1.conv',
    '4': 'view_transformer.bev_downsample.1.bn',
    '6': 'view_transformer.bev_downsample.2.conv',
    '7': 'view_transformer.bev_downsample.2.bn'
}


def convert(state: Dict[str, torch.Tensor]) -> Tuple[Dict[str, torch.Tensor], Dict[str, List[str]]]:
    """Official state dict -> (mim3d state dict in the ``encoder.backbone.*`` / ``heads.bev.*`` layout, report).

    The report has ``converted`` (official keys used), ``dropped`` (``'key: reason'``), ``folded`` (conv biases
    folded into BN running means), ``transposed`` (BEV kernels) and ``notes`` (img_size, decoder position embedding).

    Raises:
        ValueError: when no key of the official GeoMIM layout is found, or a conv bias has no BN to fold into.
    """
    state = OrderedDict((k[len('module.'):] if k.startswith('module.') else k, v) for k, v in state.items())
    if not any(k.startswith(CAMERA) for k in state):
        if any(k.startswith('stages.') for k in state):  # a backbone-only dict
            state = OrderedDict((CAMERA + k, v) for k, v in state.items())
        else:
            raise ValueError('geomim_official_to_mim3d: no key of the official GeoMIM layout '
                             f'({CAMERA}stages.* or stages.*); first keys: {list(state)[:5]}')
    out: Dict[str, torch.Tensor] = OrderedDict()
    report = dict(converted=[], dropped=[], folded=[], transposed=[], notes=[])
    pending_bias = {}
    for key, value in state.items():
        if key.startswith(CAMERA):
            name, why = backbone_key(key[len(CAMERA):])
            if name is None:
                report['dropped'].append(f'{key}: {why}')
                continue
            if name == 'backbone.absolute_pos_embed' and value.dim() == 4:
                _, c, h, w = value.shape
                report['notes'].append(f'absolute position embedding stored on a {h}x{w} token grid: build the '
                                       f'mim3d GeoMIMSwin with img_size=({4 * h}, {4 * w}) (patch 4)')
                value = value.flatten(2).transpose(1, 2)
            elif name == 'decoder.pos_table':
                report['notes'].append(f'decoder position table stored on a {tuple(value.shape[-2:])} grid: build '
                                       f'GeoMIMDecoder with pos_table_size={tuple(value.shape[-2:])} (the paper '
                                       'config does), so it is interpolated as the official decoder does')
            elif name == 'decoder.mask_token':
                value = value.reshape(1, 1, 1, 1, -1)
            out[name] = value
            report['converted'].append(key)
        elif key.startswith(VTRANSFORM + 'depthnet.'):
            idx, param = key[len(VTRANSFORM + 'depthnet.'):].split('.', 1)
            target, kind = DEPTHNET[idx]
            if kind == 'conv' and param == 'bias':
                pending_bias[target.replace('.conv', '.bn')] = (key, value)
            else:
                out[f'{target}.{param}'] = value
            report['converted'].append(key)
        elif key.startswith(VTRANSFORM + 'downsample.'):
            idx, param = key[len(VTRANSFORM + 'downsample.'):].split('.', 1)
            if idx not in DOWNSAMPLE:
                report['dropped'].append(f'{key}: no counterpart')
                continue
            if param == 'weight' and value.dim() == 4:  # (X, Y) BEV kernels -> (Y, X)
                value = value.transpose(-1, -2).contiguous()
                report['transposed'].append(key)
            out[f'{DOWNSAMPLE[idx]}.{param}'] = value
            report['converted'].append(key)
        elif key.startswith('prediction_head.'):
            out['bev_head.' + key[len('prediction_head.'):]] = value
            report['converted'].append(key)
        elif key.startswith('encoders.lidar.'):
            report['dropped'].append(f'{key}: LiDAR teacher (loaded by model.heads.bev.teacher.checkpoint)')
        else:
            report['dropped'].append(f'{key}: no counterpart')
    # BN(conv(x) + b) == BN'(conv(x)) with running_mean' = running_mean - b (eval) and exactly in training too
    # (the batch mean absorbs b)
    for bn, (key, bias) in pending_bias.items():
        if bn + '.running_mean' not in out:
            raise ValueError(f'geomim_official_to_mim3d: {key} has no following BatchNorm to fold into')
        out[bn + '.running_mean'] = out[bn + '.running_mean'] - bias
        report['folded'].append(f'{key} -> {bn}.running_mean')
    names = upgrade_keys(list(out), 'GeoMIM', 'bev')  # the one pretraining layout: encoder.backbone.*, heads.bev.*
    return OrderedDict((names[k], v) for k, v in out.items()), report


def main(argv=None):
    p = argparse.ArgumentParser(description='official GeoMIM pretraining checkpoint -> mim3d GeoMIM pretraining '
                                '(MaskedPretrainer) or its GeoMIMSwin backbone')
    p.add_argument('src', help='official checkpoint (e.g. geomim_base.pth)')
    p.add_argument('dst', help='output checkpoint (mim3d keys under "state_dict")')
    p.add_argument(
        '--backbone-only',
        action='store_true',
        help='write only the backbone, as backbone.* (what extract_backbone.py writes)')
    args = p.parse_args(argv)
    ckpt = torch.load(args.src, map_location='cpu', weights_only=True)
    state = ckpt.get('state_dict', ckpt.get('model', ckpt)) if isinstance(ckpt, dict) else ckpt
    out, report = convert(state)
    if args.backbone_only:
        out = OrderedDict(('backbone.' + k[len('encoder.backbone.'):], v) for k, v in out.items()
                          if k.startswith('encoder.backbone.'))
    torch.save(dict(state_dict=out, meta=dict(converted_from=args.src)), args.dst)
    print(f'{len(report["converted"])} official tensors converted -> {len(out)} mim3d tensors in {args.dst}')
    for name in ('folded', 'transposed', 'notes'):
        for line in report[name]:
            print(f'  {name}: {line}')
    lidar = [d for d in report['dropped'] if 'LiDAR teacher' in d]
    print(f'  dropped: {len(lidar)} LiDAR-teacher tensors')
    for line in report['dropped']:
        if 'LiDAR teacher' not in line:
            print(f'  dropped: {line}')
    return out, report


if __name__ == '__main__':
    main()
