"""Two-image fusion with the shipped weights: accuracy on a known pair and dtype round trips."""

from __future__ import annotations

import numpy as np
import pytest

import gacn
from gacn.demo import focus_mask, make_demo_pair
from gacn.metrics import map_accuracy


def test_shipped_weights_find_the_focus_region(photo_rgb: np.ndarray) -> None:
    pair = make_demo_pair(photo_rgb, radius=4.0)
    result = gacn.fuse([pair.source1, pair.source2])
    assert map_accuracy(result.decision_map, pair.mask) >= 0.9
    assert map_accuracy(result.raw_decision_map, pair.mask) >= 0.9
    # fused image closer to the sharp photo than either source
    err = lambda x: np.abs(x.astype(float) - pair.sharp).mean()  # noqa: E731
    assert err(result.image) < 0.6 * min(err(pair.source1), err(pair.source2))


def test_swapping_sources_inverts_the_map(photo_rgb: np.ndarray) -> None:
    pair = make_demo_pair(photo_rgb[:96, :96], radius=4.0)
    d1 = gacn.fuse([pair.source1, pair.source2]).decision_map
    d2 = gacn.fuse([pair.source2, pair.source1]).decision_map
    assert np.mean((d1 > 0.5) != (d2 > 0.5)) > 0.9


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("color", [False, True])
def test_dtype_and_channels_round_trip(photo_rgb: np.ndarray, dtype: type, color: bool) -> None:
    pair = make_demo_pair(photo_rgb[:64, :72], radius=3.0)
    a, b = pair.source1, pair.source2
    if not color:
        a, b = a[..., 1], b[..., 1]
    scale = {np.uint8: 1, np.uint16: 257, np.float32: 1 / 255}[dtype]
    a = (a.astype(np.float64) * scale).astype(dtype)
    b = (b.astype(np.float64) * scale).astype(dtype)
    result = gacn.fuse([a, b])
    assert result.image.dtype == dtype
    assert result.image.shape == a.shape
    assert result.decision_map.dtype == np.float32 and result.decision_map.shape == a.shape[:2]
    # where the map is exactly 1 the fused pixel is source 1's, bit for bit (full range kept)
    ones = result.decision_map == 1.0
    assert ones.any()
    assert np.array_equal(result.image[ones], a[ones])


def test_focus_mask_is_known_geometry() -> None:
    mask = focus_mask((100, 200))
    assert mask[45, 76] == 1 and mask[50, 138] == 1 and mask[5, 5] == 0
    assert 0.2 < mask.mean() < 0.6


def test_fuse_rejects_bad_input() -> None:
    a = np.zeros((32, 32), np.uint8)
    with pytest.raises(gacn.InputError, match="at least two"):
        gacn.fuse([a])
    with pytest.raises(gacn.InputError, match="sizes differ"):
        gacn.fuse([a, np.zeros((32, 33), np.uint8)])
    with pytest.raises(gacn.InputError, match="not found"):
        gacn.fuse(["/nonexistent/x.png", "/nonexistent/y.png"])
