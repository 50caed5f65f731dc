"""BEVAug: points, boxes and velocities move by the BEV matrix; projections into the images do not change."""
import numpy as np
import pytest
import torch
from mmdet3d.structures import LiDARInstance3DBoxes, LiDARPoints

from mim3d_plugin.datasets.transforms import BEVAug, MultiViewImageAug
from mim3d_plugin.geometry import project_points


def _scene(results, seed=0):
    rng = np.random.RandomState(seed)
    pts = np.concatenate([rng.uniform(-30, 30, (500, 2)), rng.uniform(-2, 2, (500, 1)), rng.rand(500, 2)], 1)
    boxes = np.concatenate([
        rng.uniform(-20, 20, (6, 2)),
        rng.uniform(-1.5, 0, (6, 1)),
        rng.uniform(0.5, 5, (6, 3)),
        rng.uniform(-np.pi, np.pi, (6, 1)),
        rng.uniform(-5, 5, (6, 2))
    ], 1)
    results = dict(results)
    results['points'] = LiDARPoints(torch.as_tensor(pts, dtype=torch.float32), points_dim=5)
    results['gt_bboxes_3d'] = LiDARInstance3DBoxes(torch.as_tensor(boxes, dtype=torch.float32), box_dim=9)
    return results


def _match_sets(a, b):
    """Max distance from each point of a to its nearest point of b (corner order may change under flips)."""
    return torch.cdist(a, b).min(-1).values.max().item()


@pytest.mark.parametrize('flip_dx,flip_dy', [(False, False), (True, False), (False, True), (True, True)])
def test_points_boxes_velocity_and_projection(synthetic_results, flip_dx, flip_dy):
    before = _scene(synthetic_results)
    pts0 = before['points'].tensor.clone()
    boxes0 = before['gt_bboxes_3d'].clone()
    corners0, centre0 = boxes0.corners.reshape(-1, 3).double(), boxes0.gravity_center.double()
    l2i0 = [m.copy() for m in before['lidar2img']]
    aug = BEVAug(rot_lim=(25.0, 25.0), scale_lim=(1.1, 1.1), flip_dx_ratio=float(flip_dx), flip_dy_ratio=float(flip_dy))
    after = aug(dict(before, lidar2cam=list(before['lidar2cam']), lidar2img=list(before['lidar2img'])))
    mat = torch.as_tensor(after['bev_aug_matrix'])
    assert after['bev_aug_params'] == dict(
        rotate=pytest.approx(np.deg2rad(25.0)), scale=pytest.approx(1.1), flip_dx=flip_dx, flip_dy=flip_dy)
    # points
    expect = pts0[:, :3].double() @ mat[:3, :3].T
    torch.testing.assert_close(after['points'].tensor[:, :3].double(), expect, atol=1e-4, rtol=0)
    torch.testing.assert_close(after['points'].tensor[:, 3:], pts0[:, 3:])
    # boxes: corners, centres, sizes and velocities follow the same map
    boxes1 = after['gt_bboxes_3d']
    assert _match_sets(boxes1.corners.reshape(-1, 3).double(), corners0 @ mat[:3, :3].T) < 1e-3
    torch.testing.assert_close(boxes1.gravity_center.double(), centre0 @ mat[:3, :3].T, atol=1e-4, rtol=0)
    torch.testing.assert_close(boxes1.dims, boxes0.dims * 1.1, atol=1e-5, rtol=0)
    torch.testing.assert_close(
        boxes1.tensor[:, 7:9].double(), boxes0.tensor[:, 7:9].double() @ mat[:2, :2].T, atol=1e-4, rtol=0)
    # every point and box corner keeps its pixel and depth in every view
    for i in range(3):
        for p0, p1 in ((pts0[:, :3].double(), after['points'].tensor[:, :3].double()), (corners0,
                                                                                        corners0 @ mat[:3, :3].T)):
            uv0, d0, v0 = project_points(p0, torch.as_tensor(l2i0[i]), before['img_shape'])
            uv1, d1, v1 = project_points(p1, torch.as_tensor(after['lidar2img'][i]), before['img_shape'])
            torch.testing.assert_close(uv1[v0], uv0[v0], atol=1e-3, rtol=0)
            torch.testing.assert_close(d1, d0, atol=1e-4, rtol=0)
            assert torch.equal(v0, v1)
        np.testing.assert_allclose(after['lidar2img'][i], after['cam2img'][i] @ after['lidar2cam'][i], atol=1e-9)


def test_with_image_aug_pixel_is_img_aug_of_original(synthetic_results):
    """Image aug then BEV aug: the augmented point projects to img_aug_matrix @ (its original pixel)."""
    before = _scene(synthetic_results, seed=1)
    pts0 = before['points'].tensor[:, :3].double().clone()
    l2i0 = [m.copy() for m in before['lidar2img']]
    np.random.seed(5)
    out = MultiViewImageAug(final_dim=(112, 256), rot_lim=(-8, 8))(dict(before))
    out = BEVAug(flip_dx_ratio=0.5, flip_dy_ratio=0.5)(out)
    pts1 = out['points'].tensor[:, :3].double()
    n_valid = 0
    for i in range(3):
        uv0, d0, v0 = project_points(pts0, torch.as_tensor(l2i0[i]), before['img_shape'])
        uv1, d1, v1 = project_points(pts1, torch.as_tensor(out['lidar2img'][i]), (112, 256))
        hom = torch.cat([uv0, d0[:, None], torch.ones_like(d0)[:, None]], -1) @ torch.as_tensor(
            out['img_aug_matrix'][i]).T
        torch.testing.assert_close(uv1[v0], hom[v0, :2], atol=1e-3, rtol=0)
        n_valid += int(v1.sum())
    assert n_valid > 20


def test_test_mode_identity_and_nan_points(synthetic_results):
    res = _scene(synthetic_results)
    pts0 = res['points'].tensor.clone()
    out = BEVAug(test_mode=True)(dict(res, lidar2img=list(res['lidar2img'])))
    np.testing.assert_array_equal(out['bev_aug_matrix'], np.eye(4))
    torch.testing.assert_close(out['points'].tensor, pts0)
    res = _scene(synthetic_results)
    res['points'].tensor[7, 1] = float('nan')
    with pytest.raises(ValueError, match=r'NaN/inf.*synthetic\.bin'):
        BEVAug()(res)
