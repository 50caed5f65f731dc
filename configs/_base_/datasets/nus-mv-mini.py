# nuScenes multi-view camera + LiDAR data, small CPU version on the bundled v1.0-mini tables
# (2 scenes: scene-0523 train, 40 key frames; scene-0916 = official mini_val, 41 key frames).
# Info files: python tools/create_data.py nuscenes --root-path ../shared/data/nuscenes \
#     --version v1.0-mini --out-dir data/nuscenes_infos
# nus-mv.py with only these changes: the paths, the image size (128x352) and the loader sizes.
_base_ = ['./nus-mv.py']

nus_root = '../shared/data/nuscenes/'  # the nuScenes tables and sensor files
info_root = 'data/nuscenes_infos/'  # the info files written by tools/create_data.py
data_root = ''  # paths below are complete (relative to the repo root), mmengine joins nothing
data_prefix = {key: nus_root + path for key, path in _base_.data_prefix.items()}

final_dim = (128, 352)  # (H, W) px after image augmentation
# resize_lim is added to final_dim[1] / W = 0.22 here: BEVDet's (-0.06, 0.11) at 704 px wide, halved with the
# image size, i.e. the same -14%..+25% relative zoom
ida_aug_conf = dict(_base_.ida_aug_conf, final_dim=final_dim, resize_lim=(-0.03, 0.055))


def _resized(pipeline):
    """The base pipeline with this file's image augmentation (every other step unchanged)."""
    return [dict(step, **ida_aug_conf) if step['type'] == 'MultiViewImageAug' else step for step in pipeline]


train_pipeline = _resized(_base_.train_pipeline)
teacher_train_pipeline = _resized(_base_.teacher_train_pipeline)
det_train_pipeline = _resized(_base_.det_train_pipeline)
test_pipeline = _resized(_base_.test_pipeline)

train_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,  # 2 CPU cores: load in the main process
    dataset=dict(data_root=data_root, ann_file=info_root + 'nuscenes_infos_train.pkl', data_prefix=data_prefix,
                 pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, ann_file=info_root + 'nuscenes_infos_val.pkl', data_prefix=data_prefix,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
# the devkit evaluation of mini_val (scene-0916) on the nuScenes tables
val_evaluator = dict(data_root=nus_root, ann_file=info_root + 'nuscenes_infos_val.pkl')
test_evaluator = val_evaluator
