# MultiMAE-style Mask3D variant at paper scale: the fused RGB-D bottleneck of the ViT-B/16 is decoded twice,
# dense depth (Mask3D's depth decoder and masked L1) and the RGB patches (MAE norm-pix L2 on the dropped RGB
# patches, its own decoder of the same size). Same data, model and schedule as
# mask3d_vit-b-p16_8xb64-amp-coslr-100e_scannet.py; the small twin is
# mask3d-rgbd-recon_vit-tiny-p16_1xb2-400i_redwood.py.
#   bash tools/dist_train.sh configs/mask3d/mask3d-rgbd-recon_vit-b-p16_8xb64-amp-coslr-100e_scannet.py 8
_base_ = ['./mask3d_vit-b-p16_8xb64-amp-coslr-100e_scannet.py']

model = dict(
    heads=dict(
        depth=dict(
            head=dict(
                type='RGBDReconstructionHead',
                norm_pix=True,
                rgb_loss_weight=1.0,
                rgb_loss=dict(type='mmpretrain.PixelReconstructionLoss', criterion='L2')))))
