"""``PortableDCNv2`` through torchvision equals mmcv's DCNv2 kernel, values and gradients (issue 25, item 1)."""
import pytest
import torch
from mmcv.cnn import build_conv_layer
from mmengine.registry import init_default_scope

from mim3d_plugin.ops import PortableDCNv2, compiled_op_available, pytorch_ops_only


@pytest.mark.skipif(not compiled_op_available('modulated_deform_conv', 'cpu'), reason='mmcv without DCN ops')
@pytest.mark.parametrize('stride,deform_groups,groups', [(1, 1, 1), (2, 2, 2)])
def test_torchvision_path_equals_the_mmcv_kernel(stride, deform_groups, groups):
    torch.manual_seed(0)
    conv = PortableDCNv2(8, 6, 3, stride=stride, padding=1, deform_groups=deform_groups, groups=groups)
    torch.nn.init.normal_(conv.conv_offset.weight, std=0.3)  # mmcv inits offsets to 0: make them move
    torch.nn.init.normal_(conv.conv_offset.bias, std=0.5)
    x = torch.randn(2, 8, 11, 9, requires_grad=True)
    ref = conv(x)
    grads_ref = torch.autograd.grad(ref.square().sum(), [x, conv.weight, conv.conv_offset.weight])
    with pytorch_ops_only():
        ours = conv(x)
        grads = torch.autograd.grad(ours.square().sum(), [x, conv.weight, conv.conv_offset.weight])
    assert (ours - ref).abs().max() < 1e-4
    for a, b in zip(grads, grads_ref):
        assert (a - b).abs().max() < 1e-3 * b.abs().max()


def test_builds_as_a_resnet_dcn_and_keeps_mmcv_keys():
    init_default_scope('mmdet3d')
    conv = build_conv_layer(dict(type='PortableDCNv2', deform_groups=1), 4, 4, 3, padding=1, bias=False)
    assert isinstance(conv, PortableDCNv2)
    assert sorted(conv.state_dict()) == ['conv_offset.bias', 'conv_offset.weight', 'weight']


def test_mmdet_heads_that_name_dcnv2_get_the_portable_class():
    init_default_scope('mmdet3d')
    conv = build_conv_layer(dict(type='DCNv2'), 4, 4, 3, padding=1)  # AnchorFreeHead(dcn_on_last_conv=True)
    assert isinstance(conv, PortableDCNv2)


def test_torchvision_path_runs_under_bf16_autocast():
    torch.manual_seed(0)
    conv = PortableDCNv2(4, 4, 3, padding=1)
    x = torch.randn(1, 4, 6, 6)
    with pytorch_ops_only():
        ref = conv(x)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out = conv(x)
    assert out.dtype == torch.float32 and torch.allclose(out, ref, atol=1e-5)
