# UperNet with a Mask3D ViT-B/16 on NYUv2, 40 classes (Gupta et al.'s mapping; 795 train / 654 test images), the
# ScanNet config with the NYUv2 data (images and label PNGs of ids 1-40, 0 = unannotated, under
# data/nyuv2_seg/{images,labels}/{train,val}/), resized to 240x320 as ScanNet.
_base_ = ['./upernet_vit-b-p16-mask3d_8xb2-40k_scannet-seg20-240x320.py']

num_classes = 40
model = dict(decode_head=dict(num_classes=num_classes), auxiliary_head=dict(num_classes=num_classes))
dataset_type = 'NYUv2Seg40Dataset'
data_root = 'data/nyuv2_seg/'
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
test_dataloader = val_dataloader
