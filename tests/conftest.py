"""Session fixtures shared by the whole suite: the bundled nuScenes data and its info files."""
import os
import os.path as osp
import shutil
import tempfile

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
NUS_ROOT = osp.normpath(osp.join(REPO_ROOT, '..', 'shared', 'data', 'nuscenes'))
NUS_INFOS = osp.join(REPO_ROOT, 'data', 'nuscenes_infos')
NUS_VERSION = 'v1.0-mini'


@pytest.fixture(scope='session')
def nus_root() -> str:
    """Absolute path of the bundled nuScenes (v1.0-mini layout); skips the test if it is absent."""
    if not osp.isfile(osp.join(NUS_ROOT, NUS_VERSION, 'sample.json')):
        pytest.skip(f'bundled nuScenes data not found at {NUS_ROOT} (expected {NUS_VERSION}/sample.json)')
    return NUS_ROOT


def _infos_ok(folder: str) -> bool:
    import mmengine

    from mim3d_plugin.datasets.nuscenes_multiview_dataset import check_info_file
    for split in ('train', 'val'):
        path = osp.join(folder, f'nuscenes_infos_{split}.pkl')
        if not osp.isfile(path):
            return False
        try:
            infos = mmengine.load(path)
            check_info_file(infos, path)
        except (ValueError, EOFError, OSError):
            return False
        if any(k not in info for info in infos['data_list'] for k in ('cam_sweeps', 'can_bus', 'cam_instances')):
            return False  # written before cam_sweeps / can_bus / cam_instances existed
    return True


@pytest.fixture(scope='session')
def nus_infos(nus_root: str) -> str:
    """Folder holding ``nuscenes_infos_{train,val}.pkl`` of the bundled data (repo ``data/nuscenes_infos``).

    Generates them with ``mim3d_plugin.datasets.converters.create_nuscenes_infos``
    if they are missing or stale (wrong format); the files are written to a
    temporary folder first and moved into place, so parallel sessions never
    read a half-written file.
    """
    if not _infos_ok(NUS_INFOS):
        from mim3d_plugin.datasets.converters import create_nuscenes_infos
        os.makedirs(osp.dirname(NUS_INFOS), exist_ok=True)
        tmp = tempfile.mkdtemp(prefix='.nuscenes_infos_', dir=osp.dirname(NUS_INFOS))
        try:
            written = create_nuscenes_infos(nus_root, NUS_VERSION, tmp)
            os.makedirs(NUS_INFOS, exist_ok=True)
            for path in written.values():
                os.replace(path, osp.join(NUS_INFOS, osp.basename(path)))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return NUS_INFOS


TEACHER_CONFIG = 'configs/teachers/centerpoint_pillar08_second_secfpn_1xb2-20e_nus-mini.py'


@pytest.fixture(scope='session')
def small_teacher_ckpt(nus_infos: str, tmp_path_factory) -> str:
    """A checkpoint of the small LiDAR teacher written by ``tools/train.py`` (1 epoch on 2 train frames: the real
    training entry point and checkpoint format, not a trained detector), for the GeoMIM runs of the suite."""
    import subprocess
    import sys
    work = str(tmp_path_factory.mktemp('teacher'))
    proc = subprocess.run([
        sys.executable, 'tools/train.py', TEACHER_CONFIG, '--work-dir', work, '--cfg-options',
        'train_dataloader.dataset.indices=2', 'train_cfg.max_epochs=1', 'train_cfg.val_interval=1', 'val_cfg=None',
        'val_dataloader=None', 'val_evaluator=None'
    ],
                          cwd=REPO_ROOT,
                          env=dict(os.environ, OMP_NUM_THREADS='1'),
                          capture_output=True,
                          text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return osp.join(work, 'epoch_1.pth')


@pytest.fixture(autouse=True)
def _restore_default_scope():
    """Give every test back the mmengine default scope it started with: the 2D segmentation tests (and any Runner of an
    mmseg config) make 'mmseg' the current scope, which would make later tests build mmdet3d types in mmseg's
    registry."""
    from mmengine.registry import DefaultScope, init_default_scope
    before = DefaultScope.get_current_instance()
    name = before.scope_name if before is not None else None
    yield
    after = DefaultScope.get_current_instance()
    if name is not None and (after is None or after.scope_name != name):
        init_default_scope(name)
