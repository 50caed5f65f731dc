# Mask3D (Hou et al., CVPR 2023) pretraining model: ViT-B/16 RGB encoder with random patch
# masking, a depth patch encoder (visible depth patches only) fused with the RGB tokens at the
# bottleneck, and a dense-depth decoder trained with a masked L1 loss on valid pixels.
# Input (H, W) = (240, 320) -> a non-square 15 x 20 patch grid.
img_size = (240, 320)
patch_size = 16
patch_resolution = (img_size[0] // patch_size, img_size[1] // patch_size)
model = dict(
    type='Mask3D',
    data_preprocessor=dict(
        type='RGBDDataPreprocessor',
        mean=[123.675, 116.28, 103.53],  # ImageNet RGB (frames are packed in RGB order)
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=False),
    backbone=dict(
        type='Mask3DViT',
        arch='b',
        img_size=img_size,
        patch_size=patch_size,
        mask_ratio=0.75,
        depth_mask_ratio=0.75,
        depth_in_channels=2,
        depth_embed_dims=384,
        depth_num_layers=2,
        depth_num_heads=6),
    head=dict(
        type='Mask3DHead',
        patch_size=patch_size,
        depth_norm='log',
        depth_norm_scale=1.0,
        loss_region='masked',
        decoder=dict(
            type='Mask3DPretrainDecoder',
            patch_resolution=patch_resolution,
            embed_dim=768,
            decoder_embed_dim=512,
            decoder_depth=8,
            decoder_num_heads=16)),
    # evaluation of the pretext task: the training mask ratios with a fixed seed, scored on the
    # valid pixels of the dropped depth patches. Monocular depth (never seen in pretraining):
    # --cfg-options model.test_cfg.mask_ratio=0 model.test_cfg.depth_mask_ratio=1
    #     model.test_cfg.eval_region=all
    test_cfg=dict(mask_ratio=0.75, depth_mask_ratio=0.75, seed=0, eval_region='masked'),
    init_cfg=[
        dict(type='Xavier', layer='Linear', distribution='uniform'),
        dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0)
    ])
