"""Build a config's model without file downloads and run one training step and one ``predict`` on its own data.

Shared by the tests (compiled ops hidden, mixed precision, device placement) and the offline GPU smoke test
(``tools/analysis_tools/gpu_smoke_test.py``), so that what the tests prove on CPU is what the GPU runs.
"""
import contextlib
import copy
import os.path as osp
import sys
from typing import Any, Dict, Iterator, List, NamedTuple, Optional

import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# every small (CPU) config that trains on the bundled data; the first group reads ../shared/data/nuscenes
SMALL_CONFIGS = [
    'configs/teachers/centerpoint_pillar08_second_secfpn_1xb2-20e_nus-mini.py',
    'configs/geomim/geomim_swin-w64-d1121_1xb1-8e_nus-mini.py',
    'configs/mim4d/mim4d_convnext-mini-mask_1xb2-300i_nus-mini.py',
    'configs/mask3d/mask3d_vit-tiny-p16_1xb1-300i_nus-mini.py',
    'configs/hybrid/hybrid-bev-render-depth_swin-w64-d1121_1xb1-8e_nus-mini.py',
    'configs/finetune/fcos3d_swin-w64-d1121-geomim_fpn_head-gn_1xb1-1e_nus-mini-mono3d.py',
    'projects/BEVDet/configs/bevdet-swin-w64-d1121_1xb1-4e_nus-mini.py',
    'projects/BEVDet/configs/bevdet4d-swin-w64-d1121_1xb1-4e_nus-mini.py',
    'projects/BEVDet/configs/bevdet-mask-convnext-mini-mim4d_1xb1-4e_nus-mini.py',
    'projects/BEVDet/configs/bevdet-mask3d-vit-tiny-p16_1xb1-4e_nus-mini.py',
    'projects/BEVDet/configs/bevdet-seg-swin-w64-d1121_1xb1-4e_nus-mini.py',
    'projects/BEVFormer/configs/bevformer-tiny_r18_1xb1-4e_nus-mini.py',
    'projects/BEVFormer/configs/bevformer-seg-tiny_r18_1xb1-4e_nus-mini.py',
    'projects/BEVDet/configs/bevstereo4d-r18_1xb1-4e_nus-mini.py',
    'projects/UVTR/configs/uvtr-dn_convnext-mini-mim4d_1xb1-4e_nus-mini.py',
    'configs/mask3d/mask3d_vit-tiny-p16_1xb2-400i_redwood.py',
    'configs/mask3d/mask3d-rgbd-recon_vit-tiny-p16_1xb2-400i_redwood.py',
]


def drop_file_loads(node: Any) -> Any:
    """Remove what a config would load from a file or URL (``Pretrained`` init, teacher checkpoints), in place.

    A LiDAR teacher without its checkpoint is allowed explicitly (``allow_untrained_teacher``): right for speed,
    smoke and placement checks, never for a pretraining whose figures are reported.
    """
    if isinstance(node, dict):
        init = node.get('init_cfg')
        if isinstance(init, dict) and init.get('type') == 'Pretrained':
            node['init_cfg'] = None
        elif isinstance(init, list):
            node['init_cfg'] = [c for c in init if c.get('type') != 'Pretrained'] or None
        if isinstance(node.get('teacher'), dict) and 'checkpoint' in node['teacher']:
            node['teacher']['checkpoint'] = None
            node['allow_untrained_teacher'] = True
        for value in node.values():
            drop_file_loads(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            drop_file_loads(value)
    return node


def load_config(path: str, nus_root: Optional[str] = None, info_dir: Optional[str] = None) -> Config:
    """``Config.fromfile`` (``path`` relative to the repository or absolute) with its custom imports done, file loads
    dropped and, when ``nus_root`` is given, every dataset pointed at that nuScenes root and ``info_dir``."""
    if ROOT not in sys.path:  # projects.* custom imports
        sys.path.insert(0, ROOT)
    cfg = Config.fromfile(path if osp.isabs(path) else osp.join(ROOT, path))
    for module in cfg.get('custom_imports', {}).get('imports', []):
        __import__(module)
    if nus_root is not None:
        from mim3d_plugin.datasets.retarget import retarget_data
        retarget_data(cfg, nus_root, info_dir or osp.join(ROOT, 'data/nuscenes_infos'))
    drop_file_loads(cfg._cfg_dict)
    return cfg


def build_model(cfg: Config, seed: int = 0) -> torch.nn.Module:
    """The config's model, initialised (``init_weights``) from ``seed``, in train mode, on the CPU."""
    from mmdet3d.registry import MODELS
    init_default_scope(cfg.get('default_scope', 'mmdet3d'))
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.train()


def first_batch(cfg: Config, split: str = 'train', seed: int = 0) -> Dict[str, List]:
    """The first sample of the ``split`` dataloader's dataset (augmentations drawn from ``seed``), repeated to the
    loader's batch size, collated."""
    from mmdet3d.registry import DATASETS
    from mmengine.runner import set_random_seed
    set_random_seed(seed)  # the same augmentation draws on every call
    loader = cfg.get(f'{split}_dataloader') or cfg.train_dataloader
    dataset = DATASETS.build(loader.dataset)
    return pseudo_collate([dataset[0]] * loader.get('batch_size', 1))


def train_step_and_predict(model: torch.nn.Module,
                           cfg: Config,
                           device: str = 'cpu',
                           dtype: Optional[torch.dtype] = None,
                           predict: bool = True) -> Dict[str, Any]:
    """One training step (forward, backward; no optimizer step) and one ``predict`` of the test split's first batch.

    Args:
        model: from :func:`build_model`; moved to ``device``.
        cfg: its config (datasets read for the batches).
        device (str): ``'cpu'`` or ``'cuda'``.
        dtype (torch.dtype, optional): autocast dtype of the training step (bf16 / fp16); None: float32.
        predict (bool): also run ``predict`` (``num_predictions`` is 0 without). Default: True.

    Returns:
        dict: ``loss`` (float, the sum of every ``loss*`` term), ``grads_finite`` (bool), ``num_predictions``
        (int, data samples returned by ``predict``), ``losses`` (name -> float).
    """
    model = model.to(device)
    model.train()
    model.zero_grad()
    data = first_batch(cfg, 'train')
    torch.manual_seed(0)  # masks and ray samples drawn alike on every call
    with torch.autocast(
            device_type=torch.device(device).type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        batch = model.data_preprocessor(copy.deepcopy(data), True)
        losses = model(**batch, mode='loss')
    terms = {
        k: sum(x.float().sum() for x in v) if isinstance(v, (list, tuple)) else v.float().sum()
        for k, v in losses.items() if 'loss' in k
    }
    parsed = {k: float(v.detach()) for k, v in terms.items()}
    total = sum(terms.values())
    total.backward()
    grads_finite = all(bool(torch.isfinite(p.grad).all()) for p in model.parameters() if p.grad is not None)
    outputs = []
    if predict:
        model.eval()
        with torch.no_grad():
            outputs = model.test_step(first_batch(cfg, 'test'))
        model.train()
    return dict(loss=float(total.detach()), grads_finite=grads_finite, num_predictions=len(outputs), losses=parsed)


# --------------------------------------------------------------------------------------------------------------------
# Device-placement emulation (issue 25, item 4): real CPU tensors that report ``cuda:0``.
# --------------------------------------------------------------------------------------------------------------------
class PlacementViolation(NamedTuple):
    """One operation that would fail (or silently copy) on a real GPU: ``kind`` is ``'mix'`` (CUDA and non-scalar CPU
    tensors in one op) or ``'numpy'`` (``.numpy()`` of a CUDA tensor); ``where`` the innermost project frames."""
    kind: str
    op: str
    where: str


class _Recorder:
    violations: List[PlacementViolation] = []


def _is_cuda_device(device) -> bool:
    return device is not None and not isinstance(device, bool) and str(device).startswith('cuda')


def _cpuify(obj):
    if isinstance(obj, torch.device) and obj.type == 'cuda':
        return torch.device('cpu')
    if isinstance(obj, str) and obj.startswith('cuda'):
        return 'cpu'
    return obj


def _where() -> str:
    import traceback
    stack = [f for f in traceback.extract_stack()[:-3] if 'testing.py' not in f.filename]
    frames = [f for f in stack if f.filename.startswith(ROOT) and 'site-packages' not in f.filename] or stack[-3:]
    return ' <- '.join(f'{f.filename.split("site-packages/")[-1].replace(ROOT + "/", "")}:{f.lineno}'
                       for f in frames[::-1][:3])


class EmulatedCudaTensor(torch.Tensor):
    """A CPU tensor that reports ``device == cuda:0``; every op on it checks that its other tensor inputs are
    emulated-CUDA too (0-dim CPU tensors and CPU index tensors allowed, as CUDA allows them) and returns
    emulated-CUDA tensors; ``.cpu()`` / ``.to('cpu')`` return plain tensors, ``.numpy()`` is recorded."""

    @property
    def device(self):
        return torch.device('cuda', 0)

    @property
    def is_cuda(self):
        return True

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        from torch.utils._pytree import tree_flatten, tree_map
        kwargs = kwargs or {}
        name = getattr(func, '__name__', str(func))
        if name in ('__get__', '__set__'):  # attribute access (.T, .grad, .data, .shape): same device as the owner
            with torch._C.DisableTorchFunctionSubclass():
                out = func(*args, **kwargs)
            return tree_map(_emulate, out) if name == '__get__' and isinstance(args[0], cls) else out
        # CPU index tensors are legal on CUDA; item assignment copies across devices (legal too)
        checked = () if name == '__setitem__' else args[:1] if name == '__getitem__' else args
        flat = tree_flatten((checked, kwargs))[0]
        tensors = [t for t in flat if isinstance(t, torch.Tensor) and t.layout == torch.strided]
        on_cuda = any(isinstance(t, EmulatedCudaTensor) for t in tensors)
        cpu = [t for t in tensors if not isinstance(t, EmulatedCudaTensor) and t.dim() > 0]
        if on_cuda and cpu and name not in ('to', 'copy_', 'new_tensor', '__repr__', '__format__', 'cpu'):
            _Recorder.violations.append(PlacementViolation('mix', name, _where()))
        if name == 'numpy' and on_cuda:
            _Recorder.violations.append(PlacementViolation('numpy', name, _where()))
        target = _target_device(name, args, kwargs)
        args, kwargs = tree_map(_cpuify, args), tree_map(_cpuify, kwargs)
        with torch._C.DisableTorchFunctionSubclass():
            out = func(*args, **kwargs)
        if name == 'cpu' or (target is not None and not _is_cuda_device(target)):
            return tree_map(lambda t: t.as_subclass(torch.Tensor) if isinstance(t, EmulatedCudaTensor) else t, out)
        if on_cuda or _is_cuda_device(target):
            return tree_map(_emulate, out)
        return out


def _target_device(name, args, kwargs):
    if name in ('to', 'new_tensor', 'new_zeros', 'new_ones', 'new_full', 'new_empty'):
        if 'device' in kwargs:
            return kwargs['device']
        for a in args[1:]:
            if isinstance(a, (str, torch.device)):
                return a
            if isinstance(a, torch.Tensor) and name == 'to':
                return a.device
    if name == 'cuda':
        return 'cuda'
    return kwargs.get('device')


def _emulate(t):
    if (isinstance(t, torch.Tensor) and not isinstance(t, (EmulatedCudaTensor, torch.nn.Parameter))
            and t.layout == torch.strided):  # sparse tensors cannot be subclassed: they stay plain, unchecked
        return t.as_subclass(EmulatedCudaTensor)
    return t


class _FactoryMode(torch.overrides.TorchFunctionMode):
    """Tensor creation with ``device='cuda'`` (``torch.zeros(..., device=x.device)``) and ``.to('cuda')`` /
    ``.cuda()`` of plain tensors: created on the CPU, returned emulated-CUDA."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        from torch.utils._pytree import tree_map
        kwargs = kwargs or {}
        name = getattr(func, '__name__', '')
        target = _target_device(name, args, kwargs)
        if _is_cuda_device(target) and not any(isinstance(a, EmulatedCudaTensor) for a in args[:1]):
            out = func(*tree_map(_cpuify, args), **tree_map(_cpuify, kwargs))
            return tree_map(_emulate, out)
        return func(*args, **kwargs)


@contextlib.contextmanager
def emulated_cuda(model: torch.nn.Module) -> Iterator[List[PlacementViolation]]:
    """Run ``model`` as if it were on ``cuda:0``, on the CPU, recording every CPU/CUDA mix.

    The model's parameters and buffers become :class:`EmulatedCudaTensor` (sharing their storage), its data
    preprocessor moves batches to ``cuda:0``, tensors created with a CUDA device are emulated-CUDA, and every op
    checks its inputs. Yields the list of :class:`PlacementViolation` found (filled while the context runs). mmcv's
    compiled ops take their PyTorch paths inside (their kernels are not the code under test).
    """
    from torch.utils._pytree import tree_map

    from mim3d_plugin.ops import pytorch_ops_only
    for module in model.modules():
        for key, p in list(module._parameters.items()):
            if p is not None:
                module._parameters[key] = torch.nn.Parameter(
                    p.detach().as_subclass(EmulatedCudaTensor), requires_grad=p.requires_grad)
        for key, b in list(module._buffers.items()):
            if b is not None:
                module._buffers[key] = b.as_subclass(EmulatedCudaTensor)
    preprocessor = getattr(model, 'data_preprocessor', None)
    if preprocessor is not None:
        preprocessor._device = torch.device('cuda', 0)
    _Recorder.violations = []
    # torch.tensor / torch.as_tensor / torch.sparse_coo_tensor initialise CUDA (or build a plain tensor from
    # emulated inputs) before any torch-function dispatch: wrapped here
    originals = {name: getattr(torch, name) for name in ('tensor', 'as_tensor', 'sparse_coo_tensor', 'Generator')}

    def creator(original):

        def create(*args, **kwargs):
            if original is originals['Generator']:  # a CUDA generator: a CPU one (seeded alike)
                return original(*tree_map(_cpuify, args), **tree_map(_cpuify, kwargs))
            device = kwargs.get('device')
            emulated_input = any(isinstance(a, EmulatedCudaTensor) for a in args)
            if _is_cuda_device(device) or (device is None and emulated_input):
                kwargs['device'] = 'cpu'
                return _emulate(original(*args, **kwargs))
            return original(*args, **kwargs)

        return create

    try:
        for name, original in originals.items():
            setattr(torch, name, creator(original))
        with pytorch_ops_only(), _FactoryMode():
            yield _Recorder.violations
    finally:
        for name, original in originals.items():
            setattr(torch, name, original)
