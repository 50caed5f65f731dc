# BEVStereo4D-R50-CBGS as the official BEVDet dev2.x config (HuangJunJie2017/BEVDet configs/bevdet/
# bevdet-r50-4d-stereo-cbgs.py; the same file in Sense-X/GeoMIM bevdet/): the BEVDet4D-R50 of
# bevdet4d-r50-official_8xb8-cbgs-20e_nus.py whose depth net is BEVDepth's camera-aware DepthNet with the temporal
# stereo branch (LSSViewTransformerBEVStereo: cost volume of the ResNet stage-1 stride-4 features of each frame and
# of the frame before it, D=59 spacing-increasing depth bins 1-58 m (sid), ASPP 96 wide, no DCN, invalid matches +5,
# depth loss weight 3.0 (the official default)); the dataset loads two earlier key frames: one fused in BEV, one
# stereo reference for it; CenterHead loss weights 6.0 (heatmap) and 1.5 (boxes) as the stereo config.
# Official numbers (BEVDet dev2.x README, 256x704, 20 epochs CBGS): 37.2 mAP / 50.0 NDS.
#   python tools/model_converters/bevdet_official_to_mim3d.py bevdet-r50-4d-stereo-cbgs.pth \
#       checkpoints/bevstereo4d-r50_mim3d.pth \
#       --config projects/BEVDet/configs/bevstereo4d-r50-official_8xb8-cbgs-20e_nus.py
#   python tools/test.py projects/BEVDet/configs/bevstereo4d-r50-official_8xb8-cbgs-20e_nus.py \
#       checkpoints/bevstereo4d-r50_mim3d.pth
_base_ = ['./bevdet4d-r50-official_8xb8-cbgs-20e_nus.py']

num_adjacent = 1
model = dict(
    type='BEVStereo4D',
    stereo_feat_index=0,
    img_backbone=dict(out_indices=(0, 2, 3)),  # stage 1 (stride 4, 256 ch) = the stereo feature
    img_view_transformer=dict(
        type='LSSViewTransformerBEVStereo',
        sid=True,
        depthnet_cfg=dict(use_dcn=False, aspp_mid_channels=96, stereo=True, bias=5.0),
        stereo_invalid='official'),
    depth_loss_weight=3.0,
    pts_bbox_head=dict(
        loss_cls=dict(type='mmdet.GaussianFocalLoss', reduction='mean', loss_weight=6.0),
        loss_bbox=dict(type='mmdet.L1Loss', reduction='mean', loss_weight=1.5)))

# one more earlier frame than BEVDet4D fuses: the stereo reference of the fused one
train_dataloader = dict(dataset=dict(dataset=dict(num_adjacent=num_adjacent + 1)))
val_dataloader = dict(dataset=dict(num_adjacent=num_adjacent + 1))
test_dataloader = val_dataloader
