# The bundled nuScenes v1.0-mini tables for the small CPU configs (2 scenes: scene-0523 train, 40 key frames;
# scene-0916 = the official mini_val split, 41 key frames). Every small config inherits its paper config and this
# file, whose names (nus_mini_*) it uses to point the loaders at the bundled data:
#   train_dataloader = dict(**nus_mini_loader, dataset=dict(**nus_mini_train, pipeline=...))
# Info files: python tools/create_data.py nuscenes --root-path ../shared/data/nuscenes --version v1.0-mini \
#     --out-dir data/nuscenes_infos
nus_mini_root = '../shared/data/nuscenes/'  # the nuScenes tables and sensor files
nus_mini_info_root = 'data/nuscenes_infos/'  # the info files written by tools/create_data.py
nus_mini_data_prefix = dict(
    pts=nus_mini_root + 'samples/LIDAR_TOP',
    sweeps=nus_mini_root + 'sweeps/LIDAR_TOP',
    **{
        cam: nus_mini_root + 'samples/' + cam
        for cam in ('CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK', 'CAM_BACK_LEFT', 'CAM_BACK_RIGHT')
    })
# paths are complete (relative to the repo root): data_root is empty, mmengine joins nothing
nus_mini_train = dict(
    data_root='', data_prefix=nus_mini_data_prefix, ann_file=nus_mini_info_root + 'nuscenes_infos_train.pkl')
nus_mini_val = dict(
    data_root='', data_prefix=nus_mini_data_prefix, ann_file=nus_mini_info_root + 'nuscenes_infos_val.pkl')
nus_mini_loader = dict(batch_size=1, num_workers=0, persistent_workers=False)  # 2 CPU cores: the main process
# the devkit evaluation of mini_val (scene-0916) on the nuScenes tables
nus_mini_evaluator = dict(data_root=nus_mini_root, ann_file=nus_mini_info_root + 'nuscenes_infos_val.pkl')
# image size of the small configs: 128x352 (half of 256x704) with BEVDet's relative zoom (resize_lim is added to
# final_dim[1] / W = 0.22 here: (-0.06, 0.11) at 704 px wide, halved with the image, the same -14%..+25%)
nus_mini_ida_aug_conf = dict(
    final_dim=(128, 352), resize_lim=(-0.03, 0.055), bot_pct_lim=(0.0, 0.0), rot_lim=(-5.4, 5.4), rand_flip=True)
