# MultiMAE-style Mask3D variant: the fused RGB-D bottleneck is decoded twice, dense depth (masked
# L1 on valid pixels, as Mask3D) and the RGB patches (MAE norm-pix L2 on the dropped RGB patches),
# each with its own decoder. Same data, model size and schedule as
# mask3d_vit-tiny-p16_1xb2-400i_redwood.py.
#   python tools/train.py configs/mask3d/mask3d-rgbd-recon_vit-tiny-p16_1xb2-400i_redwood.py \
#       --work-dir work_dirs/mask3d_rgbd_recon_redwood
_base_ = ['./mask3d_vit-tiny-p16_1xb2-400i_redwood.py']

model = dict(
    heads=dict(
        depth=dict(
            head=dict(
                type='RGBDReconstructionHead',
                norm_pix=True,
                rgb_loss_weight=1.0,
                rgb_loss=dict(type='mmpretrain.PixelReconstructionLoss', criterion='L2')))))
