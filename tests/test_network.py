"""The network's structure and its weight-free parts: spatial frequency and the BGF."""

from __future__ import annotations

import torch

from gacn.model import GACN, count_parameters
from gacn.model.guided_filter import boundary_band, boundary_guided_filter
from gacn.model.network import spatial_frequency


def test_parameter_count_is_faithful() -> None:
    assert count_parameters(GACN()) == 68_820


def test_odd_sizes_keep_shape() -> None:
    net = GACN().eval()
    a, b = torch.rand(1, 1, 97, 131), torch.rand(1, 1, 97, 131)
    with torch.inference_mode():
        out = net(a, b, a_color=torch.rand(1, 3, 97, 131), b_color=torch.rand(1, 3, 97, 131))
    assert out.raw_decision.shape == (1, 1, 97, 131)
    assert out.decision.shape == (1, 1, 97, 131)
    assert out.fused.shape == (1, 3, 97, 131)
    assert float(out.decision.min()) >= 0.0 and float(out.decision.max()) <= 1.0


def test_spatial_frequency_of_vertical_stripes() -> None:
    # columns alternate 0, 1: every horizontal difference is +-1, every vertical one 0
    x = torch.zeros(1, 1, 30, 30)
    x[..., 1::2] = 1.0
    sf = spatial_frequency(x, window=11)
    # interior: 11 rows x 11 columns of squared differences equal to 1
    assert torch.allclose(sf[0, 0, 10:20, 10:20], torch.full((10, 10), 121.0))
    # at the left border the window holds 6 columns, the first of which has no left neighbour
    assert sf[0, 0, 15, 0].item() == 11 * 5


def test_spatial_frequency_of_constant_is_zero() -> None:
    assert spatial_frequency(torch.full((1, 2, 20, 25), 0.7)).abs().max().item() == 0.0


def test_guided_filter_keeps_constant_map_constant() -> None:
    d = torch.full((1, 1, 40, 40), 0.3)
    a, b = torch.rand(1, 1, 40, 40), torch.rand(1, 1, 40, 40)
    out = boundary_guided_filter(d, a, b)
    assert torch.allclose(out, d, atol=1e-6)


def test_bgf_in_strips_equals_the_whole_map() -> None:
    g = torch.Generator().manual_seed(4)
    d = (torch.rand(1, 1, 15, 10, generator=g) > 0.5).float().repeat_interleave(20, -2).repeat_interleave(20, -1)
    a, b = torch.rand(2, 1, 1, 300, 200, generator=g)
    whole = boundary_guided_filter(d, a, b)
    strips = boundary_guided_filter(d, a, b, piece_pixels=200 * 52)  # strips of 32 rows
    assert not torch.equal(whole, d)
    assert torch.allclose(strips, whole, atol=1e-5, rtol=0)


def test_bgf_changes_nothing_outside_the_band() -> None:
    d = torch.zeros(1, 1, 64, 64)
    d[..., :, :30] = 1.0
    a, b = torch.rand(1, 1, 64, 64), torch.rand(1, 1, 64, 64)
    out = boundary_guided_filter(d, a, b)
    band = boundary_band(d)
    assert band.any() and not band.all()
    assert torch.equal(out[~band], d[~band])
    assert (out[band] != d[band]).any()
    # the band hugs the boundary at column 30
    cols = band[0, 0].any(dim=0).nonzero().flatten()
    assert cols.min() >= 20 and cols.max() <= 40
