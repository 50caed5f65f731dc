"""ScanNet-20 and NYUv2-40 image semantic segmentation datasets (mmsegmentation ``BaseSegDataset`` subclasses).

Both read label PNGs of NYU40 class ids (1 .. 40, 0 = unannotated):

- **ScanNet-20** (the ScanNet benchmark classes, the 2D evaluation of Pri3D and Mask3D): ScanNet's 2D frames (e.g.
  the ``scannet_frames_25k`` release) with label images of NYU40 ids (ScanNet's raw category ids mapped through the
  ``nyu40id`` column of ``scannetv2-labels.combined.tsv``); the 20 benchmark ids ``SCANNET_20_NYU40_IDS`` become
  train ids 0 .. 19, every other id 255 (ignored).
- **NYUv2-40** (Gupta et al.'s 40-class mapping of NYU Depth v2, 795 train / 654 test images): ids 1 .. 40 become
  0 .. 39 and 0 becomes 255 (``reduce_zero_label``).

Layout (``data_prefix`` as mmsegmentation's datasets): ``<data_root>/images/{train,val}/<name>.jpg`` and
``<data_root>/labels/{train,val}/<name>.png``.
"""
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

SCANNET_20_CLASSES = ('wall', 'floor', 'cabinet', 'bed', 'chair', 'sofa', 'table', 'door', 'window', 'bookshelf',
                      'picture', 'counter', 'desk', 'curtain', 'refrigerator', 'shower curtain', 'toilet', 'sink',
                      'bathtub', 'otherfurniture')
# NYU40 ids of the ScanNet benchmark classes (ScanNet's util.py VALID_CLASS_IDS), in SCANNET_20_CLASSES order
SCANNET_20_NYU40_IDS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 24, 28, 33, 34, 36, 39)
NYUV2_40_CLASSES = ('wall', 'floor', 'cabinet', 'bed', 'chair', 'sofa', 'table', 'door', 'window', 'bookshelf',
                    'picture', 'counter', 'blinds', 'desk', 'shelves', 'curtain', 'dresser', 'pillow', 'mirror',
                    'floor mat', 'clothes', 'ceiling', 'books', 'refrigerator', 'television', 'paper', 'towel',
                    'shower curtain', 'box', 'whiteboard', 'person', 'night stand', 'toilet', 'sink', 'lamp', 'bathtub',
                    'bag', 'otherstructure', 'otherfurniture', 'otherprop')


def _palette(n: int):
    return [[(37 * i) % 256, (101 * i + 50) % 256, (197 * i + 100) % 256] for i in range(n)]


@DATASETS.register_module()
class ScanNetSeg20Dataset(BaseSegDataset):
    """ScanNet 2D semantic segmentation, the 20 benchmark classes (see the module docstring).

    The label map (NYU40 id -> train id, 255 for the 21 non-benchmark ids and for 0) is applied by mmseg's
    ``LoadAnnotations`` through ``label_map``; ``reduce_zero_label`` must stay False.

    Raises:
        ValueError: ``reduce_zero_label=True`` (the map already ignores 0).
    """
    METAINFO = dict(classes=SCANNET_20_CLASSES, palette=_palette(20))

    def __init__(self,
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.png',
                 reduce_zero_label: bool = False,
                 **kwargs) -> None:
        if reduce_zero_label:
            raise ValueError('ScanNetSeg20Dataset: reduce_zero_label must be False (NYU40 id 0 is mapped to 255 by '
                             'the dataset label map)')
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, reduce_zero_label=False, **kwargs)

    @classmethod
    def get_label_map(cls, new_classes=None) -> dict:
        """NYU40 id (0 .. 40) -> train id (0 .. 19) or 255."""
        if new_classes is not None and tuple(new_classes) != SCANNET_20_CLASSES:
            raise ValueError(f'ScanNetSeg20Dataset: class subsets are not supported (got {list(new_classes)})')
        return {i: (SCANNET_20_NYU40_IDS.index(i) if i in SCANNET_20_NYU40_IDS else 255) for i in range(41)}


@DATASETS.register_module()
class NYUv2Seg40Dataset(BaseSegDataset):
    """NYU Depth v2 semantic segmentation, 40 classes: label PNGs of ids 1 .. 40 (0 = unannotated -> 255 by
    ``reduce_zero_label``)."""
    METAINFO = dict(classes=NYUV2_40_CLASSES, palette=_palette(40))

    def __init__(self,
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.png',
                 reduce_zero_label: bool = True,
                 **kwargs) -> None:
        super().__init__(
            img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, reduce_zero_label=reduce_zero_label, **kwargs)
