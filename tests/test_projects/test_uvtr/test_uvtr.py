"""projects/UVTR: each official computation (hustvl/MIM4D / Nightmare-n/UniPAD ``Uni3DVoxelPoolDepth``,
``Uni3DViewTrans``, ``UniCrossAtten(V2)``, ``UniTransformerDecoder(V2)``, ``UVTRHead`` / ``UVTRDNHead`` forward,
``prepare_for_dn``, ``PairedBboxOverlaps3D``) re-derived here from its equations and constants and compared with ours on
the same inputs and weights; the detector end to end on a synthetic rig (any camera count, batch > 1)."""
import importlib.util
import math
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmdet3d.registry import MODELS
from mmdet3d.structures import LiDARInstance3DBoxes
from mmengine.structures import InstanceData

import mim3d_plugin  # noqa: F401
import projects.UVTR.uvtr  # noqa: F401
from mim3d_plugin.ops import pytorch_ops_only
from projects.UVTR.uvtr import UVTRViewTransform, dn_attention_mask, paired_iou_3d

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, osp.join(ROOT, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tiny = _load('bevformer_tiny_for_uvtr', 'tests/test_projects/test_bevformer/bevformer_tiny.py')
conv = _load('uvtr_official_to_mim3d', 'tools/model_converters/uvtr_official_to_mim3d.py')

PC = [-16.0, -16.0, -3.0, 16.0, 16.0, 2.0]
VS = [2.0, 2.0, 1.0]
IMG = tiny.IMG_SHAPE  # (64, 176)


def _rig(b, n_cam=2):
    rig = torch.as_tensor(tiny.camera_rig(n_cam)['lidar2img'])
    out = rig.unsqueeze(0).repeat(b, 1, 1, 1)
    out[1:, :, :3, 3] += 3.0  # a different pose per sample
    return out


# ---------------------------------------------------------------------------------------------- view transform
def official_voxel_pool(feats, depth, lidar2img, frustum_range, frustum_size, pc_range, voxel_size):
    """``Uni3DVoxelPoolDepth.coord_preparing`` + ``feat_sampling`` (``voxel_pool``: a sum per voxel) re-derived."""
    b, n, c = feats.shape[:3]
    frustum = torch.stack(
        torch.meshgrid([torch.arange(frustum_range[i], frustum_range[i + 3], frustum_size[i]) for i in range(3)],
                       indexing='ij'), -1)  # (W, H, D, 3)
    w, h, d = frustum.shape[:3]
    fr = torch.cat([frustum, torch.ones_like(frustum[..., :1])], -1).flatten(0, 2)[None, None]
    fr = fr.repeat(b, 1, 1, 1).float()  # official: float32 (force_fp32)
    fr[..., :2] *= fr[..., 2:3]
    pts = (torch.inverse(lidar2img.float()).unsqueeze(2) @ fr.unsqueeze(-1)).squeeze(-1)
    vox = ((pts[..., :3] - torch.tensor(pc_range[:3])) / torch.tensor(voxel_size)).int()
    vox = vox.view(b, n, w, h, d, 3).permute(0, 1, 4, 3, 2, 5)  # (B, N, D, H, W, 3)
    shape = [round((pc_range[i + 3] - pc_range[i]) / voxel_size[i]) for i in range(3)]
    mask = torch.ones(vox.shape[:-1], dtype=torch.bool)
    for i in range(3):
        mask &= (vox[..., i] >= 0) & (vox[..., i] < shape[i])
    prod = feats.unsqueeze(3) * depth.unsqueeze(2)  # (B, N, C, D, H, W)
    prod = prod.permute(0, 1, 3, 4, 5, 2)  # (B, N, D, H, W, C)
    out = torch.zeros(b, *shape, c, dtype=torch.float64)
    bidx = torch.arange(b).view(b, 1, 1, 1, 1).expand(vox.shape[:-1])
    v = vox[mask].long()
    out.index_put_((bidx[mask], v[:, 0], v[:, 1], v[:, 2]), prod[mask].double(), accumulate=True)
    return out.permute(0, 4, 3, 2, 1)  # (B, C, Z, Y, X)


def official_grid_sample(mlvl_feats, mlvl_depth, lidar2img, img_shape, frustum_range, pc_range, voxel_size):
    """``Uni3DViewTrans.coord_preparing`` + ``feat_sampling`` re-derived (all voxel points sampled, the invalid ones
    zeroed: the official samples only the valid ones)."""
    b, n = mlvl_feats[0].shape[:2]
    ref = torch.stack(
        torch.meshgrid([torch.arange(pc_range[i], pc_range[i + 3], voxel_size[i]) for i in range(3)], indexing='ij'),
        -1)  # (X, Y, Z, 3): the lower corners
    x, y, z = ref.shape[:3]
    pts = torch.cat([ref, torch.ones_like(ref[..., :1])], -1).flatten(0, 2)
    cam = (lidar2img.unsqueeze(2) @ pts[None, None, :, :, None]).squeeze(-1)  # (B, N, P, 4)
    eps = 1e-5
    dep = cam[..., 2:3]
    mask = dep > eps
    uv = cam[..., :2] / torch.maximum(dep, torch.ones_like(dep) * eps)
    uv[..., 0] /= img_shape[1]
    uv[..., 1] /= img_shape[0]
    uv = uv * 2 - 1
    dn = (dep - frustum_range[2]) / (frustum_range[5] - frustum_range[2]) * 2 - 1
    mask = mask & (uv[..., 0:1] > -1) & (uv[..., 0:1] < 1) & (uv[..., 1:2] > -1) & (uv[..., 1:2] < 1) & (dn > -1) & (
        dn < 1)
    grid = torch.cat([uv, dn], -1).flatten(0, 1)  # (BN, P, 3)
    vol = 0
    for feat, depth in zip(mlvl_feats, mlvl_depth):
        s = F.grid_sample(feat.flatten(0, 1), grid[:, :, None, :2], align_corners=True).squeeze(-1)
        dw = F.grid_sample(depth.flatten(0, 1).unsqueeze(1), grid[:, None, :, None], align_corners=True)
        vol = vol + s * dw.reshape(b * n, 1, -1)
    vol = vol * mask.flatten(0, 1).permute(0, 2, 1)
    vol = vol.view(b, n, -1, x, y, z).sum(1)
    return vol.permute(0, 1, 4, 3, 2)


def _feats_depth(b, n, c, d, h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(b, n, c, h, w, generator=g)
    depth = torch.randn(b, n, d, h, w, generator=g).softmax(2)
    return feats, depth


def test_voxel_pool_lift_equals_the_official_at_the_official_conventions():
    vt = UVTRViewTransform(
        PC,
        VS,
        depth_range=(1.0, 25.0),
        depth_step=1.5,
        embed_dims=8,
        lift='voxel_pool',
        num_convs=1,
        frustum_pixels='corner',
        voxel_rounding='trunc')
    stride = 16
    feats, depth = _feats_depth(2, 2, 8, vt.depth_dim, IMG[0] // stride, IMG[1] // stride)
    lidar2img = _rig(2)
    ours = vt._voxel_pool([feats], [depth], lidar2img, IMG)
    official = official_voxel_pool(feats, depth, lidar2img,
                                   [0.0, 0.0, 1.0, float(IMG[1]), float(IMG[0]), 25.0],
                                   [float(stride), float(stride), 1.5], PC, VS)
    assert ours.shape == (2, 8, 5, 16, 16)
    assert official.abs().sum() > 10  # the rig sees the volume
    assert (ours.double() - official).abs().max() < 1e-4
    # the default conventions (cell centres, floor) give another volume: the options matter
    vt.frustum_pixels, vt.voxel_rounding = 'center', 'floor'
    assert (vt._voxel_pool([feats], [depth], lidar2img, IMG).double() - official).abs().max() > 1e-2


def test_grid_sample_lift_equals_the_official_at_the_official_conventions():
    vt = UVTRViewTransform(
        PC,
        VS,
        depth_range=(0.0, 32.0),
        depth_step=1.0,
        embed_dims=8,
        lift='grid_sample',
        num_convs=1,
        voxel_points='corner')
    lidar2img = _rig(2)
    feats0, depth0 = _feats_depth(2, 2, 8, 32, 8, 22, seed=1)
    feats1, depth1 = _feats_depth(2, 2, 8, 32, 4, 11, seed=2)
    ours = vt._grid_sample([feats0, feats1], [depth0, depth1], lidar2img, IMG)
    official = official_grid_sample([feats0, feats1], [depth0, depth1], lidar2img, IMG, [0, 0, 0.0, 0, 0, 32.0], PC, VS)
    assert official.abs().sum() > 1
    assert (ours - official).abs().max() < 1e-5
    vt.voxel_points = 'center'
    assert (vt._grid_sample([feats0, feats1], [depth0, depth1], lidar2img, IMG) - official).abs().max() > 1e-3


def _paper_view_transform(config):
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(ROOT, config)).model.view_transform
    cfg.embed_dims = 4  # the channels do not enter the geometry
    return MODELS.build(cfg), cfg


def _paper_rig(img_w=1600.0, cx_frac=0.5):
    """6 cameras at 60 deg, nuScenes-like intrinsics (f = 1266 px) at 1600 px width, 1.5 m above the LiDAR."""
    mats = []
    for i in range(6):
        yaw = i * math.pi / 3
        fwd = torch.tensor([math.cos(yaw), math.sin(yaw), 0.0])
        left = torch.tensor([-math.sin(yaw), math.cos(yaw), 0.0])
        rot = torch.stack([-left, torch.tensor([0.0, 0.0, -1.0]), fwd])
        lidar2cam = torch.eye(4)
        lidar2cam[:3, :3] = rot
        lidar2cam[:3, 3] = -rot @ torch.tensor([0.0, 0.0, 1.5])
        cam2img = torch.eye(4)
        cam2img[:3, :3] = torch.tensor([[1266.0, 0, img_w * cx_frac], [0, 1266.0, 450.0], [0, 0, 1]])
        mats.append(cam2img @ lidar2cam)
    return torch.stack(mats)[None]


def test_voxel_pool_lift_at_the_uvtr_dn_paper_configuration():
    """The vs0.075 config's own numbers: +-54 m x [-5, 3] m at 0.6 x 0.6 x 1.6 m, 118 bins of 0.5 m from 1 m, stride-32
    features of the padded 928 x 1600 input (official frustum_range [0, 0, 1, 1600, 928, 60], size [32, 32, 0.5])."""
    vt, cfg = _paper_view_transform('projects/UVTR/configs/uvtr-dn_convnext-s-mim4d_8xb1-amp-12e_nus-vs0.075.py')
    assert vt.depth_dim == 118 and vt.grid.num_voxels == (180, 180, 5)
    feats, depth = _feats_depth(1, 6, 4, 118, 29, 50, seed=4)
    lidar2img = _paper_rig()
    ours = vt._voxel_pool([feats], [depth], lidar2img, (928, 1600))
    official = official_voxel_pool(feats, depth, lidar2img, [0.0, 0.0, 1.0, 1600.0, 928.0, 60.0], [32.0, 32.0, 0.5],
                                   cfg.point_cloud_range, cfg.voxel_size)
    assert official.abs().sum() > 100
    assert (ours.double() - official).abs().max() < 1e-4


def test_grid_sample_lift_at_the_uvtr_paper_configuration():
    """The vs0.1 config's own numbers: +-51.2 m x [-5, 3] m at 0.8 x 0.8 x 1.6 m, 64 depth bins over 0..64 m, four
    FPN levels (strides 8..64) of the padded 928 x 1600 input normalised by the unpadded 900 x 1600 img_shape."""
    vt, cfg = _paper_view_transform('projects/UVTR/configs/uvtr_convnext-s-mim4d_8xb1-amp-12e_nus-vs0.1.py')
    assert vt.depth_dim == 64 and vt.grid.num_voxels == (128, 128, 5)
    levels = [_feats_depth(1, 6, 4, 64, 928 // s, 1600 // s, seed=s) for s in (8, 16, 32, 64)]
    lidar2img = _paper_rig()
    feats, depths = [f for f, _ in levels], [d for _, d in levels]
    ours = vt._grid_sample(feats, depths, lidar2img, (900, 1600))
    official = official_grid_sample(feats, depths, lidar2img, (900, 1600), [0, 0, 0.0, 0, 0, 64.0],
                                    cfg.point_cloud_range, cfg.voxel_size)
    assert official.abs().sum() > 100
    assert (ours - official).abs().max() < 1e-4


def test_lift_gradients_reach_features_and_depth():
    vt = UVTRViewTransform(PC, VS, depth_range=(1.0, 25.0), depth_step=1.5, embed_dims=8, num_convs=1)
    feats, depth = _feats_depth(1, 2, 8, vt.depth_dim, 4, 11)
    feats.requires_grad_(True)
    logits = depth.log().requires_grad_(True)
    vt([feats], [logits.softmax(2)], _rig(1), IMG).sum().backward()
    assert feats.grad.abs().sum() > 0 and logits.grad.abs().sum() > 0


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match='lift'):
        UVTRViewTransform(PC, VS, (1.0, 25.0), 1.5, lift='bev')
    with pytest.raises(ValueError, match='whole number'):
        UVTRViewTransform(PC, VS, (1.0, 25.0), 0.7)
    vt = UVTRViewTransform(PC, VS, (1.0, 25.0), 1.5, embed_dims=8)
    feats, depth = _feats_depth(1, 2, 8, vt.depth_dim - 1, 4, 11)
    with pytest.raises(ValueError, match='D=16'):
        vt([feats], [depth], _rig(1), IMG)
    feats, depth = _feats_depth(1, 2, 8, vt.depth_dim, 4, 11)
    with pytest.raises(ValueError, match='lidar2img'):
        vt([feats], [depth], _rig(1, 3), IMG)


# ---------------------------------------------------------------------------------------------- head
EMBED, HEADS, NQ = 16, 2, 12


def _head(with_dn, num_layers=2):
    layer = dict(
        attn_cfgs=[
            dict(type='MultiheadAttention', embed_dims=EMBED, num_heads=HEADS, dropout=0.1),
            dict(type='UVTRCrossAttention', embed_dims=EMBED, num_points=1, dropout=0.1)
        ],
        ffn_cfgs=dict(type='FFN', embed_dims=EMBED, feedforward_channels=32, num_fcs=2, ffn_drop=0.1),
        operation_order=('self_attn', 'norm', 'cross_attn', 'norm', 'ffn', 'norm'))
    torch.manual_seed(0)
    head = MODELS.build(
        dict(
            type='UVTRHead',
            with_dn=with_dn,
            num_query=NQ,
            embed_dims=EMBED,
            point_cloud_range=PC,
            transformer=dict(decoder=dict(num_layers=num_layers, transformerlayers=layer)),
            bbox_coder=dict(type='NMSFreeBBox3DCoder', post_center_range=[-20, -20, -5, 20, 20, 5], max_num=20),
            code_weights=[2.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.2, 0.2]))
    head.init_weights()
    return head


def _inverse_sigmoid(x, eps=1e-5):
    x = x.clamp(0, 1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))


def official_head_forward(S, value, with_dn, num_layers, pc_range):
    """``UVTRHead.forward`` / ``UVTRDNHead.forward`` (eval: no dropout, no denoising queries) with
    ``Uni3DDETR`` / ``Uni3DTransformer``, ``UniTransformerDecoder(V2)``, mmcv's ``BaseTransformerLayer`` and
    ``UniCrossAtten(V2)``, re-derived on the official state dict ``S`` (keys without ``pts_bbox_head.``). Outputs in
    the official box code ``(cx, cy, w, l, cz, h, sin, cos, vx, vy)`` and class order."""
    b = value.shape[0]
    lin = lambda x, k: F.linear(x, S[k + '.weight'], S[k + '.bias'])  # noqa: E731
    ln = lambda x, k: F.layer_norm(x, (x.shape[-1], ), S[k + '.weight'], S[k + '.bias'])  # noqa: E731
    if with_dn:
        ref = _inverse_sigmoid(S['reference_points.weight'])[None].repeat(b, 1, 1)
        qpos = lin(F.relu(lin(ref, 'query_embedding.0')), 'query_embedding.2')
        q = torch.zeros_like(qpos)
    else:
        qpos, q = S['query_embedding.weight'].split(EMBED, 1)
        qpos, q = qpos[None].expand(b, -1, -1), q[None].expand(b, -1, -1)
        ref = lin(qpos, 'transformer.reference_points')
    q, qpos = q.permute(1, 0, 2), qpos.permute(1, 0, 2)
    refs, states = [], []
    r = ref
    for i in range(num_layers):
        p = f'transformer.decoder.layers.{i}.'
        x = q + qpos
        attn = F.multi_head_attention_forward(
            x,
            x,
            q,
            EMBED,
            HEADS,
            S[p + 'attentions.0.attn.in_proj_weight'],
            S[p + 'attentions.0.attn.in_proj_bias'],
            None,
            None,
            False,
            0.0,
            S[p + 'attentions.0.attn.out_proj.weight'],
            S[p + 'attentions.0.attn.out_proj.bias'],
            training=False,
            need_weights=False)[0]
        q = ln(q + attn, p + 'norms.0')
        x = (q + qpos).permute(1, 0, 2)
        w = lin(x, p + 'attentions.1.attention_weights').sigmoid()
        g = (r.sigmoid() - 0.5) * 2
        # F.grid_sample's default (the official passes no align_corners)
        s = F.grid_sample(value, g[:, None, None], align_corners=False).reshape(b, EMBED, -1).permute(0, 2, 1)
        out = lin((s * w).permute(1, 0, 2), p + 'attentions.1.output_proj')
        pe = F.relu(ln(lin(r, p + 'attentions.1.position_encoder.0'), p + 'attentions.1.position_encoder.1'))
        pe = F.relu(ln(lin(pe, p + 'attentions.1.position_encoder.3'), p + 'attentions.1.position_encoder.4'))
        q = ln(out + q + pe.permute(1, 0, 2), p + 'norms.1')
        f = lin(F.relu(lin(q, p + 'ffns.0.layers.0.0')), p + 'ffns.0.layers.1')
        q = ln(q + f, p + 'norms.2')
        hs = q.permute(1, 0, 2)
        tmp = _reg(S, i, hs)
        new = torch.zeros_like(r)
        new[..., 0:2] = tmp[..., 0:2] + r[..., 0:2]
        new[..., 2:3] = tmp[..., 4:5] + r[..., 2:3]
        r = new
        refs.append(r)
        states.append(hs)
    cls_out, box_out = [], []
    for lvl, hs in enumerate(states):
        reference = ref if lvl == 0 else refs[lvl - 1]
        if not with_dn:
            reference = _inverse_sigmoid(reference.sigmoid())
        c = hs
        for j in (0, 3):
            c = F.relu(ln(lin(c, f'cls_branches.{lvl}.{j}'), f'cls_branches.{lvl}.{j + 1}'))
        cls_out.append(lin(c, f'cls_branches.{lvl}.6'))
        t = _reg(S, lvl, hs)
        t[..., 0:2] = (t[..., 0:2] + reference[..., 0:2]).sigmoid()
        t[..., 4:5] = (t[..., 4:5] + reference[..., 2:3]).sigmoid()
        t[..., 0:1] = t[..., 0:1] * (pc_range[3] - pc_range[0]) + pc_range[0]
        t[..., 1:2] = t[..., 1:2] * (pc_range[4] - pc_range[1]) + pc_range[1]
        t[..., 4:5] = t[..., 4:5] * (pc_range[5] - pc_range[2]) + pc_range[2]
        box_out.append(t)
    return torch.stack(cls_out), torch.stack(box_out)


def _reg(S, lvl, x):
    for j in (0, 2):
        x = F.relu(F.linear(x, S[f'reg_branches.{lvl}.{j}.weight'], S[f'reg_branches.{lvl}.{j}.bias']))
    return F.linear(x, S[f'reg_branches.{lvl}.4.weight'], S[f'reg_branches.{lvl}.4.bias'])


@pytest.mark.parametrize('with_dn', [True, False])
def test_head_equals_the_official_forward_after_conversion(with_dn):
    head = _head(with_dn).eval()
    g = torch.Generator().manual_seed(3)
    official = {}
    for k, v in head.state_dict().items():  # official names = ours (mmcv layers, same modules); random weights
        official['pts_bbox_head.' + k] = (torch.randn(v.shape, generator=g) * 0.3).to(v.dtype)
    for k in [k for k in official if k.endswith('reference_points.weight') and with_dn]:
        official[k] = torch.rand(official[k].shape, generator=g)
    official['pts_bbox_head.code_weights'] = torch.tensor([2.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.2, 0.2])
    official['img_backbone.downsample_layers.0.0.weight'] = torch.zeros(1)  # makes it an official checkpoint
    converted, report = conv.convert(official, conv.NUSCENES_CLASSES, head.code_weights.tolist())
    assert len(report['transformed']) == 2 * 2 * 2
    state = {k[len('pts_bbox_head.'):]: v for k, v in converted.items() if k.startswith('pts_bbox_head.')}
    missing, unexpected = head.load_state_dict(state, strict=False)
    assert not missing and not unexpected
    value = torch.randn(2, EMBED, 5, 16, 16, generator=g)
    with torch.no_grad():
        outs = head(value)
    S = {k[len('pts_bbox_head.'):]: v for k, v in official.items() if k.startswith('pts_bbox_head.')}
    cls_o, box_o = official_head_forward(S, value, with_dn, 2, PC)
    perm = conv.bevformer_conv.class_permutation(conv.NUSCENES_CLASSES)
    signs = torch.tensor(conv.bevformer_conv.BOX_SIGNS)
    assert (outs['all_cls_scores'] - cls_o[..., perm]).abs().max() < 1e-4
    mapped = box_o[..., list(conv.BOX_ROWS)] * signs
    assert (outs['all_bbox_preds'] - mapped).abs().max() < 1e-4
    # decoded boxes: official denormalize_bbox (mmdet3d 0.x box, (w, l) = (dy, dx), yaw = -yaw0 - pi / 2)
    b0 = box_o[-1, 0]
    yaw0 = torch.atan2(b0[:, 6], b0[:, 7])
    yaw = -yaw0 - math.pi / 2
    ours = head.predict_by_feat(outs['all_cls_scores'], outs['all_bbox_preds'])[0]
    first = ours.bboxes_3d.tensor[0]
    q = int(
        torch.nonzero(((outs['all_bbox_preds'][-1, 0, :, :3] - ours.bboxes_3d.gravity_center[0]).abs()
                       < 1e-5).all(-1))[0])
    assert abs(first[3] - b0[q, 3].exp()) < 1e-4 and abs(first[4] - b0[q, 2].exp()) < 1e-4
    assert abs(math.remainder(float(first[6] - yaw[q]), 2 * math.pi)) < 1e-4


def official_dn_mask(pad_size, single_pad, groups, num_query):
    """The loop of ``UVTRDNHead.prepare_for_dn``."""
    tgt = pad_size + num_query
    m = torch.zeros(tgt, tgt, dtype=torch.bool)
    m[pad_size:, :pad_size] = True
    for i in range(groups):
        if i == 0:
            m[single_pad * i:single_pad * (i + 1), single_pad * (i + 1):pad_size] = True
        if i == groups - 1:
            m[single_pad * i:single_pad * (i + 1), :single_pad * i] = True
        else:
            m[single_pad * i:single_pad * (i + 1), single_pad * (i + 1):pad_size] = True
            m[single_pad * i:single_pad * (i + 1), :single_pad * i] = True
    return m


@pytest.mark.parametrize('groups', [1, 2, 5])
def test_dn_attention_mask_equals_the_official(groups):
    assert torch.equal(dn_attention_mask(3 * groups, 3, groups, 7, 'cpu'), official_dn_mask(3 * groups, 3, groups, 7))


def _gt(n):
    g = torch.Generator().manual_seed(n)
    boxes = torch.cat([
        torch.rand(n, 2, generator=g) * 20 - 10,
        torch.rand(n, 1, generator=g) - 2,
        torch.rand(n, 3, generator=g) * 3 + 0.5,
        torch.rand(n, 1, generator=g) * 6 - 3,
        torch.randn(n, 2, generator=g)
    ], -1)
    return InstanceData(bboxes_3d=LiDARInstance3DBoxes(boxes, box_dim=9), labels_3d=torch.arange(n) % 10)


def test_dn_queries_sit_at_noisy_gt_centres_with_background_beyond_split():
    head = _head(True).train()
    gts = [_gt(3), _gt(1)]
    torch.manual_seed(5)
    ref, mask, dn = head.prepare_for_dn(2, head.reference_points.weight, gts)
    groups = min(head.scalar, NQ // 3)
    assert dn['pad_size'] == 3 * groups and ref.shape == (2, 3 * groups + NQ, 3)
    assert torch.equal(mask, official_dn_mask(3 * groups, 3, groups, NQ))
    boxes = dn['known_bboxes']
    lo, hi = torch.tensor(PC[:3]), torch.tensor(PC[3:])
    centre = ref[dn['known_bid'], dn['map_known_indice']] * (hi - lo) + lo
    rel = (centre - boxes[:, :3]) / (boxes[:, 3:6] / 2)  # U(-1, 1) per axis (no clamp inside the range)
    assert rel.abs().max() <= 1 + 1e-4
    far = rel.norm(dim=1) > head.split
    assert torch.equal(dn['known_labels'] == head.num_classes, far)
    # the padding of the sample with fewer boxes stays at 0; the matching queries keep their reference points
    assert torch.equal(ref[1, 1:3], torch.zeros(2, 3))
    assert torch.equal(ref[0, dn['pad_size']:], head.reference_points.weight)
    # no GT box in the batch: no denoising queries (the official divides by zero)
    ref, mask, dn = head.prepare_for_dn(2, head.reference_points.weight, [_gt(0), _gt(0)])
    assert dn is None and mask is None and ref.shape == (2, NQ, 3)


def test_dn_head_losses_train_and_empty_batches_give_zero_dn_losses():
    head = _head(True).train()
    value = torch.randn(2, EMBED, 5, 16, 16, requires_grad=True)
    gts = [_gt(3), _gt(2)]
    outs = head(value, gts)
    losses = head.loss_by_feat(outs, gts)
    expected = {f'{p}{dn}loss_{k}' for p in ('', 'd0.') for dn in ('', 'dn_') for k in ('cls', 'bbox', 'iou')}
    assert set(losses) == expected
    assert all(torch.isfinite(v) for v in losses.values())
    assert losses['dn_loss_cls'] > 0 and losses['dn_loss_bbox'] > 0
    sum(losses.values()).backward()
    assert value.grad.abs().sum() > 0
    outs = head(value.detach(), [_gt(0), _gt(0)])
    losses = head.loss_by_feat(outs, [_gt(0), _gt(0)])
    assert losses['dn_loss_cls'] == 0 and losses['dn_loss_bbox'] == 0


def test_iou_loss_is_the_l1_to_twice_the_3d_iou_minus_one():
    head = _head(True)
    gt = _gt(4)
    raw = torch.cat([gt.bboxes_3d.gravity_center, gt.bboxes_3d.tensor[:, 3:]], -1)
    pred = raw.clone()
    pred[:, 0] += 0.3
    from mim3d_plugin.models.task_modules import normalize_bbox3d
    iou_pred = torch.full((4, ), 0.2)
    loss = head._iou_loss(iou_pred, normalize_bbox3d(pred), raw, torch.ones(4))
    b1, b2 = pred[:, :7].clone(), raw[:, :7].clone()
    b1[:, 2] -= b1[:, 5] / 2
    b2[:, 2] -= b2[:, 5] / 2
    iou = LiDARInstance3DBoxes(b1).overlaps(LiDARInstance3DBoxes(b1), LiDARInstance3DBoxes(b2)).diagonal()
    assert abs(float(loss) - float((iou_pred - (2 * iou - 1)).abs().mean())) < 1e-4


def test_paired_iou_3d_known_answers_and_mmdet3d():
    box = torch.tensor([[0.0, 0.0, -1.0, 4.0, 2.0, 2.0, 0.3]])
    assert abs(float(paired_iou_3d(box, box)) - 1) < 1e-5
    # 1 m along the heading and 0.5 m across it (not a touching edge: mmcv's rotated IoU is unstable for collinear
    # edges): BEV overlap 3 x 1.5 of 8 m2, times the full height -> 9 / (16 + 16 - 9)
    moved = box.clone()
    moved[0, 0] += 1.0 * math.cos(0.3) - 0.5 * math.sin(0.3)
    moved[0, 1] += 1.0 * math.sin(0.3) + 0.5 * math.cos(0.3)
    assert abs(float(paired_iou_3d(box, moved)) - 9 / 23) < 1e-4
    up = box.clone()
    up[0, 2] += 0.5  # a quarter of the height: 12 / (32 - 12)
    assert abs(float(paired_iou_3d(box, up)) - 12 / 20) < 1e-4
    g = torch.Generator().manual_seed(0)
    a = torch.cat([
        torch.rand(20, 3, generator=g) * 4,
        torch.rand(20, 3, generator=g) * 3 + 0.5,
        torch.rand(20, 1, generator=g) * 6
    ], -1)
    b = a + torch.randn(20, 7, generator=g) * 0.5
    b[:, 3:6] = b[:, 3:6].abs() + 0.3
    ref = LiDARInstance3DBoxes(a).overlaps(LiDARInstance3DBoxes(a), LiDARInstance3DBoxes(b)).diagonal()
    assert (paired_iou_3d(a, b) - ref).abs().max() < 1e-4
    with pytorch_ops_only():  # the PyTorch path (no mmcv kernel)
        assert (paired_iou_3d(a, b) - ref).abs().max() < 1e-4
        assert abs(float(paired_iou_3d(box, moved)) - 9 / 23) < 1e-4


# ---------------------------------------------------------------------------------------------- detector
def _detector(lift, with_dn, n_cam=3):
    layer = dict(
        attn_cfgs=[
            dict(type='MultiheadAttention', embed_dims=EMBED, num_heads=HEADS, dropout=0.1),
            dict(type='UVTRCrossAttention', embed_dims=EMBED, num_points=1)
        ],
        ffn_cfgs=dict(type='FFN', embed_dims=EMBED, feedforward_channels=32, num_fcs=2),
        operation_order=('self_attn', 'norm', 'cross_attn', 'norm', 'ffn', 'norm'))
    neck = (
        dict(type='mmdet.FPN', in_channels=[32, 64], out_channels=EMBED, num_outs=2) if lift == 'grid_sample' else dict(
            type='mmdet.FPN', in_channels=[64], out_channels=EMBED, num_outs=1))
    cfg = dict(
        type='UVTR',
        img_backbone=dict(
            type='mmdet.ResNet',
            depth=18,
            num_stages=4,
            out_indices=(2, 3) if lift == 'grid_sample' else (3, ),
            base_channels=8,
            norm_cfg=dict(type='BN'),
            norm_eval=False,
            style='pytorch'),
        img_neck=neck,
        neck_channels=EMBED,
        depth_net=dict(kind='simple') if lift == 'grid_sample' else dict(kind='complex', aspp_mid_channels=8),
        grid_mask=dict(type='ImageGridMask', prob=0.7),
        view_transform=dict(
            type='UVTRViewTransform',
            lift=lift,
            point_cloud_range=PC,
            voxel_size=VS,
            depth_range=(0.0, 32.0) if lift == 'grid_sample' else (1.0, 25.0),
            depth_step=2.0,
            embed_dims=EMBED,
            num_convs=2),
        pts_bbox_head=dict(
            type='UVTRHead',
            with_dn=with_dn,
            num_query=NQ,
            embed_dims=EMBED,
            point_cloud_range=PC,
            transformer=dict(decoder=dict(num_layers=2, transformerlayers=layer)),
            bbox_coder=dict(type='NMSFreeBBox3DCoder', post_center_range=[-20, -20, -5, 20, 20, 5], max_num=20)))
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


@pytest.mark.parametrize('lift,with_dn', [('voxel_pool', True), ('grid_sample', False)])
def test_detector_trains_and_predicts_with_three_cameras_and_two_samples(lift, with_dn):
    model = _detector(lift, with_dn)
    with torch.no_grad():  # off the exact initialisation (zero attention weights block gradients by design)
        for p in model.parameters():
            p.add_(0.02 * torch.randn_like(p))
    inputs, samples = tiny.make_batch(2, n_cam=3, num_frames=1)
    losses = model.loss(inputs, samples)
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]

    # a layer's IoU branch learns only from pairs whose boxes overlap (official); random boxes may overlap none
    def no_overlap(name):
        lvl = int(name.split('.iou_branches.')[1].split('.')[0])
        prefix = '' if lvl == len(model.pts_bbox_head.iou_branches) - 1 else f'd{lvl}.'
        return float(losses[prefix + 'loss_iou']) == 0 and float(losses[prefix + 'dn_loss_iou']) == 0

    assert not [n for n in missing if not ('.iou_branches.' in n and no_overlap(n))], missing
    model.eval()
    with torch.no_grad():
        preds = model.predict(inputs, samples)
    assert len(preds) == 2 and len(preds[0].pred_instances_3d.scores_3d) == 20
    # the sample order does not change a sample's result (no batch coupling at test time)
    with torch.no_grad():
        swapped = model.predict({'imgs': inputs['imgs'].flip(0)}, samples[::-1])
    assert torch.allclose(swapped[1].pred_instances_3d.scores_3d, preds[0].pred_instances_3d.scores_3d, atol=1e-5)


def test_detector_refuses_lidar2img_of_another_camera_count():
    model = _detector('voxel_pool', True).eval()
    inputs, samples = tiny.make_batch(1, n_cam=2, num_frames=1)
    with pytest.raises(ValueError, match='lidar2img has 2 views, images 3'):
        model.predict({'imgs': torch.cat([inputs['imgs'], inputs['imgs'][:, :1]], 1)}, samples)
