"""tools/model_converters/mim4d_official_to_mim3d.py on state dicts of the official MIM4D model layout.

The official ConvNeXt (hustvl/MIM4D ``mask_convnext.py`` + ``sparse_utils.py``) is re-built below from its
definition - module names, the channel-first LayerNorm formula, the block's op order and, for the masked
path, SparK's zeroing after every conv / norm - not copied. Its weights are random; the converted state dict
must load into our ``MaskConvNeXt`` with 0 missing / 0 unexpected keys and give the same outputs.
"""
import importlib.util
import os.path as osp

import pytest
import torch
from mmdet3d.registry import MODELS
from mmengine.registry import init_default_scope
from torch import nn

import mim3d_plugin  # noqa: F401

init_default_scope('mmdet3d')
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
_spec = importlib.util.spec_from_file_location('mim4d_official_to_mim3d',
                                               osp.join(ROOT, 'tools/model_converters/mim4d_official_to_mim3d.py'))
conv = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(conv)

DEPTHS, CHANNELS = [1, 1, 2, 1], [16, 32, 48, 64]


def _up(active, h):
    """(B, 1, h32, w32) kept patches -> (B, 1, h, w) at a resolution h."""
    s = h // active.shape[2]
    return active.repeat_interleave(s, 2).repeat_interleave(s, 3)


class OfficialLN(nn.LayerNorm):
    """``SparseLayerNorm``: channel_last = nn.LayerNorm over C; channel_first = their explicit formula;
    sparse: normalise the kept positions only, zeros elsewhere."""

    def __init__(self, c, data_format):
        super().__init__(c, eps=1e-6)
        self.data_format = data_format

    def forward(self, x, active=None):
        if self.data_format == 'channel_last':
            y = super().forward(x)
            return y if active is None else y * _up(active, x.shape[1]).permute(0, 2, 3, 1)
        if active is None:
            u = x.mean(1, keepdim=True)
            s = (x - u).pow(2).mean(1, keepdim=True)
            x = (x - u) / torch.sqrt(s + self.eps)
            return self.weight[:, None, None] * x + self.bias[:, None, None]
        y = super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return y * _up(active, x.shape[2])


class OfficialBlock(nn.Module):

    def __init__(self, c):
        super().__init__()
        self.dwconv = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = OfficialLN(c, 'channel_last')
        self.pwconv1 = nn.Linear(c, 4 * c)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * c, c)
        self.gamma = nn.Parameter(torch.rand(c))

    def forward(self, x, active=None):
        shortcut = x
        x = self.dwconv(x)
        if active is not None:  # SparseConv2d
            x = x * _up(active, x.shape[2])
        x = self.norm(x.permute(0, 2, 3, 1), active)
        x = self.pwconv2(self.act(self.pwconv1(x))).permute(0, 3, 1, 2)
        x = x.mul(self.gamma.view(1, -1, 1, 1))
        if active is not None:
            x = x * _up(active, x.shape[2])
        return shortcut + x


class OfficialConvNeXt(nn.Module):

    def __init__(self, out_indices=(2, 3)):
        super().__init__()
        self.downsample_layers = nn.ModuleList(
            [nn.Sequential(nn.Conv2d(3, CHANNELS[0], 4, 4), OfficialLN(CHANNELS[0], 'channel_first'))])
        for i in range(1, 4):
            self.downsample_layers.append(
                nn.Sequential(
                    OfficialLN(CHANNELS[i - 1], 'channel_first'), nn.Conv2d(CHANNELS[i - 1], CHANNELS[i], 2, 2)))
        self.stages = nn.ModuleList(
            nn.Sequential(*[OfficialBlock(CHANNELS[i]) for _ in range(DEPTHS[i])]) for i in range(4))
        self.out_indices = out_indices
        for i in out_indices:
            self.add_module(f'norm{i}', OfficialLN(CHANNELS[i], 'channel_first'))

    def forward(self, x, active=None):
        if active is not None:
            x = x * _up(active, x.shape[2])
        outs = []
        for i in range(4):
            first, second = self.downsample_layers[i]
            if i == 0:
                x = first(x)
                x = x if active is None else x * _up(active, x.shape[2])
                x = second(x, active)
            else:
                x = second(first(x, active))
                x = x if active is None else x * _up(active, x.shape[2])
            for blk in self.stages[i]:
                x = blk(x, active)
            if i in self.out_indices:
                outs.append(getattr(self, f'norm{i}')(x, active))
        return outs


def _official_state(seed=0):
    torch.manual_seed(seed)
    backbone = OfficialConvNeXt()
    for p in backbone.parameters():
        nn.init.normal_(p, std=0.2)
    neck = MODELS.build(dict(type='mmdet.FPN', in_channels=[48, 64], out_channels=32, num_outs=2))
    state = {f'img_backbone.{k}': v for k, v in backbone.state_dict().items()}
    state.update({f'img_neck.{k}': v for k, v in neck.state_dict().items()})
    # modules of the official UVTRSSL that have no counterpart here (names from their model definition)
    state.update({
        'input_proj.weight': torch.randn(32, 32, 1, 1),
        'depth_net.weight': torch.randn(64, 32, 1, 1),
        'render_conv.0.weight': torch.randn(32, 128, 3, 3, 3),
        'render_conv.1.running_mean': torch.zeros(32),
        'pts_bbox_head.render_model.field.sdf_decoder.lin0.weight': torch.randn(16, 16),
        'pts_bbox_head.render_model.field.deviation_network.variance': torch.tensor([0.3]),
        'history_decoder.decoder_short.layers.0.attentions.0.sampling_offsets.weight': torch.randn(8, 128),
    })
    return backbone, neck, state


def _ours():
    return MODELS.build(
        dict(
            type='MaskConvNeXt',
            arch=dict(depths=DEPTHS, channels=CHANNELS),
            out_indices=(2, 3),
            gap_before_final_norm=False,
            mask_ratio=0.3))


def test_official_checkpoint_converts_with_a_full_key_report_and_equal_outputs():
    official, neck, state = _official_state()
    out, report = conv.convert(state)
    ours = _ours()
    assert {k.split('.')[0] + '.' + k.split('.')[1] for k in out} == {'encoder.backbone', 'encoder.neck'}
    missing, unexpected = ours.load_state_dict(
        {
            k[len('encoder.backbone.'):]: v
            for k, v in out.items() if k.startswith('encoder.backbone.')
        }, strict=False)
    assert missing == [] and unexpected == []
    assert report['num_converted'] == len(official.state_dict()) + len(neck.state_dict())
    assert set(
        report['not_converted']) == {'input_proj', 'depth_net', 'render_conv', 'pts_bbox_head', 'history_decoder'}
    assert ('img_backbone.stages.2.1.dwconv.weight', 'encoder.backbone.stages.2.1.depthwise_conv.weight') in \
        report['converted']
    official.eval()
    ours.eval()
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        ref, got = official(x), ours(x)
    diffs = [(a - b).abs().max().item() for a, b in zip(ref, got)]
    assert max(diffs) < 1e-5, diffs
    # the SparK-masked path (kept patches as the official random_masking draws them: True = kept)
    mask = ours.random_mask(2, (64, 96), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ref_m, got_m = official(x, mask.unsqueeze(1)), ours(x, mask)
    diffs_m = [(a - b).abs().max().item() for a, b in zip(ref_m, got_m)]
    assert max(diffs_m) < 1e-5, diffs_m
    # the neck keys load into mmdet's FPN unchanged
    fpn = MODELS.build(dict(type='mmdet.FPN', in_channels=[48, 64], out_channels=32, num_outs=2))
    neck_state = {k[len('encoder.neck.'):]: v for k, v in out.items() if k.startswith('encoder.neck.')}
    assert fpn.load_state_dict(neck_state, strict=True)
    assert all(torch.equal(neck_state[k], v) for k, v in neck.state_dict().items())


def test_command_line_writes_a_loadable_backbone_checkpoint(tmp_path):
    official, _, state = _official_state(1)
    src, dst = tmp_path / 'official.pth', tmp_path / 'out' / 'mim3d.pth'
    torch.save(dict(state_dict=state, meta=dict(epoch=12)), src)
    report = conv.main([str(src), str(dst), '--backbone-only'])
    ckpt = torch.load(dst, map_location='cpu', weights_only=True)
    assert ckpt['meta']['conversion']['num_converted'] == report['num_converted'] == len(official.state_dict())
    ours = _ours()
    assert all(k.startswith('backbone.') for k in ckpt['state_dict'])  # what extract_backbone.py writes
    ours.init_cfg = dict(type='Pretrained', checkpoint=str(dst), prefix='backbone.')
    ours.init_weights()
    x = torch.randn(1, 3, 64, 64)
    official.eval()
    ours.eval()
    with torch.no_grad():
        assert (official(x)[1] - ours(x)[1]).abs().max() < 1e-5


def test_a_checkpoint_without_official_convnext_keys_is_refused():
    with pytest.raises(KeyError, match='no official ConvNeXt key'):
        conv.convert({'backbone.layers.0.weight': torch.zeros(1)})


@pytest.mark.parametrize('wrapped', [False, True])
def test_spark_released_convnext_initialises_our_backbone(tmp_path, wrapped):
    """SparK's released ConvNeXt (keyu-tian/SparK ``pretrain/models/convnext.py``, saved in facebookresearch's key
    layout): the stages and downsample layers of the ConvNeXt above, no ``norm{i}``, and the classifier's final
    ``norm`` (LayerNorm over channels) and ``fc``. Converted with ``--backbone-only`` and loaded through the paper
    config's ``init_cfg``, our backbone equals the official MIM4D backbone initialised from the same file (its
    ``norm_out`` layers at LayerNorm's identity init)."""
    torch.manual_seed(5)
    official = OfficialConvNeXt()
    for name, p in official.named_parameters():
        if not name.startswith('norm'):
            nn.init.normal_(p, std=0.2)  # norm2 / norm3 keep weight 1, bias 0: not in SparK's file
    spark = {k: v for k, v in official.state_dict().items() if not k.startswith('norm')}
    spark.update({
        'norm.weight': torch.randn(CHANNELS[-1]),
        'norm.bias': torch.randn(CHANNELS[-1]),
        'fc.weight': torch.randn(1000, CHANNELS[-1]),
        'fc.bias': torch.randn(1000)
    })
    src, dst = tmp_path / 'convnextS_1kpretrained_official_style.pth', tmp_path / 'spark_mim3d.pth'
    torch.save(dict(model=spark) if wrapped else spark, src)
    report = conv.main([str(src), str(dst), '--backbone-only'])
    assert report['num_converted'] == len(spark) - 4
    assert {g: len(k) for g, k in report['not_converted'].items()} == {'norm': 2, 'fc': 2}
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(ROOT, 'configs/mim4d/mim4d_convnext-s-mask_8xb1-amp-12e_nus-pretrain.py'))
    init = cfg.model.encoder.backbone.init_cfg
    assert init.checkpoint.endswith('spark_mim3d.pth') and init.prefix == 'backbone.'
    ours = _ours()
    ours.init_cfg = dict(init, checkpoint=str(dst))
    ours.init_weights()
    x = torch.randn(2, 3, 64, 96)
    official.eval()
    ours.eval()
    with torch.no_grad():
        diffs = [(a - b).abs().max().item() for a, b in zip(official(x), ours(x))]
    assert max(diffs) < 1e-5, diffs
