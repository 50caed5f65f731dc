"""The plugin registers no name that mmdet3d 1.4 or its shipped ``projects/`` register, so mmdet3d's own projects
(DETR3D, PETR, BEVFusion, TPVFormer, ...) import beside it, in either order.

``PROJECT_NAMES`` lists every ``<REGISTRY>.register_module()`` of mmdet3d v1.4.0's ``projects/`` (read from their
code: open-mmlab/mmdetection3d at tag v1.4.0, ``projects/*/**/*.py``). The projects are not part of the mmdet3d wheel,
so each test registers stand-ins under those names in a fresh interpreter, before or after importing the plugin (and
this repository's own projects), as a user's config with both ``custom_imports`` does.
"""
import json
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

PROJECT_NAMES = {
    'BEVFusion': [('MODELS', 'BEVFusion'), ('MODELS', 'BEVFusionSparseEncoder'), ('MODELS', 'ConvFuser'),
                  ('MODELS', 'DepthLSSTransform'), ('MODELS', 'GeneralizedLSSFPN'), ('MODELS', 'LSSTransform'),
                  ('MODELS', 'TransFusionHead'), ('MODELS', 'TransformerDecoderLayer'), ('TASK_UTILS', 'BBoxBEVL1Cost'),
                  ('TASK_UTILS', 'HeuristicAssigner3D'), ('TASK_UTILS', 'HungarianAssigner3D'),
                  ('TASK_UTILS', 'IoU3DCost'), ('TASK_UTILS', 'TransFusionBBoxCoder'),
                  ('TRANSFORMS', 'BEVFusionGlobalRotScaleTrans'), ('TRANSFORMS', 'BEVFusionRandomFlip3D'),
                  ('TRANSFORMS', 'BEVLoadMultiViewImageFromFiles'), ('TRANSFORMS', 'GridMask'),
                  ('TRANSFORMS', 'ImageAug3D')],
    'CENet': [('MODELS', 'BoundaryLoss'), ('MODELS', 'CENet'), ('MODELS', 'RangeImageHead'),
              ('MODELS', 'RangeImageSegmentor'), ('TRANSFORMS', 'SemkittiRangeView')],
    'CenterFormer': [('MODELS', 'CenterFormer'), ('MODELS', 'CenterFormerBboxHead'), ('MODELS', 'DeformableDecoderRPN'),
                     ('MODELS', 'FastFocalLoss'), ('MODELS', 'MultiFrameDeformableDecoderRPN')],
    'DETR3D': [('MODELS', 'DETR3D'), ('MODELS', 'DETR3DHead'), ('MODELS', 'Detr3DCrossAtten'),
               ('MODELS', 'Detr3DTransformer'), ('MODELS', 'Detr3DTransformerDecoder'), ('MODELS', 'VoVNet'),
               ('TASK_UTILS', 'BBox3DL1Cost'), ('TASK_UTILS', 'HungarianAssigner3D'), ('TASK_UTILS', 'NMSFreeCoder')],
    'DSVT': [('HOOKS', 'DisableAugHook'), ('MODELS', 'DIoU3DLoss'), ('MODELS', 'DSVT'), ('MODELS', 'DSVTCenterHead'),
             ('MODELS', 'DSVTMiddleEncoder'), ('MODELS', 'DynamicPillarVFE3D'), ('MODELS', 'PointPillarsScatter3D'),
             ('MODELS', 'ResSECOND'), ('TASK_UTILS', 'DSVTBBoxCoder'), ('TRANSFORMS', 'ObjectRangeFilter3D'),
             ('TRANSFORMS', 'PointsRangeFilter3D')],
    'NeRF-Det': [('DATASETS', 'MultiViewScanNetDataset'), ('MODELS', 'NeRFDetDataPreprocessor'), ('MODELS', 'NerfDet'),
                 ('MODELS', 'NerfDetHead'), ('TRANSFORMS', 'MultiViewPipeline'), ('TRANSFORMS', 'PackNeRFDetInputs'),
                 ('TRANSFORMS', 'RandomShiftOrigin')],
    'PETR': [('MODELS', 'CPFPN'), ('MODELS', 'LearnedPositionalEncoding3D'), ('MODELS', 'PETR'),
             ('MODELS', 'PETRDNTransformer'), ('MODELS', 'PETRHead'), ('MODELS', 'PETRMultiheadAttention'),
             ('MODELS', 'PETRTransformer'), ('MODELS', 'PETRTransformerDecoder'),
             ('MODELS', 'PETRTransformerDecoderLayer'), ('MODELS', 'PETRTransformerEncoder'), ('MODELS', 'VoVNetCP'),
             ('TASK_UTILS', 'BBox3DL1Cost'), ('TASK_UTILS', 'FocalLossCost'), ('TASK_UTILS', 'HungarianAssigner3D'),
             ('TASK_UTILS', 'IoUCost'), ('TASK_UTILS', 'NMSFreeClsCoder'), ('TASK_UTILS', 'NMSFreeCoder'),
             ('TASK_UTILS', 'SinePositionalEncoding3D'), ('TRANSFORMS', 'GlobalRotScaleTransImage'),
             ('TRANSFORMS', 'ResizeCropFlipImage')],
    'TPVFormer': [('DATASETS', 'NuScenesSegDataset'), ('MODELS', 'GridMask'), ('MODELS', 'TPVCrossViewHybridAttention'),
                  ('MODELS', 'TPVFormer'), ('MODELS', 'TPVFormerDataPreprocessor'), ('MODELS', 'TPVFormerDecoder'),
                  ('MODELS', 'TPVFormerEncoder'), ('MODELS', 'TPVFormerLayer'),
                  ('MODELS', 'TPVFormerPositionalEncoding'), ('MODELS', 'TPVImageCrossAttention'),
                  ('MODELS', 'TPVMSDeformableAttention3D'), ('TRANSFORMS', 'BEVLoadMultiViewImageFromFiles'),
                  ('TRANSFORMS', 'SegLabelMapping')],
    'TR3D': [('MODELS', 'TR3DAxisAlignedIoULoss'), ('MODELS', 'TR3DHead'), ('MODELS', 'TR3DMinkResNet'),
             ('MODELS', 'TR3DNeck'), ('MODELS', 'TR3DRotatedIoU3DLoss'), ('TRANSFORMS', 'TR3DPointSample')],
    'example_project': [('MODELS', 'DummyResNet')],
}

SCRIPT = r'''
import json, sys
names = json.loads(sys.argv[1])
order = sys.argv[2]


def register_projects():
    import mmdet3d.registry as R
    done = set()
    for project, entries in names.items():
        for registry, name in entries:
            if (registry, name) in done:  # two projects register the same name (each other's clash, not ours)
                continue
            getattr(R, registry).register_module(name=name, module=type(name, (), {}))
            done.add((registry, name))


def import_plugin():
    import mim3d_plugin  # noqa: F401
    import projects.BEVDet.bevdet  # noqa: F401
    import projects.BEVFormer.bevformer  # noqa: F401


if order == 'plugin_first':
    import_plugin()
    register_projects()
else:
    register_projects()
    import_plugin()
print('ok')
'''


@pytest.mark.parametrize('order', ['plugin_first', 'projects_first'])
def test_mmdet3d_projects_and_the_plugin_import_in_either_order(order):
    proc = subprocess.run([sys.executable, '-c', SCRIPT, json.dumps(PROJECT_NAMES), order],
                          cwd=ROOT,
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip().endswith('ok'), proc.stderr[-3000:]


def test_no_plugin_name_is_an_mmdet3d_project_name():
    """The same check without importing: every name the plugin and this repository's projects register, against the
    projects' names of the same registry."""
    script = r'''
import json
import mmdet3d.registry as R
before = {n: set(getattr(R, n).module_dict) for n in ('MODELS', 'TASK_UTILS', 'TRANSFORMS', 'DATASETS', 'HOOKS',
                                                       'METRICS')}
import mim3d_plugin, projects.BEVDet.bevdet, projects.BEVFormer.bevformer  # noqa
print(json.dumps({n: sorted(set(getattr(R, n).module_dict) - before[n]) for n in before}))
'''
    proc = subprocess.run([sys.executable, '-c', script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ours = json.loads(proc.stdout.strip().splitlines()[-1])
    clashes = sorted(
        (reg, name) for entries in PROJECT_NAMES.values() for reg, name in entries if name in ours.get(reg, []))
    assert clashes == []
    assert len(ours['MODELS']) > 40 and ours['TASK_UTILS']  # the plugin did register its modules
