# MIM4D pretraining, small CPU version on the bundled nuScenes key frames (scene-0523, 40 key frames):
# the same model code as mim4d_convnext-s-mask_8xb1-amp-12e_nus-pretrain.py with smaller numbers: a 4-stage
# ConvNeXt of width 16-128 (random init, so no frozen stage and no backbone lr multiplier) at 128x352 px,
# 6 views x 3 key frames, a 1.6 m voxel grid over +-51.2 m in the LiDAR frame (64 x 64 x 5, 32 depth bins,
# 16 channels), 128 rays per image with 32 + 16 samples. Batch 2. Scene scale, NeuS constants, collider,
# target filter and temporal targets are the paper config's.
#   python tools/create_data.py nuscenes --root-path ../shared/data/nuscenes --version v1.0-mini \
#       --out-dir data/nuscenes_infos
#   python tools/train.py configs/mim4d/mim4d_convnext-mini-mask_1xb2-300i_nus-mini.py
_base_ = ['./mim4d_convnext-s-mask_8xb1-amp-12e_nus-pretrain.py']

nus_root = '../shared/data/nuscenes/'
final_dim = (128, 352)
grid_config = dict(x=[-51.2, 51.2, 1.6], y=[-51.2, 51.2, 1.6], z=[-5.0, 3.0, 1.6], depth=[1.0, 52.2, 1.6])
volume_range = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]
voxel_size = [1.6, 1.6, 1.6]
volume_channels = 16

model = dict(
    img_backbone=dict(arch=dict(_delete_=True, depths=[1, 1, 2, 1], channels=[16, 32, 64, 128]), drop_path_rate=0.0,
                      frozen_stages=0, init_cfg=None),
    img_neck=dict(in_channels=[64, 128], out_channels=64),
    view_transform=dict(grid_config=grid_config, input_size=final_dim, in_channels=64, lift_channels=32,
                        out_channels=volume_channels),
    temporal_builder=dict(point_cloud_range=volume_range, voxel_size=voxel_size, embed_dims=volume_channels,
                          ffn_channels=32),
    render_head=dict(point_cloud_range=volume_range, voxel_size=voxel_size, in_channels=volume_channels,
                     num_rays=128, uniform_sampler=dict(num_samples=32),
                     importance_sampler=dict(num_samples=16),
                     sdf_field=dict(hidden_channels=32, geo_feat_channels=8), rgb_field=dict(hidden_channels=32)))

# data: the bundled v1.0-mini tables (paths as configs/_base_/datasets/nus-mv-mini.py), 128x352 px, 2 clips a step
data_prefix = {key: nus_root + path for key, path in _base_.data_prefix.items()}
ida_aug_conf = dict(_base_.ida_aug_conf, final_dim=final_dim)
train_pipeline = [
    dict(step, frame_pipeline=[dict(s, **ida_aug_conf) if s['type'] == 'MultiViewImageAug' else s
                               for s in step['frame_pipeline']]) if step['type'] == 'MultiFrameMultiView' else step
    for step in _base_.train_pipeline]
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root='', ann_file='data/nuscenes_infos/nuscenes_infos_train.pkl', pipeline=train_pipeline,
                 data_prefix=data_prefix))

# schedule: 300 iterations, lr 1e-3 (random init: no backbone lr multiplier), fp32
max_iters = 300
optim_wrapper = dict(type='OptimWrapper', _delete_=True, optimizer=dict(_base_.optim_wrapper.optimizer, lr=1e-3),
                     paramwise_cfg=dict(custom_keys={'norm': dict(decay_mult=0.0)}),
                     clip_grad=_base_.optim_wrapper.clip_grad)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', T_max=max_iters, eta_min=1e-5, by_epoch=False, begin=0, end=max_iters)
]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters)
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(by_epoch=False, interval=100, max_keep_ckpts=3))
log_processor = dict(by_epoch=False)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
