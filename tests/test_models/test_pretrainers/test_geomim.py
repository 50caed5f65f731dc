"""GeoMIM pretraining (MaskedPretrainer: UnitMaskSwinEncoder + LiDARBEVDistillHead): losses, gradients, frozen
teacher, loss decreasing on a fixed batch."""
import numpy as np
import pytest
import torch
from mmdet3d.registry import MODELS
from mmdet3d.structures import Det3DDataSample
from mmengine.registry import init_default_scope

from mim3d_plugin.geometry import make_transform

H, W, N_CAM = 64, 96, 2
BEV_RANGE = [-12.8, -12.8, -5.0, 12.8, 12.8, 3.0]


def tiny_geomim_cfg():
    pillar = [0.8, 0.8, 8.0]
    teacher = dict(
        type='CenterPoint',
        data_preprocessor=dict(
            type='Det3DDataPreprocessor',
            voxel=True,
            voxel_layer=dict(max_num_points=8, voxel_size=pillar, max_voxels=(2048, 2048),
                             point_cloud_range=BEV_RANGE)),
        pts_voxel_encoder=dict(
            type='PillarFeatureNet',
            in_channels=5,
            feat_channels=[16],
            with_distance=False,
            voxel_size=pillar,
            point_cloud_range=BEV_RANGE,
            norm_cfg=dict(type='BN1d', eps=1e-3, momentum=0.01),
            legacy=False),
        pts_middle_encoder=dict(type='PointPillarsScatter', in_channels=16, output_shape=(32, 32)))
    return dict(
        type='MaskedPretrainer',
        data_preprocessor=dict(
            type='MultiViewDataPreprocessor',
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375],
            bgr_to_rgb=True),
        encoder=dict(
            type='UnitMaskSwinEncoder',
            backbone=dict(
                type='GeoMIMSwin',
                arch=dict(embed_dims=16, depths=[1, 1, 1, 1], num_heads=[1, 2, 2, 4]),
                img_size=(H, W),
                window_size=(4, 4, 4, 2),
                use_mask=True,
                mask_ratio=0.5)),
        heads=dict(
            bev=dict(
                type='LiDARBEVDistillHead',
                decoder=dict(
                    type='GeoMIMDecoder',
                    in_channels=64,
                    embed_dims=32,
                    num_heads=2,
                    num_blocks=2,
                    cva_indices=(1, ),
                    depth_fork_index=0,
                    num_depth_blocks=1,
                    depth_cva_indices=(0, ),
                    semantic_channels=8,
                    num_depth_bins=16,
                    head_convs=1),
                view_transformer=dict(
                    type='LSSViewTransformer',
                    grid_config=dict(
                        x=[-12.8, 12.8, 0.4], y=[-12.8, 12.8, 0.4], z=[-5.0, 3.0, 8.0], depth=[1.0, 17.0, 1.0]),
                    input_size=(H, W),
                    downsample=16,
                    out_channels=8,
                    with_depth_net=False,
                    bev_downsample=2),
                teacher=dict(type='LiDARBEVTeacher', detector=teacher),
                teacher_channels=16,
                loss_bev=dict(type='PatchNormMSELoss', patch_size=8),
                depth_loss_weight=0.01,
                allow_untrained_teacher=True)))  # random teacher: these tests check wiring, shapes and gradients


def fake_batch(batch_size=2, seed=0):
    """Cameras looking along +x and -x of the LiDAR frame, points on a ring around the car."""
    g = torch.Generator().manual_seed(seed)
    cam2img = np.eye(4)
    cam2img[:3, :3] = [[40.0, 0, W / 2], [0, 40.0, H / 2], [0, 0, 1]]
    lidar2cam = []
    for yaw in (0.0, np.pi):
        c, s = np.cos(yaw), np.sin(yaw)
        rot = np.array([[-s, c, 0], [0, 0, -1], [c, s, 0]])  # camera z along (cos, sin, 0)
        lidar2cam.append(make_transform(torch.tensor(rot), torch.zeros(3)).numpy())
    inputs, samples = [], []
    for _ in range(batch_size):
        angles = torch.rand(600, generator=g) * 2 * np.pi
        radius = 3 + 8 * torch.rand(600, generator=g)
        points = torch.stack([
            radius * angles.cos(), radius * angles.sin(),
            torch.rand(600, generator=g) * 2 - 1,
            torch.rand(600, generator=g),
            torch.zeros(600)
        ],
                             dim=1)
        depth = torch.zeros(N_CAM, H, W)
        depth[:, 20:40, 10:80] = 4 + 6 * torch.rand(N_CAM, 20, 70, generator=g)
        inputs.append(
            dict(
                img=torch.randint(0, 255, (N_CAM, 3, H, W), generator=g, dtype=torch.uint8), points=points,
                depth=depth))
        sample = Det3DDataSample()
        sample.set_metainfo(
            dict(
                cam2img=np.stack([cam2img] * N_CAM),
                lidar2cam=np.stack(lidar2cam),
                lidar2img=np.stack([cam2img @ m for m in lidar2cam]),
                img_aug_matrix=np.stack([np.eye(4)] * N_CAM),
                cam2ego=np.stack([np.linalg.inv(m) for m in lidar2cam]),
                img_shape=(H, W)))
        samples.append(sample)
    return dict(
        inputs=dict(
            img=[x['img'] for x in inputs], points=[x['points'] for x in inputs], depth=[x['depth'] for x in inputs]),
        data_samples=samples)


@pytest.fixture
def model():
    init_default_scope('mmdet3d')
    torch.manual_seed(0)
    m = MODELS.build(tiny_geomim_cfg())
    m.init_weights()
    return m


def test_losses_and_gradients(model):
    data = model.data_preprocessor(fake_batch(), True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'bev.loss_bev', 'bev.loss_depth'}
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    sum(losses.values()).backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert [n for n, p in trainable if p.grad is None] == []
    # CVA output projections start at zero, which zeroes the gradient of the CVA internals at the first
    # step; after one update every trainable parameter gets a non-zero gradient
    torch.optim.SGD([p for _, p in trainable], lr=0.1).step()
    model.zero_grad()
    torch.manual_seed(0)
    sum(model(**data, mode='loss').values()).backward()
    assert [n for n, p in trainable if not p.grad.any()] == []
    teacher = model.heads['bev'].teacher
    assert all(not p.requires_grad for p in teacher.parameters())
    model.train()
    assert not teacher.training


def test_two_complementary_groups(model):
    data = model.data_preprocessor(fake_batch(1), False)
    pred = model(**data, mode='predict')[0].bev
    assert pred['hidden'].shape[0] == 2  # two decoder passes
    assert torch.equal(pred['hidden'][0], ~pred['hidden'][1])
    assert pred['bev'].shape == (2, 16, 32, 32) and pred['target'].shape == (16, 32, 32)
    assert pred['depth_prob'].shape == (2, N_CAM, 16, H // 16, W // 16)
    # evaluation masks come from the seeded generator: the same masks every time
    assert torch.equal(model(**data, mode='predict')[0].bev['hidden'], pred['hidden'])
    # mode='tensor': the backbone's fused map of the unmasked images
    feats = model(**data, mode='tensor')
    assert len(feats) == 1 and feats[0].shape == (1, N_CAM, 64, H // 16, W // 16)


def test_loss_decreases_on_fixed_batch(model):
    data = model.data_preprocessor(fake_batch(), True)
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-3)
    history = []
    for _ in range(25):
        torch.manual_seed(1)  # the same random mask every step
        losses = model(**data, mode='loss')
        loss = sum(losses.values())
        optim.zero_grad()
        loss.backward()
        optim.step()
        history.append(loss.item())
    assert min(history[-5:]) < 0.9 * history[0], history


def test_wrong_number_of_views(model):
    batch = fake_batch(1)
    batch['data_samples'][0].set_metainfo(dict(lidar2img=batch['data_samples'][0].lidar2img[:1]))
    data = model.data_preprocessor(batch, True)
    with pytest.raises(ValueError, match='views'):
        model(**data, mode='loss')


def test_one_camera_batch_one_trains(model):
    """A monocular rig at batch 1 (B x N = 1 camera vector in the camera gate's BatchNorm1d)."""
    batch = fake_batch(batch_size=1)
    batch['inputs'] = dict(
        img=[batch['inputs']['img'][0][:1]], points=batch['inputs']['points'], depth=[batch['inputs']['depth'][0][:1]])
    sample = batch['data_samples'][0]
    sample.set_metainfo(
        {k: sample.metainfo[k][:1]
         for k in ('cam2img', 'lidar2cam', 'lidar2img', 'img_aug_matrix', 'cam2ego')})
    model.train()
    data = model.data_preprocessor(batch, True)
    losses = model(**data, mode='loss')
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()


def test_refuses_a_teacher_without_checkpoint_unless_allowed(tmp_path):
    """A randomly initialised teacher gives targets without scene knowledge: GeoMIM must not train on it
    silently. The error names the config key; with a checkpoint (here: the teacher's own weights saved) it builds
    and the teacher holds exactly those weights."""
    init_default_scope('mmdet3d')
    cfg = tiny_geomim_cfg()
    head = cfg['heads']['bev']
    head.pop('allow_untrained_teacher')
    with pytest.raises(ValueError, match=r'teacher\.checkpoint is not set.*model\.heads\.bev\.teacher\.checkpoint'):
        MODELS.build(cfg)
    torch.manual_seed(1)
    trained = MODELS.build(head['teacher']['detector'])
    for p in trained.parameters():
        p.data.normal_()
    ckpt = str(tmp_path / 'teacher.pth')
    torch.save(dict(state_dict=trained.state_dict()), ckpt)
    head['teacher']['checkpoint'] = ckpt
    model = MODELS.build(cfg)
    got = model.heads['bev'].teacher.detector.state_dict()
    for k, v in trained.state_dict().items():
        assert torch.equal(got[k], v), k
