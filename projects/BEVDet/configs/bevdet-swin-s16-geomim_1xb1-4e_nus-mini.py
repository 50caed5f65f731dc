# As bevdet-swin-s16_1xb1-4e_nus-mini.py (same model, data and schedule), with the backbone initialised from
# a small GeoMIM pretraining run whose backbone has the same architecture (GeoMIM Swin, width 64, depths 2-2-2-2;
# the measured run in docs/bevdet used configs/geomim/geomim_swin-s16-mv_1xb1-8e_nus-mini.py as of commit 55fb5dc,
# which had that architecture at 128x352; the later version of that config uses depths 1-1-2-1 at 96x256 and
# does NOT fit this backbone). Check a checkpoint first; --strict fails on any missing/unexpected/mismatched key:
#   python tools/model_converters/extract_backbone.py <geomim ckpt> work_dirs/geomim_small/backbone.pth --strict \
#       --config projects/BEVDet/configs/bevdet-swin-s16-geomim_1xb1-4e_nus-mini.py
# The checkpoint is read with prefix 'backbone.'; mmengine logs missing/unexpected keys when loading.
_base_ = ['./bevdet-swin-s16_1xb1-4e_nus-mini.py']

geomim_checkpoint = 'work_dirs/geomim_small/epoch_8.pth'
model = dict(img_backbone=dict(
    init_cfg=dict(_delete_=True, type='Pretrained', prefix='backbone.', checkpoint=geomim_checkpoint)))
