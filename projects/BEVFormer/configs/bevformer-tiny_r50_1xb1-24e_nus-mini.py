# BEVFormer-tiny at paper scale (ResNet-50, 450x800 images, 50x50 BEV, 3 encoder / 6 decoder layers, 900
# queries, clips of 3 key frames) on the bundled nuScenes v1.0-mini tables: train scene-0523, devkit eval on
# scene-0916. Used for the benchmark / profiling figures at paper scale on real data; for training set the
# backbone init_cfg to ImageNet weights (torchvision://resnet50, as the paper config; not downloadable here).
_base_ = ['./bevformer-tiny_r50_8xb1-24e_nus.py', '../../../configs/_base_/datasets/nus-mv-mini.py']

model = dict(img_backbone=dict(init_cfg=None))

train_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(**_base_.nus_mini_train))
val_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(**_base_.nus_mini_val))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='NuScenesMetric', **_base_.nus_mini_evaluator, metric='bbox', modality=dict(use_camera=True, use_lidar=False))
test_evaluator = val_evaluator
env_cfg = dict(dist_cfg=dict(backend='gloo'))
