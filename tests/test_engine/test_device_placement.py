"""Device placement without a GPU (issue 25, item 4): every small config's training step and predict run with CPU
tensors that report ``cuda:0`` (``mim3d_plugin.testing.emulated_cuda``), and no op mixes CUDA with non-scalar CPU
tensors and no CUDA tensor goes to numpy. The emulation itself is pinned by known answers, among them the two
placement bugs it found (BEVDet's ego-frame box transform with a CPU matrix, Mask3D's depth baselines built on the
CPU): both would raise on a GPU."""
import os.path as osp

import numpy as np
import pytest
import torch

from mim3d_plugin.geometry.frames import transform_boxes
from mim3d_plugin.testing import (ROOT, SMALL_CONFIGS, EmulatedCudaTensor, build_model, emulated_cuda, first_batch,
                                  load_config)


def _one_step_and_predict(model, cfg):
    with emulated_cuda(model) as violations:
        batch = model.data_preprocessor(first_batch(cfg), True)
        losses = model(**batch, mode='loss')
        total = sum(v.sum() if not isinstance(v, (list, tuple)) else sum(x.sum() for x in v) for k, v in losses.items()
                    if 'loss' in k)
        assert isinstance(total, EmulatedCudaTensor), 'the loss left the (emulated) GPU'
        total.backward()
        model.eval()
        with torch.no_grad():
            outputs = model.test_step(first_batch(cfg, 'test'))
    return violations, outputs


@pytest.mark.slow
@pytest.mark.parametrize('config', SMALL_CONFIGS)
def test_small_config_keeps_every_tensor_on_the_device(config, nus_infos):
    if 'redwood' in config and not osp.isdir(osp.join(ROOT, '../shared/data/rgbd')):
        pytest.skip('../shared/data/rgbd is absent')
    cfg = load_config(config)
    violations, outputs = _one_step_and_predict(build_model(cfg), cfg)
    assert len(outputs) >= 1
    assert not violations, '\n'.join(sorted({f'{v.kind} {v.op} at {v.where}' for v in violations}))


def test_the_emulation_reports_a_mix_and_numpy_and_allows_what_cuda_allows():
    model = torch.nn.Linear(3, 2)
    with emulated_cuda(model) as violations:
        x = torch.ones(4, 3, device=next(model.parameters()).device)
        assert x.device.type == 'cuda' and isinstance(model(x), EmulatedCudaTensor)
        x + torch.tensor(2.0)  # a CPU scalar: legal on CUDA
        x[torch.tensor([0, 2])]  # CPU indices: legal
        assert not violations
        x + torch.ones(3)  # a CPU vector: RuntimeError on a GPU
        x.cpu().numpy()  # legal
        assert len(violations) == 1 and violations[0].kind == 'mix'
        x.numpy()  # TypeError on a GPU
        assert violations[-1].kind == 'numpy'


def test_a_cpu_transform_of_cuda_boxes_is_the_bug_it_found_and_is_fixed():
    model = torch.nn.Linear(1, 1)
    boxes = torch.rand(5, 9, dtype=torch.float64)
    with emulated_cuda(model) as violations:
        cuda_boxes = boxes.to('cuda')
        cpu_matrix = torch.as_tensor(np.eye(4))
        rot = cpu_matrix[:3, :3]
        cuda_boxes[:, :3] @ rot.T  # what transform_boxes did before: flagged
        assert [v.kind for v in violations] == ['mix']
        out = transform_boxes(cuda_boxes, cpu_matrix)  # now moved to the boxes' device first
        assert len(violations) == 1 and isinstance(out, EmulatedCudaTensor)
    assert torch.allclose(out.as_subclass(torch.Tensor), boxes)


def test_mask3d_depth_baselines_stay_on_the_device():
    from mim3d_plugin.evaluation.depth_baselines import visible_depth_baselines
    depth = torch.rand(2, 32, 32) * 50 + 1
    dropped = torch.zeros(2, 32, 32, dtype=torch.bool)
    dropped[:, :16, :16] = True
    with emulated_cuda(torch.nn.Linear(1, 1)) as violations:
        out = visible_depth_baselines(depth.to('cuda'), dropped.to('cuda'), 16)
        assert not violations, violations
        assert all(isinstance(v, EmulatedCudaTensor) for v in out.values())
