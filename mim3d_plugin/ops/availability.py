"""Which implementation of an mmcv compiled op runs on a device: mmcv's kernel, or a PyTorch path.

mmcv's compiled ops (``mmcv._ext``) exist only in a full mmcv build, and only for the devices it was built for:
the prebuilt CPU wheel has no CUDA kernels; ``mmcv-lite`` has no ``_ext`` at all (see :mod:`mim3d_mmcv_ext_shim`);
even a full CPU build lacks CPU kernels of some ops (sigmoid focal loss, multi-scale deformable attention). Every op
this project calls therefore has a PyTorch path, and :func:`compiled_op_available` decides, once per op and device
type, by running mmcv's op on a tiny input on that device: it is used when it runs, else the PyTorch path is. The
decision is logged once (``mim3d ops: <op> on <device>: mmcv kernel`` / ``PyTorch path (<why>)``).

``MIM3D_PYTORCH_OPS=1`` in the environment, or the :func:`pytorch_ops_only` context, forces every PyTorch path (what
the tests use to run every small config without compiled ops).
"""
import contextlib
import functools
import os
from typing import Callable, Dict, Iterator, Tuple, Union

import torch
from mmengine.logging import print_log

_forced = {'on': os.environ.get('MIM3D_PYTORCH_OPS', '0') not in ('', '0', 'false', 'False')}
_logged = set()


def _probe_ms_deform_attn(device):
    from mmcv.ops.multi_scale_deform_attn import MultiScaleDeformableAttnFunction
    value = torch.zeros(1, 2, 1, 2, device=device)
    shapes = torch.tensor([[1, 2]], device=device)
    start = torch.tensor([0], device=device)
    loc = torch.full((1, 1, 1, 1, 1, 2), 0.5, device=device)
    weight = torch.ones(1, 1, 1, 1, 1, device=device)
    MultiScaleDeformableAttnFunction.apply(value, shapes, start, loc, weight, 64)


def _probe_sigmoid_focal_loss(device):
    from mmcv.ops import sigmoid_focal_loss
    sigmoid_focal_loss(torch.zeros(2, 3, device=device), torch.tensor([0, 1], device=device), 2.0, 0.25, None, 'mean')


def _probe_voxelization(device):
    from mmdet3d.models.data_preprocessors.voxelize import voxelization
    voxelization(torch.zeros(2, 4, device=device), [1.0, 1.0, 1.0], [-1.0, -1.0, -1.0, 1.0, 1.0, 1.0], 2, 4, True)


def _probe_nms_rotated(device):
    from mmcv.ops import nms_rotated
    boxes = torch.tensor([[0.0, 0.0, 2.0, 1.0, 0.3], [0.1, 0.0, 2.0, 1.0, 0.3]], device=device)
    nms_rotated(boxes, torch.tensor([0.9, 0.8], device=device), 0.5)


def _probe_box_iou_rotated(device):
    from mmcv.ops import box_iou_rotated
    boxes = torch.tensor([[0.0, 0.0, 2.0, 1.0, 0.3], [0.1, 0.0, 2.0, 1.0, 0.3]], device=device)
    box_iou_rotated(boxes, boxes, mode='iof', aligned=True)


def _probe_nms(device):
    from mmcv.ops import nms
    nms(
        torch.tensor([[0.0, 0.0, 2.0, 1.0], [0.1, 0.0, 2.0, 1.0]], device=device),
        torch.tensor([0.9, 0.8], device=device), 0.5)


def _probe_modulated_deform_conv(device):
    from mmcv.ops import modulated_deform_conv2d
    x = torch.zeros(1, 1, 3, 3, device=device)
    modulated_deform_conv2d(x, torch.zeros(1, 18, 3, 3, device=device), torch.ones(1, 9, 3, 3, device=device),
                            torch.zeros(1, 1, 3, 3, device=device), None, 1, 1, 1, 1, 1)


def _probe_sparse_conv(device):
    from mmdet3d.models.layers.spconv import IS_SPCONV2_AVAILABLE
    if IS_SPCONV2_AVAILABLE:
        from spconv.pytorch import SparseConvTensor, SubMConv3d
    else:
        from mmcv.ops import SparseConvTensor, SubMConv3d
    conv = SubMConv3d(1, 1, 3, indice_key='probe').to(device)
    features = torch.ones(1, 1, device=device)
    indices = torch.zeros(1, 4, dtype=torch.int32, device=device)
    conv(SparseConvTensor(features, indices, [3, 3, 3], 1))


PROBES: Dict[str, Callable] = {
    'ms_deform_attn': _probe_ms_deform_attn,
    'sigmoid_focal_loss': _probe_sigmoid_focal_loss,
    'voxelization': _probe_voxelization,
    'nms_rotated': _probe_nms_rotated,
    'box_iou_rotated': _probe_box_iou_rotated,
    'nms': _probe_nms,
    'modulated_deform_conv': _probe_modulated_deform_conv,
    'sparse_conv': _probe_sparse_conv,
}


@functools.lru_cache(maxsize=None)
def _probe(op: str, device: str) -> Tuple[bool, str]:
    try:
        PROBES[op](torch.device(device))
    except Exception as e:  # noqa: BLE001 - any failure of the compiled op means: not usable here
        return False, f'{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ""}'
    return True, ''


def compiled_op_available(op: str, device: Union[str, torch.device]) -> bool:
    """Whether mmcv's compiled ``op`` runs on ``device`` (decided once per op and device type, logged once).

    Args:
        op (str): one of :data:`PROBES` (``'ms_deform_attn'``, ``'sigmoid_focal_loss'``, ``'voxelization'``,
            ``'nms_rotated'``, ``'box_iou_rotated'``, ``'nms'``, ``'modulated_deform_conv'``, ``'sparse_conv'``).
        device (str | torch.device): the device of the op's inputs (only its type counts).

    Raises:
        KeyError: an op without a probe.
    """
    if op not in PROBES:
        raise KeyError(f'compiled_op_available: no probe for op {op!r}; known: {sorted(PROBES)}')
    device_type = torch.device(device).type
    if _forced['on']:
        ok, why = False, 'forced by MIM3D_PYTORCH_OPS / pytorch_ops_only()'
    else:
        ok, why = _probe(op, device_type)
    key = (op, device_type, ok)
    if key not in _logged:
        _logged.add(key)
        print_log(
            f'mim3d ops: {op} on {device_type}: ' + ('compiled kernel' if ok else f'PyTorch path ({why})'),
            logger='current')
    return ok


def op_choices(device: Union[str, torch.device]) -> Dict[str, str]:
    """``{op: 'mmcv' | 'pytorch'}`` for every op on ``device`` (what the GPU smoke test prints)."""
    return {op: 'mmcv' if compiled_op_available(op, device) else 'pytorch' for op in PROBES}


@contextlib.contextmanager
def pytorch_ops_only(hide_kernels: bool = True) -> Iterator[None]:
    """Within the context every op takes its PyTorch path, as on a machine without mmcv's kernels.

    Args:
        hide_kernels (bool): also make every function of ``mmcv._ext`` raise (what mmcv-lite with
            :mod:`mim3d_plugin.ops.mmcv_ext_shim` does), so that a library call that still reaches a kernel fails
            here as it would there. Default: True.
    """
    before = _forced['on']
    _forced['on'] = True
    saved = {}
    if hide_kernels:
        try:
            import mmcv._ext as ext
        except ImportError:
            ext = None
        if ext is not None and not getattr(ext, '__mim3d_shim__', False):
            saved = {name: getattr(ext, name) for name in dir(ext) if not name.startswith('_')}
            for name in saved:
                setattr(ext, name, _hidden(name))
    try:
        yield
    finally:
        _forced['on'] = before
        for name, fn in saved.items():
            setattr(ext, name, fn)


def _hidden(op: str) -> Callable:

    def hidden(*args, **kwargs):
        raise RuntimeError(f'mmcv compiled op {op!r} is hidden (pytorch_ops_only): a call reached mmcv\'s kernel '
                           f'that has no PyTorch path in mim3d_plugin.ops')

    return hidden
