# BEV map segmentation on a detector's BEV features (BEVDet, BEVFormer; BEVFusion's camera-only task, Liu et al.,
# ICRA 2023): the pieces the seg configs add to a detection config. Ground truth: LoadBEVSegmentation (drivable
# area from the semantic-prior rasters, vehicle / pedestrian from the GT boxes) in the frame of the BEV (after
# LiDARToEgoFrame and BEVAug); head: BEVMapSegHead (BEVFusion's vanilla head: resample to +-50 m at 0.5 m,
# 2 x conv3x3-BN-ReLU, conv1x1, focal loss); metric: BEVSegMetric (IoU at thresholds 0.35..0.65, max per class,
# mean). BEVFusion's five other map classes (ped_crossing, walkway, stop_line, carpark_area, divider) need the map
# expansion, whose rasteriser is not built yet.
seg_classes = ('drivable_area', 'vehicle', 'pedestrian')
seg_bounds = ((-50.0, 50.0, 0.5), (-50.0, 50.0, 0.5))  # (xbound, ybound), metres
# the ground-truth step and the head; a seg config adds class_names (the dataset's) to the first and in_channels /
# input_bounds (its BEV) to the second
bev_seg_load = dict(
    type='LoadBEVSegmentation',
    data_root='data/nuscenes/',
    version='v1.0-trainval',
    classes=seg_classes,
    xbound=seg_bounds[0],
    ybound=seg_bounds[1])
bev_seg_head = dict(type='BEVMapSegHead', classes=seg_classes, output_bounds=seg_bounds, loss='focal')
