# BEVFormer-tiny at paper scale (ResNet-50, 450x800 images, 50x50 BEV, 3 encoder / 6 decoder layers, 900
# queries, clips of 3 key frames) on the bundled nuScenes v1.0-mini tables: train scene-0523, devkit eval on
# scene-0916. Used for the benchmark / profiling figures at paper scale on real data; for training set the
# backbone init_cfg to ImageNet weights (torchvision://resnet50, as the paper config; not downloadable here).
_base_ = ['./bevformer-tiny_r50_8xb1-24e_nus.py']

nus_root = '../shared/data/nuscenes/'
info_root = 'data/nuscenes_infos/'
cameras = ['CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK', 'CAM_BACK_LEFT', 'CAM_BACK_RIGHT']
data_prefix = dict(pts=nus_root + 'samples/LIDAR_TOP', sweeps=nus_root + 'sweeps/LIDAR_TOP',
                   **{cam: nus_root + 'samples/' + cam for cam in cameras})

model = dict(img_backbone=dict(init_cfg=None))

train_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(data_root='', ann_file=info_root + 'nuscenes_infos_train.pkl', data_prefix=data_prefix))
val_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(data_root='', ann_file=info_root + 'nuscenes_infos_val.pkl', data_prefix=data_prefix))
test_dataloader = val_dataloader
val_evaluator = dict(type='NuScenesMetric', data_root=nus_root, ann_file=info_root + 'nuscenes_infos_val.pkl',
                     metric='bbox', modality=dict(use_camera=True, use_lidar=False))
test_evaluator = val_evaluator
env_cfg = dict(dist_cfg=dict(backend='gloo'))
