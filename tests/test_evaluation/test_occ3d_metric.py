"""Occ3D loader and metric on the one real Occ3D-nuScenes frame (../shared/data/occ3d): the challenge's
``Metric_mIoU`` re-derived here (confusion by bincount inside mask_camera, per-class IoU, nanmean over the 17 classes
but free) against ours, and known answers (GT as prediction = 100; a class swap gives the IoUs counted here; voxels
outside the camera mask do not count); bad files get clear errors."""
import os.path as osp
import shutil

import numpy as np
import pytest

from mim3d_plugin.datasets.transforms import OCC3D_CLASSES, LoadOcc3DLabels, load_occ3d_labels
from mim3d_plugin.evaluation.metrics import Occ3DMetric, occ_confusion, occ_miou
from mim3d_plugin.testing import ROOT

OCC = osp.join(ROOT, '..', 'shared', 'data', 'occ3d')
TOKEN = '29796060110c4163b07f06eff4af0753'
needs_data = pytest.mark.skipif(not osp.isdir(osp.join(OCC, TOKEN)), reason='../shared/data/occ3d is absent')


def _official_miou(pred, gt, mask, n=18):
    """The challenge repository's computation, re-derived: hist over gt in [0, n) inside the mask, IoU = diag /
    (row + col - diag), mIoU = nanmean over the first n - 1 classes, x 100."""
    p, g = pred[mask].astype(int), gt[mask].astype(int)
    k = (g >= 0) & (g < n)
    hist = np.bincount(n * g[k] + p[k], minlength=n * n).reshape(n, n)
    with np.errstate(divide='ignore', invalid='ignore'):
        iou = np.diag(hist) / (hist.sum(1) + hist.sum(0) - np.diag(hist))
    return np.nanmean(iou[:n - 1]) * 100, iou * 100


def _evaluate(pred, labels, **kwargs):
    metric = Occ3DMetric(**kwargs)
    metric.process({}, [
        dict(
            pred_occ=pred,
            eval_ann_info=dict(
                voxel_semantics=labels['semantics'], mask_camera=labels['mask_camera'],
                mask_lidar=labels['mask_lidar']))
    ])
    return metric.compute_metrics(metric.results)


@needs_data
def test_the_real_frame_loads_and_gt_as_prediction_scores_100():
    labels = LoadOcc3DLabels(occ_root=None).transform(dict(occ_path=osp.join(OCC, TOKEN), token=TOKEN))
    assert labels['voxel_semantics'].shape == (200, 200, 16) and labels['voxel_semantics'].dtype == np.uint8
    raw = load_occ3d_labels(osp.join(OCC, TOKEN))
    assert 0 < raw['mask_camera'].mean() < 1 and raw['semantics'].max() == 17
    out = _evaluate(raw['semantics'], raw)
    assert out['mIoU'] == 100.0
    present = set(np.unique(raw['semantics'][raw['mask_camera']]).tolist()) - {17}
    assert len(present) >= 5
    for c, name in enumerate(OCC3D_CLASSES[:17]):
        assert (out[name] == 100.0) if c in present else np.isnan(out[name])


@needs_data
def test_a_class_swap_gives_the_counted_ious_and_equals_the_official_computation():
    raw = load_occ3d_labels(osp.join(OCC, TOKEN))
    gt, cam = raw['semantics'], raw['mask_camera']
    present = [c for c in np.unique(gt[cam]).tolist() if c != 17]
    a, b = present[0], present[1]  # every voxel of class a predicted as class b
    pred = gt.copy()
    pred[gt == a] = b
    out = _evaluate(pred, raw)
    n_a, n_b = int((gt[cam] == a).sum()), int((gt[cam] == b).sum())
    assert out[OCC3D_CLASSES[a]] == 0.0
    assert out[OCC3D_CLASSES[b]] == pytest.approx(100 * n_b / (n_b + n_a))
    official, _ = _official_miou(pred, gt, cam)
    assert out['mIoU'] == pytest.approx(official, abs=1e-9)
    rng = np.random.default_rng(0)  # and a noisy prediction
    noisy = np.where(rng.random(gt.shape) < 0.3, rng.integers(0, 18, gt.shape), gt).astype(np.uint8)
    official, per_class = _official_miou(noisy, gt, cam)
    ours = _evaluate(noisy, raw)
    assert ours['mIoU'] == pytest.approx(official, abs=1e-9) and 0 < ours['mIoU'] < 100
    assert np.allclose([ours[n] for n in OCC3D_CLASSES[:17]], per_class[:17], equal_nan=True)


@needs_data
def test_voxels_outside_the_camera_mask_do_not_count():
    raw = load_occ3d_labels(osp.join(OCC, TOKEN))
    pred = raw['semantics'].copy()
    pred[~raw['mask_camera']] = 4  # everything unseen called a car
    assert _evaluate(pred, raw)['mIoU'] == 100.0
    assert _evaluate(pred, raw, use_image_mask=False)['mIoU'] < 100.0


def test_confusion_accumulates_over_samples():
    gt = np.array([[[0, 1, 17]]], dtype=np.uint8)
    pred = np.array([[[0, 0, 17]]], dtype=np.uint8)
    conf = occ_confusion(pred, gt) + occ_confusion(gt, gt)
    out = occ_miou(conf)
    # class 0: TP 2, FP 1 (a barrier called others) -> 2 / 3; class 1: TP 1, FN 1 -> 1 / 2; free left out
    assert out['others'] == pytest.approx(100 * 2 / 3) and out['barrier'] == pytest.approx(50.0)
    assert out['mIoU'] == pytest.approx((100 * 2 / 3 + 50.0) / 2)


@needs_data
def test_bad_label_files_get_clear_errors(tmp_path):
    good = load_occ3d_labels(osp.join(OCC, TOKEN))
    with pytest.raises(FileNotFoundError, match='gts/<scene>/<sample token>/labels.npz'):
        load_occ3d_labels(str(tmp_path / 'nope'))
    np.savez(
        tmp_path / 'shape.npz',
        semantics=good['semantics'][:100],
        mask_lidar=good['mask_lidar'],
        mask_camera=good['mask_camera'])
    with pytest.raises(ValueError, match=r'semantics has shape \(100, 200, 16\), expected \(200, 200, 16\)'):
        load_occ3d_labels(str(tmp_path / 'shape.npz'), what=' (frame x)')
    np.savez(
        tmp_path / 'dtype.npz',
        semantics=good['semantics'].astype(np.int32),
        mask_lidar=good['mask_lidar'],
        mask_camera=good['mask_camera'])
    with pytest.raises(ValueError, match='dtype int32, expected uint8'):
        load_occ3d_labels(str(tmp_path / 'dtype.npz'))
    np.savez(tmp_path / 'missing.npz', semantics=good['semantics'])
    with pytest.raises(ValueError, match="no 'mask_lidar' array"):
        load_occ3d_labels(str(tmp_path / 'missing.npz'))
    with pytest.raises(KeyError, match='occ_path'):
        LoadOcc3DLabels().transform(dict(token='t'))
    # the official layout through occ_root / scene / token
    dst = tmp_path / 'occ' / 'gts' / 'scene-0001' / TOKEN
    dst.mkdir(parents=True)
    shutil.copy(osp.join(OCC, TOKEN, 'labels.npz'), dst / 'labels.npz')
    out = LoadOcc3DLabels(occ_root=str(tmp_path / 'occ')).transform(dict(token=TOKEN, scene_name='scene-0001'))
    assert np.array_equal(out['voxel_semantics'], good['semantics'])
