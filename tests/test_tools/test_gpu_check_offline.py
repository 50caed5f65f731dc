"""The offline GPU check's pieces on CPU (issue 25, item 3): the data bundle, the smoke test (also with mmcv's
compiled ops absent, as on the GPU image: the mmcv-lite stand-in forced), the pillar stand-in of a voxel teacher."""
import json
import os
import os.path as osp
import pickle
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from mim3d_plugin.testing import ROOT

sys.path.insert(0, osp.join(ROOT, 'tools', 'gpu_check'))


@pytest.mark.slow
def test_bundle_holds_the_frames_of_its_info_files(nus_root, nus_infos, tmp_path):
    import prepare_bundle
    out = tmp_path / 'bundle'
    size = prepare_bundle.main(
        ['--nus-root', nus_root, '--info-dir', nus_infos, '--out',
         str(out), '--samples', '2', '--no-wheels'])
    assert 0 < size < 60
    for split in ('train', 'val'):
        with open(out / 'nuscenes_infos' / f'nuscenes_infos_{split}.pkl', 'rb') as f:
            infos = pickle.load(f)
        assert len(infos['data_list']) == 2
        for info in infos['data_list']:
            assert (out / 'nuscenes' / 'samples' / 'LIDAR_TOP'
                    / osp.basename(info['lidar_points']['lidar_path'])).is_file()
            assert len(info['images']) == 6
    wheels = prepare_bundle.requirements()
    assert all('==' in w for w in wheels) and any(w.startswith('mmcv-lite==') for w in wheels)


@pytest.mark.slow
def test_smoke_test_without_mmcv_kernels_in_a_fresh_interpreter(nus_infos, tmp_path):
    """What tools/gpu_check/run.sh runs, with mmcv._ext answered by the mmcv-lite stand-in (forced ahead of the real
    one): the configs with compiled ops on their path train one bf16 step and predict."""
    configs = [
        'configs/teachers/centerpoint_pillar08_second_secfpn_1xb2-20e_nus-mini.py',
        'projects/BEVFormer/configs/bevformer-tiny_r18_1xb1-4e_nus-mini.py',
        'configs/finetune/fcos3d_swin-w64-d1121-geomim_fpn_head-gn_1xb1-1e_nus-mini-mono3d.py'
    ]
    code = ('import runpy, sys; runpy.run_path(sys.argv[1]); '
            'sys.argv = sys.argv[2:]; runpy.run_path(sys.argv[0], run_name="__main__")')
    env = dict(os.environ, MIM3D_MMCV_EXT_SHIM='force', PYTHONPATH=ROOT)
    proc = subprocess.run([
        sys.executable, '-c', code,
        osp.join(ROOT, 'mim3d_plugin/ops/mmcv_ext_shim.py'),
        osp.join(ROOT, 'tools/analysis_tools/gpu_smoke_test.py'), '--device', 'cpu', '--out',
        str(tmp_path), '--configs', *configs
    ],
                          cwd=ROOT,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    result = json.loads((tmp_path / 'smoke.json').read_text())
    assert all(v == 'pytorch' for k, v in result['ops'].items() if k != 'sparse_conv'), result['ops']
    assert [r['ok'] for r in result['rows']] == [True] * 3, result['rows']
    assert (tmp_path / 'smoke.md').read_text().count('| yes |') == 3


def test_the_pillar_stand_in_of_the_paper_teacher_has_its_target_shape():
    import importlib.util
    spec = importlib.util.spec_from_file_location('mim3d_gpu_check', osp.join(ROOT,
                                                                              'tools/analysis_tools/gpu_check.py'))
    gpu_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_check)

    from mim3d_plugin.ops import pytorch_ops_only
    cfg = Config.fromfile(osp.join(ROOT, 'configs/geomim/geomim_swin-b_16xb2-50e_nus.py'))
    with pytorch_ops_only():  # as on the GPU image: no sparse convolution
        notes = gpu_check.pillar_teacher_where_no_sparse_conv(cfg, 'cpu')
    assert notes == ['heads.bev: voxel teacher -> pillar teacher (no sparse conv on cpu)']
    from mmdet3d.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet3d')
    teacher = MODELS.build(cfg.model.heads.bev.teacher)
    teacher.init_weights()
    points = torch.rand(2000, 5) * torch.tensor([100.0, 100.0, 6.0, 1.0, 0.0]) - torch.tensor([50.0, 50.0, 4.0, 0, 0])
    with pytorch_ops_only():
        bev = teacher([points])
    assert tuple(bev.shape) == (1, cfg.model.heads.bev.teacher_channels, 180, 180)
