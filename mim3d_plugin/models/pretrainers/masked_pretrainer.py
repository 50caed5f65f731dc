"""One composable pretrainer: a shared masked encoder and a list of pretext heads.

GeoMIM, MIM4D and Mask3D differ in their encoder's masking and in what they predict from it. Here the
encoder (:class:`UnitMaskSwinEncoder`, :class:`SparseMaskEncoder`, :class:`RGBDTokenEncoder`) runs **once**
per batch and returns an :class:`EncoderOutput`; every head (``mim3d_plugin/models/pretext_heads``) takes it
with the batch and returns its named losses. :class:`MaskedPretrainer` weights and prefixes them. ``GeoMIM`` and
``MIM4D`` are thin subclasses (one head, their own state-dict keys); ``Mask3D`` equals
``MaskedPretrainer(RGBDTokenEncoder, DepthPriorHead)`` loss for loss (tests).

Masks compose as follows (the encoder computes one mask, shared by all heads):

=================  ===========================================  ============================================
encoder mask kind  encoder                                      heads that accept it
=================  ===========================================  ============================================
``complementary``  :class:`UnitMaskSwinEncoder` (GeoMIM: two    ``LiDARBEVDistillHead`` (decodes each group
                   complementary unit groups, each encoded       with the other hidden, as GeoMIM),
                   from itself only)                            ``MaskedPixelHead`` (same), ``TemporalRendering
                                                                Head``, ``DepthPriorHead`` (dense maps)
``sparse``         :class:`SparseMaskEncoder` (SparK: visible   ``LiDARBEVDistillHead`` and ``MaskedPixelHead``
                   patches only, masked positions zero; MIM4D)  (one pass, hidden = not visible),
                                                                ``TemporalRenderingHead``, ``DepthPriorHead``
``rgbd_tokens``    :class:`RGBDTokenEncoder` (Mask3D's ViT:     ``DepthPriorHead`` only (the fused RGB-D
                   dropped RGB and depth tokens fused at the    bottleneck is a token sequence, not a dense map)
                   bottleneck)
=================  ===========================================  ============================================

Per-frame temporal drop (``TemporalRenderingHead``) and the depth patch mask of ``DepthPriorHead`` on a dense
encoder are drawn by those heads on top of the encoder's mask. Where the depth mask meets the image mask the config
decides (``DepthPriorHead.depth_mask``): ``'random'`` (independent, Mask3D), ``'image_hidden'`` (depth dropped where
the image is hidden) or ``'image_visible'`` (depth dropped where the image is seen). A head given a mask kind it does
not accept, or a clip of fewer frames than it needs, raises ``ValueError`` when the pretrainer is built (names:
head, kind, accepted kinds). There is no second encoder pass: a combination that needs two different image masks is
not valid.
"""
from typing import Any, Dict, List, Optional, Sequence

import torch
from mmengine.model import BaseModel, BaseModule
from torch import Tensor, nn

from mmdet3d.registry import MODELS

MASK_KINDS = ('complementary', 'sparse', 'rgbd_tokens', 'none')


def units_to_cells(units: Tensor, hw: Sequence[int]) -> Tensor:
    """Mask units ``(..., h_m, w_m)`` -> the ``(..., h, w)`` cells of a finer grid they cover (``h_m | h``,
    ``w_m | w``; e.g. 32 px units on a stride-16 map: each unit covers 2 x 2 cells)."""
    h, w = hw
    if h % units.shape[-2] or w % units.shape[-1]:
        raise ValueError(f'units_to_cells: a {tuple(units.shape[-2:])} unit grid does not divide the {(h, w)} grid')
    return units.repeat_interleave(h // units.shape[-2], -2).repeat_interleave(w // units.shape[-1], -1)


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

    def __init__(self, mask_kind: str, num_frames: int, num_views: int, feats: Optional[Tensor] = None,
                 stride: int = 0, mask: Optional[Tensor] = None, mask_unit: int = 0,
                 tokens: Optional[dict] = None, extras: Optional[dict] = None) -> None:
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


class BasePretextHead(BaseModule):
    """A pretext task on the shared encoder's output.

    Subclasses set ``accepted_masks`` (encoder mask kinds they can learn from) and ``min_frames`` (frames per
    clip they need) and implement :meth:`loss` (and :meth:`predict` for ``mode='tensor'``).
    """

    accepted_masks: Sequence[str] = ()
    min_frames: int = 1

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

    def forward(self, enc: EncoderOutput, inputs: dict, data_samples: Sequence, mode: str = 'loss'):
        """``mode='loss'``: :meth:`loss`; ``'predict'``: :meth:`predict` (a module call, so that forward hooks,
        e.g. ``benchmark.py``'s stage timers, see each head)."""
        if mode == 'loss':
            return self.loss(enc, inputs, data_samples)
        if mode == 'predict':
            return self.predict(enc, inputs, data_samples)
        raise ValueError(f'{type(self).__name__}: mode must be "loss" or "predict", got {mode!r}')

    def attach(self, data_preprocessor: nn.Module) -> None:
        """Called once by the pretrainer with its data preprocessor (e.g. to undo its normalisation)."""

    def loss(self, enc: EncoderOutput, inputs: dict, data_samples: Sequence) -> Dict[str, Tensor]:
        """Named losses of this head (keys with ``loss`` are summed by mmengine)."""
        raise NotImplementedError

    def predict(self, enc: EncoderOutput, inputs: dict, data_samples: Sequence) -> dict:
        """Predictions for inspection / visualisation (``mode='tensor'``)."""
        raise NotImplementedError


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


@MODELS.register_module()
class MaskedPretrainer(BaseModel):
    """A shared masked encoder trained by several pretext heads at once.

    ``loss`` = encoder once, then every head; head ``name``'s loss ``loss_x`` is logged as ``name.loss_x`` and
    multiplied by ``loss_weights[name]`` (default 1). Valid encoder / head combinations: module docstring.

    Args:
        encoder (dict): :class:`UnitMaskSwinEncoder`, :class:`SparseMaskEncoder` or :class:`RGBDTokenEncoder`.
        heads (dict[str, dict]): head name -> head config (``LiDARBEVDistillHead``, ``TemporalRenderingHead``,
            ``DepthPriorHead``, ``MaskedPixelHead``). A head set to None is left out (single-head runs of a hybrid
            config at equal compute: ``--cfg-options model.heads.render=None``). At least one.
        loss_weights (dict[str, float], optional): per-head weight. Default 1 each.
        num_frames (int): ``F`` frames per clip (``imgs`` ``(B, F * N, 3, H, W)``, frame-major, current frame
            last; 1 = single key frames). Default 1.
        data_preprocessor (dict): Default :class:`MultiViewDataPreprocessor`.
        init_cfg (dict, optional): mmengine init config.

    State-dict keys: ``encoder.*`` and ``heads.<name>.*`` (the backbone: ``encoder.backbone.*``, the
    ``prefix`` to fine-tune from).

    Raises:
        ValueError: no head, a weight for an unknown head, or an invalid combination (module docstring).
    """

    def __init__(self, encoder: dict, heads: Dict[str, dict], loss_weights: Optional[Dict[str, float]] = None,
                 num_frames: int = 1, data_preprocessor: dict = dict(type='MultiViewDataPreprocessor'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.dropped_heads = sorted(name for name, cfg in (heads or {}).items() if cfg is None)
        heads = {name: cfg for name, cfg in (heads or {}).items() if cfg is not None}
        if not heads:
            raise ValueError('MaskedPretrainer: heads is empty; give at least one pretext head')
        self.encoder = MODELS.build(encoder)
        self.heads = nn.ModuleDict({name: MODELS.build(cfg) for name, cfg in heads.items()})
        self._setup(num_frames, loss_weights)

    def _setup(self, num_frames: int, loss_weights: Optional[Dict[str, float]]) -> None:
        if num_frames < 1:
            raise ValueError(f'MaskedPretrainer: num_frames must be >= 1, got {num_frames}')
        self.num_frames = num_frames
        loss_weights = dict(loss_weights or {})
        unknown = sorted(set(loss_weights) - set(self.pretext_heads) - set(getattr(self, 'dropped_heads', ())))
        if unknown:
            raise ValueError(f'MaskedPretrainer: loss_weights for unknown heads {unknown}; heads are '
                             f'{sorted(self.pretext_heads)}')
        self.loss_weights = {name: float(loss_weights.get(name, 1.0)) for name in self.pretext_heads}
        for name, head in self.pretext_heads.items():
            head.check_encoder(self.pretext_encoder, num_frames, name)
            head.attach(self.data_preprocessor)

    # the encoder and heads (overridden by the single-head subclasses, whose modules sit at the root)
    @property
    def pretext_encoder(self) -> nn.Module:
        return self.encoder

    @property
    def pretext_heads(self) -> Dict[str, BasePretextHead]:
        return dict(self.heads.items())

    def encode(self, inputs: dict, data_samples: Sequence) -> EncoderOutput:
        """The shared encoder forward (once per batch)."""
        return self.pretext_encoder(inputs, data_samples, self.num_frames)

    def loss(self, inputs: dict, data_samples: Sequence) -> Dict[str, Tensor]:
        """Weighted losses of every head, keys ``<head>.<loss>``."""
        enc = self.encode(inputs, data_samples)
        losses = {}
        for name, head in self.pretext_heads.items():
            w = self.loss_weights[name]
            for key, value in head(enc, inputs, data_samples).items():
                losses[f'{name}.{key}'] = value * w if 'loss' in key and w != 1.0 else value
        return losses

    @torch.no_grad()
    def predict(self, inputs: dict, data_samples: Sequence) -> Dict[str, dict]:
        """Every head's predictions (for inspection / visualisation), keyed by head name."""
        enc = self.encode(inputs, data_samples)
        return {name: head(enc, inputs, data_samples, mode='predict') for name, head in self.pretext_heads.items()}

    @torch.no_grad()
    def visual_panels(self, inputs: dict, data_samples: Sequence, max_views: int = 3) -> Dict[str, Any]:
        """Pictures of every head that draws some (``visual_panels`` of the head), keyed ``<head>_<panel>``, from
        one encoder pass (for :class:`PretrainVisualizationHook`)."""
        enc = self.encode(inputs, data_samples)
        panels = {}
        for name, head in self.pretext_heads.items():
            if callable(getattr(head, 'visual_panels', None)):
                for key, img in head.visual_panels(enc, inputs, data_samples, self.data_preprocessor,
                                                   max_views).items():
                    panels[f'{name}_{key}'] = img
        return panels

    def forward(self, inputs: dict, data_samples: Optional[Sequence] = None, mode: str = 'loss'):
        """``mode='loss'``: weighted losses; ``'tensor'`` / ``'predict'``: :meth:`predict`."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode in ('tensor', 'predict'):
            return self.predict(inputs, data_samples)
        raise ValueError(f'{type(self).__name__} is a pretraining model: mode must be "loss", "tensor" or '
                         f'"predict", got {mode!r}')


class SingleHeadPretrainer(MaskedPretrainer):
    """A :class:`MaskedPretrainer` with one head whose modules are mounted at the root under the names the
    pre-composable algorithm classes used (``backbone``, ``decoder``, ``teacher``...), so that their
    checkpoints, converters, ``prefix`` settings and attribute access stay valid.

    ``_mount(encoder, head, head_name, renames)`` registers the encoder's and head's children on ``self``
    (``renames`` maps a child name to its root name); the encoder and head objects themselves are kept out of
    the module tree (their children are the same objects, so ``to()``, ``train()``, optimisers and state dicts
    see every parameter exactly once).
    """

    def __init__(self, data_preprocessor: dict, init_cfg: Optional[dict] = None) -> None:
        BaseModel.__init__(self, data_preprocessor=data_preprocessor, init_cfg=init_cfg)

    def _mount(self, encoder: nn.Module, head: BasePretextHead, head_name: str, num_frames: int,
               renames: Optional[Dict[str, str]] = None) -> None:
        renames = renames or {}
        for owner in (encoder, head):
            if list(owner.named_parameters(recurse=False)) or list(owner.named_buffers(recurse=False)):
                raise ValueError(f'{type(self).__name__}: {type(owner).__name__} has tensors of its own and '
                                 'cannot be mounted at the root')
            for child_name, child in owner.named_children():
                self.add_module(renames.get(child_name, child_name), child)
        object.__setattr__(self, '_encoder', encoder)
        object.__setattr__(self, '_heads', {head_name: head})
        self._setup(num_frames, None)

    @property
    def pretext_encoder(self) -> nn.Module:
        return self._encoder

    @property
    def pretext_heads(self) -> Dict[str, BasePretextHead]:
        return self._heads

    def train(self, mode: bool = True):
        super().train(mode)
        for owner in (self._encoder, *self._heads.values()):
            owner.training = mode
        return self

    def loss(self, inputs: dict, data_samples: Sequence) -> Dict[str, Tensor]:
        """The head's losses under their own names (as the pre-composable class logged them)."""
        (name, head), = self.pretext_heads.items()
        return head(self.encode(inputs, data_samples), inputs, data_samples)
