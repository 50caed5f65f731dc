"""CrossViewAttention: row-wise attention across views (GeoMIM CVA)."""
import pytest
import torch

from mim3d_plugin.models.layers import CrossViewAttention


def _randomise_zero_init(cva: CrossViewAttention) -> None:
    for p in cva.parameters():
        if torch.count_nonzero(p) == 0:
            torch.nn.init.normal_(p, std=0.2)


@pytest.mark.parametrize('num_views', [1, 2, 3, 4, 5, 6])
def test_identity_at_init_and_shape(num_views):
    torch.manual_seed(num_views)
    cva = CrossViewAttention(embed_dims=16, num_heads=4)
    cva.init_weights()
    x = torch.randn(2, num_views, 3, 5, 16)
    y = cva(x)
    assert y.shape == x.shape
    torch.testing.assert_close(y, x)


@pytest.mark.parametrize('num_views', [1, 3, 6])
def test_row_r_depends_only_on_row_r_of_all_views(num_views):
    torch.manual_seed(0)
    cva = CrossViewAttention(embed_dims=16, num_heads=2)
    _randomise_zero_init(cva)
    cva.eval()
    x = torch.randn(1, num_views, 4, 5, 16)
    y = cva(x)
    x2 = x.clone()
    x2[:, -1, 2] += torch.randn(5, 16)  # perturb row 2 of the last view
    y2 = cva(x2)
    changed = (y2 - y).abs().amax(dim=(0, 3, 4))  # (V, H)
    assert torch.all(changed[:, [0, 1, 3]] == 0), 'other rows must not change'
    assert torch.all(changed[:, 2] > 1e-4), 'row 2 of every view must see the perturbed row'


def test_matches_naive_reference():
    """Equals the same transformer layer applied to each (B*H, V*W, C) row sequence built by hand."""
    torch.manual_seed(1)
    cva = CrossViewAttention(embed_dims=8, num_heads=2)
    _randomise_zero_init(cva)
    cva.eval()
    x = torch.randn(2, 3, 4, 5, 8)
    y = cva(x)
    for b in range(2):
        for r in range(4):
            seq = torch.cat([x[b, v, r] for v in range(3)], dim=0)[None]  # (1, V*W, C)
            ref = super(CrossViewAttention, cva).forward(seq)[0].view(3, 5, 8)
            torch.testing.assert_close(y[b, :, r], ref, rtol=1e-5, atol=1e-5)


def test_gradients_reach_every_parameter():
    torch.manual_seed(2)
    cva = CrossViewAttention(embed_dims=16, num_heads=4)
    _randomise_zero_init(cva)
    x = torch.randn(2, 3, 2, 4, 16)
    (cva(x) * torch.randn_like(x)).sum().backward()
    for name, p in cva.named_parameters():
        assert p.grad is not None and torch.count_nonzero(p.grad) > 0, name


def test_bad_input_raises():
    cva = CrossViewAttention(embed_dims=16, num_heads=4)
    with pytest.raises(ValueError, match='expected'):
        cva(torch.randn(2, 3, 4, 16))
    with pytest.raises(ValueError, match='divisible'):
        CrossViewAttention(embed_dims=10, num_heads=4)
