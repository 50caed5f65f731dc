"""Stand-in for ``mmcv._ext`` where mmcv-lite is installed (no compiled ops), so that mmcv.ops, mmdet and mmdet3d
import, and every op call that reaches mmcv's kernels raises a clear error instead of failing at import.

Self-contained (imports nothing of this package: it must run before ``mmcv.ops`` is imported). Installed at
interpreter start by the light install (``bash tools/install.sh --light``: a ``.pth`` file in site-packages) or by
the offline GPU bundle (a ``sitecustomize.py`` beside the wheels), both of which run this file. It appends an import
finder to the **end** of ``sys.meta_path``: a full mmcv build's real ``_ext`` is always found first, so the stand-in
only answers where there is none. ``MIM3D_MMCV_EXT_SHIM=force`` puts it first instead (tests: an mmcv-lite machine on
a full install).

What the stand-in costs: the ops with a PyTorch path in :mod:`mim3d_plugin.ops` (deformable attention, focal loss,
voxelization, rotated NMS, DCNv2) run it; the sparse convolutions of a voxel LiDAR teacher have none (use spconv or
a pillar teacher); any other mmcv op raises ``RuntimeError`` naming itself.
"""
import importlib.abc
import importlib.machinery
import os
import sys
import types

NAME = 'mmcv._ext'


class _MissingKernels(types.ModuleType):

    def __getattr__(self, op):
        if op.startswith('__'):
            raise AttributeError(op)

        def missing(*args, **kwargs):
            raise RuntimeError(f'mmcv compiled op {op!r} is absent: this Python has mmcv without compiled ops '
                               f'(mmcv-lite, mim3d light install). mim3d_plugin.ops has PyTorch paths for the ops the '
                               f'project calls; this call has none (install a full mmcv build for it).')

        missing.__name__ = op
        return missing


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):

    def find_spec(self, fullname, path=None, target=None):
        if fullname != NAME:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec):
        module = _MissingKernels(NAME)
        module.__mim3d_shim__ = True
        return module

    def exec_module(self, module):
        pass


def install(force: bool = False) -> None:
    """Add the finder (once); ``force``: before every other finder (else after them)."""
    if any(isinstance(f, _Finder) for f in sys.meta_path):
        return
    if force:
        sys.meta_path.insert(0, _Finder())
    else:
        sys.meta_path.append(_Finder())


install(force=os.environ.get('MIM3D_MMCV_EXT_SHIM') == 'force')
