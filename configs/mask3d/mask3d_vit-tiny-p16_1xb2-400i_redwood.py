# Mask3D, small CPU config on the bundled real Redwood RGB-D frames (same code as the ViT-B/16
# ScanNet config, smaller numbers). Train: Redwood frames 0-3; held out: Redwood frame 4 plus the
# single TUM / NYU / SUN RGB-D frames (each with its own depth convention).
#   python tools/train.py configs/mask3d/mask3d_vit-tiny-p16_1xb2-400i_redwood.py \
#       --work-dir work_dirs/mask3d_redwood
#   python tools/test.py configs/mask3d/mask3d_vit-tiny-p16_1xb2-400i_redwood.py \
#       work_dirs/mask3d_redwood/iter_400.pth
_base_ = ['./mask3d_vit-b-p16_8xb64-amp-coslr-100e_scannet.py']

rgbd_root = '../shared/data/rgbd/'
img_size = (240, 320)
patch_resolution = (15, 20)
model = dict(
    encoder=dict(
        backbone=dict(
            arch=dict(_delete_=True, embed_dims=192, num_layers=4, num_heads=3, feedforward_channels=768),
            depth_embed_dims=96,
            depth_num_layers=1,
            depth_num_heads=3)),
    heads=dict(
        depth=dict(head=dict(
            decoder=dict(embed_dim=192, decoder_embed_dim=128, decoder_depth=2, decoder_num_heads=4)))))

train_pipeline = [
    dict(type='LoadRGBDFrame', min_depth=0.1, max_depth=10.0),
    dict(type='RGBDResize', scale=(img_size[1], img_size[0])),
    dict(type='RGBDRandomFlip', prob=0.5),
    dict(type='PackRGBDInputs'),
]
test_pipeline = [
    dict(type='LoadRGBDFrame', min_depth=0.1, max_depth=10.0),
    dict(type='RGBDResize', scale=(img_size[1], img_size[0])),
    dict(type='PackRGBDInputs'),
]
redwood = dict(
    type='RGBDFrameDataset',
    layout='redwood',
    data_root=rgbd_root + 'redwood',
    depth_format='uint16',
    depth_scale=1000.,
    invalid_depth=0)
# single frames of other_formats (intrinsics: TUM/SUN as Open3D's PrimeSense default, NYU from
# the NYU Depth v2 toolbox camera_params.m; depth conventions: see LoadRGBDFrame)
other_frames = [
    dict(
        img_path='TUM_color.png',
        depth_path='TUM_depth.png',
        depth_format='uint16',
        depth_scale=5000.,
        cam2img=[525.0, 525.0, 319.5, 239.5]),
    dict(
        img_path='NYU_color.ppm',
        depth_path='NYU_depth.pgm',
        depth_format='nyu_raw',
        cam2img=[518.8579, 519.4696, 325.5824, 253.7362]),
    dict(
        img_path='SUN_color.jpg', depth_path='SUN_depth.png', depth_format='sun', cam2img=[525.0, 525.0, 319.5, 239.5]),
]
train_dataloader = dict(
    _delete_=True,
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(**redwood, indices=[0, 1, 2, 3], pipeline=train_pipeline))
val_dataloader = dict(
    _delete_=True,
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='ConcatDataset',
        datasets=[
            dict(**redwood, indices=[4], test_mode=True, pipeline=test_pipeline),
            dict(
                type='RGBDFrameDataset',
                layout='single',
                data_root=rgbd_root + 'other_formats',
                frame_list=other_frames,
                test_mode=True,
                pipeline=test_pipeline),
        ]))
test_dataloader = val_dataloader

max_iters = 400
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper', optimizer=dict(type='AdamW', lr=5e-4, betas=(0.9, 0.95), weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', T_max=max_iters - 20, by_epoch=False, begin=20, end=max_iters, eta_min=1e-5)
]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=max_iters, by_epoch=False, max_keep_ckpts=1))
log_processor = dict(window_size=10, by_epoch=False)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
