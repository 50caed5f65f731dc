# As bevdet-swin-s16_1xb1-4e_nus-mini.py (same model, data and schedule), with the backbone initialised from
# the small GeoMIM pretraining run:
#   python tools/train.py configs/geomim/geomim_swin-s16-mv_1xb1-8e_nus-mini.py --work-dir work_dirs/geomim_small
# The checkpoint is read with prefix 'backbone.'; missing/unexpected keys are logged by mmengine, and
# tools/model_converters/extract_backbone.py --config <this config> reports them before training.
_base_ = ['./bevdet-swin-s16_1xb1-4e_nus-mini.py']

geomim_checkpoint = 'work_dirs/geomim_small/epoch_8.pth'
model = dict(img_backbone=dict(
    init_cfg=dict(_delete_=True, type='Pretrained', prefix='backbone.', checkpoint=geomim_checkpoint)))
