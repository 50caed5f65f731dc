"""BEVDet-Occ (occupancy): the 3D encoder, the occupancy head and its loss against the official computation
(HuangJunJie2017/BEVDet dev2.1 ``CustomResNet3D``, ``LSSFPN3D``, ``BEVStereo4DOCC.final_conv / predicter /
loss_single``) re-derived here with functional ops on official-layout weights converted by
``tools/model_converters/bevdet_official_to_mim3d.py``; the label loader's flips; the errors of a wrong setup; and
(slow) the small config trained and scored on derived labels of the bundled frames."""
import os.path as osp
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmdet3d.registry import MODELS, TRANSFORMS
from mmengine.registry import init_default_scope

import mim3d_plugin  # noqa: F401
import projects.BEVDet.bevdet  # noqa: F401

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
sys.path.insert(0, osp.join(ROOT, 'tools', 'model_converters'))
from bevdet_official_to_mim3d import convert  # noqa: E402

init_default_scope('mmdet3d')


# ---------------------------------------------------------------- official computation, re-derived functionally
def _conv_bn(x, sd, p, stride=1, relu=True, padding=1):
    x = F.conv3d(x, sd[p + 'conv.weight'], sd.get(p + 'conv.bias'), stride=stride, padding=padding)
    x = F.batch_norm(x, sd[p + 'bn.running_mean'], sd[p + 'bn.running_var'], sd[p + 'bn.weight'], sd[p + 'bn.bias'],
                     False, 0.0, 1e-5)
    return F.relu(x) if relu else x


def _official_resnet3d(x, sd, p, num_layer, stride):
    outs = []
    for i, (n, s) in enumerate(zip(num_layer, stride)):
        for j in range(n):
            b = f'{p}layers.{i}.{j}.'
            st = s if j == 0 else 1
            identity = _conv_bn(x, sd, b + 'downsample.', st, relu=False) if j == 0 else x
            x = F.relu(_conv_bn(_conv_bn(x, sd, b + 'conv1.', st), sd, b + 'conv2.', relu=False) + identity)
        outs.append(x)
    return outs


def _official_fpn3d(feats, sd, p):
    up = [F.interpolate(f, scale_factor=k, mode='trilinear', align_corners=True) for f, k in zip(feats[1:], (2, 4))]
    return _conv_bn(torch.cat([feats[0]] + up, 1), sd, p + 'conv.', padding=0)


def _official_head(x, sd):
    x = F.relu(F.conv3d(x, sd['final_conv.conv.weight'], sd['final_conv.conv.bias'], padding=1))
    x = x.permute(0, 4, 3, 2, 1)  # bncdhw -> bnwhdc
    x = F.linear(
        F.softplus(F.linear(x, sd['predicter.0.weight'], sd['predicter.0.bias'])), sd['predicter.2.weight'],
        sd['predicter.2.bias'])
    return x


def _official_state(c_in, chans, num_layer, c_out, out_dim, num_classes, gen):
    """Random weights under the official key names (listed from the official module definitions)."""
    sd = {}

    def conv_bn(p, cin, cout, k=3):
        sd[p + 'conv.weight'] = torch.randn(cout, cin, k, k, k, generator=gen) * (2.0 / (cin * k**3))**0.5
        sd[p + 'bn.weight'] = 1 + 0.1 * torch.randn(cout, generator=gen)
        sd[p + 'bn.bias'] = 0.1 * torch.randn(cout, generator=gen)
        sd[p + 'bn.running_mean'] = 0.1 * torch.randn(cout, generator=gen)
        sd[p + 'bn.running_var'] = 0.5 + torch.rand(cout, generator=gen)
        sd[p + 'bn.num_batches_tracked'] = torch.tensor(7)

    cur = c_in
    for i, (n, c) in enumerate(zip(num_layer, chans)):
        for j in range(n):
            b = f'img_bev_encoder_backbone.layers.{i}.{j}.'
            conv_bn(b + 'conv1.', cur if j == 0 else c, c)
            conv_bn(b + 'conv2.', c, c)
            if j == 0:
                conv_bn(b + 'downsample.', cur, c)
        cur = c
    conv_bn('img_bev_encoder_neck.conv.', sum(chans), c_out, k=1)
    sd['final_conv.conv.weight'] = torch.randn(out_dim, c_out, 3, 3, 3, generator=gen) * 0.1
    sd['final_conv.conv.bias'] = 0.1 * torch.randn(out_dim, generator=gen)
    sd['predicter.0.weight'] = torch.randn(out_dim * 2, out_dim, generator=gen) * 0.2
    sd['predicter.0.bias'] = 0.1 * torch.randn(out_dim * 2, generator=gen)
    sd['predicter.2.weight'] = torch.randn(num_classes, out_dim * 2, generator=gen) * 0.2
    sd['predicter.2.bias'] = 0.1 * torch.randn(num_classes, generator=gen)
    return sd


def _sub(state, prefix):
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def test_official_occupancy_encoder_and_head_convert_and_match():
    """Official BEVDet-Occ weights (keys of CustomResNet3D / LSSFPN3D / final_conv / predicter, the paper's
    [1, 2, 4] blocks) -> converter -> ours loads with 0 missing / 0 unexpected keys and computes the official
    logits (max abs diff < 1e-5)."""
    gen = torch.Generator().manual_seed(0)
    c, grid_xyz = 8, (16, 12, 8)
    official = _official_state(2 * c, [c, 2 * c, 4 * c], [1, 2, 4], c, 16, 18, gen)
    official['img_view_transformer.depth_net.weight'] = torch.zeros(1)  # the converter's BEVDet check
    converted, report = convert(official)
    assert not any(k.startswith(('final_conv.', 'predicter.')) for k in converted)
    encoder = MODELS.build(
        dict(
            type='BEVResNet3D', numC_input=2 * c, num_layer=[1, 2, 4], num_channels=[c, 2 * c, 4 * c],
            stride=[1, 2, 2])).eval()
    neck = MODELS.build(dict(type='LSSFPN3D', in_channels=7 * c, out_channels=c)).eval()
    head = MODELS.build(dict(type='BEVOccHead', in_channels=c, out_dim=16, grid_shape_xyz=grid_xyz)).eval()
    for module, prefix in ((encoder, 'img_bev_encoder_backbone.'), (neck, 'img_bev_encoder_neck.'), (head,
                                                                                                     'occ_head.')):
        res = module.load_state_dict(_sub(converted, prefix), strict=True)
        assert not res.missing_keys and not res.unexpected_keys
    x = torch.randn(2, 2 * c, grid_xyz[2], grid_xyz[1], grid_xyz[0], generator=gen)
    with torch.no_grad():
        ours = head(neck(encoder(x)))
        ref = _official_head(
            _official_fpn3d(
                _official_resnet3d(x, official, 'img_bev_encoder_backbone.', [1, 2, 4], [1, 2, 2]), official,
                'img_bev_encoder_neck.'), official)
    assert ours.shape == (2, ) + grid_xyz + (18, )
    assert (ours - ref).abs().max() < 1e-5


def test_loss_is_the_camera_masked_cross_entropy_and_prediction_the_argmax():
    """``loss_occ`` = sum over camera-visible voxels of -log softmax(logits)[label] / their number (official
    ``loss_single`` with ``use_mask=True``); voxels outside the mask get no gradient; prediction = argmax."""
    gen = torch.Generator().manual_seed(1)
    head = MODELS.build(dict(type='BEVOccHead', in_channels=4, out_dim=8, grid_shape_xyz=(6, 5, 4)))
    x = torch.randn(2, 4, 4, 5, 6, generator=gen)
    labels = torch.randint(0, 18, (2, 6, 5, 4), generator=gen)
    mask = torch.rand(2, 6, 5, 4, generator=gen) > 0.4
    logits = head(x).detach().requires_grad_(True)
    head_forward = head.forward
    head.forward = lambda volume: logits
    loss = head.loss(x, labels.to(torch.uint8), mask)['loss_occ']
    head.forward = head_forward
    ce = -torch.log_softmax(logits.detach(), -1).gather(-1, labels[..., None])[..., 0]
    assert abs(float(loss.detach()) - float((ce * mask).sum() / mask.sum())) < 1e-5
    loss.backward()
    assert logits.grad[~mask].abs().max() == 0 and logits.grad[mask].abs().max() > 0
    pred = head.predict(x)
    assert pred[0].dtype == torch.uint8 and torch.equal(pred[1].long(), head(x)[1].argmax(-1))
    with pytest.raises(ValueError, match='grid_shape_xyz|label grid'):
        head(torch.randn(1, 4, 4, 5, 7))
    with pytest.raises(ValueError, match='mask_camera'):
        head.loss(x, labels, None)


def test_occ_labels_follow_the_bev_flips_and_refuse_other_augmentations(tmp_path):
    """A flip of x (y) in BEVAug mirrors the label grid along X (Y): the voxel at augmented index i holds the label
    of original index 199 - i, whose centre maps onto it under the augmentation; a rotation is refused; the
    loader must come after BEVAug and needs the ego frame."""
    rng = np.random.default_rng(0)
    sem = rng.integers(0, 18, (200, 200, 16)).astype(np.uint8)
    cam = rng.random((200, 200, 16)) > 0.5
    folder = tmp_path / 'gts' / 'scene-x' / 'tok'
    folder.mkdir(parents=True)
    np.savez(folder / 'labels.npz', semantics=sem, mask_lidar=cam.astype(np.uint8), mask_camera=cam.astype(np.uint8))
    load = TRANSFORMS.build(dict(type='LoadOcc3DLabels', occ_root=str(tmp_path)))
    aug = TRANSFORMS.build(dict(type='BEVAug', rot_lim=(0, 0), scale_lim=(1, 1), flip_dx_ratio=1.0, flip_dy_ratio=0.0))
    res = aug(dict(token='tok', scene_name='scene-x'))
    out = load(res)
    np.testing.assert_array_equal(out['voxel_semantics'], sem[::-1])
    np.testing.assert_array_equal(out['mask_camera'], cam[::-1])
    # geometric check: the centre of original voxel (i, j) maps by bev_aug_matrix to the centre of augmented voxel
    i, j = 17, 130
    centre = np.array([-40 + 0.4 * (i + 0.5), -40 + 0.4 * (j + 0.5), 0.0, 1.0])
    moved = res['bev_aug_matrix'] @ centre
    ia, ja = int(np.floor((moved[0] + 40) / 0.4)), int(np.floor((moved[1] + 40) / 0.4))
    assert out['voxel_semantics'][ia, ja, 3] == sem[i, j, 3]
    both = TRANSFORMS.build(dict(type='BEVAug', rot_lim=(0, 0), scale_lim=(1, 1), flip_dx_ratio=1, flip_dy_ratio=1))
    np.testing.assert_array_equal(
        load(both(dict(token='tok', scene_name='scene-x')))['voxel_semantics'], sem[::-1, ::-1])
    rot = TRANSFORMS.build(dict(type='BEVAug', rot_lim=(10, 10), scale_lim=(1, 1), flip_dx_ratio=0, flip_dy_ratio=0))
    with pytest.raises(ValueError, match='not a flip'):
        load(rot(dict(token='tok', scene_name='scene-x')))
    with pytest.raises(RuntimeError, match='after BEVAug'):
        aug(load(dict(token='tok', scene_name='scene-x')))
    with pytest.raises(KeyError, match='LiDARToEgoFrame'):
        load(dict(token='tok', scene_name='scene-x', images={}))


def test_a_volume_needs_an_occ_head_and_the_lift_alignment():
    from mim3d_plugin.testing import load_config
    from projects.BEVDet.bevdet import BEVDet4D  # noqa: F401
    cfg = load_config('projects/BEVDet/configs/bevdet4d-occ-swin-w64-d1121_1xb1-4e_nus-mini.py')
    model_cfg = cfg.model.to_dict()
    model = MODELS.build(model_cfg)
    assert model.occ_head is not None and model.pts_bbox_head is None
    with pytest.raises(ValueError, match="adjacent_alignment='lift'"):
        MODELS.build(dict(model_cfg, adjacent_alignment='warp'))
    flat = dict(model_cfg, img_view_transformer=dict(model_cfg['img_view_transformer'], collapse_z=True))
    with pytest.raises(ValueError, match='collapse_z=False'):
        MODELS.build(flat)


@pytest.mark.slow
@pytest.mark.usefixtures('nus_infos')
def test_small_config_trains_and_scores_on_derived_labels(nus_root, tmp_path, monkeypatch):
    """Derived labels of two key frames per split -> the small config trains 4 epochs on the two scene-0523 frames
    (loss falls) -> tests on two scene-0916 frames -> Occ3D mIoU (per class, free excluded) from the metric."""
    import pickle

    from mmengine.config import Config
    from mmengine.runner import Runner
    from nuscenes import NuScenes

    from mim3d_plugin.datasets.converters.occ_labels import derive_scene_occupancy
    monkeypatch.chdir(ROOT)
    nusc = NuScenes('v1.0-mini', nus_root, verbose=False)
    occ_root = str(tmp_path / 'occ')
    cfg = Config.fromfile(osp.join(ROOT, 'projects/BEVDet/configs/bevdet4d-occ-swin-w64-d1121_1xb1-4e_nus-mini.py'))
    for dl in (cfg.train_dataloader, cfg.val_dataloader):
        with open(dl.dataset.ann_file, 'rb') as f:
            infos = pickle.load(f)['data_list'][:2]
        derive_scene_occupancy(nusc, infos[0]['scene_name'], occ_root, only_tokens=[i['token'] for i in infos])
        dl.dataset.indices = [0, 1]
        for t in dl.dataset.pipeline:
            if t['type'] == 'LoadOcc3DLabels':
                t['occ_root'] = occ_root
    cfg.test_dataloader = cfg.val_dataloader
    cfg.work_dir = str(tmp_path / 'work')
    cfg.default_hooks.logger.interval = 1
    cfg.param_scheduler = []  # the config's lr from the first iteration
    runner = Runner.from_cfg(cfg)
    losses = []
    from mmengine.hooks import Hook

    class Record(Hook):

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            losses.append(float(outputs['loss_occ']))

    runner.register_hook(Record())
    runner.train()
    metrics = runner.test()
    assert len(losses) == 8
    assert np.mean(losses[-2:]) < 0.9 * np.mean(losses[:2]), losses
    assert 0.0 <= metrics['occ3d/mIoU'] <= 100.0
    # derived labels: box classes, drivable surface and others (0, "other static"); every class is reported
    assert all(f'occ3d/{k}' in metrics for k in ('others', 'car', 'driveable_surface', 'manmade'))
