"""tools/analysis_tools/gpu_check.py: the GPU peaks it divides by, and the data retargeting that lets the paper
configs run on the bundled frames (the datasets build and yield a training sample)."""
import importlib.util
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
_spec = importlib.util.spec_from_file_location('mim3d_gpu_check', osp.join(ROOT, 'tools/analysis_tools/gpu_check.py'))
gpu_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gpu_check)


def test_peak_tflops_by_device_name():
    assert gpu_check.peak_tflops('NVIDIA H200', 'bfloat16') == 989.0
    assert gpu_check.peak_tflops('NVIDIA H100 PCIe', 'float16') == 756.0
    assert gpu_check.peak_tflops('NVIDIA A100-SXM4-80GB', 'bfloat16') == 312.0
    assert gpu_check.peak_tflops('Some GPU', 'bfloat16') is None


@pytest.mark.slow
@pytest.mark.parametrize('path', gpu_check.CONFIGS)
def test_paper_configs_read_the_bundled_frames_after_retargeting(path, nus_root, nus_infos):
    from mmdet3d.registry import DATASETS

    import mim3d_plugin  # noqa: F401
    init_default_scope('mmdet3d')
    cfg = Config.fromfile(osp.join(ROOT, path))
    if path.startswith('projects/'):
        import importlib
        for mod in cfg.custom_imports['imports']:
            importlib.import_module(mod)
    from mim3d_plugin.datasets.retarget import retarget_data
    retarget_data(cfg, nus_root, nus_infos)
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    assert len(dataset) >= 40
    sample = dataset[0]
    assert 'inputs' in sample and 'data_samples' in sample
    assert cfg.get('val_evaluator') is None or cfg.val_evaluator.get('data_root', nus_root) == nus_root


@pytest.mark.slow
def test_browse_dataset_draws_the_augmented_frames(nus_infos, tmp_path):
    """tools/misc/browse_dataset.py: one PNG per frame, images + BEV panel drawn (not blank)."""
    import subprocess
    import sys

    import numpy as np
    from PIL import Image
    proc = subprocess.run([
        sys.executable, 'tools/misc/browse_dataset.py',
        'projects/BEVDet/configs/bevdet-swin-w64-d1121_1xb1-4e_nus-mini.py', '--indices', '0', '3', '--out-dir',
        str(tmp_path)
    ],
                          cwd=ROOT,
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    pngs = sorted(tmp_path.glob('train_*.png'))
    assert [p.name.split('_')[1] for p in pngs] == ['0', '3']
    img = np.asarray(Image.open(pngs[0]).convert('RGB'))
    assert img.shape[0] > 500 and img.std() > 20
