# BEVDet4D, small CPU version: as bevdet-swin-w64-d1121_1xb1-4e_nus-mini.py with the previous key frame (0.5 s earlier,
# the frame itself at a scene start) encoded without gradient, warped into the current BEV frame by ego motion
# (each frame's own BEV augmentation accounted for) and concatenated before the BEV encoder.
#   python tools/train.py projects/BEVDet/configs/bevdet4d-swin-w64-d1121_1xb1-4e_nus-mini.py \
#       --work-dir work_dirs/bevdet4d_small
_base_ = ['./bevdet-swin-w64-d1121_1xb1-4e_nus-mini.py']

num_adjacent = 1
model = dict(
    type='BEVDet4D',
    num_adjacent=num_adjacent,
    # official per-frame BEV net: two BasicBlocks at stride 1 before the alignment
    pre_process=dict(type='BEVResNet', in_channels=32, num_layers=[2], num_channels=[32], strides=[1]),
    img_bev_encoder_backbone=dict(in_channels=32 * (1 + num_adjacent)))  # 32 BEV channels per frame

train_dataloader = dict(dataset=dict(type='BEVDet4DDataset', num_adjacent=num_adjacent))
val_dataloader = dict(dataset=dict(type='BEVDet4DDataset', num_adjacent=num_adjacent))
test_dataloader = val_dataloader
test_dataloader = val_dataloader
