"""tools/model_converters/geomim_official_to_mim3d.py on a state dict of the official GeoMIM pretraining model.

The official ``SwinTransformerBEV`` (Sense-X/GeoMIM ``pretrain/mmdet3d/models/backbones/swin_geomim.py``) and the
``depthnet`` / ``downsample`` / ``prediction_head`` of ``vtransforms/depth_lss_gt.py`` + ``bevfusion_geomim.py`` are
re-built below from their definitions (module names; mmdet's ``PatchEmbed`` / ``PatchMerging`` / non-shifted
``SwinBlock``, which the official file imports or copies; timm's ``Block`` / ``Mlp``; ``WBlock``; ``PoseSEModule``;
the forward's op order), not copied. Their weights are random (BN statistics and conv biases too); the converted
state dict must fill our ``GeoMIM`` exactly (every key but the separately loaded teacher) and give the official
outputs: encoder (unmasked, as fine-tuning runs it, with the official zero-padded windows), both decoder passes
with cross-view attention and the camera gate, the depth / semantic head and the BEV downsampling.
"""
import importlib.util
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmdet3d.registry import MODELS
from mmdet.models.backbones.swin import SwinBlock
from mmdet.models.layers import PatchEmbed, PatchMerging
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch import nn

import mim3d_plugin  # noqa: F401
from mim3d_plugin.models.backbones.geomim_swin import GeoMIMSwin

init_default_scope('mmdet3d')
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
_spec = importlib.util.spec_from_file_location('geomim_official_to_mim3d',
                                               osp.join(ROOT, 'tools/model_converters/geomim_official_to_mim3d.py'))
conv = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(conv)

ARCH = dict(embed_dims=32, depths=[1, 1, 2, 1], num_heads=[1, 2, 4, 8])
WINDOWS = (16, 16, 16, 8)  # the official defaults
PRETRAIN_IMG = (224, 224)  # the paper config's img_size: a 56x56 position embedding
IMG = (128, 256)  # stride-8/16/32 grids 16x32, 8x16, 4x8 are padded to the windows
DEC, DEC_HEADS, DEC_DEPTH = 512, 16, 8
BINS, SEM, BEV_C, TEACHER_C = 118, 80, 80, 256


# --------------------------------------------------------------------------- the official layout, re-built
class TimmMlp(nn.Module):

    def __init__(self, cin, hidden, cout):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(cin, hidden), nn.GELU(), nn.Linear(hidden, cout)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class TimmAttention(nn.Module):
    """timm ``Attention`` = official ``WidthAttention``: qkv, scaled dot product, softmax, proj."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads)**-0.5
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(B, N, C))


class TimmBlock(nn.Module):

    def __init__(self, dim, heads):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim), TimmAttention(dim, heads)
        self.norm2, self.mlp = nn.LayerNorm(dim), TimmMlp(dim, 4 * dim, dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class WBlock(TimmBlock):
    """Official cross-view block: row r of all views attends jointly (views inferred from the batch: 6)."""

    def forward(self, x, hw_shape):
        H, W = hw_shape
        B, N, C = x.shape
        views = 6
        x_ = x.reshape(B // views, views, H, W, C).permute(0, 2, 1, 3, 4).reshape(B // views * H, views * W, C)
        res = self.attn(self.norm1(x_)).reshape(B // views, H, views, W, C).permute(0, 2, 1, 3, 4).reshape(B, N, C)
        x = x + res
        return x + self.mlp(self.norm2(x))


class PoseSEModule(nn.Module):

    def __init__(self, mid):
        super().__init__()
        self.bn, self.depth_mlp = nn.BatchNorm1d(22), TimmMlp(22, mid, mid)
        self.depth_se = nn.Module()
        self.depth_se.conv_reduce, self.depth_se.conv_expand = nn.Linear(mid, mid), nn.Linear(mid, mid)

    def forward(self, x, mlp_input):
        se = self.depth_mlp(self.bn(mlp_input.reshape(-1, mlp_input.shape[-1])))[:, None, :]
        return x * torch.sigmoid(self.depth_se.conv_expand(torch.relu(self.depth_se.conv_reduce(se))))


class Stage(nn.Module):

    def __init__(self, dim, depth, heads, window, downsample):
        super().__init__()
        self.blocks = nn.ModuleList(
            [SwinBlock(dim, heads, 4 * dim, window_size=window, shift=False) for _ in range(depth)])
        self.downsample = PatchMerging(dim, 2 * dim, stride=2, norm_cfg=dict(type='LN')) if downsample else None

    def forward(self, x, hw):
        for blk in self.blocks:
            x = blk(x, hw)
        if self.downsample is None:
            return x, hw, x, hw
        down, down_hw = self.downsample(x, hw)
        return down, down_hw, x, hw


class OfficialSwinBEV(nn.Module):
    """``SwinTransformerBEV``: encoder, top-down fusion and the GeoMIM decoder (key names of the official)."""

    def __init__(self):
        super().__init__()
        C, depths, heads = ARCH['embed_dims'], ARCH['depths'], ARCH['num_heads']
        self.patch_embed = PatchEmbed(3, C, kernel_size=4, stride=4, norm_cfg=dict(type='LN'))
        self.absolute_pos_embed = nn.Parameter(torch.randn(1, C, PRETRAIN_IMG[0] // 4, PRETRAIN_IMG[1] // 4) * .02)
        self.stages = nn.ModuleList([Stage(C * 2**i, depths[i], heads[i], WINDOWS[i], i < 3) for i in range(4)])
        self.num_features = [C * 2**i for i in range(4)]
        self.norm2, self.norm3 = nn.LayerNorm(4 * C), nn.LayerNorm(8 * C)
        self.up_p4_fc = nn.Linear(8 * C, 4 * C)
        self.up_smooth_p4 = SwinBlock(4 * C, heads[2], 16 * C)  # window 7, no shift (their defaults)
        self.final_norm = nn.LayerNorm(4 * C)
        self.mask_token = nn.Parameter(torch.randn(1, 1, DEC) * .02)
        # frozen; the official loader fills it from MixMIM (random here: it must be carried over, not rebuilt)
        self.decoder_pos_embed = nn.Parameter(
            torch.zeros(1, DEC, PRETRAIN_IMG[0] // 32, PRETRAIN_IMG[1] // 32), requires_grad=False)
        self.decoder_embed_new = nn.Linear(4 * C, DEC)
        self.decoder_blocks = nn.ModuleList([TimmBlock(DEC, DEC_HEADS) for _ in range(DEC_DEPTH)])
        self.decoder_norm = nn.LayerNorm(DEC)
        self.decoder_blocks_pix = nn.ModuleList([TimmBlock(DEC, DEC_HEADS) for _ in range(DEC_DEPTH // 2)])
        self.decoder_norm_pix = nn.LayerNorm(DEC)
        self.cam_pose = PoseSEModule(DEC)
        self.decoder_cross_module = nn.ModuleList([WBlock(DEC, DEC_HEADS) for _ in range(3)])

    def encode(self, x):
        x, hw = self.patch_embed(x)
        pos = F.interpolate(self.absolute_pos_embed, size=hw, mode='bicubic')
        x = x + pos.flatten(2).transpose(1, 2)
        outs, shapes = [], []
        for i, stage in enumerate(self.stages):
            x, hw, out, out_hw = stage(x, hw)
            if i in (2, 3):
                outs.append(getattr(self, f'norm{i}')(out))
            shapes.append(out_hw)
        c4, c5 = outs
        top = self.up_p4_fc(c5)
        B, _, C4 = top.shape
        top = F.interpolate(top.reshape(B, *shapes[3], C4).permute(0, 3, 1, 2), size=shapes[2], mode='nearest')
        p4 = self.up_smooth_p4(top.reshape(B, C4, -1).permute(0, 2, 1) + c4, shapes[2])
        return c4, c5, self.final_norm(p4), shapes[2]

    def decode(self, x, hw, masks, mlp_input):
        """x (BN, L, C) fused; masks: 2 complementary (h, w) float maps, 1 = masked; mlp_input (B, N, 22)."""
        x = self.decoder_embed_new(x)
        B, L, _ = x.shape
        tok = self.mask_token.expand(B, L, -1)
        ms = [m.flatten()[None, :, None] for m in masks]
        x = torch.cat([x * (1 - ms[0]) + tok * ms[0], x * (1 - ms[1]) + tok * ms[1]], 0)
        x = x + F.interpolate(self.decoder_pos_embed, size=hw, mode='bicubic').flatten(2).transpose(1, 2)
        x_pix = None
        for idx, blk in enumerate(self.decoder_blocks):
            x = blk(x)
            if idx in [1, 5]:
                x = self.decoder_cross_module[idx // 4](x, hw)
            if idx == 3:
                x_pix = x
        x = self.decoder_norm(x).view(-1, *hw, DEC).permute(0, 3, 1, 2)
        x_pix = self.cam_pose(x_pix, torch.cat([mlp_input, mlp_input], 0))
        for idx, blk in enumerate(self.decoder_blocks_pix):
            x_pix = blk(x_pix)
            if idx == 1:
                x_pix = self.decoder_cross_module[2](x_pix, hw)
        x_pix = self.decoder_norm_pix(x_pix).view(-1, *hw, DEC).permute(0, 3, 1, 2)
        return x, x_pix


def official_vtransform():
    """``depthnet`` (conv-BN-ReLU x2 with conv biases, conv1x1) and the BEV ``downsample`` of DepthLSSTransformGT."""
    vt = nn.Module()
    vt.depthnet = nn.Sequential(
        nn.Conv2d(2 * DEC, DEC, 3, padding=1), nn.BatchNorm2d(DEC), nn.ReLU(True), nn.Conv2d(DEC, DEC, 3, padding=1),
        nn.BatchNorm2d(DEC), nn.ReLU(True), nn.Conv2d(DEC, BINS + SEM, 1))
    vt.downsample = nn.Sequential(
        nn.Conv2d(BEV_C, BEV_C, 3, padding=1, bias=False), nn.BatchNorm2d(BEV_C), nn.ReLU(True),
        nn.Conv2d(BEV_C, BEV_C, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(BEV_C), nn.ReLU(True),
        nn.Conv2d(BEV_C, BEV_C, 3, padding=1, bias=False), nn.BatchNorm2d(BEV_C), nn.ReLU(True))
    return vt


def _randomise(module, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.copy_(
                torch.randn(p.shape, generator=g) * (0.05 if p.dim() > 1 else 0.2)
                + (1.0 if name.endswith(('norm1.weight', 'norm2.weight', 'norm.weight')) else 0.0))
        for name, b in module.named_buffers():
            if name.endswith('running_mean'):
                b.copy_(torch.randn(b.shape, generator=g) * 0.1)
            elif name.endswith('running_var'):
                b.copy_(torch.rand(b.shape, generator=g) + 0.5)


@pytest.fixture(scope='module')
def official():
    torch.manual_seed(0)
    enc = OfficialSwinBEV()
    vt = official_vtransform()
    head = nn.Conv2d(BEV_C, TEACHER_C, 1)
    for i, m in enumerate((enc, vt, head)):
        _randomise(m, i)
    state = {}
    state.update({'module.encoders.camera.backbone.' + k: v for k, v in enc.state_dict().items()})
    state.update({'module.encoders.camera.vtransform.' + k: v for k, v in vt.state_dict().items()})
    state.update({'module.prediction_head.' + k: v for k, v in head.state_dict().items()})
    state['module.encoders.lidar.backbone.conv_input.0.weight'] = torch.zeros(16, 5, 3, 3, 3)  # teacher: dropped
    return [m.eval() for m in (enc, vt, head)], dict(state_dict=state)


def paper_geomim():
    """The paper GeoMIM config at a small encoder width (decoder, head and BEV path at paper size)."""
    cfg = Config.fromfile(osp.join(ROOT, 'configs/geomim/geomim_swin-b_16xb2-50e_nus.py'))
    cfg.model.heads.bev.teacher.checkpoint = None
    cfg.model.heads.bev.allow_untrained_teacher = True
    cfg.model.encoder.backbone.arch = ARCH
    cfg.model.heads.bev.decoder.in_channels = 4 * ARCH['embed_dims']
    return MODELS.build(cfg.model).eval()


def test_every_geomim_key_is_filled_and_nothing_official_is_lost(official):
    _, ckpt = official
    out, report = conv.convert(ckpt['state_dict'])
    model = paper_geomim()
    own = {k for k in model.state_dict() if not k.startswith('heads.bev.teacher.')}
    assert {k.split('.')[0] for k in out} == {'encoder', 'heads'}  # the one pretraining layout
    assert set(out) == own, (sorted(own - set(out))[:10], sorted(set(out) - own)[:10])  # 0 missing, 0 unexpected
    for k, v in out.items():
        assert v.shape == model.state_dict()[k].shape, k
    dropped = [d.split(':')[0] for d in report['dropped']]
    assert dropped == ['encoders.lidar.backbone.conv_input.0.weight']  # the teacher loads its own checkpoint
    assert len(report['folded']) == 2 and len(report['transposed']) == 3
    assert any('img_size=(224, 224)' in n for n in report['notes'])
    assert any('pos_table_size=(7, 7)' in n for n in report['notes'])
    assert torch.equal(out['heads.bev.decoder.pos_table'],
                       ckpt['state_dict']['module.encoders.camera.backbone.decoder_pos_embed'])
    missing, unexpected = model.load_state_dict(out, strict=False)
    assert not unexpected and all(k.startswith('heads.bev.teacher.') for k in missing)


def test_encoder_equals_the_official_unmasked_forward(official):
    """Fine-tuning path: stage-3/4 maps and the fused stride-16 map, official zero-padded windows."""
    (enc, _, _), ckpt = official
    out, _ = conv.convert(ckpt['state_dict'])
    ours = GeoMIMSwin(
        arch=ARCH,
        img_size=PRETRAIN_IMG,
        window_size=WINDOWS,
        use_mask=False,
        out_indices=(2, 3),
        with_fusion=True,
        window_padding='official').eval()
    fused_out = GeoMIMSwin(
        arch=ARCH,
        img_size=PRETRAIN_IMG,
        window_size=WINDOWS,
        use_mask=False,
        out_indices=(2, 3),
        out_fused=True,
        window_padding='official').eval()
    ours.load_state_dict({
        k[len('encoder.backbone.'):]: v
        for k, v in out.items() if k.startswith('encoder.backbone.')
    },
                         strict=True)
    fused_out.load_state_dict(ours.state_dict())
    img = torch.randn(2, 3, *IMG)
    with torch.no_grad():
        c4, c5, fused, hw = enc.encode(img)
        o4, o5 = ours(img)
        ofused, o5_again = fused_out(img)  # out_fused: the stride-16 output is the fused map, strides increasing
    assert torch.equal(o5, o5_again)
    B = img.shape[0]
    for mine, theirs, name in ((o4, c4, 'stage 3'), (o5, c5, 'stage 4'), (ofused, fused, 'fused')):
        theirs = theirs.transpose(1, 2).reshape(mine.shape)
        assert (mine - theirs).abs().max() < 1e-5, name
    # our default ('masked' padding) is measurably not the official computation at this size
    masked = GeoMIMSwin(
        arch=ARCH, img_size=PRETRAIN_IMG, window_size=WINDOWS, use_mask=False, out_indices=(2, ),
        out_fused=True).eval()
    masked.load_state_dict(ours.state_dict())
    with torch.no_grad():
        assert (masked(img)[0] - fused.transpose(1, 2).reshape(B, -1, *hw)).abs().max() > 1e-2


def test_decoder_head_and_bev_downsample_equal_the_official(official):
    (enc, vt, head), ckpt = official
    out, _ = conv.convert(ckpt['state_dict'])
    model = paper_geomim()
    model.load_state_dict(out, strict=False)
    model = model.heads['bev']
    B, N = 1, 6
    h, w = IMG[0] // 16, IMG[1] // 16
    feats = torch.randn(B * N, h * w, 4 * ARCH['embed_dims'])
    unit = torch.zeros(h * w // 4, dtype=torch.bool)
    unit[torch.randperm(h * w // 4, generator=torch.Generator().manual_seed(0))[:h * w // 8]] = True
    unit = unit.view(h // 2, w // 2)  # 32 px units, half masked
    up = unit.repeat_interleave(2, 0).repeat_interleave(2, 1).float()
    cam = torch.randn(B, N, 22)
    with torch.no_grad():
        x, x_pix = enc.decode(feats, (h, w), [up, 1 - up], cam)
        theirs = vt.depthnet(torch.cat([x_pix, x], 1)).view(2, B, N, BINS + SEM, h, w)
        feats5 = feats.transpose(1, 2).reshape(B, N, -1, h, w)
        for k, mask in enumerate((unit, ~unit)):
            mine = model.decoder(feats5, mask.expand(B, N, -1, -1), cam)
            assert (mine['depth_logits'] - theirs[k, :, :, :BINS]).abs().max() < 1e-4
            assert (mine['semantic'] - theirs[k, :, :, BINS:]).abs().max() < 1e-4
        bev_xy = torch.randn(2, BEV_C, 32, 24)  # the official BEV map is (X, Y)
        theirs = head(vt.downsample(bev_xy)).transpose(-1, -2)
        mine = model.bev_head(model.view_transformer.bev_downsample(bev_xy.transpose(-1, -2)))
        assert (mine - theirs).abs().max() < 1e-5


def test_backbone_only_state_dict_and_refusal(official):
    _, ckpt = official
    backbone = {
        k[len('module.encoders.camera.backbone.'):]: v
        for k, v in ckpt['state_dict'].items() if k.startswith('module.encoders.camera.backbone.')
    }
    out, _ = conv.convert(backbone)
    assert 'encoder.backbone.layers.3.blocks.0.attn.qkv.weight' in out and 'heads.bev.decoder.embed.weight' in out
    with pytest.raises(ValueError, match='no key of the official GeoMIM layout'):
        conv.convert({'backbone.layers.0.blocks.0.ln1.weight': torch.zeros(1)})


def test_command_line_writes_a_loadable_backbone(official, tmp_path):
    _, ckpt = official
    src, dst = tmp_path / 'geomim_base.pth', tmp_path / 'geomim_mim3d.pth'
    torch.save(ckpt, src)
    conv.main([str(src), str(dst), '--backbone-only'])
    state = torch.load(dst, map_location='cpu', weights_only=True)['state_dict']
    assert all(k.startswith('backbone.') for k in state)
    ours = GeoMIMSwin(
        arch=ARCH,
        img_size=PRETRAIN_IMG,
        window_size=WINDOWS,
        out_indices=(2, 3),
        window_padding='official',
        init_cfg=dict(type='Pretrained', checkpoint=str(dst), prefix='backbone.'))
    ours.init_weights()
    assert torch.equal(ours.layers[2].blocks[1].attn.qkv.weight, state['backbone.layers.2.blocks.1.attn.qkv.weight'])
