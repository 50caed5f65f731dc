# Mask3D's pieces at paper scale (Hou et al., CVPR 2023), assembled into a MaskedPretrainer by configs/mask3d/
# (and by the hybrids):
#   mask3d_encoder      RGBDTokenEncoder: ViT-B/16 with random RGB patch masking (0.75) and a depth patch encoder
#                       (visible depth patches only: 384 wide, 2 layers, 6 heads, 0.75 of the patches dropped) fused
#                       with the RGB tokens at the bottleneck; input (H, W) = (240, 320) -> a non-square 15 x 20 grid
#   mask3d_depth_head   DepthPriorHead: the dense-depth decoder (512 wide, 8 blocks, 16 heads), masked L1 on log
#                       depth over the valid pixels of the dropped depth patches
mask3d_img_size = (240, 320)
mask3d_patch_size = 16
# Mask3D's depth encoder (the hybrids' DepthTokenFusion takes the same numbers)
mask3d_depth_tokens = dict(depth_mask_ratio=0.75, depth_embed_dims=384, depth_num_layers=2, depth_num_heads=6)

mask3d_encoder = dict(
    type='RGBDTokenEncoder',
    depth_norm='log',
    depth_norm_scale=1.0,
    backbone=dict(
        type='Mask3DViT',
        arch='b',
        img_size=mask3d_img_size,
        patch_size=mask3d_patch_size,
        mask_ratio=0.75,
        with_depth_encoder=True,
        depth_in_channels=2,
        **mask3d_depth_tokens))
mask3d_depth_head = dict(
    type='DepthPriorHead',
    head=dict(
        type='Mask3DHead',
        patch_size=mask3d_patch_size,
        depth_norm='log',
        depth_norm_scale=1.0,
        loss_region='masked',
        decoder=dict(
            type='Mask3DPretrainDecoder',
            patch_resolution=(mask3d_img_size[0] // mask3d_patch_size, mask3d_img_size[1] // mask3d_patch_size),
            embed_dim=768,
            decoder_embed_dim=512,
            decoder_depth=8,
            decoder_num_heads=16)),
    # evaluation of the pretext task: the training mask ratios with the pretrainer's seeded generator, scored on the
    # valid pixels of the dropped depth patches, beside the trivial baselines that fill the same patches from the
    # visible depth without the image (DepthMetric reports row_median_* and nearest_patch_*). Monocular depth
    # (never seen in pretraining; no visible depth, so no baselines):
    # --cfg-options model.heads.depth.test_cfg.mask_ratio=0 model.heads.depth.test_cfg.depth_mask_ratio=1
    #     model.heads.depth.test_cfg.eval_region=all model.heads.depth.test_cfg.baselines=[]
    test_cfg=dict(
        mask_ratio=0.75, depth_mask_ratio=0.75, eval_region='masked', baselines=('row_median', 'nearest_patch')))
# MAE initialisation of the ViT and its heads
mask3d_init_cfg = [
    dict(type='Xavier', layer='Linear', distribution='uniform'),
    dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0)
]
