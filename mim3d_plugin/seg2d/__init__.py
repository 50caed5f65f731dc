"""2D semantic segmentation with a pretrained ViT (Mask3D's evaluation: Hou et al., CVPR 2023, ScanNet / NYUv2 /
Cityscapes image semantic segmentation): mmsegmentation's UperNet, plus the two indoor datasets mmsegmentation does
not ship (registered in mmseg's registry; the configs under ``configs/seg2d/`` run in the ``mmseg`` scope).

The backbone is mmsegmentation's ``VisionTransformer``; a Mask3D (or any mmpretrain ViT) checkpoint is converted to
its layout by ``tools/model_converters/mask3d_to_mmseg.py``.
"""
from .datasets import NYUV2_40_CLASSES, SCANNET_20_CLASSES, SCANNET_20_NYU40_IDS, NYUv2Seg40Dataset, ScanNetSeg20Dataset

__all__ = ['ScanNetSeg20Dataset', 'NYUv2Seg40Dataset', 'SCANNET_20_CLASSES', 'SCANNET_20_NYU40_IDS', 'NYUV2_40_CLASSES']
