"""The GeoMIM paper config follows the official pretraining recipe (pretrain_base_50ep.yaml)."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmdet3d.registry import DATASETS
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.registry import PARAM_SCHEDULERS, init_default_scope

import mim3d_plugin  # noqa: F401

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PAPER = osp.join(ROOT, 'configs/geomim/geomim_swin-b_16xb2-50e_nus.py')


def test_schedule_warmup_cosine_and_cyclic_momentum():
    init_default_scope('mmdet3d')
    cfg = Config.fromfile(PAPER)
    assert cfg.model.encoder.backbone.drop_path_rate == 0.0
    assert cfg.model.heads.bev.teacher.detector.data_preprocessor.voxel_layer.max_voxels == (120000, 160000)
    assert 'paramwise_cfg' not in cfg.optim_wrapper  # no weight-decay exclusions
    iters_per_epoch = 10
    param = torch.nn.Parameter(torch.zeros(1))
    wrapper = OptimWrapper(torch.optim.AdamW([param], lr=2e-4, betas=(0.9, 0.999), weight_decay=0.01))
    scheds = []
    for s in cfg.param_scheduler:
        s = dict(s)
        if s.pop('convert_to_iter_based', False):
            scheds.append(
                PARAM_SCHEDULERS.get(s.pop('type')).build_iter_from_epoch(wrapper, epoch_length=iters_per_epoch, **s))
        else:
            scheds.append(PARAM_SCHEDULERS.build(dict(s, optimizer=wrapper)))
    lrs, betas = [], []
    for _ in range(50 * iters_per_epoch):
        lrs.append(wrapper.param_groups[0]['lr'])
        betas.append(wrapper.param_groups[0]['betas'][0])
        for s in scheds:
            s.step()
    assert lrs[0] == pytest.approx(2e-4 / 3)  # warm-up from 1/3
    assert min(lrs) == pytest.approx(2e-7, rel=0.3) and lrs[-1] < 1e-5  # cosine to 1e-3 x lr
    turn = 20 * iters_per_epoch
    assert betas[0] == pytest.approx(0.9) and betas[turn] == pytest.approx(0.9 * 0.85 / 0.95, abs=1e-3)
    assert betas[-1] == pytest.approx(0.9, abs=1e-3) and min(betas) == pytest.approx(betas[turn], abs=1e-3)


@pytest.mark.slow
def test_paper_pipeline_on_the_bundled_data_cbgs_sweeps_and_bev_flip(nus_root, nus_infos):
    init_default_scope('mmdet3d')
    cfg = Config.fromfile(PAPER)
    ds_cfg = cfg.train_dataloader.dataset
    assert ds_cfg.type == 'CBGSDataset'
    ds_cfg.dataset.update(data_root=nus_root + '/', ann_file=osp.join(nus_infos, 'nuscenes_infos_train.pkl'))
    ds = DATASETS.build(ds_cfg)
    assert len(ds) > 40  # class-balanced resampling of the 40 frames
    np.random.seed(3)
    flips = set()
    for i in range(6):
        out = ds[i]
        meta = out['data_samples'].metainfo
        pts = out['inputs']['points']
        flips.add(tuple(np.sign(np.diag(meta['bev_aug_matrix'])[:2])))
        # the (flipped) key-frame points project, through the (flipped) lidar2img, onto the depth map's pixels
        lidar2img = torch.as_tensor(np.stack(meta['lidar2img']), dtype=torch.float32)
        key = pts[pts[:, 4] == 0][:, :3]
        cam = torch.cat([key, torch.ones(len(key), 1)], 1) @ lidar2img[0].T
        z = cam[:, 2]
        u, v = (cam[:, 0] / z.clamp(min=1e-3)).long(), (cam[:, 1] / z.clamp(min=1e-3)).long()
        h, w = out['inputs']['depth'].shape[-2:]
        ok = (z > 1) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
        d = out['inputs']['depth'][0][v[ok], u[ok]]
        hit = d > 0
        assert hit.sum() > 100 and (d[hit] - z[ok][hit]).abs().median() < 0.05
        lags = pts[:, 4].numpy()
        assert (lags >= 0).all() and (lags <= 0.55).all()  # time lags (s) of the recorded sweeps, not ring indices
    assert len(flips) > 1  # the BEV flip is random
