"""Ground truth through the UVTR / UVTR-DN output path: a perfect model (``--model ours``: our box code and class
order; ``official``: the official mmdet3d-0.x box code and class order, mapped by
``tools/model_converters/uvtr_official_to_mim3d.py``) -> our head's decoding (NMS-free top-k of the last layer,
``post_center_range``) -> the devkit NDS / mAP. The ceiling a perfect voxel volume could reach with a config's head,
and the check that converted official weights decode as the official head decodes them.

The UVTR head shares the DETR output path of BEVFormer (same box code, coder and class handling:
:meth:`UVTRHead.regression_to_boxes`, :meth:`UVTRHead.predict_by_feat`), so this is
``projects/BEVFormer/tools/gt_through_head.py`` run on a UVTR config (its perfect outputs are built by the same
official equations: ``normalize_bbox`` of mmdet3d 0.17, the UVTR configs' class order).

Usage::

    python projects/UVTR/tools/gt_through_head.py \
        projects/UVTR/configs/uvtr-dn_convnext-s-mim4d_8xb1-amp-12e_nus-vs0.075.py --model official \
        --nus-root ../shared/data/nuscenes --info-dir data/nuscenes_infos
"""
import importlib.util
import os.path as osp

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
_spec = importlib.util.spec_from_file_location('bevformer_gt_through_head',
                                               osp.join(ROOT, 'projects/BEVFormer/tools/gt_through_head.py'))
_tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_tool)

run = _tool.run
main = _tool.main

if __name__ == '__main__':
    main()
