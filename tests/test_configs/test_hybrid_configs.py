"""The hybrid configs: each head is its paper config's module (GeoMIM / MIM4D / Mask3D numbers), the small config
inherits the paper one, and the small config trains on the bundled nuScenes clips through tools/train.py."""
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PAPER = 'configs/hybrid/hybrid-bev-render-depth_swin-b_16xb1-24e_nus.py'
SMALL = 'configs/hybrid/hybrid-bev-render-depth_swin-w64-d1121_1xb1-8e_nus-mini.py'


def _cfg(path):
    return Config.fromfile(osp.join(ROOT, path))


def test_paper_hybrid_heads_are_the_paper_configs_modules():
    hybrid = _cfg(PAPER).model
    geomim = _cfg('configs/geomim/geomim_swin-b_16xb2-50e_nus.py').model
    mim4d = _cfg('configs/mim4d/mim4d_convnext-s-mask_8xb1-amp-12e_nus-pretrain.py').model
    mask3d = _cfg('configs/mask3d/mask3d_vit-b-p16_8xb4-amp-coslr-50e_nus.py').model
    assert hybrid.type == 'MaskedPretrainer' and hybrid.num_frames == mim4d.num_frames == 3
    assert hybrid.encoder == geomim.encoder and hybrid.encoder.type == 'UnitMaskSwinEncoder'
    assert hybrid.heads.bev == geomim.heads.bev
    render, paper_render = hybrid.heads.render, mim4d.heads.render
    for key in ('volume_frame', 'temporal_targets', 'point_cloud_range', 'voxel_size', 'num_frames'):
        assert render[key] == paper_render[key], key
    assert render.temporal_builder == paper_render.temporal_builder and render.render_head == paper_render.render_head
    # the lifted map is the Swin-B fused map (4 x 128 channels at stride 16), the rest is MIM4D's lifting
    assert dict(render.view_transform, in_channels=None) == dict(paper_render.view_transform, in_channels=None)
    assert render.view_transform.in_channels == 4 * 128 and render.view_transform.downsample == 16
    depth, paper_depth = hybrid.heads.depth, mask3d.heads.depth
    for key in ('depth_norm', 'depth_norm_scale', 'loss_region', 'patch_size'):
        assert depth.head[key] == paper_depth.head[key], key
    for key in ('embed_dim', 'decoder_embed_dim', 'decoder_depth', 'decoder_num_heads', 'patch_resolution'):
        assert depth.head.decoder[key] == paper_depth.head.decoder[key], key
    for key in ('depth_mask_ratio', 'depth_embed_dims', 'depth_num_layers', 'depth_num_heads'):
        assert depth.fusion[key] == mask3d.encoder.backbone[key], key
    assert depth.fusion.patch_size == depth.head.patch_size == mask3d.encoder.backbone.patch_size == 16


def test_small_hybrid_overrides_only_sizes():
    small, paper = _cfg(SMALL), _cfg(PAPER)
    assert set(small.model.heads) == set(paper.model.heads)
    assert small.model.type == paper.model.type and small.model.num_frames == paper.model.num_frames
    for name in ('bev', 'render', 'depth'):
        assert small.model.heads[name].type == paper.model.heads[name].type
    assert small.model.heads.render.render_head.loss_rgb_weight == paper.model.heads.render.render_head.loss_rgb_weight
    assert small.model.heads.depth.fusion.depth_mask_ratio == paper.model.heads.depth.fusion.depth_mask_ratio
    # the same small trained teacher and target stage as the small GeoMIM config
    geomim = _cfg('configs/geomim/geomim_swin-w64-d1121_1xb1-8e_nus-mini.py').model
    assert small.model.heads.bev == geomim.heads.bev and small.model.heads.bev.teacher.checkpoint
    assert small.model.encoder == geomim.encoder


@pytest.mark.slow
def test_small_hybrid_trains_on_the_bundled_clips(nus_infos, small_teacher_ckpt, tmp_path):
    """Two iterations of the small hybrid through tools/train.py: one encoder, three heads' losses logged."""
    proc = subprocess.run([
        sys.executable, 'tools/train.py', SMALL, '--work-dir',
        str(tmp_path), '--cfg-options', 'train_dataloader.dataset.indices=2', 'train_cfg.max_epochs=1',
        'default_hooks.logger.interval=1', f'model.heads.bev.teacher.checkpoint={small_teacher_ckpt}'
    ],
                          cwd=ROOT,
                          env=dict(os.environ, OMP_NUM_THREADS='1'),
                          capture_output=True,
                          text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    scalars = glob.glob(str(tmp_path / '*' / 'vis_data' / 'scalars.json'))
    rows = [json.loads(line) for line in open(scalars[0])]
    keys = set().union(*rows)
    for key in ('bev.loss_bev', 'bev.loss_depth', 'render.loss_rgb_pseudo', 'render.loss_depth_cur',
                'depth.loss_depth'):
        assert key in keys, sorted(keys)
    assert all(r['loss'] > 0 for r in rows if 'loss' in r)
    assert osp.isfile(tmp_path / 'epoch_1.pth')
