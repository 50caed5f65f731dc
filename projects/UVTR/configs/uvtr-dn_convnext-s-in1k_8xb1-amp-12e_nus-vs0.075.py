# The ImageNet row of UVTR-DN: uvtr-dn_convnext-s-mim4d_8xb1-amp-12e_nus-vs0.075.py with the supervised ImageNet-1k
# ConvNeXt-S of mmpretrain (the baseline the MIM4D / UniPAD tables compare the pretraining with; UniPAD reports its
# camera baseline from the same recipe). The mmpretrain checkpoint loads into MaskConvNeXt (a ConvNeXt subclass) with
# prefix 'backbone.'.
_base_ = ['./uvtr-dn_convnext-s-mim4d_8xb1-amp-12e_nus-vs0.075.py']

pretrain_config = None
pretrained_backbone = ('https://download.openmmlab.com/mmclassification/v0/convnext/'
                       'convnext-small_3rdparty_32xb128_in1k_20220124-d39b5192.pth')
model = dict(img_backbone=dict(init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint=pretrained_backbone)))
