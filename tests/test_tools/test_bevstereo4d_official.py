"""BEVStereo4D against the official BEVDet dev2.x code (Sense-X/GeoMIM ``bevdet/mmdet3d/models/necks/
view_transformer.py`` ``DepthNet`` / ``ASPP`` / ``SELayer`` / ``Mlp`` / ``LSSViewTransformerBEVDepth``), re-built
below from its definitions: an official BEVStereo4D-R50 state dict converts into
``bevstereo4d-r50-official_8xb8-cbgs-20e_nus.py`` with 0 missing / 0 unexpected keys, and the depth net (camera-aware
gates + the stereo branch) computes the official output on the same weights and inputs; the sid depth bins and
targets are the official ones."""
import math
import os.path as osp

import test_bevdet_official_to_mim3d as off  # noqa: E402  (the official BEVDet modules of the sibling test)
import torch
import torch.nn.functional as F
from mmdet.models.backbones.resnet import BasicBlock
from torch import nn

ROOT = off.ROOT
CFG = osp.join(ROOT, 'projects/BEVDet/configs/bevstereo4d-r50-official_8xb8-cbgs-20e_nus.py')


class OfficialASPPModule(nn.Module):

    def __init__(self, inplanes, planes, kernel_size, padding, dilation):
        super().__init__()
        self.atrous_conv = nn.Conv2d(inplanes, planes, kernel_size, 1, padding, dilation, bias=False)
        self.bn = nn.BatchNorm2d(planes)

    def forward(self, x):
        return F.relu(self.bn(self.atrous_conv(x)))


class OfficialASPP(nn.Module):

    def __init__(self, inplanes, mid):
        super().__init__()
        self.aspp1 = OfficialASPPModule(inplanes, mid, 1, 0, 1)
        self.aspp2 = OfficialASPPModule(inplanes, mid, 3, 6, 6)
        self.aspp3 = OfficialASPPModule(inplanes, mid, 3, 12, 12)
        self.aspp4 = OfficialASPPModule(inplanes, mid, 3, 18, 18)
        self.global_avg_pool = nn.Sequential(
            nn.AdaptiveAvgPool2d((1, 1)), nn.Conv2d(inplanes, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU())
        self.conv1 = nn.Conv2d(mid * 5, inplanes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(inplanes)

    def forward(self, x):
        x5 = F.interpolate(self.global_avg_pool(x), size=x.shape[2:], mode='bilinear', align_corners=True)
        x = torch.cat((self.aspp1(x), self.aspp2(x), self.aspp3(x), self.aspp4(x), x5), 1)
        return F.relu(self.bn1(self.conv1(x)))  # dropout: identity in eval


class OfficialMlp(nn.Module):

    def __init__(self, i, h, o):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(i, h), nn.Linear(h, o)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


class OfficialSE(nn.Module):

    def __init__(self, c):
        super().__init__()
        self.conv_reduce, self.conv_expand = nn.Conv2d(c, c, 1), nn.Conv2d(c, c, 1)

    def forward(self, x, x_se):
        return x * torch.sigmoid(self.conv_expand(F.relu(self.conv_reduce(x_se))))


class OfficialDepthNet(nn.Module):
    """``DepthNet(in, in, C, D, use_dcn=False, aspp_mid_channels=96, stereo=True, bias=5.)``."""

    def __init__(self, cin, mid, ctx, d, aspp_mid):
        super().__init__()
        self.reduce_conv = nn.Sequential(nn.Conv2d(cin, mid, 3, 1, 1), nn.BatchNorm2d(mid), nn.ReLU(inplace=True))
        self.context_conv = nn.Conv2d(mid, ctx, 1, 1, 0)
        self.bn = nn.BatchNorm1d(27)
        self.depth_mlp, self.depth_se = OfficialMlp(27, mid, mid), OfficialSE(mid)
        self.context_mlp, self.context_se = OfficialMlp(27, mid, mid), OfficialSE(mid)
        self.cost_volumn_net = nn.Sequential(
            nn.Conv2d(d, d, 3, 2, 1), nn.BatchNorm2d(d), nn.Conv2d(d, d, 3, 2, 1), nn.BatchNorm2d(d))
        self.depth_conv = nn.Sequential(
            BasicBlock(mid + d, mid, downsample=nn.Conv2d(mid + d, mid, 1, 1, 0)), BasicBlock(mid, mid),
            BasicBlock(mid, mid), OfficialASPP(mid, aspp_mid), nn.Conv2d(mid, d, 1, 1, 0))

    def forward(self, x, mlp_input, cost_volumn):
        mlp_input = self.bn(mlp_input.reshape(-1, mlp_input.shape[-1]))
        x = self.reduce_conv(x)
        context = self.context_conv(self.context_se(x, self.context_mlp(mlp_input)[..., None, None]))
        depth = self.depth_se(x, self.depth_mlp(mlp_input)[..., None, None])
        depth = torch.cat([depth, self.cost_volumn_net(cost_volumn)], dim=1)
        return torch.cat([self.depth_conv(depth), context], dim=1)


def _randomise(module, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            scale = 1.0 / math.sqrt(max(p[0].numel(), 1)) if p.dim() > 1 else 0.1
            p.copy_(torch.randn(p.shape, generator=g) * scale + (1.0 if p.dim() == 1 and 'bn' in name else 0))
        for name, b in module.named_buffers():
            if name.endswith('running_mean'):
                b.copy_(torch.randn(b.shape, generator=g) * 0.1)
            elif name.endswith('running_var'):
                b.copy_(torch.rand(b.shape, generator=g) + 0.5)
    return module.eval()


def _official_bevstereo4d(cfg):
    det = off.official_bevdet(cfg, four_d=True)
    det.img_backbone = off.ResNet(depth=50, num_stages=4, out_indices=(0, 2, 3), style='pytorch')
    vt = cfg.model.img_view_transformer
    d = len(torch.arange(*vt.grid_config['depth']))
    det.img_view_transformer.depth_net = OfficialDepthNet(vt.in_channels, vt.in_channels, vt.out_channels, d, 96)
    return _randomise(det, 0)


def test_official_bevstereo4d_checkpoint_converts_key_for_key(tmp_path):
    cfg, model = off.ours(CFG)
    official = _official_bevstereo4d(cfg)
    ckpt = {'state_dict': {'module.' + k: v for k, v in official.state_dict().items()}}
    src, dst = tmp_path / 'official.pth', tmp_path / 'mim3d.pth'
    torch.save(ckpt, src)
    out, report = off.conv.main([str(src), str(dst), '--config', CFG])  # exits non-zero on any mismatch
    assert any(k.startswith('img_view_transformer.depth_net.cost_volumn_net.') for k in out)
    model.load_state_dict(out, strict=True)


def test_depth_net_equals_the_official_on_converted_weights():
    """Camera-aware gates, the stereo branch (a cost volume at stride 4) and the depth head: max abs diff < 1e-4;
    our zero cost volume for a frame without a previous one is the official one."""
    cfg, model = off.ours(CFG)
    official = _official_bevstereo4d(cfg)
    out, _ = off.conv.convert(official.state_dict())
    model.load_state_dict(out, strict=True)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 256, 16, 44, generator=g)
    mlp = torch.randn(2, 27, generator=g)
    d = model.img_view_transformer.num_bins
    cost = torch.rand(2, d, 64, 176, generator=g).softmax(1)
    with torch.no_grad():
        mine = model.img_view_transformer.depth_net(x, mlp, cost)
        theirs = official.img_view_transformer.depth_net(x, mlp, cost)
        assert mine.shape == (2, d + 80, 16, 44)
        assert (mine - theirs).abs().max() < 1e-4 * max(1.0, float(theirs.abs().max()))
        zero = model.img_view_transformer.depth_net(x, mlp, None)
        assert torch.allclose(zero, official.img_view_transformer.depth_net(x, mlp, torch.zeros_like(cost)), atol=1e-4)


def test_sid_bins_and_targets_are_the_official_ones():
    """sid bins: the official ``create_frustum`` formula; targets: the official ``get_downsampled_gt_depth`` (sid
    branch) re-derived, for depths all over the range (incl. outside it)."""
    from mim3d_plugin.geometry import depth_bin_centers
    from mim3d_plugin.models.view_transforms import depth_to_bins
    cfg_depth = (1.0, 60.0, 1.0)
    n = len(torch.arange(*cfg_depth))
    t = torch.tensor(cfg_depth)
    official = torch.exp(torch.log(t[0]) + torch.arange(n).float() / (n - 1) * torch.log((t[1] - 1) / t[0]))
    assert torch.allclose(depth_bin_centers(cfg_depth, sid=True), official, rtol=1e-6)
    g = torch.Generator().manual_seed(3)
    depth = torch.rand(1, 1, 16, 32, generator=g) * 70.0
    depth[depth < 0.5] = 0.0
    target, valid = depth_to_bins(depth, 4, cfg_depth, sid=True)
    # official: min over the 4x4 cell, log mapping, +1, one_hot(D + 1)[:, 1:]
    cells = depth.view(1, 4, 4, 8, 4).permute(0, 1, 3, 2, 4).reshape(-1, 16)
    cells = torch.where(cells == 0.0, 1e5 * torch.ones_like(cells), cells).min(-1).values
    gt = (torch.log(cells) - torch.log(t[0])) * (n - 1) / torch.log((t[1] - 1.) / t[0]) + 1.
    gt = torch.where((gt < n + 1) & (gt >= 0.0), gt, torch.zeros_like(gt))
    ref = F.one_hot(gt.long(), num_classes=n + 1)[:, 1:].float()
    assert torch.equal(target.reshape(-1, n), ref)
    assert torch.equal(valid.reshape(-1), ref.sum(-1) > 0)


def test_official_bevstereo4d_occ_checkpoint_converts_key_for_key(tmp_path):
    """The official BEVStereo4D-Occ layout (the stereo DepthNet above, CustomResNet3D / LSSFPN3D / final_conv /
    predicter, each checked against its official definition in test_occupancy.py / the test above) converts into
    bevstereo4d-occ-r50_8xb4-24e_occ3d-nus.py with 0 missing / 0 unexpected keys."""
    path = osp.join(ROOT, 'projects/BEVDet/configs/bevstereo4d-occ-r50_8xb4-24e_occ3d-nus.py')
    _, model = off.ours(path)
    official = {
        ('module.' + k[len('occ_head.'):] if k.startswith('occ_head.') else 'module.' + k): v
        for k, v in model.state_dict().items()
    }
    assert 'module.final_conv.conv.weight' in official and 'module.predicter.2.bias' in official
    src, dst = tmp_path / 'official.pth', tmp_path / 'mim3d.pth'
    torch.save({'state_dict': official}, src)
    out, report = off.conv.main([str(src), str(dst), '--config', path])
    assert sum(r.startswith(('final_conv', 'predicter')) for r in report['renamed']) == 6
