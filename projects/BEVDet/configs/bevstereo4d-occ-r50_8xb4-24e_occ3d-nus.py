# BEVStereo4D-Occ with ResNet-50, the official occupancy model (HuangJunJie2017/BEVDet dev2.x configs/bevdet_occ/
# bevdet-occ-r50-4d-stereo-24e.py, as vendored in Sense-X/GeoMIM bevdet/): bevdet4d-occ-r50_8xb4-24e_occ3d-nus.py
# with the temporal-stereo depth of bevstereo4d-r50-official_8xb8-cbgs-20e_nus.py (ResNet stage-1 stereo features,
# camera-aware DepthNet, ASPP 96, invalid matches +5) in the occupancy setting: uniform depth bins 1-45 m every 0.5 m
# (sid False), the voxel volume kept (collapse_z False), depth loss weight 0.05, one fused earlier frame + one stereo
# reference. Official converted checkpoints load key for key (tools/model_converters/bevdet_official_to_mim3d.py);
# official number (BEVDet README): 36.1 mIoU on Occ3D-nuScenes val.
_base_ = ['./bevdet4d-occ-r50_8xb4-24e_occ3d-nus.py']

num_adjacent = 1
model = dict(
    type='BEVStereo4D',
    stereo_feat_index=0,
    img_backbone=dict(out_indices=(0, 2, 3)),
    img_view_transformer=dict(
        type='LSSViewTransformerBEVStereo',
        depthnet_cfg=dict(use_dcn=False, aspp_mid_channels=96, stereo=True, bias=5.0),
        stereo_invalid='official'))
train_dataloader = dict(dataset=dict(num_adjacent=num_adjacent + 1))
val_dataloader = dict(dataset=dict(num_adjacent=num_adjacent + 1))
test_dataloader = val_dataloader
