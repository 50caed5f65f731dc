# The ImageNet row of the ScanNet-20 comparison: the same UperNet and recipe with mmpretrain's supervised ImageNet-1k
# ViT-B/16 (converted by the same tool: mmpretrain and Mask3D share the ViT layout; the 224 px table resized to
# 15 x 20):
#   python tools/model_converters/mask3d_to_mmseg.py vit-base-p16_in21k-pre-3rdparty_ft-in1k-384_20210928-98e8652b.pth \
#       checkpoints/vit-b-p16-in1k_mmseg-240x320.pth --src-grid 24 24 \
#       --config configs/seg2d/upernet_vit-b-p16-in1k_8xb2-40k_scannet-seg20-240x320.py
_base_ = ['./upernet_vit-b-p16-mask3d_8xb2-40k_scannet-seg20-240x320.py']

model = dict(backbone=dict(init_cfg=dict(checkpoint='checkpoints/vit-b-p16-in1k_mmseg-240x320.pth')))
