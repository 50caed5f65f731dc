# BEVDet-R50 with BEVFusion's BEV map-segmentation head beside its CenterHead (multi-task, one BEV encoder):
# drivable area + vehicle + pedestrian BEV IoU (BEVSegMetric) and the nuScenes NDS/mAP. See _base_/bev-seg.py.
_base_ = ['./bevdet-r50_8xb8-cbgs-20e_nus.py', '../../../configs/_base_/models/bev-seg.py']

seg_load = dict(_base_.bev_seg_load, class_names=_base_.class_names)
# after the ego frame and the BEV augmentation: the masks are in the frame of the BEV the head sees
train_pipeline = _base_.train_pipeline[:6] + [seg_load] + _base_.train_pipeline[6:]
test_pipeline = _base_.test_pipeline[:4] + [seg_load] + _base_.test_pipeline[4:]
train_dataloader = dict(dataset=dict(dataset=dict(pipeline=train_pipeline)))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = [_base_.val_evaluator, dict(type='BEVSegMetric', classes=_base_.seg_classes)]
test_evaluator = val_evaluator

model = dict(
    seg_head=dict(
        _base_.bev_seg_head,
        in_channels=256,  # the BEV encoder's output (LSSFPN)
        input_bounds=(_base_.grid_config['x'], _base_.grid_config['y'])))
