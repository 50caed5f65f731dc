"""GeoMIM's small LiDAR teacher: tools/train.py trains it on the bundled train scene (session fixture) and
tools/test.py evaluates the checkpoint with the nuScenes devkit on mini_val."""
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = 'configs/teachers/centerpoint_pillar08_second_secfpn_1xb2-20e_nus-mini.py'

pytestmark = pytest.mark.slow


def test_teacher_checkpoint_then_devkit_evaluation(small_teacher_ckpt, tmp_path):
    ckpt = torch.load(small_teacher_ckpt, weights_only=True)
    assert any(k.startswith('pts_bbox_head.') for k in ckpt['state_dict'])  # the whole detector is trained
    proc = subprocess.run([sys.executable, 'tools/test.py', CONFIG, small_teacher_ckpt, '--work-dir',
                           str(tmp_path)],
                          cwd=ROOT,
                          env=dict(os.environ, OMP_NUM_THREADS='1'),
                          capture_output=True,
                          text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    nds = re.search(r'pred_instances_3d_NuScenes/NDS: ([0-9.]+)', out)
    assert nds is not None, out[-2000:]
    assert 0.0 <= float(nds.group(1)) <= 1.0
    assert 'car_AP_dist_4.0' in out
