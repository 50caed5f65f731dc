import torch
from mmdet3d.registry import MODELS

import mim3d_plugin  # noqa: F401
from mim3d_plugin.geometry import make_transform, pad_intrinsics


def _ego2img(n_cam=2):
    mats = []
    for i in range(n_cam):
        # camera i at the origin looking along ego +x (i=0) or -x (i=1)
        s = 1.0 if i == 0 else -1.0
        rot = torch.tensor([[0., -s, 0], [0, 0, -1], [s, 0, 0]])
        k = pad_intrinsics(torch.tensor([[24., 0, 24], [0, 24, 16], [0, 0, 1]]))
        mats.append(k @ make_transform(rot, torch.zeros(3)))
    return torch.stack(mats).unsqueeze(0)


def test_lifting_shapes_frustum_support_and_gradients():
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='VoxelLifting',
            grid_config=dict(x=[-6.4, 6.4, 0.8], y=[-6.4, 6.4, 0.8], z=[-2.0, 2.0, 1.0], depth=[1.0, 7.4, 0.8]),
            input_size=(32, 48),
            downsample=8,
            in_channels=6,
            lift_channels=4,
            out_channels=5,
            num_convs=1))
    model.init_weights()
    feats = torch.randn(1, 2, 6, 4, 6, requires_grad=True)
    volume, depth = model(feats, _ego2img(2)[:, :1].expand(1, 2, 4, 4).contiguous())
    assert volume.shape == (1, 5, 4, 16, 16) and depth.shape == (1, 2, 8, 4, 6)
    # both cameras look along +x: nothing behind (x < -0.8 m, beyond the 3x3x3 conv reach) but the bias
    bias = model.volume_convs[0].conv.bias.view(1, 5, 1, 1, 1)
    assert torch.allclose((volume - bias)[..., :6], torch.zeros(1, 5, 4, 16, 6), atol=1e-6)
    assert (volume - bias)[..., 9:].abs().sum() > 0
    volume.sum().backward()
    assert feats.grad.abs().sum() > 0
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
