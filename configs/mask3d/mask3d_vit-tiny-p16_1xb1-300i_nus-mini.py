# Mask3D, small CPU config on the bundled nuScenes v1.0-mini frames: 6 camera views per sample at
# 128 x 352 (an 8 x 22 patch grid), LiDAR-projected depth as input and target. mask3d_vit-b-p16_8xb4-amp-coslr-50e_nus.py
# with smaller numbers. Train: scene-0523 (40 samples = 240 views); val: scene-0916.
#   python tools/create_data.py nuscenes --root-path ../shared/data/nuscenes \
#       --version v1.0-mini --out-dir data/nuscenes_infos
#   python tools/train.py configs/mask3d/mask3d_vit-tiny-p16_1xb1-300i_nus-mini.py \
#       --work-dir work_dirs/mask3d_nus_mini
_base_ = ['./mask3d_vit-b-p16_8xb4-amp-coslr-50e_nus.py']

# ---- data: the bundled v1.0-mini tables (paths as configs/_base_/datasets/nus-mv-mini.py), 128x352 px, batch 1
nus_root = '../shared/data/nuscenes/'
info_root = 'data/nuscenes_infos/'
data_prefix = {key: nus_root + path for key, path in _base_.data_prefix.items()}
img_size = (128, 352)
patch_resolution = (8, 22)
ida_aug_conf = dict(_base_.ida_aug_conf, final_dim=img_size, resize_lim=(-0.03, 0.055))  # same relative zoom


def _resized(pipeline):
    return [dict(step, **ida_aug_conf) if step['type'] == 'MultiViewImageAug' else step for step in pipeline]


train_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False, sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(data_root='', data_prefix=data_prefix, ann_file=info_root + 'nuscenes_infos_train.pkl',
                 pipeline=_resized(_base_.train_pipeline)))
val_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(data_root='', data_prefix=data_prefix, ann_file=info_root + 'nuscenes_infos_val.pkl',
                 pipeline=_resized(_base_.test_pipeline)))
test_dataloader = val_dataloader

# ---- model: a 4-layer ViT-tiny, a 1-layer depth encoder, a 2-block decoder of width 128
model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=192, num_layers=4, num_heads=3, feedforward_channels=768),
        img_size=img_size, depth_embed_dims=96, depth_num_layers=1, depth_num_heads=3),
    head=dict(decoder=dict(patch_resolution=patch_resolution, embed_dim=192, decoder_embed_dim=128, decoder_depth=2,
                           decoder_num_heads=4)))

# ---- schedule: 300 iterations in fp32, lr 5e-4, a 20-iteration warm-up, cosine to 1e-5, no weight-decay exclusions
max_iters = 300
optim_wrapper = dict(type='OptimWrapper', _delete_=True, optimizer=dict(_base_.optim_wrapper.optimizer, lr=5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', T_max=max_iters - 20, by_epoch=False, begin=20, end=max_iters, eta_min=1e-5)
]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=max_iters, by_epoch=False, max_keep_ckpts=1))
log_processor = dict(window_size=10, by_epoch=False)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
custom_hooks = [dict(type='PretrainVisualizationHook', interval=100)]  # PNGs in vis_data/vis_image
