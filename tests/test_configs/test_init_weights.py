"""Every module's own initialisation runs when a config's model is initialised.

mmengine's ``BaseModule.init_weights`` recurses only into children that have an ``init_weights``: a module held in a
plain ``torch.nn.ModuleDict`` / ``ModuleList`` (which have none) keeps PyTorch's default parameters, silently. That
happened to every pretext head after the one-pretrainer refactor (``MaskedPretrainer.heads`` was a torch
``ModuleDict``): Mask3D's decoder trained without its sin-cos position table (all zeros), MIM4D's temporal
deformable attention without its offset directions, GeoMIM's decoder without its position table and cross-view
attention init; the small Mask3D run reached AbsRel 0.535 on mini_val instead of 0.351.

For every model config (pretraining, fine-tuning and detector configs; ``Pretrained`` init_cfgs and the LiDAR
teacher's checkpoint left out, since they load files), build the model, call ``init_weights`` and check that each
``BaseModule`` defining its own ``init_weights`` either ran it or was initialised at construction (mmcv's deformable
attention does that).
"""
import glob
import os.path as osp
import sys

import pytest
from mmdet3d.registry import MODELS
from mmengine.config import Config
from mmengine.model import BaseModule
from mmengine.registry import init_default_scope

import mim3d_plugin  # noqa: F401
from mim3d_plugin.testing import drop_file_loads

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)  # projects.BEVDet / projects.BEVFormer custom imports
CONFIGS = sorted(
    osp.relpath(p, ROOT) for p in glob.glob(osp.join(ROOT, 'configs', '*', '*.py'))
    + glob.glob(osp.join(ROOT, 'projects', '*', 'configs', '*.py')) if '/teachers/' not in p and '/_base_/' not in p)

# mmpretrain's MAEPretrainDecoder keeps its blocks in a torch ModuleList and initialises them with
# ``apply(_init_weights)`` (MAE: xavier-uniform Linear, zero bias), which the Mask3D configs' pretrainer
# init_cfg reproduces; the blocks' own init_weights would only re-draw their FFN biases at std 1e-6.
EXEMPT = ('.decoder_blocks.', )


def _own_init_classes(model):
    return {
        klass
        for module in model.modules()
        for klass in type(module).__mro__ if klass is not BaseModule and 'init_weights' in vars(klass)
    }


@pytest.mark.parametrize('config', CONFIGS)
def test_every_module_initialisation_runs(config, monkeypatch):
    init_default_scope('mmdet3d')
    cfg = Config.fromfile(osp.join(ROOT, config))
    model_cfg = cfg.model.to_dict()
    drop_file_loads(model_cfg)
    model = MODELS.build(model_cfg)
    ran = set()
    for klass in _own_init_classes(model):
        original = vars(klass)['init_weights']

        def traced(self, *args, _original=original, **kwargs):
            ran.add(id(self))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(klass, 'init_weights', traced)
    model.init_weights()
    skipped = [
        f'{name} ({type(module).__name__})' for name, module in model.named_modules()
        if isinstance(module, BaseModule) and type(module).init_weights is not BaseModule.init_weights
        and id(module) not in ran and not module.is_init and not any(e in f'.{name}.' for e in EXEMPT)
    ]
    assert not skipped, f'{config}: init_weights never ran for {skipped}'


def test_the_check_fails_for_a_head_in_a_torch_module_dict(monkeypatch):
    """The failure this file guards against, reproduced: a torch ModuleDict hides its modules from init_weights."""
    from mmengine.model import ModuleDict
    from torch import nn

    from mim3d_plugin.models.temporal.scene_flow_pseudo3d import DeformableTemporalAttention

    class Holder(BaseModule):

        def __init__(self, container):
            super().__init__()
            self.heads = container({'a': DeformableTemporalAttention(16, 2, 2, 2)})

    for container, expect_ran in ((nn.ModuleDict, False), (ModuleDict, True)):
        model = Holder(container)
        attn = model.heads['a']
        attn.sampling_offsets.bias.data.zero_()
        model.init_weights()
        assert bool(attn.sampling_offsets.bias.abs().sum() > 0) is expect_ran
