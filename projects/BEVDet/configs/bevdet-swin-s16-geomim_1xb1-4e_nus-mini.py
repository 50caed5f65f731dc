# As bevdet-swin-s16_1xb1-4e_nus-mini.py (same model, data and schedule), with the backbone initialised from
# the small GeoMIM pretraining run of the README main job (configs/geomim/geomim_swin-s16-mv_1xb1-8e_nus-mini.py:
# GeoMIM Swin width 64, depths 1-1-2-1, the architecture of this backbone). The measured comparison in docs/bevdet
# was made when both configs used depths 2-2-2-2 (commit 55fb5dc). Check a checkpoint first; --strict fails on any missing/unexpected/mismatched key:
#   python tools/model_converters/extract_backbone.py <geomim ckpt> work_dirs/geomim_small/backbone.pth --strict \
#       --config projects/BEVDet/configs/bevdet-swin-s16-geomim_1xb1-4e_nus-mini.py
# The checkpoint is read with prefix 'backbone.'; mmengine logs missing/unexpected keys when loading.
_base_ = ['./bevdet-swin-s16_1xb1-4e_nus-mini.py']

geomim_checkpoint = 'work_dirs/geomim_swin-s16-mv_1xb1-8e_nus-mini/epoch_8.pth'
model = dict(img_backbone=dict(
    init_cfg=dict(_delete_=True, type='Pretrained', prefix='backbone.', checkpoint=geomim_checkpoint)))
