"""tools/model_converters/bevdet_official_to_mim3d.py on state dicts of the official BEVDet dev2.1 detectors.

The official BEVDet-R50-CBGS and BEVDet4D-R50-CBGS (HuangJunJie2017/BEVDet dev2.1, as vendored in Sense-X/GeoMIM
``bevdet/``: ``necks/fpn.py`` CustomFPN, ``necks/view_transformer.py`` LSSViewTransformer, ``backbones/resnet.py``
CustomResNet, ``necks/lss_fpn.py`` FPN_LSS, mmdet3d's CenterHead) are re-built below from their definitions (module
names, op order; the lifting re-derived from ``get_lidar_coor`` + ``voxel_pooling_prepare_v2`` + ``bev_pool_v2``),
with mmdet's ``ResNet`` / ``BasicBlock`` / ``ConvModule`` and mmdet3d's ``CenterHead`` which they use. Random
weights and BN statistics; the converted state dict must fill our detectors of the ``*-official`` configs with 0
missing / 0 unexpected keys and give the official module outputs.
"""
import importlib.util
import math
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmdet3d.registry import MODELS
from mmdet.models.backbones.resnet import BasicBlock, ResNet
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch import nn

import mim3d_plugin  # noqa: F401
import projects.BEVDet.bevdet  # noqa: F401

init_default_scope('mmdet3d')
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
_spec = importlib.util.spec_from_file_location('bevdet_official_to_mim3d',
                                               osp.join(ROOT, 'tools/model_converters/bevdet_official_to_mim3d.py'))
conv = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(conv)
CFG_2D = osp.join(ROOT, 'projects/BEVDet/configs/bevdet-r50-official_8xb8-cbgs-20e_nus.py')
CFG_4D = osp.join(ROOT, 'projects/BEVDet/configs/bevdet4d-r50-official_8xb8-cbgs-20e_nus.py')


class OfficialCustomFPN(nn.Module):

    def __init__(self, in_channels, out_channels, out_ids=(0, )):
        super().__init__()
        self.out_ids = list(out_ids)
        self.lateral_convs = nn.ModuleList(
            [ConvModule(c, out_channels, 1, act_cfg=None, inplace=False) for c in in_channels])
        self.fpn_convs = nn.ModuleList([
            ConvModule(out_channels, out_channels, 3, padding=1, act_cfg=None, inplace=False)
            for i in range(len(in_channels)) if i in out_ids
        ])

    def forward(self, inputs):
        lat = [c(x) for c, x in zip(self.lateral_convs, inputs)]
        for i in range(len(lat) - 1, 0, -1):
            lat[i - 1] = lat[i - 1] + F.interpolate(lat[i], size=lat[i - 1].shape[2:], mode='nearest')
        return [self.fpn_convs[k](lat[i]) for k, i in enumerate(self.out_ids)][0]


class OfficialCustomResNet(nn.Module):

    def __init__(self, numC_input, num_layer=(2, 2, 2), num_channels=None, stride=(2, 2, 2), out_ids=None):
        super().__init__()
        num_channels = num_channels or [numC_input * 2**(i + 1) for i in range(len(num_layer))]
        self.out_ids = range(len(num_layer)) if out_ids is None else out_ids
        layers, cur = [], numC_input
        for i in range(len(num_layer)):
            layer = [
                BasicBlock(
                    cur, num_channels[i], stride=stride[i], downsample=nn.Conv2d(cur, num_channels[i], 3, stride[i], 1))
            ]
            cur = num_channels[i]
            layer += [BasicBlock(cur, cur) for _ in range(num_layer[i] - 1)]
            layers.append(nn.Sequential(*layer))
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        feats = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i in self.out_ids:
                feats.append(x)
        return feats


class OfficialFPNLSS(nn.Module):

    def __init__(self, in_channels, out_channels, scale_factor=4, input_feature_index=(0, 2), extra_upsample=2):
        super().__init__()
        self.index = input_feature_index
        self.up = nn.Upsample(scale_factor=scale_factor, mode='bilinear', align_corners=True)
        f = 2 if extra_upsample else 1
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, out_channels * f, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels * f),
            nn.ReLU(inplace=True), nn.Conv2d(out_channels * f, out_channels * f, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels * f), nn.ReLU(inplace=True))
        self.up2 = nn.Sequential(
            nn.Upsample(scale_factor=extra_upsample, mode='bilinear', align_corners=True),
            nn.Conv2d(out_channels
                      * f, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU(
                          inplace=True), nn.Conv2d(out_channels, out_channels, 1)) if extra_upsample else None

    def forward(self, feats):
        x = self.conv(torch.cat([feats[self.index[0]], self.up(feats[self.index[1]])], 1))
        return self.up2(x) if self.up2 is not None else x


class OfficialLSS(nn.Module):
    """dev2.1 ``LSSViewTransformer``: depth_net, softmax over D, and the lifting of ``get_lidar_coor`` +
    ``voxel_pooling_prepare_v2`` (``((p - lower) / interval).long()``, kept inside the grid) + ``bev_pool_v2``."""

    def __init__(self, grid, input_size, downsample, in_channels, out_channels):
        super().__init__()
        self.grid, self.input_size, self.ds = grid, input_size, downsample
        self.D = int(round((grid['depth'][1] - grid['depth'][0]) / grid['depth'][2]))
        self.C = out_channels
        self.depth_net = nn.Conv2d(in_channels, self.D + out_channels, 1)

    def forward(self, x, cam2lidar, intrins):
        B, N, _, h, w = x.shape
        out = self.depth_net(x.flatten(0, 1))
        depth = out[:, :self.D].softmax(1)
        feat = out[:, self.D:self.D + self.C]
        H, W = self.input_size
        d = torch.arange(*self.grid['depth'], dtype=torch.float)[:, None, None].expand(-1, h, w)
        xs = torch.linspace(0, W - 1, w)[None, None, :].expand(self.D, h, w)
        ys = torch.linspace(0, H - 1, h)[None, :, None].expand(self.D, h, w)
        frustum = torch.stack([xs, ys, d], -1)  # (D, h, w, 3)
        pts = torch.cat([frustum[..., :2] * frustum[..., 2:3], frustum[..., 2:3]], -1)  # post_rot/tran identity
        combine = cam2lidar[:, :, :3, :3] @ torch.inverse(intrins)
        pts = torch.einsum('bnij,dhwj->bndhwi', combine, pts) + cam2lidar[:, :, None, None, None, :3, 3]
        lower = torch.tensor([self.grid[k][0] for k in 'xyz'])
        interval = torch.tensor([self.grid[k][2] for k in 'xyz'])
        size = [int(round((self.grid[k][1] - self.grid[k][0]) / self.grid[k][2])) for k in 'xyz']
        coor = ((pts - lower) / interval).long()  # truncation toward zero, as the official
        kept = ((coor >= 0) & (coor < torch.tensor(size))).all(-1)  # (B, N, D, h, w)
        vals = depth.view(B, N, self.D, h, w)[..., None] * feat.view(B, N, self.C, h, w).permute(0, 1, 3, 4, 2)[:, :,
                                                                                                                None]
        bev = torch.zeros(B, size[2], size[1], size[0], self.C)
        for b in range(B):
            c, v = coor[b][kept[b]], vals[b][kept[b]]
            bev[b].index_put_((c[:, 2], c[:, 1], c[:, 0]), v, accumulate=True)
        bev = bev.permute(0, 4, 1, 2, 3)  # (B, C, Z, Y, X)
        return torch.cat(bev.unbind(2), 1), depth


def dicts(out):
    """CenterHead outputs (nested lists over levels and tasks) -> flat list of dicts of maps."""
    return [out] if isinstance(out, dict) else [d for o in out for d in dicts(o)]


def official_bevdet(cfg, four_d=False):
    m = cfg.model
    det = nn.Module()
    det.img_backbone = ResNet(depth=50, num_stages=4, out_indices=(2, 3), style='pytorch')
    det.img_neck = OfficialCustomFPN(m.img_neck.in_channels, m.img_neck.out_channels, m.img_neck.out_ids)
    vt = m.img_view_transformer
    det.img_view_transformer = OfficialLSS(vt.grid_config, vt.input_size, vt.downsample, vt.in_channels,
                                           vt.out_channels)
    bb = m.img_bev_encoder_backbone
    det.img_bev_encoder_backbone = OfficialCustomResNet(bb.in_channels, num_channels=bb.num_channels)
    det.img_bev_encoder_neck = OfficialFPNLSS(m.img_bev_encoder_neck.in_channels, m.img_bev_encoder_neck.out_channels)
    if four_d:
        det.pre_process_net = OfficialCustomResNet(
            vt.out_channels, num_layer=[2], num_channels=[vt.out_channels], stride=[1], out_ids=[0])
    head = dict(m.pts_bbox_head, type='CenterHead', train_cfg=m.train_cfg.pts, test_cfg=m.test_cfg.pts)
    det.pts_bbox_head = MODELS.build(head)  # mmdet3d's CenterHead, as the official
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in det.named_parameters():
            scale = 1.0 / math.sqrt(max(p[0].numel(), 1)) if p.dim() > 1 else 0.1
            p.copy_(torch.randn(p.shape, generator=g) * scale + (1.0 if p.dim() == 1 and 'bn' in name else 0))
        for name, b in det.named_buffers():
            if name.endswith('running_mean'):
                b.copy_(torch.randn(b.shape, generator=g) * 0.1)
            elif name.endswith('running_var'):
                b.copy_(torch.rand(b.shape, generator=g) + 0.5)
    return det.eval()


def ours(path):
    cfg = Config.fromfile(path)
    cfg.model.img_backbone.init_cfg = None
    return cfg, MODELS.build(cfg.model).eval()


@pytest.mark.parametrize('path,four_d', [(CFG_2D, False), (CFG_4D, True)], ids=['bevdet-r50', 'bevdet4d-r50'])
def test_official_checkpoint_fills_the_official_config_key_for_key(path, four_d, tmp_path):
    cfg, model = ours(path)
    official = official_bevdet(cfg, four_d)
    ckpt = {'state_dict': {'module.' + k: v for k, v in official.state_dict().items()}}
    src, dst = tmp_path / 'official.pth', tmp_path / 'mim3d.pth'
    torch.save(ckpt, src)
    out, report = conv.main([str(src), str(dst), '--config', path])  # exits non-zero on any mismatch
    # FPN_LSS: conv 2 x (conv weight + 5 BN tensors) = 12, up2: conv weight + 5 BN tensors + 1x1 conv (w, b) = 8
    assert len(report['renamed']) == 20
    assert all(r.startswith('img_bev_encoder_neck.') for r in report['renamed'])
    model.load_state_dict(out, strict=True)
    from mim3d_plugin.models.utils.state_dict_check import compare_state_dicts, model_state_of_config
    check = compare_state_dicts(out, model_state_of_config(path))
    assert not any(check.values()), check


def test_modules_equal_the_official_on_converted_weights():
    cfg, model = ours(CFG_4D)
    official = official_bevdet(cfg, four_d=True)
    out, _ = conv.convert(official.state_dict())
    model.load_state_dict(out, strict=True)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        # image neck (CustomFPN, stride 16 output)
        levels = [torch.randn(2, 1024, 16, 44, generator=g), torch.randn(2, 2048, 8, 22, generator=g)]
        assert (model.img_neck(levels)[0] - official.img_neck(levels)).abs().max() < 1e-4
        # view transformer: depth net + softmax + lifting into the 0.8 m grid (two cameras, official frustum pixels)
        feats = torch.randn(1, 2, 256, 16, 44, generator=g)
        intrins = torch.tensor([[600., 0., 352.], [0., 600., 128.], [0., 0., 1.]]).expand(1, 2, 3, 3)
        cam2lidar = torch.eye(4).repeat(1, 2, 1, 1)
        for k, yaw in enumerate((0.0, 1.0)):  # camera axes (right, down, forward) -> LiDAR (forward, left, up)
            rz = torch.tensor([[math.cos(yaw), -math.sin(yaw), 0.], [math.sin(yaw), math.cos(yaw), 0.], [0., 0., 1.]])
            cam2lidar[0, k, :3, :3] = rz @ torch.tensor([[0., 0., 1.], [-1., 0., 0.], [0., -1., 0.]])
            cam2lidar[0, k, :3, 3] = torch.tensor([1.0, 0.2 * k, 1.6])
        k4 = torch.eye(4).repeat(1, 2, 1, 1)
        k4[..., :3, :3] = intrins
        lidar2img = k4 @ torch.inverse(cam2lidar)
        theirs_bev, theirs_depth = official.img_view_transformer(feats, cam2lidar, intrins)
        mine_bev, mine_depth = model.img_view_transformer(feats, lidar2img)
        assert (mine_depth.flatten(0, 1) - theirs_depth).abs().max() < 1e-5
        assert theirs_bev.abs().sum() > 0
        assert (mine_bev - theirs_bev).abs().max() < 1e-5 * theirs_bev.abs().max()
        # our default voxel index (floor) drops the points below the grid the official truncation keeps
        model.img_view_transformer.coord_rounding = 'floor'
        floor_bev, _ = model.img_view_transformer(feats, lidar2img)
        assert floor_bev.sum() < 0.95 * theirs_bev.sum()
        model.img_view_transformer.coord_rounding = 'trunc'
        # per-frame pre_process, BEV encoder (CustomResNet + FPN_LSS) and the head
        bev = torch.randn(1, 80, 32, 32, generator=g)
        assert (model.pre_process_net(bev)[0] - official.pre_process_net(bev)[0]).abs().max() < 1e-4
        bev2 = torch.randn(1, 160, 32, 32, generator=g)
        mine = model.img_bev_encoder_neck(model.img_bev_encoder_backbone(bev2))
        theirs = official.img_bev_encoder_neck(official.img_bev_encoder_backbone(bev2))
        assert (mine - theirs).abs().max() < 1e-4
        mine, theirs = dicts(model.pts_bbox_head([theirs])), dicts(official.pts_bbox_head([theirs]))
        assert len(mine) == len(theirs) == 1 and set(mine[0]) == {'reg', 'height', 'dim', 'rot', 'vel', 'heatmap'}
        for key in mine[0]:
            assert (mine[0][key] - theirs[0][key]).abs().max() < 1e-5, key


def test_refuses_what_has_no_counterpart():
    with pytest.raises(ValueError, match='not a BEVDet checkpoint'):
        conv.convert({'backbone.conv1.weight': torch.zeros(1)})
    state = {
        'img_view_transformer.depth_net.weight': torch.zeros(1, 1, 1, 1),
        'img_bev_encoder_neck.conv.0.weight': torch.zeros(1, 1, 3, 3),
        'img_bev_encoder_neck.input_conv.0.weight': torch.zeros(1, 1, 1, 1)
    }
    with pytest.raises(ValueError, match='input_conv'):
        conv.convert(state)
