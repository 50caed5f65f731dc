"""Layer-wise learning-rate decay for the image backbone of a detector (BEiT / GeoMIM finetuning).

The learning rate of a backbone parameter at depth ``i`` (0 = patch embedding,
``L - 1`` = everything after the backbone) is ``lr * decay ** (L - 1 - i)``;
neck, view transformer and head keep the base lr. GeoMIM finetunes BEVDet with
``layer_decay_rate=0.8`` (Liu et al., ICCV 2023, Sec. 4.1; official
``LearningRateDecayOptimizerConstructor`` of Sense-X/GeoMIM).

mmpretrain's :class:`LearningRateDecayOptimWrapperConstructor` does the
parameter grouping but asks the *top-level* model for ``get_layer_depth``,
which mmdet3d detectors do not have. This subclass looks the backbone up by
its attribute path (``img_backbone`` by default) and uses, in order:

1. the backbone's own ``get_layer_depth(name, prefix)`` (mmpretrain Swin,
   MixMIM, ViT, ConvNeXt, ResNet and their subclasses such as ``GeoMIMSwin``);
2. otherwise a key-name rule for Swin/ViT layouts (mmdet's ``SwinTransformer``:
   ``patch_embed``, ``stages.{i}.blocks.{j}``, ``stages.{i}.downsample``;
   ``layers.{i}.blocks.{j}``; plain ViT ``layers.{j}``) with the stage depths
   from the backbone's ``depths`` / ``num_layers`` attributes.
"""
from typing import Callable, List, Optional, Sequence, Tuple

from mmdet3d.registry import OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.logging import MMLogger
from mmpretrain.engine.optimizers import LearningRateDecayOptimWrapperConstructor
from torch import nn

_STEM_KEYS = ('patch_embed', 'absolute_pos_embed', 'pos_embed', 'cls_token', 'mask_token')


def swin_vit_layer_depth(name: str, depths: Sequence[int]) -> Tuple[int, int]:
    """Layer depth of a backbone parameter from its key, for Swin (staged) or ViT (flat) layouts.

    Args:
        name (str): parameter name relative to the backbone, e.g.
            ``stages.2.blocks.5.attn.w_msa.qkv.weight`` (mmdet/mmpretrain Swin),
            ``layers.2.blocks.5...`` (MixMIM / GeoMIMSwin), ``layers.7.ffn...`` (ViT,
            ``depths=[num_layers]``).
        depths (Sequence[int]): blocks per stage, e.g. ``(2, 2, 18, 2)`` for Swin-B.

    Returns:
        tuple[int, int]: ``(layer_depth, num_layers)`` with ``num_layers =
        sum(depths) + 2``: 0 for the stem, ``sum(depths[:i]) + j + 1`` for block
        ``j`` of stage ``i``, the last block of stage ``i`` for its
        downsample/patch-merging layer, ``num_layers - 1`` for output norms and
        anything unknown.
    """
    num_layers = sum(depths) + 2
    parts = name.split('.')
    if parts[0] in _STEM_KEYS:
        return 0, num_layers
    if parts[0] in ('stages', 'layers') and len(parts) > 2 and parts[1].isdigit():
        stage = int(parts[1])
        if len(depths) == 1:  # ViT: layers.{j}
            return min(stage + 1, num_layers - 1), num_layers
        if parts[2] == 'blocks' and len(parts) > 3 and parts[3].isdigit():
            return sum(depths[:stage]) + int(parts[3]) + 1, num_layers
        if parts[2] in ('downsample', 'reduction', 'norm'):
            return sum(depths[:stage + 1]), num_layers
    return num_layers - 1, num_layers


def _infer_depths(backbone: nn.Module) -> Optional[List[int]]:
    """Stage depths from ``stages``/``layers`` module lists (``[len(blocks), ...]``; ViT: ``[len(layers)]``)."""
    for attr in ('stages', 'layers'):
        seq = getattr(backbone, attr, None)
        if isinstance(seq, nn.ModuleList) and len(seq):
            if all(isinstance(getattr(s, 'blocks', None), nn.ModuleList) for s in seq):
                return [len(s.blocks) for s in seq]
            if attr == 'layers':
                return [len(seq)]
    return None


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LayerDecayOptimWrapperConstructor(LearningRateDecayOptimWrapperConstructor):
    """Layer-wise lr decay on a detector's image backbone; the rest of the model gets the base lr.

    ``paramwise_cfg`` keys (besides mmpretrain's ``bias_decay_mult``,
    ``norm_decay_mult``, ``flat_decay_mult`` and ``custom_keys``):

    - ``layer_decay_rate`` (float): decay per layer, e.g. 0.8 (GeoMIM). Default 1.
    - ``backbone`` (str): attribute path of the backbone in the model.
      Default ``'img_backbone'``.
    - ``depths`` (list[int], optional): stage depths for backbones without
      ``get_layer_depth`` and without a ``depths`` attribute.

    Example::

        optim_wrapper = dict(
            type='OptimWrapper',
            optimizer=dict(type='AdamW', lr=2e-4, weight_decay=0.01),
            constructor='LayerDecayOptimWrapperConstructor',
            paramwise_cfg=dict(layer_decay_rate=0.8, backbone='img_backbone'))

    Raises:
        ValueError: if the model has no module at ``backbone`` or its depths
            cannot be determined.
    """

    def _backbone_depth_fn(self, model: nn.Module) -> Callable[[str], Tuple[int, int]]:
        path = self.paramwise_cfg.get('backbone', 'img_backbone')
        try:
            backbone = model.get_submodule(path)
        except AttributeError as err:
            raise ValueError(f'LayerDecayOptimWrapperConstructor: model {type(model).__name__} has no module '
                             f'paramwise_cfg.backbone={path!r}') from err
        prefix = path + '.'
        if hasattr(backbone, 'get_layer_depth'):
            num_layers = backbone.get_layer_depth('__not_in_backbone__', prefix)[1]

            def depth_fn(name: str) -> Tuple[int, int]:
                if not name.startswith(prefix):
                    return num_layers - 1, num_layers
                return backbone.get_layer_depth(name, prefix)

            return depth_fn
        depths = self.paramwise_cfg.get('depths', getattr(backbone, 'depths', None)) or _infer_depths(backbone)
        if depths is None:
            raise ValueError(f'LayerDecayOptimWrapperConstructor: cannot infer the layer depths of '
                             f'{type(backbone).__name__}; set paramwise_cfg.depths (e.g. [2, 2, 18, 2])')
        depths = [int(d) for d in depths]

        def rule_fn(name: str) -> Tuple[int, int]:
            if not name.startswith(prefix):
                return sum(depths) + 1, sum(depths) + 2
            return swin_vit_layer_depth(name[len(prefix):], depths)

        return rule_fn

    def add_params(self,
                   params: List[dict],
                   module: nn.Module,
                   prefix: str = '',
                   get_layer_depth: Optional[Callable] = None,
                   **kwargs) -> None:
        """Group the parameters of ``module`` with layer-wise lr scales (see class docstring)."""
        if get_layer_depth is None and prefix == '':
            get_layer_depth = self._backbone_depth_fn(module)
        super().add_params(params, module, prefix=prefix, get_layer_depth=get_layer_depth, **kwargs)
        if prefix == '':
            scales = sorted({round(p['lr_scale'], 6) for p in params})
            MMLogger.get_current_instance().info(
                f'LayerDecayOptimWrapperConstructor: {len(params)} parameter groups, lr scales '
                f'{scales[0]:.3g} .. {scales[-1]:.3g} (decay {self.paramwise_cfg.get("layer_decay_rate", 1.0)})')
