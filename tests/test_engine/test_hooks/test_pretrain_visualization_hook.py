"""PretrainVisualizationHook: writes the model's pictures through mmengine's visualizer at the configured
iterations, and leaves the training exactly as it is without the hook (eval mode, forked RNG)."""
import glob
import os.path as osp
import sys
import uuid

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from PIL import Image

init_default_scope('mmdet3d')
sys.path.insert(
    0, osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'test_models', 'test_pretrainers'))
from test_geomim import fake_batch, tiny_geomim_cfg  # noqa: E402


class FakeFrames(torch.utils.data.Dataset):
    """The tiny GeoMIM test frames as a dataset of per-sample dicts (inputs + data_samples)."""

    def __init__(self, n=4):
        batch = fake_batch(batch_size=n, seed=3)
        self.items = [
            dict(inputs={
                k: v[i]
                for k, v in batch['inputs'].items()
            }, data_samples=batch['data_samples'][i]) for i in range(n)
        ]
        self.metainfo = {}

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def _runner(work_dir, hooks):
    torch.manual_seed(0)
    return Runner(
        model=tiny_geomim_cfg(),
        work_dir=work_dir,
        experiment_name=f'vis_{uuid.uuid4().hex}',
        train_dataloader=dict(
            dataset=FakeFrames(),
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=2,
            collate_fn=dict(type='pseudo_collate')),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3)),
        train_cfg=dict(by_epoch=False, max_iters=3),
        custom_hooks=hooks,
        default_hooks=dict(checkpoint=None, logger=dict(type='LoggerHook', interval=1)),
        visualizer=dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend')], name=f'vis_{uuid.uuid4().hex}'),
        default_scope='mmdet3d',
        randomness=dict(seed=0))


def test_pictures_at_first_interval_and_last_iteration_and_training_unchanged(tmp_path):
    with_hook = _runner(str(tmp_path / 'hook'), [dict(type='PretrainVisualizationHook', interval=2, max_views=2)])
    with_hook.train()
    root = glob.glob(str(tmp_path / 'hook' / '*' / 'vis_data' / 'vis_image'))[0]
    images = sorted(glob.glob(osp.join(root, '**', '*.png'), recursive=True))
    names = sorted(osp.relpath(p, root) for p in images)
    for panel in ('bev_masked_views', 'bev_student_vs_teacher', 'bev_depth_pred_vs_lidar'):
        assert [n for n in names if n.startswith(panel)] == [f'{panel}_{s}.png' for s in (1, 2, 3)], names
    views = np.asarray(Image.open(next(p for p in images if 'masked_views_1' in p)))
    assert views.ndim == 3 and views.shape[2] == 3 and views.shape[0] == 64  # image height, 2 views side by side
    bev = np.asarray(Image.open(next(p for p in images if 'bev_student_vs_teacher_1' in p)))
    assert bev.std() > 0  # the teacher half is not blank

    without = _runner(str(tmp_path / 'plain'), [])
    without.train()
    a, b = with_hook.model.state_dict(), without.model.state_dict()
    for k in a:  # same masks, same BN statistics, same updates
        assert torch.equal(a[k], b[k]), k


def test_refuses_a_model_without_pictures(tmp_path):
    from mmengine.model import BaseModel

    class NoPictures(BaseModel):

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, inputs, data_samples=None, mode='loss'):
            return dict(loss=self.w.sum())

    runner = Runner(
        model=NoPictures(),
        work_dir=str(tmp_path),
        experiment_name=f'vis_{uuid.uuid4().hex}',
        train_dataloader=dict(
            dataset=[dict(inputs=torch.zeros(1))] * 2,
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=1,
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=False, max_iters=1),
        custom_hooks=[dict(type='PretrainVisualizationHook')],
        default_scope='mmdet3d')
    with pytest.raises(TypeError, match='has no visual_panels'):
        runner.train()
