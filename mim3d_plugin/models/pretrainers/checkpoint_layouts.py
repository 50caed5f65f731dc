"""Checkpoints of the pre-0.2 pretraining classes in today's one layout (``encoder.*``, ``heads.<name>.*``).

Until mim3d 0.1 GeoMIM, MIM4D and Mask3D were classes of their own and wrote their modules at the root of the
state dict. They are now configs of :class:`MaskedPretrainer`; these key maps let their checkpoints load (resume,
``load_from``, ``init_cfg``) and let ``tools/model_converters/extract_backbone.py`` find their backbone:

=========  ==========================================================  =========================================
old class  old roots                                                   new keys
=========  ==========================================================  =========================================
GeoMIM     ``backbone`` / ``decoder``, ``view_transformer``,           ``encoder.backbone`` / ``heads.<h>.<root>``
           ``bev_head``, ``teacher``                                   (``<h>``: the LiDARBEVDistillHead)
MIM4D      ``img_backbone``, ``img_neck`` / ``view_transform``,        ``encoder.backbone``, ``encoder.neck`` /
           ``temporal_builder``, ``render_head``                       ``heads.<h>.<root>`` (TemporalRenderingHead)
Mask3D     ``backbone`` / ``head``                                     ``encoder.backbone`` / ``heads.<h>.head``
                                                                       (DepthPriorHead)
=========  ==========================================================  =========================================

The parameter order of every old class equals the new one's (encoder first, then the head's modules in the old
order), so an optimizer state saved by the old code resumes onto the same parameters.
"""
from typing import Dict, List, Optional, Tuple

OLD_LAYOUTS = {
    'GeoMIM':
    dict(
        head='LiDARBEVDistillHead',
        encoder=dict(backbone='backbone'),
        head_roots=('decoder', 'view_transformer', 'bev_head', 'teacher')),
    'MIM4D':
    dict(
        head='TemporalRenderingHead',
        encoder=dict(img_backbone='backbone', img_neck='neck'),
        head_roots=('view_transform', 'temporal_builder', 'render_head')),
    'Mask3D':
    dict(head='DepthPriorHead', encoder=dict(backbone='backbone'), head_roots=('head', )),
}
NEW_ROOTS = ('encoder', 'heads')
# where the pretrained backbone sits in a checkpoint of each layout (extract_backbone.py tries them in this order)
BACKBONE_PREFIXES = ('encoder.backbone.', 'backbone.', 'img_backbone.')


def _old_roots() -> Dict[str, List[str]]:
    return {k: sorted(set(v['encoder']) | set(v['head_roots'])) for k, v in OLD_LAYOUTS.items()}


def detect_layout(keys: List[str]) -> Optional[str]:
    """The old class whose layout ``keys`` (relative to the model) have, or None for today's layout.

    Raises:
        ValueError: keys of neither today's nor an old layout (their root names are listed).
    """
    roots = {k.split('.', 1)[0] for k in keys}
    if not roots or roots <= set(NEW_ROOTS):
        return None
    for name, layout in OLD_LAYOUTS.items():
        known = set(layout['encoder']) | set(layout['head_roots'])
        if roots <= known and roots & set(layout['head_roots']):
            return name
    raise ValueError(f'MaskedPretrainer: checkpoint roots {sorted(roots)} are neither the encoder.* / heads.* '
                     f'layout nor an old GeoMIM / MIM4D / Mask3D one ({_old_roots()})')


def upgrade_keys(keys: List[str], layout: str, head_name: str) -> Dict[str, str]:
    """``old key -> new key`` for the keys of an old ``layout`` whose head is ``heads.<head_name>``."""
    spec = OLD_LAYOUTS[layout]
    out = {}
    for key in keys:
        root, rest = key.split('.', 1)
        if root in spec['encoder']:
            out[key] = f'encoder.{spec["encoder"][root]}.{rest}'
        else:
            out[key] = f'heads.{head_name}.{key}'
    return out


def upgrade_state_dict(state_dict: dict, prefix: str, head_types: Dict[str, str]) -> Optional[Tuple[str, int]]:
    """Rename, in place, the keys under ``prefix`` of an old-layout checkpoint to today's layout.

    Args:
        state_dict (dict): what ``load_state_dict`` got (changed in place).
        prefix (str): the pretrainer's prefix in it (``''`` at the root).
        head_types (dict): head name -> class name of the pretrainer's heads.

    Returns:
        tuple | None: ``(old class, number of keys renamed)``, None when nothing was renamed.

    Raises:
        ValueError: an old layout whose head the pretrainer lacks, or has twice.
    """
    keys = [k[len(prefix):] for k in state_dict if k.startswith(prefix)]
    layout = detect_layout(keys)
    if layout is None:
        return None
    head_type = OLD_LAYOUTS[layout]['head']
    names = [name for name, t in head_types.items() if t == head_type]
    if len(names) != 1:
        raise ValueError(f'MaskedPretrainer: the checkpoint is in the old {layout} layout, whose head is a '
                         f'{head_type}; this model has {len(names)} such heads ({head_types}), so its keys cannot be '
                         'mapped')
    mapping = upgrade_keys(keys, layout, names[0])
    for old, new in mapping.items():
        state_dict[prefix + new] = state_dict.pop(prefix + old)
    return layout, len(mapping)
