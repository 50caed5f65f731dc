"""With mmcv's compiled ops hidden, every small config trains one step and predicts, with the same loss
(issue 25, item 1: what a machine without mmcv's kernels for its device runs)."""
import os.path as osp

import pytest
import torch

from mim3d_plugin.ops import pytorch_ops_only
from mim3d_plugin.testing import ROOT, SMALL_CONFIGS, build_model, load_config, train_step_and_predict

# configs whose computation reaches a compiled op on CPU (voxelization, rotated NMS): the loss must not move
USES_KERNELS_ON_CPU = ('centerpoint', 'geomim', 'hybrid', 'bevdet', 'fcos3d')


@pytest.mark.slow
@pytest.mark.parametrize('config', SMALL_CONFIGS)
def test_small_config_trains_and_predicts_without_compiled_ops(config, nus_infos):
    if 'redwood' in config and not osp.isdir(osp.join(ROOT, '../shared/data/rgbd')):
        pytest.skip('../shared/data/rgbd is absent')
    cfg = load_config(config)
    ref = None
    if any(key in config for key in USES_KERNELS_ON_CPU):
        ref = train_step_and_predict(build_model(cfg), cfg)
    with pytorch_ops_only():
        out = train_step_and_predict(build_model(cfg), cfg)
    assert torch.isfinite(torch.tensor(out['loss'])) and out['grads_finite'], out
    assert out['num_predictions'] >= 1
    if ref is not None:
        assert abs(out['loss'] - ref['loss']) <= 1e-5 * abs(ref['loss']) + 1e-6, (ref['losses'], out['losses'])
