"""Safe loading of mmengine checkpoints under ``torch.load(weights_only=True)`` (torch >= 2.6).

mmengine 0.10.7 calls ``torch.load`` without ``weights_only``; from torch 2.6 on that means
``weights_only=True`` and resuming a checkpoint fails, because mmengine writes a
``message_hub`` holding :class:`~mmengine.logging.HistoryBuffer` objects and numpy
scalars/arrays. This module allow-lists exactly the globals mmengine writes, and nothing that
can run arbitrary code:

* ``mmengine.logging.history_buffer.HistoryBuffer`` (rebuilt from its ``__dict__``);
* numpy arrays, scalars and dtypes (``numpy.core.multiarray._reconstruct``, ``numpy.ndarray``,
  ``numpy.core.multiarray.scalar``, ``numpy.dtype`` and the concrete ``numpy.dtypes.*DType``
  classes);
* ``builtins.getattr`` **only** as :func:`_history_buffer_getattr`, which pickle uses to store
  ``HistoryBuffer._statistics_methods`` (``getattr(HistoryBuffer, 'mean')``, ...). Any other
  ``getattr`` in a checkpoint raises :class:`pickle.UnpicklingError`; a plain ``getattr`` would
  let a crafted checkpoint reach ``__globals__`` and execute code.

Call :func:`register_mmengine_safe_globals` once (importing ``mim3d_plugin`` does).
"""
import pickle
from typing import Any

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

# filled lazily by mmengine on the first HistoryBuffer; these four always exist
_BUILTIN_STATISTICS = frozenset({'min', 'max', 'current', 'mean'})


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """Restricted ``getattr``: only ``HistoryBuffer.<statistics method>`` may be looked up.

    Raises:
        pickle.UnpicklingError: for any other object or attribute.
    """
    allowed = _BUILTIN_STATISTICS | set(HistoryBuffer._statistics_methods)
    if obj is HistoryBuffer and isinstance(name, str) and name in allowed:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'checkpoint asks for getattr({obj!r}, {name!r}); only HistoryBuffer statistics methods '
        f'{sorted(allowed)} are allowed when loading with weights_only=True')


def _numpy_globals() -> list:
    core = np.core.multiarray
    items = [
        np.ndarray, np.dtype, (core._reconstruct, 'numpy.core.multiarray._reconstruct'),
        (core.scalar, 'numpy.core.multiarray.scalar')
    ]
    # numpy >= 2 pickles the same functions under numpy._core
    items += [(core._reconstruct, 'numpy._core.multiarray._reconstruct'),
              (core.scalar, 'numpy._core.multiarray.scalar')]
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        items += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith('DType')]
    return items


def register_mmengine_safe_globals() -> None:
    """Allow-list the types mmengine writes into checkpoints for ``weights_only`` loading."""
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is None:  # torch < 2.4 has no weights_only default to fix
        return
    add([
        HistoryBuffer, (_history_buffer_getattr, 'builtins.getattr'), (_history_buffer_getattr, '__builtin__.getattr')
    ] + _numpy_globals())
