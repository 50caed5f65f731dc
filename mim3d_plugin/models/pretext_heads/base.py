"""What every pretext head shares: the encoder's output, the camera geometry stacked once, the head interface.

:class:`~mim3d_plugin.models.pretrainers.MaskedPretrainer` runs its encoder once per batch
(``mim3d_plugin/models/pretrainers/encoders.py``) into an :class:`EncoderOutput`, stacks the per-sample camera
metainfo its heads declare (:attr:`BasePretextHead.meta_keys`) into batched tensors once
(:func:`stack_geometry`), and calls every head with ``(enc, inputs, geometry)``. No head reads a data sample.
"""
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from ..utils.token_masking import units_to_cells

MASK_KINDS = ('complementary', 'sparse', 'rgbd_tokens', 'none')

# every metainfo key a head may ask for, with the dtype it is stacked in and its per-sample shape
# (V = F * N views of a clip, frame-major; F frames)
META_DTYPES = {
    'lidar2img': torch.float32,  # (V, 4, 4) LiDAR -> augmented image px
    'cam2img': torch.float32,  # (V, 4, 4) camera -> augmented image px
    'img_aug_matrix': torch.float32,  # (V, 4, 4) original px -> augmented px
    'cam2ego': torch.float32,  # (V, 4, 4) camera -> ego, m
    'lidar2ego': torch.float64,  # (F, 4, 4) m
    'ego2global': torch.float64,  # (F, 4, 4) m
    'frame_valid': torch.bool,  # (F,) False: the frame repeats another at a scene start
    'depth_frames': torch.bool,  # (F,) frames whose depth maps are filled
}


def stack_geometry(data_samples: Sequence,
                   keys: Sequence[str],
                   optional: Sequence[str] = (),
                   device: Optional[torch.device] = None) -> Dict[str, Tensor]:
    """Stack the metainfo ``keys`` (and the ``optional`` keys every sample has) into ``(B, ...)`` tensors.

    Dtypes: :data:`META_DTYPES`. The only place below the data pipeline where metainfo is read.

    Raises:
        KeyError: a sample lacks one of ``keys`` (its index and its keys are named), or a key not in
            :data:`META_DTYPES`.
        ValueError: samples whose values differ in shape.
    """
    out = {}
    metas = [s if isinstance(s, dict) else s.metainfo for s in data_samples]
    for key in list(keys) + [k for k in optional if k not in keys]:
        if key not in META_DTYPES:
            raise KeyError(f'stack_geometry: unknown metainfo key {key!r}; known: {sorted(META_DTYPES)}')
        if key in optional and not all(key in m for m in metas):
            continue
        values = []
        for i, meta in enumerate(metas):
            if key not in meta:
                raise KeyError(f'MaskedPretrainer: data sample {i} has no metainfo {key!r} (has {sorted(meta)}); '
                               'add it to the meta_keys of the pack transform')
            value = meta[key]
            values.append(value.detach().cpu() if isinstance(value, Tensor) else torch.as_tensor(np.asarray(value)))
        shapes = {tuple(v.shape) for v in values}
        if len(shapes) != 1:
            raise ValueError(f'MaskedPretrainer: metainfo {key!r} differs in shape across the batch: {sorted(shapes)}')
        out[key] = torch.stack(values).to(device=device, dtype=META_DTYPES[key])
    return out


class EncoderOutput:
    """What the shared encoder computed once for all heads.

    Attributes:
        feats (Tensor | None): dense map ``(B, V, C, h, w)``, ``V = F * N`` views, frame-major (oldest frame
            first, the current frame's ``N`` views last); None for ``rgbd_tokens``.
        stride (int): px per feature cell.
        mask_kind (str): one of :data:`MASK_KINDS`.
        mask (Tensor | None): ``(B, V, H / u, W / u)`` bool over mask units of ``u = mask_unit`` px, True =
            hidden: ``complementary``: the units of group 1 (group 0 = False); ``sparse``: the units whose
            pixels the encoder never saw.
        mask_unit (int): px per mask unit.
        tokens (dict | None): ``rgbd_tokens``: the fused bottleneck of :class:`Mask3DViT` (``latent``
            ``(B * V, 1 + h * w, C)``, ``rgb_mask``/``depth_mask`` ``(B * V, h * w)``, ``hw``).
        num_frames (int): ``F``. num_views (int): ``N`` views per frame.
        extras (dict): encoder-specific tensors (e.g. ``visible`` of the sparse encoder in its own layout).
    """

    def __init__(self,
                 mask_kind: str,
                 num_frames: int,
                 num_views: int,
                 feats: Optional[Tensor] = None,
                 stride: int = 0,
                 mask: Optional[Tensor] = None,
                 mask_unit: int = 0,
                 tokens: Optional[dict] = None,
                 extras: Optional[dict] = None) -> None:
        if mask_kind not in MASK_KINDS:
            raise ValueError(f'EncoderOutput: mask_kind must be one of {MASK_KINDS}, got {mask_kind!r}')
        self.mask_kind, self.num_frames, self.num_views = mask_kind, num_frames, num_views
        self.feats, self.stride, self.mask, self.mask_unit = feats, stride, mask, mask_unit
        self.tokens, self.extras = tokens, dict(extras or {})

    def current(self, x: Tensor) -> Tensor:
        """The current (last) frame's ``N`` views of a ``(B, V, ...)`` tensor: ``(B, N, ...)``."""
        return x[:, x.shape[1] - self.num_views:]

    def hidden_groups(self, frames: str = 'current') -> List[Tensor]:
        """The unit masks a decoding head hides, one decoder pass each, ``(B, N or V, H / u, W / u)`` bool.

        ``complementary``: ``[mask, ~mask]`` (GeoMIM: decode group 0 with group 1 hidden, then the reverse);
        ``sparse``: ``[mask]`` (the units the encoder did not see).

        Raises:
            ValueError: other kinds (nothing is hidden from a dense map).
        """
        if self.mask_kind not in ('complementary', 'sparse'):
            raise ValueError(f'EncoderOutput: a {self.mask_kind!r} encoder hides no units of a dense map')
        mask = self.current(self.mask) if frames == 'current' else self.mask
        return [mask, ~mask] if self.mask_kind == 'complementary' else [mask]

    def passes(self, frames: str = 'all') -> List[Tuple[Tensor, Tensor]]:
        """The dense maps a head may read without seeing what a pass hides, with that pass's hidden units.

        Returns:
            list[tuple]: ``(feats, hidden)`` per pass: ``feats`` ``(B, V', C, h, w)`` and ``hidden``
            ``(B, V', H / u, W / u)`` bool (True = the pass hides the unit); ``V' = V`` (``frames='all'``) or the
            current frame's ``N`` views (``'current'``).

            - ``complementary``: two passes. Each group was encoded from its own tokens only, so the map with the
              other group's cells set to zero is group ``g`` encoded with the other group hidden (its gradient
              w.r.t. the hidden pixels is exactly zero; ``tests/test_models/test_pretrainers/test_target_hiding.py``).
            - ``sparse``: one pass, the map as encoded (SparK never reads the unseen patches), hidden = unseen.
            - ``none``: one pass, nothing hidden.

        Raises:
            ValueError: an ``rgbd_tokens`` encoder (no dense map).
        """
        if self.feats is None:
            raise ValueError(f'EncoderOutput: a {self.mask_kind!r} encoder has no dense map to read per pass')
        feats = self.current(self.feats) if frames == 'current' else self.feats
        if self.mask_kind == 'none':
            b, v, _, h, w = feats.shape
            s = self.stride
            return [(feats, torch.zeros(b, v, h * s, w * s, dtype=torch.bool, device=feats.device))]
        mask = self.current(self.mask) if frames == 'current' else self.mask
        if self.mask_kind == 'sparse':
            return [(feats, mask)]
        out = []
        for hidden in (mask, ~mask):
            cells = units_to_cells(hidden, feats.shape[-2:])
            out.append((feats * (~cells).unsqueeze(2).to(feats.dtype), hidden))
        return out


def split_views(imgs: Tensor, num_frames: int, who: str) -> int:
    """``N`` views per frame of ``imgs`` ``(B, F * N, 3, H, W)``.

    Raises:
        ValueError: ``imgs`` is not 5-D or its view count is not a multiple of ``num_frames``.
    """
    if imgs.dim() != 5:
        raise ValueError(f'{who}: inputs["imgs"] must be (B, F * N, 3, H, W), got {tuple(imgs.shape)}')
    if imgs.shape[1] % num_frames:
        raise ValueError(f'{who}: {imgs.shape[1]} views per sample is not a multiple of num_frames={num_frames}; '
                         f'pack the clip with MultiFrameMultiView(num_prev_frames={num_frames - 1})')
    return imgs.shape[1] // num_frames


class BasePretextHead(BaseModule):
    """A pretext task on the shared encoder's output.

    Subclasses set ``accepted_masks`` (encoder mask kinds they can learn from), ``min_frames`` (frames per clip
    they need), ``meta_keys`` / ``optional_meta_keys`` (camera metainfo the pretrainer stacks for them, keys of
    :data:`META_DTYPES`) and implement :meth:`loss` and :meth:`predict`.

    Every method takes ``enc`` (:class:`EncoderOutput`), ``inputs`` (the data preprocessor's output: ``imgs``,
    ``depth``, ``points``...) and ``geometry`` (``key -> (B, ...)`` tensors of the declared metainfo).
    """

    accepted_masks: Sequence[str] = ()
    min_frames: int = 1
    meta_keys: Sequence[str] = ()
    optional_meta_keys: Sequence[str] = ()

    def check_encoder(self, encoder: nn.Module, num_frames: int, name: str) -> None:
        """Raise ``ValueError`` if this head cannot learn from ``encoder`` on ``num_frames``-frame clips."""
        kind = encoder.mask_kind
        if kind not in self.accepted_masks:
            raise ValueError(f'MaskedPretrainer: head {name!r} ({type(self).__name__}) cannot use the '
                             f'{kind!r} mask of {type(encoder).__name__}; it accepts {tuple(self.accepted_masks)} '
                             '(see the table in mim3d_plugin/models/pretrainers/masked_pretrainer.py)')
        if num_frames < self.min_frames:
            raise ValueError(f'MaskedPretrainer: head {name!r} ({type(self).__name__}) needs clips of at least '
                             f'{self.min_frames} frames, num_frames={num_frames}')

    def forward(self, enc: EncoderOutput, inputs: dict, geometry: Dict[str, Tensor], mode: str = 'loss'):
        """``mode='loss'``: :meth:`loss`; ``'predict'``: :meth:`predict` (a module call, so that forward hooks,
        e.g. ``benchmark.py``'s stage timers, see each head)."""
        if mode == 'loss':
            return self.loss(enc, inputs, geometry)
        if mode == 'predict':
            return self.predict(enc, inputs, geometry)
        raise ValueError(f'{type(self).__name__}: mode must be "loss" or "predict", got {mode!r}')

    def attach(self, data_preprocessor: nn.Module) -> None:
        """Called once by the pretrainer with its data preprocessor (e.g. to undo its normalisation)."""

    def encoder_test_cfg(self) -> Dict[str, Any]:
        """Masking the encoder must use when this head is evaluated (``mode='predict'``), e.g. Mask3D's
        ``mask_ratio`` / ``depth_mask_ratio``; empty = the training masks."""
        return {}

    def loss(self, enc: EncoderOutput, inputs: dict, geometry: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """Named losses of this head (keys with ``loss`` are summed by mmengine)."""
        raise NotImplementedError

    def predict(self, enc: EncoderOutput, inputs: dict, geometry: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """Predictions, every tensor batch-first ``(B, ...)`` (the pretrainer hands sample ``i`` its row ``i``)."""
        raise NotImplementedError
