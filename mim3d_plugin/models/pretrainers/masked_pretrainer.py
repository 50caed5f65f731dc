"""One pretrainer for every method: a shared masked encoder and a set of pretext heads.

GeoMIM, MIM4D and Mask3D differ in their encoder's masking and in what they predict from it; each is a config of
:class:`MaskedPretrainer` (``configs/geomim``, ``configs/mim4d``, ``configs/mask3d``), and so are the hybrids
(``configs/hybrid``):

==========  ===================================================  ============================================
method      encoder (``mim3d_plugin/models/pretrainers/          heads (``mim3d_plugin/models/pretext_heads/``)
            encoders.py``)
==========  ===================================================  ============================================
GeoMIM      :class:`UnitMaskSwinEncoder` (GeoMIMSwin)            ``bev``: :class:`LiDARBEVDistillHead`
MIM4D       :class:`SparseMaskEncoder` (MaskConvNeXt + FPN)      ``render``: :class:`TemporalRenderingHead`
Mask3D      :class:`RGBDTokenEncoder` (Mask3DViT)                ``depth``: :class:`DepthPriorHead`
hybrid      any of them                                          several of the above, :class:`MaskedPixelHead`
==========  ===================================================  ============================================

The encoder runs **once** per batch into an :class:`EncoderOutput`; the camera metainfo the heads declare is
stacked once into tensors (:func:`stack_geometry`); every head takes ``(enc, inputs, geometry)`` and returns its
named losses. Checkpoint keys: ``encoder.backbone.*`` (the pretrained backbone, the same prefix for every method;
``tools/model_converters/extract_backbone.py`` writes it as ``backbone.*``), ``encoder.*``, ``heads.<name>.*``.
Checkpoints of the pre-0.2 GeoMIM / MIM4D / Mask3D classes load through a key map
(``pretrainers/checkpoint_layouts.py``).

Masks compose as follows (the encoder computes one mask, shared by all heads):

=================  ===========================================  ============================================
encoder mask kind  encoder                                      heads that accept it
=================  ===========================================  ============================================
``complementary``  :class:`UnitMaskSwinEncoder` (GeoMIM: two    ``LiDARBEVDistillHead`` (decodes each group
                   complementary unit groups, each encoded       with the other hidden, as GeoMIM),
                   from itself only)                            ``MaskedPixelHead`` (same), ``TemporalRendering
                                                                Head`` (``target_rays='hidden'``: per pass, rays
                                                                only at the pixels it hid), ``DepthPriorHead``
                                                                (per pass, the hidden cells' RGB masked)
``sparse``         :class:`SparseMaskEncoder` (SparK: visible   ``LiDARBEVDistillHead`` and ``MaskedPixelHead``
                   patches only, masked positions zero; MIM4D)  (one pass, hidden = not visible),
                                                                ``TemporalRenderingHead``, ``DepthPriorHead``
``rgbd_tokens``    :class:`RGBDTokenEncoder` (Mask3D's ViT:     ``DepthPriorHead`` only (the fused RGB-D
                   dropped RGB and depth tokens fused at the    bottleneck is a token sequence, not a dense map)
                   bottleneck)
=================  ===========================================  ============================================

No head reads what it predicts: a dense map is read per pass (:meth:`EncoderOutput.passes`; a complementary
encoder's two groups one at a time, the other zeroed), each pass predicting only what it hid, and the heads log the
fraction of their target that was seen (``<head>.visible_target*``; measured per combination in
``configs/hybrid/README.md``). A combination that cannot hide its target is refused (rendering on a complementary
encoder with ``target_rays='all'``, rendering on an unmasked encoder).

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
from mmdet3d.registry import MODELS
from mmengine.logging import print_log
from mmengine.model import BaseModel, ModuleDict
from torch import Tensor

from ..pretext_heads.base import EncoderOutput, stack_geometry
from .checkpoint_layouts import upgrade_state_dict


@MODELS.register_module()
class MaskedPretrainer(BaseModel):
    """A shared masked encoder trained by one or several pretext heads.

    ``loss`` = encoder once, then every head; head ``name``'s loss ``loss_x`` is logged as ``name.loss_x`` and
    multiplied by ``loss_weights[name]`` (default 1). Valid encoder / head combinations: module docstring.

    Args:
        encoder (dict): :class:`UnitMaskSwinEncoder`, :class:`SparseMaskEncoder` or :class:`RGBDTokenEncoder`.
        heads (dict[str, dict]): head name -> head config (``LiDARBEVDistillHead``, ``TemporalRenderingHead``,
            ``DepthPriorHead``, ``MaskedPixelHead``). A head set to None is left out (single-head runs of a hybrid
            config: ``--cfg-options model.heads.render=None``). At least one.
        loss_weights (dict[str, float], optional): per-head weight. Default 1 each.
        num_frames (int): ``F`` frames per clip (``imgs`` ``(B, F * N, 3, H, W)``, frame-major, current frame
            last; 1 = single key frames or single RGB-D frames). Default 1.
        data_preprocessor (dict): Default :class:`MultiViewDataPreprocessor`.
        test_cfg (dict, optional): ``seed`` (default 0) of the generator the masks of ``mode='predict'`` (and of
            the pictures) are drawn from, so that evaluations and pictures are reproducible; the heads' own
            ``test_cfg`` (e.g. :class:`DepthPriorHead`) say which masks.
        init_cfg (dict, optional): mmengine init config.

    ``forward`` modes (mmpretrain's): ``'loss'`` (the weighted losses), ``'predict'`` (the data samples, each with
    one field per head holding that head's predictions, e.g. ``sample.depth['pred_depth']``), ``'tensor'`` (the
    encoder's backbone features of the unmasked images, :meth:`extract_feat`).

    Raises:
        ValueError: no head, a weight for an unknown head, an invalid combination (module docstring), heads that
            ask the encoder for different evaluation masks.
    """

    def __init__(self,
                 encoder: dict,
                 heads: Dict[str, Optional[dict]],
                 loss_weights: Optional[Dict[str, float]] = None,
                 num_frames: int = 1,
                 data_preprocessor: dict = dict(type='MultiViewDataPreprocessor'),
                 test_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.dropped_heads = sorted(name for name, cfg in (heads or {}).items() if cfg is None)
        heads = {name: cfg for name, cfg in (heads or {}).items() if cfg is not None}
        if not heads:
            raise ValueError('MaskedPretrainer: heads is empty; give at least one pretext head')
        if num_frames < 1:
            raise ValueError(f'MaskedPretrainer: num_frames must be >= 1, got {num_frames}')
        self.encoder = MODELS.build(encoder)
        # mmengine's ModuleDict (not torch's): BaseModule.init_weights recurses only into children that have
        # init_weights, so the heads' own initialisations (decoder position tables, deformable offsets) run
        self.heads = ModuleDict({name: MODELS.build(cfg) for name, cfg in heads.items()})
        self.num_frames = num_frames
        loss_weights = dict(loss_weights or {})
        unknown = sorted(set(loss_weights) - set(self.heads) - set(self.dropped_heads))
        if unknown:
            raise ValueError(f'MaskedPretrainer: loss_weights for unknown heads {unknown}; heads are '
                             f'{sorted(self.heads)}')
        self.loss_weights = {name: float(loss_weights.get(name, 1.0)) for name in self.heads}
        for name, head in self.heads.items():
            head.check_encoder(self.encoder, num_frames, name)
            head.attach(self.data_preprocessor)
        self.meta_keys = tuple(dict.fromkeys(k for h in self.heads.values() for k in h.meta_keys))
        self.optional_meta_keys = tuple(
            dict.fromkeys(k for h in self.heads.values() for k in h.optional_meta_keys if k not in self.meta_keys))
        self.test_cfg = dict(dict(seed=0), **(test_cfg or {}))
        self.encoder_test_cfg()  # heads that ask for different evaluation masks fail here, at build time
        self.register_load_state_dict_pre_hook(MaskedPretrainer._upgrade_old_layout)

    def encoder_test_cfg(self) -> Dict[str, Any]:
        """The evaluation masking the heads ask the encoder for (their ``encoder_test_cfg``), merged.

        Raises:
            ValueError: two heads ask for different values of one setting.
        """
        merged: Dict[str, Any] = {}
        for name, head in self.heads.items():
            for key, value in head.encoder_test_cfg().items():
                if key in merged and merged[key] != value:
                    raise ValueError(f'MaskedPretrainer: heads ask the encoder for different evaluation masks: '
                                     f'{key}={merged[key]} and {key}={value} (head {name!r})')
                merged[key] = value
        return merged

    @staticmethod
    def _upgrade_old_layout(module: 'MaskedPretrainer', state_dict: dict, prefix: str, *args) -> None:
        """Load-time key map of the pre-0.2 GeoMIM / MIM4D / Mask3D checkpoints (``checkpoint_layouts.py``)."""
        done = upgrade_state_dict(state_dict, prefix, {n: type(h).__name__ for n, h in module.heads.items()})
        if done is not None:
            print_log(
                f'MaskedPretrainer: checkpoint in the old {done[0]} class layout; {done[1]} keys mapped to '
                'encoder.* / heads.*',
                logger='current')

    # ------------------------------------------------------------------ the shared steps
    def stack_geometry(self, inputs: dict, data_samples: Optional[Sequence]) -> Dict[str, Tensor]:
        """The metainfo the heads declared, as ``(B, ...)`` tensors on the inputs' device (once per batch)."""
        if not self.meta_keys and not self.optional_meta_keys:
            return {}
        if not data_samples:
            raise ValueError(f'MaskedPretrainer: the heads need metainfo {list(self.meta_keys)} but the batch has no '
                             'data samples')
        return stack_geometry(data_samples, self.meta_keys, self.optional_meta_keys, inputs['imgs'].device)

    def encode(self, inputs: dict, evaluation: bool = False) -> EncoderOutput:
        """The shared encoder forward (once per batch); ``evaluation``: the heads' evaluation masks, drawn from a
        generator seeded with ``test_cfg.seed``."""
        if not evaluation:
            return self.encoder(inputs, self.num_frames)
        device = inputs['imgs'].device
        generator = torch.Generator(device=device).manual_seed(int(self.test_cfg['seed']))
        return self.encoder(inputs, self.num_frames, generator=generator, **self.encoder_test_cfg())

    def loss(self, inputs: dict, data_samples: Optional[Sequence] = None) -> Dict[str, Tensor]:
        """Weighted losses of every head, keys ``<head>.<loss>``."""
        geometry = self.stack_geometry(inputs, data_samples)
        enc = self.encode(inputs)
        losses = {}
        for name, head in self.heads.items():
            w = self.loss_weights[name]
            for key, value in head(enc, inputs, geometry).items():
                losses[f'{name}.{key}'] = value * w if 'loss' in key and w != 1.0 else value
        return losses

    @torch.no_grad()
    def predict(self, inputs: dict, data_samples: Optional[Sequence] = None) -> List:
        """Every head's predictions on the evaluation masks, one data sample per batch element with a field per
        head (``sample.<head>``: dict of that head's per-sample tensors)."""
        geometry = self.stack_geometry(inputs, data_samples)
        enc = self.encode(inputs, evaluation=True)
        batch = inputs['imgs'].shape[0]
        if data_samples is None:
            from mmdet3d.structures import Det3DDataSample
            data_samples = [Det3DDataSample() for _ in range(batch)]
        for name, head in self.heads.items():
            pred = head(enc, inputs, geometry, mode='predict')
            for i, sample in enumerate(data_samples):
                sample.set_field({key: value[i] for key, value in pred.items()}, name)
        return list(data_samples)

    def extract_feat(self, inputs: dict):
        """The encoder's backbone features of the unmasked images (mmpretrain's ``mode='tensor'``)."""
        imgs = inputs['imgs'] if isinstance(inputs, dict) else inputs
        return self.encoder.extract_feat(imgs)

    @torch.no_grad()
    def visual_panels(self,
                      inputs: dict,
                      data_samples: Optional[Sequence] = None,
                      max_views: int = 3) -> Dict[str, Any]:
        """Pictures of every head that draws some (``visual_panels`` of the head), keyed ``<head>_<panel>``, from
        one encoder pass on the evaluation masks (for :class:`PretrainVisualizationHook`)."""
        geometry = self.stack_geometry(inputs, data_samples)
        enc = self.encode(inputs, evaluation=True)
        panels = {}
        for name, head in self.heads.items():
            if callable(getattr(head, 'visual_panels', None)):
                for key, img in head.visual_panels(enc, inputs, geometry, self.data_preprocessor, max_views).items():
                    panels[f'{name}_{key}'] = img
        return panels

    def forward(self, inputs: dict, data_samples: Optional[Sequence] = None, mode: str = 'tensor'):
        """``mode='loss'``: weighted losses; ``'predict'``: data samples with the heads' predictions;
        ``'tensor'``: :meth:`extract_feat`."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.extract_feat(inputs)
        raise ValueError(f'{type(self).__name__}: mode must be "loss", "predict" or "tensor", got {mode!r}')
