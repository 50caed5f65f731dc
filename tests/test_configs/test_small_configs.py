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
    'configs/geomim/geomim_swin-w64-d1121_1xb1-8e_nus-mini.py':
    'configs/geomim/geomim_swin-b_16xb2-50e_nus.py',
    'configs/mim4d/mim4d_convnext-mini-mask_1xb2-300i_nus-mini.py':
    'configs/mim4d/mim4d_convnext-s-mask_8xb1-amp-12e_nus-pretrain.py',
    'configs/mask3d/mask3d_vit-tiny-p16_1xb1-300i_nus-mini.py':
    'configs/mask3d/mask3d_vit-b-p16_8xb4-amp-coslr-50e_nus.py',
    'configs/mask3d/mask3d_vit-tiny-p16_1xb2-400i_redwood.py':
    'configs/mask3d/mask3d_vit-b-p16_8xb64-amp-coslr-100e_scannet.py',
    'projects/BEVDet/configs/bevdet-swin-w64-d1121_1xb1-4e_nus-mini.py':
    'projects/BEVDet/configs/bevdet-r50_8xb8-cbgs-20e_nus.py',
    'projects/BEVDet/configs/bevdet4d-swin-w64-d1121_1xb1-4e_nus-mini.py':
    'projects/BEVDet/configs/bevdet-r50_8xb8-cbgs-20e_nus.py',
    'configs/hybrid/hybrid-bev-render-depth_swin-w64-d1121_1xb1-8e_nus-mini.py':
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


MINI = 'configs/_base_/datasets/nus-mv-mini.py'
# steps a small config leaves out of its paper config's training pipeline (no BEV flip / boxes in small pretraining)
DROPPED = {'configs/geomim/geomim_swin-w64-d1121_1xb1-8e_nus-mini.py': ('LoadAnnotations3D', 'BEVAug')}


@pytest.mark.parametrize('small', [s for s in sorted(SMALL_TO_PAPER) if 'redwood' not in s])
def test_small_nuscenes_configs_read_the_bundled_data_through_the_mini_base(small):
    """Every small nuScenes config inherits the mini data base and takes its paths and loaders from it; its training
    pipeline is its paper config's, step for step, except the image size and the steps listed in DROPPED."""
    chain = [osp.relpath(p, ROOT) for p in base_chain(osp.join(ROOT, small))]
    assert MINI in chain, f'{small} does not inherit {MINI}'
    cfg, paper = Config.fromfile(osp.join(ROOT, small)), Config.fromfile(osp.join(ROOT, SMALL_TO_PAPER[small]))
    mini = Config.fromfile(osp.join(ROOT, MINI))
    loader = cfg.train_dataloader
    dataset = loader.dataset.get('dataset', loader.dataset)
    assert dataset.ann_file == mini.nus_mini_train.ann_file and dataset.data_prefix == mini.nus_mini_data_prefix
    assert all(p.startswith('../shared/data/nuscenes/') for p in dataset.data_prefix.values())
    assert loader.num_workers == 0 and not loader.persistent_workers
    pipe, ref = dataset.pipeline, paper.train_dataloader.dataset.get('dataset', paper.train_dataloader.dataset).pipeline
    assert _steps(pipe) == [s for s in _steps(ref) if s not in DROPPED.get(small, ())]
    for a, b in zip([s for s in ref if s['type'] not in DROPPED.get(small, ())], pipe):
        for step_a, step_b in ([
            (a, b)
        ] if a['type'] != 'MultiFrameMultiView' else list(zip(a['frame_pipeline'], b['frame_pipeline']))
                               + [(dict(a, frame_pipeline=None), dict(b, frame_pipeline=None))]):
            if step_a['type'] in ('MultiViewImageAug', 'PointsRangeFilter'):
                continue  # the image size (and its zoom range), the small teacher's range: what shrinks
            if step_a['type'] == 'ObjectNameFilter':  # mmdet3d keeps labels < len(classes): the order is irrelevant
                assert set(step_a['classes']) == set(step_b['classes'])
                continue
            if step_a['type'] == 'PackMultiViewInputs' and 'LoadAnnotations3D' in DROPPED.get(small, ()):
                assert set(step_b['keys']) == set(step_a['keys']) - {'gt_bboxes_3d', 'gt_labels_3d'}
                continue
            assert {k: v for k, v in step_a.items() if k != 'backend_args'} == \
                {k: v for k, v in step_b.items() if k != 'backend_args'} or step_a['type'] in (
                    'MultiFrameMultiView', 'PointsToMultiViewDepth'), (small, step_a, step_b)
    if cfg.get('val_dataloader'):
        val = cfg.val_dataloader.dataset
        assert val.ann_file == mini.nus_mini_val.ann_file and val.data_prefix == mini.nus_mini_data_prefix


def test_small_geomim_keeps_the_paper_teacher_input_and_depth_targets():
    """The small GeoMIM pipeline is the paper pipeline less the BEV flip and the boxes: the teacher still sees the
    sweeps with the time-lag column after the key-frame depth targets."""
    paper = Config.fromfile(osp.join(ROOT, SMALL_TO_PAPER['configs/geomim/geomim_swin-w64-d1121_1xb1-8e_nus-mini.py']))
    small = Config.fromfile(osp.join(ROOT, 'configs/geomim/geomim_swin-w64-d1121_1xb1-8e_nus-mini.py'))
    pipeline = small.train_dataloader.dataset.pipeline
    assert small.train_dataloader.dataset.type == 'NuScenesMultiViewDataset'  # no CBGS on 40 frames
    assert _steps(pipeline) == [s for s in _steps(paper.train_pipeline) if s not in ('LoadAnnotations3D', 'BEVAug')]
    sweeps = [s for s in pipeline if s['type'] == 'LoadLiDARSweeps'][0]
    assert sweeps == [s for s in paper.train_pipeline if s['type'] == 'LoadLiDARSweeps'][0]
    assert small.model.encoder.backbone.type == paper.model.encoder.backbone.type
    assert small.optim_wrapper.optimizer == paper.optim_wrapper.optimizer
