"""The small CPU configs inherit their paper configs and override only what shrinks (issue: configs a reader can
follow). What they override is checked against the paper config they inherit, so a change of the paper recipe
reaches the small config unless the small config says otherwise."""
import ast
import os.path as osp

import pytest
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# small config -> the paper config it must inherit (directly or through its bases)
SMALL_TO_PAPER = {
    'configs/_base_/datasets/nus-mv-mini.py': 'configs/_base_/datasets/nus-mv.py',
    'configs/geomim/geomim_swin-s16-mv_1xb1-8e_nus-mini.py': 'configs/geomim/geomim_swin-b_16xb2-50e_nus.py',
    'configs/mim4d/mim4d_convnext-mini-mask_1xb2-300i_nus-mini.py':
    'configs/mim4d/mim4d_convnext-s-mask_8xb1-amp-12e_nus-pretrain.py',
    'configs/mask3d/mask3d_vit-tiny-p16_1xb1-300i_nus-mini.py': 'configs/mask3d/mask3d_vit-b-p16_8xb4-amp-coslr-50e_nus.py',
    'configs/mask3d/mask3d_vit-tiny-p16_1xb2-400i_redwood.py':
    'configs/mask3d/mask3d_vit-b-p16_8xb64-amp-coslr-100e_scannet.py',
    'projects/BEVDet/configs/bevdet-swin-s16_1xb1-4e_nus-mini.py': 'projects/BEVDet/configs/bevdet-r50_8xb8-cbgs-20e_nus.py',
    'projects/BEVDet/configs/bevdet4d-swin-s16_1xb1-4e_nus-mini.py':
    'projects/BEVDet/configs/bevdet-r50_8xb8-cbgs-20e_nus.py',
    'configs/hybrid/hybrid-bev-render-depth_swin-s16_1xb1-8e_nus-mini.py':
    'configs/hybrid/hybrid-bev-render-depth_swin-b_16xb1-24e_nus.py',
    'projects/BEVFormer/configs/bevformer-tiny_r18_1xb1-4e_nus-mini.py':
    'projects/BEVFormer/configs/bevformer-tiny_r50_8xb1-24e_nus.py',
}


def base_chain(path):
    """Every file ``path`` inherits from, through ``_base_`` (read from the source, as mmengine does)."""
    tree = ast.parse(open(path).read())
    bases = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, 'id', None) == '_base_' for t in node.targets):
            value = ast.literal_eval(node.value)
            bases = [value] if isinstance(value, str) else list(value)
    chain = []
    for base in bases:
        if '::' in base:  # another package's config (mmdet3d::...)
            continue
        full = osp.normpath(osp.join(osp.dirname(path), base))
        chain += [full] + base_chain(full)
    return chain


@pytest.mark.parametrize('small', sorted(SMALL_TO_PAPER))
def test_small_config_inherits_its_paper_config(small):
    chain = [osp.relpath(p, ROOT) for p in base_chain(osp.join(ROOT, small))]
    assert SMALL_TO_PAPER[small] in chain, f'{small} inherits {chain}, not {SMALL_TO_PAPER[small]}'


def _steps(pipeline):
    return [step['type'] for step in pipeline]


def test_mini_data_differs_from_the_paper_data_only_in_paths_image_size_and_loaders():
    paper = Config.fromfile(osp.join(ROOT, 'configs/_base_/datasets/nus-mv.py'))
    mini = Config.fromfile(osp.join(ROOT, 'configs/_base_/datasets/nus-mv-mini.py'))
    for key in ('train_pipeline', 'teacher_train_pipeline', 'det_train_pipeline', 'test_pipeline'):
        assert _steps(mini[key]) == _steps(paper[key]), key
        for a, b in zip(paper[key], mini[key]):
            if a['type'] == 'MultiViewImageAug':
                assert b['final_dim'] == (128, 352)
                # the same relative zoom: resize_lim is added to final_dim[1] / W
                assert b['resize_lim'] == pytest.approx([x / 2 for x in a['resize_lim']])
                assert {k: v for k, v in a.items() if k not in ('final_dim', 'resize_lim')} == \
                    {k: v for k, v in b.items() if k not in ('final_dim', 'resize_lim')}
            else:
                assert a == b
    assert mini.train_dataloader.dataset.pipeline == mini.train_pipeline
    assert mini.val_dataloader.dataset.pipeline == mini.test_pipeline
    assert all(p.startswith('../shared/data/nuscenes/') for p in mini.data_prefix.values())
    assert set(mini.data_prefix) == set(paper.data_prefix)
    for split in ('train', 'val'):
        loader = mini[f'{split}_dataloader']
        assert loader.dataset.ann_file == f'data/nuscenes_infos/nuscenes_infos_{split}.pkl'
        assert loader.num_workers == 0
        ref = paper[f'{split}_dataloader'].dataset
        for key in ('type', 'cameras', 'metainfo', 'modality', 'test_mode', 'box_type_3d'):
            assert loader.dataset[key] == ref[key], key


def test_small_geomim_keeps_the_paper_teacher_input_and_depth_targets():
    """The small GeoMIM pipeline is the paper pipeline less the BEV flip and the boxes: the teacher still sees the
    sweeps with the time-lag column after the key-frame depth targets."""
    paper = Config.fromfile(osp.join(ROOT, SMALL_TO_PAPER['configs/geomim/geomim_swin-s16-mv_1xb1-8e_nus-mini.py']))
    small = Config.fromfile(osp.join(ROOT, 'configs/geomim/geomim_swin-s16-mv_1xb1-8e_nus-mini.py'))
    pipeline = small.train_dataloader.dataset.pipeline
    assert small.train_dataloader.dataset.type == 'NuScenesMultiViewDataset'  # no CBGS on 40 frames
    assert _steps(pipeline) == [s for s in _steps(paper.train_pipeline) if s not in ('LoadAnnotations3D', 'BEVAug')]
    sweeps = [s for s in pipeline if s['type'] == 'LoadLiDARSweeps'][0]
    assert sweeps == [s for s in paper.train_pipeline if s['type'] == 'LoadLiDARSweeps'][0]
    assert small.model.backbone.type == paper.model.backbone.type
    assert small.optim_wrapper.optimizer == paper.optim_wrapper.optimizer
