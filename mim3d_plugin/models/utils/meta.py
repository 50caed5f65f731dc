"""Turn per-sample metainfo into batched tensors (done once, by the top-level model)."""
from typing import Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor


def stack_meta(data_samples: Sequence,
               key: str,
               device: Optional[Union[str, torch.device]] = None,
               dtype: torch.dtype = torch.float32) -> Tensor:
    """Stack the metainfo ``key`` of every data sample along a new batch dim.

    Args:
        data_samples (sequence[Det3DDataSample | dict]): B samples (or their
            metainfo dicts).
        key (str): metainfo key, e.g. ``'lidar2img'`` ((N, 4, 4) per sample
            -> (B, N, 4, 4)), ``'ego2global'`` ((4, 4) -> (B, 4, 4)),
            ``'timestamp'`` (scalar -> (B,)).
        device (str | torch.device, optional): target device. Default: CPU.
        dtype (torch.dtype): Default: torch.float32.

    Returns:
        Tensor: ``(B, *shape)``.

    Raises:
        KeyError: a sample lacks ``key`` (its index and available keys are named).
        ValueError: empty batch, or samples whose values differ in shape.
    """
    if len(data_samples) == 0:
        raise ValueError(f'stack_meta({key!r}): empty batch')
    values = []
    for i, sample in enumerate(data_samples):
        meta = sample if isinstance(sample, dict) else sample.metainfo
        if key not in meta:
            raise KeyError(f'stack_meta: data sample {i} has no metainfo {key!r} (has {sorted(meta)}); '
                           f'add it to the meta_keys of the pack transform')
        value = meta[key]
        values.append(value.detach().cpu() if isinstance(value, Tensor) else torch.as_tensor(np.asarray(value)))
    shapes = {tuple(v.shape) for v in values}
    if len(shapes) != 1:
        raise ValueError(f'stack_meta({key!r}): samples have different shapes {sorted(shapes)}')
    return torch.stack(values).to(device=device, dtype=dtype)
