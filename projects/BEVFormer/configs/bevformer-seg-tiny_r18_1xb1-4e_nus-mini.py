# BEV segmentation with BEVFormer, small CPU version: bevformer-tiny_r18_1xb1-4e_nus-mini.py (the small BEVFormer)
# with the seg head of bevformer-seg-base_r101-dcn_8xb1-24e_nus.py. What shrinks: drivable area + vehicle only,
# output grid 1 m (100 x 100) instead of 0.5 m.
#   python tools/train.py projects/BEVFormer/configs/bevformer-seg-tiny_r18_1xb1-4e_nus-mini.py \
#       --work-dir work_dirs/bevformer_seg_small
_base_ = ['./bevformer-tiny_r18_1xb1-4e_nus-mini.py', '../../../configs/_base_/models/bev-seg.py']

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
train_pipeline = _base_.train_pipeline[:2] + [seg_load] + _base_.train_pipeline[2:]
test_pipeline = _base_.test_pipeline[:1] + [seg_load] + _base_.test_pipeline[1:]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = [_base_.val_evaluator, dict(type='BEVSegMetric', classes=seg_classes)]
test_evaluator = val_evaluator

pcr = _base_.point_cloud_range
model = dict(
    seg_head=dict(
        _base_.bev_seg_head,
        in_channels=_base_.embed_dims,
        classes=seg_classes,
        input_bounds=((pcr[0], pcr[3], 1.0), (pcr[1], pcr[4], 1.0)),
        output_bounds=seg_bounds))
