"""Depth maps usable as height maps (issue #15): the index map regularised where focus is weak."""

from __future__ import annotations

import numpy as np

from gacn.fusion.depth import depth_weight, regularise_depth, remove_speckles, weighted_median


def test_detail_at_another_depth_and_focus_boundary_are_kept() -> None:
    """A decisive thin bar at another depth and a decisive step keep their index; weak noise
    around them follows the median (inside the bar too: a weak pixel of a detail narrower than
    the window takes the depth around it)."""
    rng = np.random.default_rng(0)
    truth = np.full((96, 96), 20, np.uint16)
    truth[:, 60:] = 50  # a focus boundary
    truth[20:70, 30:33] = 45  # a thin bar, 3 pixels wide
    noisy = np.where(rng.random(truth.shape) < 0.3, rng.integers(0, 64, truth.shape), truth).astype(np.uint16)
    weight = np.where(noisy == truth, 120, 5).astype(np.uint8)
    out = regularise_depth(noisy, weight, jump=7)
    bar = np.zeros(truth.shape, bool)
    bar[20:70, 30:33] = True
    assert (out[bar & (noisy == truth)] == 45).mean() > 0.85
    assert (out[~bar] == truth[~bar]).mean() > 0.97
    sure = noisy == truth  # next to the boundary, noise between the two depths may stay; the decisive pixels do
    assert (out[:, 56:64] == truth[:, 56:64])[sure[:, 56:64]].mean() > 0.97


def test_weak_region_follows_decisive_neighbours() -> None:
    """Pixels without a lead take the depth of the decisive pixels around, not the noise's."""
    rng = np.random.default_rng(1)
    index = rng.integers(0, 40, (64, 64)).astype(np.uint16)
    weight = np.zeros((64, 64), np.uint8)
    index[::4, ::4], weight[::4, ::4] = 12, 255  # one decisive pixel in sixteen
    median = weighted_median(index, weight)[0]
    assert np.abs(median - 12).max() < 1.0
    assert (regularise_depth(index, weight, 4) == 12).all()


def test_depth_weight_is_the_lead_in_noise_units() -> None:
    best = np.float32([[0.0, 1e-3, 1e-2, 1.0]])
    second = np.zeros_like(best)
    weight = depth_weight(best, second, 0.5 / 255)
    assert weight.tolist()[0][0] == 0 and weight.tolist()[0][-1] == 255
    assert list(weight[0]) == sorted(weight[0])


def test_speckle_islands_are_filled_and_surfaces_kept() -> None:
    """A sloping surface (one frame per 8 pixels) with 30 islands of far frames, 5x5 pixels each,
    and one object at another depth, 40x40: the islands take the slope's depth, the object and
    the slope stay exactly as they were."""
    rng = np.random.default_rng(2)
    truth = np.tile((np.arange(320) // 8).astype(np.uint16), (320, 1))
    truth[200:240, 40:80] = 60  # a real object
    depth = truth.copy()
    islands = np.zeros(truth.shape, bool)
    for y, x in zip(rng.integers(10, 180, 30), rng.integers(100, 310, 30)):
        depth[y:y + 5, x:x + 5] = rng.integers(45, 64)
        islands[y:y + 5, x:x + 5] = True
    out = remove_speckles(depth, jump=7)
    assert np.abs(out[islands].astype(int) - truth[islands]).max() <= 1
    assert np.array_equal(out[~islands], truth[~islands])
    assert remove_speckles(truth, jump=7) is truth
