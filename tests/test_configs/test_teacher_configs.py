"""GeoMIM's LiDAR teachers: the paper config points at released mmdet3d weights of exactly the detector it builds,
and the small teacher config is the detector the small GeoMIM config distils."""
import os.path as osp

import pytest
import torch
import yaml
from mmdet3d.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mim3d_plugin  # noqa: F401

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PAPER = osp.join(ROOT, 'configs/geomim/geomim_swin-b_16xb2-50e_nus.py')
SMALL = osp.join(ROOT, 'configs/geomim/geomim_swin-w64-d1121_1xb1-8e_nus-mini.py')
SMALL_TEACHER = osp.join(ROOT, 'configs/teachers/centerpoint_pillar08_second_secfpn_1xb2-20e_nus-mini.py')
ZOO_NAME = 'centerpoint_voxel0075_second_secfpn_head-circlenms_8xb4-cyclic-20e_nus-3d'


def _mmdet3d_mim_dir():
    import mmdet3d
    return osp.join(osp.dirname(mmdet3d.__file__), '.mim')


def _shapes(module, prefixes):
    return {k: tuple(v.shape) for k, v in module.state_dict().items() if k.split('.')[0] in prefixes}


def test_paper_teacher_is_the_model_zoo_detector_key_for_key():
    """Build the paper config's teacher and mmdet3d's own config of the released checkpoint: every weight of the
    stages the teacher runs has the same name and shape, the voxelization is the same, and the checkpoint URL is
    the metafile's entry of that config (no download: the keys come from the detector the weights were trained
    as)."""
    init_default_scope('mmdet3d')
    paper = Config.fromfile(PAPER).model.heads.bev.teacher
    with open(osp.join(_mmdet3d_mim_dir(), 'configs/centerpoint/metafile.yml')) as f:
        zoo = {m['Name']: m for m in yaml.safe_load(f)['Models']}[ZOO_NAME]
    assert paper.checkpoint == zoo['Weights']
    theirs_cfg = Config.fromfile(osp.join(_mmdet3d_mim_dir(), zoo['Config'])).model
    ours_cfg = paper.detector
    for key in ('voxel_size', 'point_cloud_range', 'max_num_points'):
        assert ours_cfg.data_preprocessor.voxel_layer[key] == theirs_cfg.data_preprocessor.voxel_layer[key], key
    assert ours_cfg.pts_middle_encoder.sparse_shape == theirs_cfg.pts_middle_encoder.sparse_shape == [41, 1440, 1440]
    ours, theirs = MODELS.build(ours_cfg), MODELS.build(theirs_cfg)
    stages = ('pts_voxel_encoder', 'pts_middle_encoder', 'pts_backbone', 'pts_neck')
    a, b = _shapes(ours, stages), _shapes(theirs, stages)
    assert len(a) > 100 and a == b
    head = {k for k in theirs.state_dict() if k.startswith('pts_bbox_head.')}
    assert set(theirs.state_dict()) - set(ours.state_dict()) == head


def test_small_geomim_distils_the_small_teacher_config(tmp_path):
    """The small GeoMIM config's teacher detector is the teacher config's detector minus the head (same weights,
    same voxelization), its checkpoint is where tools/train.py writes the teacher's last epoch, and a checkpoint of
    that detector loads into the GeoMIM teacher weight for weight."""
    init_default_scope('mmdet3d')
    small = Config.fromfile(SMALL).model.heads.bev
    teacher_cfg = Config.fromfile(SMALL_TEACHER)
    name = osp.splitext(osp.basename(SMALL_TEACHER))[0]
    assert small.teacher.checkpoint == f'work_dirs/{name}/epoch_{teacher_cfg.train_cfg.max_epochs}.pth'
    for key in ('voxel_size', 'point_cloud_range', 'max_num_points', 'max_voxels'):
        assert small.teacher.detector.data_preprocessor.voxel_layer[key] == \
            teacher_cfg.model.data_preprocessor.voxel_layer[key], key
    detector = MODELS.build(teacher_cfg.model)
    for p in detector.parameters():
        p.data.uniform_(-1, 1)
    ckpt = str(tmp_path / 'epoch_20.pth')
    torch.save(dict(state_dict=detector.state_dict()), ckpt)
    teacher = MODELS.build(dict(small.teacher, checkpoint=ckpt))
    used = tuple(teacher._used_modules())
    a = {k: v for k, v in detector.state_dict().items() if k.split('.')[0] in used}
    b = {k: v for k, v in teacher.detector.state_dict().items() if k.split('.')[0] in used}
    assert len(a) > 10 and a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_teacher_loads_a_url_through_mmengine(monkeypatch):
    """An https checkpoint goes through mmengine's model-zoo loader (download once into the hub cache)."""
    init_default_scope('mmdet3d')
    import mmengine.runner.checkpoint as ckpt_mod
    teacher_cfg = Config.fromfile(SMALL_TEACHER).model
    detector = MODELS.build(teacher_cfg)
    calls = []

    def fake_load_url(url, model_dir=None, map_location=None, progress=False):
        calls.append(url)
        return dict(state_dict=detector.state_dict())

    monkeypatch.setattr(ckpt_mod, 'load_url', fake_load_url)
    url = 'https://download.openmmlab.com/some/teacher.pth'
    teacher = MODELS.build(dict(type='LiDARBEVTeacher', detector=teacher_cfg, stage='pts_backbone', checkpoint=url))
    assert calls == [url]
    assert torch.equal(teacher.detector.pts_backbone.blocks[0][0].weight, detector.pts_backbone.blocks[0][0].weight)


def test_teacher_refuses_a_checkpoint_of_another_size(tmp_path):
    """mmengine's non-strict loading would only log the size mismatch and keep random weights."""
    init_default_scope('mmdet3d')
    cfg = Config.fromfile(SMALL_TEACHER).model
    other = MODELS.build(
        dict(
            cfg,
            pts_voxel_encoder=dict(cfg.pts_voxel_encoder, feat_channels=[32]),
            pts_middle_encoder=dict(cfg.pts_middle_encoder, in_channels=32),
            pts_backbone=dict(cfg.pts_backbone, in_channels=32)))
    ckpt = str(tmp_path / 'other.pth')
    torch.save(dict(state_dict=other.state_dict()), ckpt)
    with pytest.raises(ValueError, match='differ in size'):
        MODELS.build(dict(type='LiDARBEVTeacher', detector=cfg, checkpoint=ckpt))
