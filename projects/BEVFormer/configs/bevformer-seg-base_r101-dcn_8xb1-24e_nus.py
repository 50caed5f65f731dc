# BEVFormer-base with BEVFusion's BEV map-segmentation head on its BEV queries (B, C, 200, 200 over +-51.2 m, LiDAR
# frame) beside its detection head: drivable area + vehicle + pedestrian BEV IoU (BEVSegMetric) and NDS/mAP.
# See configs/_base_/models/bev-seg.py.
_base_ = ['./bevformer-base_r101-dcn_8xb1-24e_nus.py', '../../../configs/_base_/models/bev-seg.py']

seg_load = dict(_base_.bev_seg_load, class_names=_base_.class_names)
# after MultiFrameMultiView: the current frame's masks, LiDAR frame (no BEV augmentation in BEVFormer)
train_pipeline = _base_.train_pipeline[:2] + [seg_load] + _base_.train_pipeline[2:]
test_pipeline = _base_.test_pipeline[:1] + [seg_load] + _base_.test_pipeline[1:]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = [_base_.val_evaluator, dict(type='BEVSegMetric', classes=_base_.seg_classes)]
test_evaluator = val_evaluator

pcr = _base_.point_cloud_range
model = dict(
    seg_head=dict(
        _base_.bev_seg_head,
        in_channels=_base_.embed_dims,
        input_bounds=((pcr[0], pcr[3], 0.512), (pcr[1], pcr[4], 0.512))))
