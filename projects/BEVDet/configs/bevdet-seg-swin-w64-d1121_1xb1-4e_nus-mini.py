# BEV segmentation, small CPU version: bevdet-swin-w64-d1121_1xb1-4e_nus-mini.py (the small BEVDet) with the seg
# head of bevdet-seg-r50_8xb8-cbgs-20e_nus.py. What shrinks: drivable area + vehicle only (pedestrians cover ~0.1 %
# of the mini BEV), output grid 1 m (100 x 100) instead of 0.5 m.
#   python tools/train.py projects/BEVDet/configs/bevdet-seg-swin-w64-d1121_1xb1-4e_nus-mini.py \
#       --work-dir work_dirs/bevdet_seg_small
#   python tools/test.py projects/BEVDet/configs/bevdet-seg-swin-w64-d1121_1xb1-4e_nus-mini.py \
#       work_dirs/bevdet_seg_small/epoch_4.pth
_base_ = ['./bevdet-swin-w64-d1121_1xb1-4e_nus-mini.py', '../../../configs/_base_/models/bev-seg.py']

seg_classes = ('drivable_area', 'vehicle')
seg_bounds = ((-50.0, 50.0, 1.0), (-50.0, 50.0, 1.0))
seg_load = dict(
    _base_.bev_seg_load,
    data_root=_base_.nus_mini_root,
    version='v1.0-mini',
    classes=seg_classes,
    xbound=seg_bounds[0],
    ybound=seg_bounds[1],
    class_names=_base_.class_names)
train_pipeline = _base_.train_pipeline[:6] + [seg_load] + _base_.train_pipeline[6:]
test_pipeline = _base_.test_pipeline[:4] + [seg_load] + _base_.test_pipeline[4:]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = [_base_.val_evaluator, dict(type='BEVSegMetric', classes=seg_classes)]
test_evaluator = val_evaluator

model = dict(
    seg_head=dict(
        _base_.bev_seg_head,
        in_channels=128,
        classes=seg_classes,
        input_bounds=(_base_.grid_config['x'], _base_.grid_config['y']),
        output_bounds=seg_bounds))
